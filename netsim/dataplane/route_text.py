"""The line ``ip route show`` prints for a route: :func:`render_ip_route`.

Models iproute2 6.1's text for one :class:`~netsim.dataplane.routes.Route`:
its words in iproute2's order, the words iproute2 hides (type ``unicast``,
``proto boot``, IPv4 ``scope global`` and ``metric 0``), and what IPv6 lines
always carry. The destination word (``default``, an address, a prefix) is
:func:`netsim.dataplane.routes._render_dst`, which the route's error messages
share.

Not here: the route value, its defaults and checks
(:mod:`netsim.dataplane.routes`); the routes the kernel adds for an address
(:mod:`netsim.dataplane.address_routes`); a namespace's whole ``ip route``
output (:mod:`netsim.report.tables`). Parsing ``ip route`` text is not
modelled. Import :func:`render_ip_route` from :mod:`netsim.dataplane.routing`.
"""

from __future__ import annotations

from netsim.dataplane.routes import (
    DEFAULT_PROTO,
    LOOPBACK_DEV,
    REJECT_TYPES,
    Route,
    RouteScope,
    RouteType,
    TableName,
    _render_dst,
)

__all__ = ["render_ip_route"]


def render_ip_route(route: Route, *, show_table: bool = False) -> str:
    """The line ``ip route show`` (iproute2 6.1) prints for ``route``.

    The words come in iproute2's order: type, dst, ``via``, ``dev``,
    ``table``, ``proto``, ``scope``, ``src``, ``metric``, ``onlink``, ``mtu``,
    ``pref``. Hidden as iproute2 hides them: type ``unicast``, ``proto boot``,
    IPv4 ``scope global`` and ``metric 0``. IPv6 lines always carry ``metric``
    and ``pref medium``, no ``scope``, and ``dev lo`` on reject routes. IPv4
    lines from ``ip route show`` end in a space, which is left out here.

    Args:
        route: the route.
        show_table: print ``table local`` as ``ip route show table all`` does;
            by default the line is the one ``ip route show table <its table>``
            prints.

    Returns:
        The line, without trailing space or newline.

    >>> from ipaddress import IPv4Address, IPv4Network, IPv6Network
    >>> render_ip_route(Route(IPv4Network("10.244.1.0/24"), dev="flannel.1",
    ...                       gateway=IPv4Address("10.244.1.0"), onlink=True))
    '10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink'
    >>> render_ip_route(Route(IPv4Network("10.244.0.0/26"), type="blackhole", proto="bird"))
    'blackhole 10.244.0.0/26 proto bird'
    >>> local = Route(IPv4Network("10.244.0.1/32"), type="local", dev="cni0", proto="kernel",
    ...               src=IPv4Address("10.244.0.1"))
    >>> render_ip_route(local)
    'local 10.244.0.1 dev cni0 proto kernel scope host src 10.244.0.1'
    >>> render_ip_route(local, show_table=True)
    'local 10.244.0.1 dev cni0 table local proto kernel scope host src 10.244.0.1'
    >>> render_ip_route(Route(IPv6Network("2001:db8::/64"), dev="eth0"))
    '2001:db8::/64 dev eth0 metric 1024 pref medium'
    """
    ipv6 = route.dst.version == 6
    words: list[str] = []
    if route.type is not RouteType.UNICAST:
        words.append(route.type.value)
    words.append(_render_dst(route.dst))
    if route.gateway is not None:
        words += ["via", str(route.gateway)]
    dev = route.dev
    if dev is None and ipv6 and route.type in REJECT_TYPES:
        dev = LOOPBACK_DEV  # the kernel points IPv6 reject routes at the loopback
    if dev is not None:
        words += ["dev", dev]
    if show_table and route.table is not TableName.MAIN:
        words += ["table", route.table.value]
    if route.proto != DEFAULT_PROTO:
        words += ["proto", route.proto]
    if not ipv6 and route.scope is not RouteScope.GLOBAL:
        words += ["scope", route.scope.value]
    if route.src is not None:
        words += ["src", str(route.src)]
    if ipv6 or route.metric:
        words += ["metric", str(route.metric)]
    if route.onlink:
        words.append("onlink")
    if route.mtu is not None:
        words += ["mtu", str(route.mtu)]
    if ipv6:
        words += ["pref", "medium"]
    return " ".join(words)
