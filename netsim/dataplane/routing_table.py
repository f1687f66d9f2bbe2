"""A namespace's ``local`` and ``main`` routing tables, checked as ``ip route add`` checks.

Holds :class:`RoutingTable` (both tables in one frozen value, with their lookup
indexes built once), :func:`build_routing_table`, and :func:`check_nexthop`:
the kernel's gateway checks (``fib_check_nh_v4_gw``, ``ip6_validate_gw``),
which also fill in the ``dev`` of a gateway route as the kernel fills it in.
Import these names from :mod:`netsim.dataplane.routing`.

How ``local`` and ``main`` combine (verified on Linux 6.18 with ``ip route get``).
The default rules (``0: lookup local``, ``32766: lookup main``) say ``local``
first, but as long as no other ``ip rule`` was ever added the kernel keeps both
IPv4 tables in one trie (``fib_has_custom_rules`` false) and one lookup there
picks the longest prefix of either table; only at equal prefix does ``local``
win, whatever the metrics. After a first custom rule the tables are split for
good and ``local`` is consulted in full before ``main``. The difference shows
only when a ``local``-table route is shorter than an overlapping ``main`` route
(``local 10.90.0.0/16 dev lo`` against ``10.90.1.0/24 dev eth0``).
:attr:`RoutingTable.has_custom_rules` chooses; it defaults to ``False`` like a
fresh namespace. IPv6 always consults ``local`` first.

Does not hold: route values (:mod:`netsim.dataplane.routes`), the indexes
(:mod:`netsim.dataplane.prefix_index`), the lookups
(:mod:`netsim.dataplane.route_lookup`). What the tables do not model is listed
in :mod:`netsim.dataplane.routing`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, TypeAlias

from netsim.dataplane.prefix_index import (
    _build_trie,
    _covering,
    _PrefixGroup,
    _ranked_groups,
    _Root,
)
from netsim.dataplane.route_text import render_ip_route
from netsim.dataplane.routes import (
    ERR_INVALID_GATEWAY,
    ERR_INVALID_SCOPE,
    ERR_LOCAL_GATEWAY6,
    ERR_NO_EGRESS_DEV6,
    ERR_NO_ROUTE_TO_HOST,
    IPV4_LIMITED_BROADCAST,
    LINK_LOCAL6,
    REJECT_TYPES,
    SCOPE_NUMBERS,
    Route,
    RouteScope,
    RouteType,
    TableName,
)
from netsim.errors import InputError

__all__ = ["RoutingTable", "build_routing_table", "check_nexthop"]

# before, shared routes, index of the one left out, after
_Parts: TypeAlias = tuple[tuple[Route, ...], tuple[Route, ...], int, tuple[Route, ...]]


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """The ``local`` and ``main`` routing tables of one network namespace.

    Build it with :func:`build_routing_table` (or this constructor, which does
    the same): the routes are checked the way ``ip route add`` checks them,
    gateway routes without ``dev`` get the device their gateway resolves
    through, and the lookup index is built once. ``dataclasses.replace``
    returns a new, re-checked table.

    Args:
        routes: every route of both tables, in the order they were installed.
            The order breaks ties between routes of equal prefix and metric.
        has_custom_rules: whether an ``ip rule`` other than the defaults was
            ever added in the namespace; then IPv4 consults the whole ``local``
            table before ``main``, else the longer prefix of either wins (see
            the module docstring).

    Raises:
        InputError: a gateway is not reachable (:func:`check_nexthop`).
    """

    routes: tuple[Route, ...] = ()
    has_custom_rules: bool = False
    _trie4: _Root = field(init=False, repr=False, compare=False)
    _ranked4: tuple[_PrefixGroup, ...] = field(init=False, repr=False, compare=False)
    _ranked6: tuple[_PrefixGroup, ...] = field(init=False, repr=False, compare=False)
    _best6: tuple[tuple[int, Mapping[int, Route]], ...] = field(
        init=False, repr=False, compare=False
    )
    # A table sharing routes with other tables (netsim.dataplane.shared): the shared
    # routes' trie and ranked groups, the one shared route this table leaves out, and
    # what ``routes`` is made of (filled on first access). None in a plain table.
    _shared4: _Root | None = field(init=False, repr=False, compare=False)
    _shared_ranked4: tuple[_PrefixGroup, ...] = field(init=False, repr=False, compare=False)
    _own: Route | None = field(init=False, repr=False, compare=False)
    _parts: _Parts | None = field(init=False, repr=False, compare=False)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            """``routes`` of a shared table, put together (and kept) on first access; the
            IPv4 trie of any table, built (and kept) on its first lookup."""
            if name == "_trie4":
                trie = _build_trie(self._ranked4)
                object.__setattr__(self, "_trie4", trie)
                return trie
            if name != "routes" or self._parts is None:
                raise AttributeError(name)
            before, shared, own_index, after = self._parts
            routes = (*before, *shared[:own_index], *shared[own_index + 1 :], *after)
            object.__setattr__(self, "routes", routes)
            return routes

    def __post_init__(self) -> None:
        object.__setattr__(self, "_shared4", None)
        object.__setattr__(self, "_shared_ranked4", ())
        object.__setattr__(self, "_own", None)
        object.__setattr__(self, "_parts", None)
        routes = tuple(self.routes)
        for route in routes:
            if not isinstance(route, Route):
                raise InputError(f"not a Route: {route!r}", obj="routing table", field="routes")
        object.__setattr__(self, "routes", routes)
        _index_table(self)
        resolved = tuple(
            check_nexthop(self, route) if route.gateway is not None else route for route in routes
        )
        if resolved != routes:
            object.__setattr__(self, "routes", resolved)
            _index_table(self)


def build_routing_table(routes: Iterable[Route], *, has_custom_rules: bool = False) -> RoutingTable:
    """Check routes as ``ip route add`` would and freeze them into a table.

    Args:
        routes: both tables' routes, in the order they were installed.
        has_custom_rules: see :class:`RoutingTable`.

    Returns:
        The frozen table; gateway routes carry the ``dev`` they resolve through.

    Raises:
        InputError: a gateway is not reachable (:func:`check_nexthop`).

    >>> from ipaddress import IPv4Network
    >>> table = build_routing_table([
    ...     Route(IPv4Network("192.168.1.0/24"), dev="eth0", proto="kernel"),
    ...     Route(gateway=IPv4Address("192.168.1.1")),
    ... ])
    >>> table.routes[1].dev
    'eth0'
    """
    return RoutingTable(tuple(routes), has_custom_rules=has_custom_rules)


def _check_routes(routes: tuple[Route, ...]) -> None:
    """Raise the InputError ``RoutingTable(routes)`` would raise, without building its trie."""
    table: RoutingTable = object.__new__(RoutingTable)
    set_ = object.__setattr__
    for name, value in (("routes", routes), ("has_custom_rules", False), ("_shared4", None)):
        set_(table, name, value)
    set_(table, "_shared_ranked4", ())
    set_(table, "_own", None)
    set_(table, "_parts", None)
    set_(table, "_ranked4", _ranked_groups(routes, 4, local_first=False))
    set_(table, "_ranked6", _ranked_groups(routes, 6, local_first=True))
    for route in routes:
        if route.gateway is not None:
            check_nexthop(table, route)


def _index_table(table: RoutingTable) -> None:
    """Build the lookup indexes of ``table`` from its routes (inside construction only)."""
    ranked4 = _ranked_groups(table.routes, 4, local_first=table.has_custom_rules)
    ranked6 = _ranked_groups(table.routes, 6, local_first=True)
    best6 = tuple(
        (group.shift, {key: routes[0] for key, routes in group.routes.items()}) for group in ranked6
    )
    object.__setattr__(table, "_ranked4", ranked4)
    object.__setattr__(table, "_ranked6", ranked6)
    object.__setattr__(table, "_best6", best6)
    # The trie is built on the first lookup (``__getattr__``): most of the 5,000 node
    # tables of a large cluster are never looked up.
    with contextlib.suppress(AttributeError):  # not built yet
        object.__delattr__(table, "_trie4")


def _candidates4(table: RoutingTable, address: int) -> Iterator[Route]:
    """Every IPv4 route of ``table`` covering ``address``, best-ranked first."""
    if table._shared4 is None:
        yield from _covering(table._ranked4, address)
        return
    # Both group sequences are ranked by (longer prefix, local first): merge them.
    groups = sorted(
        (*table._ranked4, *table._shared_ranked4),
        key=lambda g: (-g.prefixlen, g.table is not TableName.LOCAL),
    )
    for route in _covering(groups, address):
        if route is not table._own:
            yield route


def check_nexthop(table: RoutingTable, route: Route) -> Route:
    """Check ``route``'s gateway as ``ip route add`` would against ``table``.

    IPv4 (``fib_check_nh_v4_gw``): without ``onlink`` the gateway is looked up
    like a destination, skipping routes of a scope wider than ``link`` (wider
    than ``host`` when the route itself has scope ``link``) and, when ``route``
    names a ``dev``, routes through another device; the first route found must
    be ``unicast`` or ``local``. With ``onlink`` the route must have scope
    ``global`` and the gateway must not be a local, broadcast or multicast
    address. IPv6 (``ip6_validate_gw``, simplified): a link-local gateway needs
    a ``dev``; any other must not be a local address and must be covered by a
    route without gateway through the same ``dev``.

    The check runs against the whole table, not only the routes installed
    before ``route``.

    Args:
        table: the table the route is (or will be) part of.
        route: the route to check.

    Returns:
        ``route`` as the kernel stores it: a gateway route without ``dev`` gets
        the device its gateway resolves through.

    Raises:
        InputError: the kernel's error (``Nexthop has invalid gateway`` for
            IPv4) with the reason and the fix.

    >>> from ipaddress import IPv4Network
    >>> table = build_routing_table(
    ...     [Route(IPv4Network("10.244.0.0/24"), dev="cni0", proto="kernel")])
    >>> check_nexthop(table, Route(IPv4Network("10.9.0.0/16"),
    ...                            gateway=IPv4Address("10.244.0.9"))).dev
    'cni0'
    >>> check_nexthop(table, Route(IPv4Network("10.9.0.0/16"), dev="eth0",
    ...                            gateway=IPv4Address("10.244.0.9")))
    Traceback (most recent call last):
    ...
    netsim.errors.InputError: route 10.9.0.0/16 via 10.244.0.9 dev eth0: gateway: \
Nexthop has invalid gateway: no route of scope link or host covers 10.244.0.9 on dev eth0; \
add an address on eth0 whose prefix covers it, or set onlink
    """
    gateway = route.gateway
    if gateway is None:
        return route
    if isinstance(gateway, IPv4Address):
        dev = _check_nexthop_v4(table, route, gateway)
    else:
        dev = _check_nexthop_v6(table, route, gateway)
    return route if dev == route.dev else dataclasses.replace(route, dev=dev)


def _nexthop_error(route: Route, message: str, field_name: str = "gateway") -> InputError:
    return InputError(message, obj=f"route {render_ip_route(route)}", field=field_name)


def _check_nexthop_v4(table: RoutingTable, route: Route, gateway: IPv4Address) -> str:
    """The device an IPv4 gateway resolves through (``fib_check_nh_v4_gw``)."""
    if route.onlink:
        if route.scope is not RouteScope.GLOBAL:
            raise _nexthop_error(
                route,
                f"{ERR_INVALID_SCOPE}: an onlink route must have scope global, "
                f"not {route.scope}; leave scope unset",
                "scope",
            )
        if gateway.is_multicast or gateway == IPV4_LIMITED_BROADCAST:
            raise _nexthop_error(
                route, f"{ERR_INVALID_GATEWAY}: {gateway} is not a unicast address"
            )
        # inet_addr_type_dev_table(): one lookup in the local table, which is
        # the merged local+main trie while there are no custom rules.
        if table.has_custom_rules:
            groups = tuple(g for g in table._ranked4 if g.table is TableName.LOCAL)
            best = next(_covering(groups, int(gateway)), None)
        else:
            best = next(_candidates4(table, int(gateway)), None)
        if best is not None and best.type in (RouteType.LOCAL, RouteType.BROADCAST):
            raise _nexthop_error(
                route,
                f"{ERR_INVALID_GATEWAY}: {gateway} is a {best.type} address "
                f"({render_ip_route(best)}); an onlink gateway must be another host",
            )
        assert route.dev is not None  # Route() requires dev with onlink
        return route.dev

    min_scope = max(SCOPE_NUMBERS[route.scope] + 1, SCOPE_NUMBERS[RouteScope.LINK])
    for candidate in _candidates4(table, int(gateway)):
        if SCOPE_NUMBERS[candidate.scope] < min_scope:
            continue
        if candidate.type in REJECT_TYPES:
            raise _nexthop_error(
                route,
                f"{ERR_INVALID_GATEWAY}: {gateway} resolves to {render_ip_route(candidate)}",
            )
        if route.dev is not None and candidate.dev != route.dev:
            continue
        if candidate.type not in (RouteType.UNICAST, RouteType.LOCAL):
            raise _nexthop_error(
                route,
                f"{ERR_INVALID_GATEWAY}: {gateway} is a {candidate.type} address "
                f"({render_ip_route(candidate)})",
            )
        assert candidate.dev is not None  # unicast and local routes have a dev
        return candidate.dev
    on_dev = f" on dev {route.dev}" if route.dev is not None else ""
    if min_scope > SCOPE_NUMBERS[RouteScope.LINK]:
        wanted = "host"
        fix = "leave scope unset (a route of scope link needs a gateway of scope host)"
    elif route.dev is not None:
        wanted = "link or host"
        fix = f"add an address on {route.dev} whose prefix covers it, or set onlink"
    else:
        wanted = "link or host"
        fix = "add an address whose prefix covers it, or name the dev and set onlink"
    raise _nexthop_error(
        route,
        f"{ERR_INVALID_GATEWAY}: no route of scope {wanted} covers {gateway}{on_dev}; {fix}",
    )


def _check_nexthop_v6(table: RoutingTable, route: Route, gateway: IPv6Address) -> str:
    """The device an IPv6 gateway resolves through (``ip6_validate_gw``, simplified)."""
    address = int(gateway)
    if route.dev is not None:
        local_groups = [g for g in table._ranked6 if g.table is TableName.LOCAL]
        for candidate in _covering(local_groups, address):
            if candidate.type is RouteType.LOCAL and candidate.dst.prefixlen == 128:
                raise _nexthop_error(
                    route, f"{ERR_LOCAL_GATEWAY6}: {gateway} is an address of this host"
                )
    if gateway in LINK_LOCAL6 or route.onlink:
        if route.dev is None:
            raise _nexthop_error(
                route, f"{ERR_NO_EGRESS_DEV6}; a link-local gateway needs a dev", "dev"
            )
        return route.dev
    for candidate in _covering(table._ranked6, address):
        if route.dev is not None and candidate.dev not in (route.dev, None):
            continue
        if candidate.type in REJECT_TYPES or candidate.gateway is not None:
            break
        assert candidate.dev is not None  # not a reject route
        return candidate.dev
    on_dev = f" on dev {route.dev}" if route.dev is not None else ""
    raise _nexthop_error(
        route,
        f"{ERR_NO_ROUTE_TO_HOST}: no route without gateway covers {gateway}{on_dev}; "
        "add an address whose prefix covers it, or set onlink",
    )
