"""Longest-prefix match: the route the kernel picks for a destination, and its next hop.

Holds :func:`lookup_route` (longest prefix first, then the lowest metric, then
the route installed first; reject routes are returned like any other route),
its ``int`` hot path :func:`lookup_route_int`, and :func:`resolve_nexthop`, the
device and next-hop address a packet leaves by. How ``local`` and ``main``
combine is described in :mod:`netsim.dataplane.routing_table`. Import these
names from :mod:`netsim.dataplane.routing`.

Speed: IPv4 lookups walk the table's multibit trie
(:mod:`netsim.dataplane.prefix_index`), inlined in both public lookups on
purpose; IPv6 lookups probe one dict per prefix length present.

Does not hold: the tables and their checks
(:mod:`netsim.dataplane.routing_table`).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from netsim.dataplane.prefix_index import _trie_lookup
from netsim.dataplane.routes import MAX_IPV4, REJECT_TYPES, Route
from netsim.dataplane.routing_table import RoutingTable, _nexthop_error, check_nexthop
from netsim.errors import InputError

__all__ = ["lookup_route", "lookup_route_int", "resolve_nexthop"]


def lookup_route(table: RoutingTable, dst: IPv4Address | IPv6Address | int) -> Route | None:
    """The route the kernel picks for ``dst``, or ``None`` when no route matches.

    Longest prefix first, then the lowest metric, then the route installed
    first; how ``local`` and ``main`` combine is described in the module
    docstring. A ``blackhole``, ``unreachable`` or ``prohibit`` route is
    returned as such.

    Args:
        table: the routing table.
        dst: the destination; a plain ``int`` is an IPv4 address.

    Returns:
        The matching route, or ``None`` (the kernel's ``Network is unreachable``).

    Raises:
        InputError: ``dst`` is an ``int`` outside 0 to 2**32 - 1.

    >>> from ipaddress import IPv4Network
    >>> from netsim.dataplane.routing import build_routing_table, render_ip_route
    >>> table = build_routing_table([
    ...     Route(IPv4Network("10.244.0.0/24"), dev="cni0", proto="kernel"),
    ...     Route(IPv4Network("192.168.1.0/24"), dev="eth0", proto="kernel"),
    ...     Route(gateway=IPv4Address("192.168.1.1"), dev="eth0"),
    ... ])
    >>> render_ip_route(lookup_route(table, IPv4Address("10.244.0.7")))
    '10.244.0.0/24 dev cni0 proto kernel scope link'
    >>> render_ip_route(lookup_route(table, IPv4Address("8.8.8.8")))
    'default via 192.168.1.1 dev eth0'
    """
    if isinstance(dst, IPv4Address):
        address = int(dst)
    elif isinstance(dst, IPv6Address):
        return _lookup_v6(table, int(dst))
    elif isinstance(dst, int) and 0 <= dst <= MAX_IPV4:
        address = dst
    else:
        raise InputError(
            f"{dst!r} is not an IPv4Address, IPv6Address or IPv4 address as int (0-{MAX_IPV4})",
            obj="lookup_route",
            field="dst",
        )
    if table._shared4 is not None:
        return _lookup_shared(table, address)
    # The body of lookup_route_int, inlined: a call costs a tenth of a lookup.
    slot = table._trie4[address >> 24]
    if isinstance(slot, list):
        slot1 = slot[(address >> 16) & 0xFF]
        if isinstance(slot1, list):
            slot2 = slot1[(address >> 8) & 0xFF]
            if isinstance(slot2, list):
                return slot2[address & 0xFF]
            return slot2
        return slot1
    return slot


def lookup_route_int(table: RoutingTable, dst: int) -> Route | None:
    """:func:`lookup_route` for an IPv4 address given as an ``int``: the hot path.

    ``dst`` must be 0 to 2**32 - 1; it is not checked.

    >>> from ipaddress import IPv4Network
    >>> from netsim.dataplane.routing import build_routing_table
    >>> table = build_routing_table([Route(IPv4Network("10.0.0.0/8"), dev="eth0")])
    >>> lookup_route_int(table, int(IPv4Address("10.1.2.3"))).dev
    'eth0'
    >>> lookup_route_int(table, 0x0B000001) is None
    True
    """
    if table._shared4 is not None:
        return _lookup_shared(table, dst)
    slot = table._trie4[dst >> 24]
    if isinstance(slot, list):
        slot1 = slot[(dst >> 16) & 0xFF]
        if isinstance(slot1, list):
            slot2 = slot1[(dst >> 8) & 0xFF]
            if isinstance(slot2, list):
                return slot2[dst & 0xFF]
            return slot2
        return slot1
    return slot


def _lookup_shared(table: RoutingTable, address: int) -> Route | None:
    """The better of the table's own route and the shared routes' for ``address``.

    Shared tables hold no custom rules, their shared routes are pairwise disjoint
    ``main`` routes and none has the destination of a ``main`` route of the
    table's own (checked when the table is made): the longer prefix wins, and at
    equal prefix the table's own route, which is then in ``local``.
    """
    own = _trie_lookup(table._trie4, address)
    assert table._shared4 is not None
    shared = _trie_lookup(table._shared4, address)
    if shared is None or shared is table._own:
        return own
    if own is None or shared.dst.prefixlen > own.dst.prefixlen:
        return shared
    return own


def _lookup_v6(table: RoutingTable, address: int) -> Route | None:
    """The best IPv6 route for ``address``: one dict probe per prefix length present."""
    for shift, best in table._best6:
        route = best.get(address >> shift)
        if route is not None:
            return route
    return None


def resolve_nexthop(
    table: RoutingTable, route: Route, dst: IPv4Address | IPv6Address
) -> tuple[str, IPv4Address | IPv6Address]:
    """The device and the next-hop address a packet to ``dst`` leaves by on ``route``.

    The next hop is the gateway if the route has one, else ``dst`` itself (the
    destination is on the link). For ``local`` and ``broadcast`` routes this is
    the device the address belongs to and ``dst``.

    Args:
        table: the table ``route`` came from (resolves a missing ``dev``).
        route: the route :func:`lookup_route` returned for ``dst``.
        dst: the packet's destination.

    Returns:
        ``(dev, next_hop)``.

    Raises:
        InputError: ``route`` is a reject route (it has no next hop: the
            caller turns it into a drop) or does not cover ``dst``.

    >>> from ipaddress import IPv4Network
    >>> from netsim.dataplane.routing import build_routing_table
    >>> table = build_routing_table([
    ...     Route(IPv4Network("10.244.1.0/24"), gateway=IPv4Address("10.244.1.0"),
    ...           dev="flannel.1", onlink=True),
    ...     Route(IPv4Network("10.244.0.0/24"), dev="cni0", proto="kernel"),
    ... ])
    >>> dst = IPv4Address("10.244.1.5")
    >>> resolve_nexthop(table, lookup_route(table, dst), dst)
    ('flannel.1', IPv4Address('10.244.1.0'))
    >>> dst = IPv4Address("10.244.0.5")
    >>> resolve_nexthop(table, lookup_route(table, dst), dst)
    ('cni0', IPv4Address('10.244.0.5'))
    """
    if route.type in REJECT_TYPES:
        raise _nexthop_error(
            route,
            f"a {route.type} route has no next hop; turn it into a disposition",
            "type",
        )
    if dst.version != route.dst.version or dst not in route.dst:
        raise _nexthop_error(route, f"does not cover {dst}", "dst")
    dev = route.dev if route.dev is not None else check_nexthop(table, route).dev
    assert dev is not None  # Route() requires a dev or a gateway, check_nexthop fills it
    return dev, route.gateway if route.gateway is not None else dst
