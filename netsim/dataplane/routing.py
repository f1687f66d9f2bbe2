"""The kernel's routing tables ``local`` and ``main`` and its longest-prefix-match lookup.

Models, per network namespace and for IPv4 and IPv6:

* a :class:`Route` as ``ip route`` shows it: type (``unicast``, ``local``,
  ``broadcast``, ``blackhole``, ``unreachable``, ``prohibit``), ``via``,
  ``dev``, ``proto``, ``scope``, ``src``, ``metric``, ``onlink``, ``table``,
  ``mtu``, with the defaults ``ip route add`` (iproute2 6.1) picks;
* a :class:`RoutingTable`: the ``local`` and ``main`` tables in one frozen
  value, checked the way the kernel checks ``ip route add`` (a gateway must be
  reachable on-link, :func:`check_nexthop`), with every gateway route's ``dev``
  filled in as the kernel fills it in;
* the lookup (:func:`lookup_route`): longest prefix first, then the lowest
  metric, then the route installed first (``ip route append`` order). Reject
  routes (``blackhole``, ``unreachable``, ``prohibit``) are returned like any
  other route: turning them into a drop is the tracer's job;
* :func:`render_ip_route`, the line ``ip route show`` prints for a route, and
  :func:`address_routes`, the routes the kernel adds for ``ip addr add``.

This module is the one place to import them from; it holds no code of its own.
They live in:

* :mod:`netsim.dataplane.routes`: :class:`Route`, its enums and constants;
* :mod:`netsim.dataplane.route_text`: :func:`render_ip_route`;
* :mod:`netsim.dataplane.address_routes`: :func:`address_routes`;
* :mod:`netsim.dataplane.routing_table`: :class:`RoutingTable`,
  :func:`build_routing_table`, :func:`check_nexthop`, and how ``local`` and
  ``main`` combine (verified on Linux 6.18 with ``ip route get``);
* :mod:`netsim.dataplane.route_lookup`: :func:`lookup_route`,
  :func:`lookup_route_int`, :func:`resolve_nexthop`;
* :mod:`netsim.dataplane.prefix_index`: the private lookup indexes (routes
  grouped by table and prefix length, the IPv4 stride-8 trie) and their speed.

Does not model: policy routing beyond ``local``/``main`` (``ip rule``, other
tables), ``tos``/``dscp`` selectors, multipath (ECMP) and nexthop objects,
``ip route prepend`` (all duplicates are ``append``-ed), link state (``dead``,
``linkdown``), the route cache and PMTU exceptions, ``src`` validation
(``Invalid prefsrc address``), secondary addresses, multicast, anycast, NAT and
``throw`` routes, IPv4 routes via IPv6 gateways (``via inet6``), route
preferences other than ``pref medium``.
"""

from __future__ import annotations

from netsim.dataplane.address_routes import address_routes
from netsim.dataplane.route_lookup import lookup_route, lookup_route_int, resolve_nexthop
from netsim.dataplane.route_text import render_ip_route
from netsim.dataplane.routes import (
    DEFAULT_DST,
    IP6_RT_PRIO_ADDRCONF,
    IP6_RT_PRIO_USER,
    IP_MAX_MTU,
    LOOPBACK_DEV,
    REJECT_TYPES,
    Route,
    RouteScope,
    RouteType,
    TableName,
)
from netsim.dataplane.routing_table import RoutingTable, build_routing_table, check_nexthop

__all__ = [
    "DEFAULT_DST",
    "IP6_RT_PRIO_ADDRCONF",
    "IP6_RT_PRIO_USER",
    "IP_MAX_MTU",
    "LOOPBACK_DEV",
    "REJECT_TYPES",
    "Route",
    "RouteScope",
    "RouteType",
    "RoutingTable",
    "TableName",
    "address_routes",
    "build_routing_table",
    "check_nexthop",
    "lookup_route",
    "lookup_route_int",
    "render_ip_route",
    "resolve_nexthop",
]
