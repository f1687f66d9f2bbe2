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

:class:`Route`, its enums, :func:`render_ip_route` and :func:`address_routes`
live in :mod:`netsim.dataplane.routes` and are re-exported here: import them
from this module.

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

Speed: IPv4 lookups walk a multibit trie (stride 8, controlled prefix
expansion, at most four list indexings) built once when the table is frozen;
a table of 10,000 routes answers about 3 million ``lookup_route`` calls a
second in CPython 3.11 (``benchmarks/bench_routing.py``). A 16-8-8 trie
measured 10-30% faster but costs 512 KiB per table, and every pod has a table.
IPv6 lookups probe one dict per prefix length present.

Does not model: policy routing beyond ``local``/``main`` (``ip rule``, other
tables), ``tos``/``dscp`` selectors, multipath (ECMP) and nexthop objects,
``ip route prepend`` (all duplicates are ``append``-ed), link state (``dead``,
``linkdown``), the route cache and PMTU exceptions, ``src`` validation
(``Invalid prefsrc address``), secondary addresses, multicast, anycast, NAT and
``throw`` routes, IPv4 routes via IPv6 gateways (``via inet6``), route
preferences other than ``pref medium``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from netsim.dataplane.routes import (
    DEFAULT_DST,
    ERR_INVALID_GATEWAY,
    ERR_INVALID_SCOPE,
    ERR_LOCAL_GATEWAY6,
    ERR_NO_EGRESS_DEV6,
    ERR_NO_ROUTE_TO_HOST,
    IP6_RT_PRIO_ADDRCONF,
    IP6_RT_PRIO_USER,
    IP_MAX_MTU,
    IPV4_LIMITED_BROADCAST,
    LINK_LOCAL6,
    LOOPBACK_DEV,
    MAX_IPV4,
    REJECT_TYPES,
    SCOPE_NUMBERS,
    Route,
    RouteScope,
    RouteType,
    TableName,
    address_routes,
    render_ip_route,
)
from netsim.errors import InputError

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

# The IPv4 trie: four levels of 256 slots, one per byte of the address. A slot
# holds the best route for every address under it (controlled prefix expansion
# with leaf pushing) or a child node when longer prefixes split it.
_STRIDE: Final = 8
_STRIDES: Final = (_STRIDE, _STRIDE, _STRIDE, _STRIDE)
_Leaf: TypeAlias = Route | None
_Level3: TypeAlias = list[_Leaf]
_Level2: TypeAlias = list[_Leaf | _Level3]
_Level1: TypeAlias = list[_Leaf | _Level2]
_Root: TypeAlias = list[_Leaf | _Level1]
# before, shared routes, index of the one left out, after
_Parts: TypeAlias = tuple[tuple[Route, ...], tuple[Route, ...], int, tuple[Route, ...]]


@dataclass(frozen=True, slots=True)
class _PrefixGroup:
    """The routes of one table with one prefix length, keyed by ``network >> shift``.

    Each key's routes are in the kernel's order: lowest metric first, then the
    order they were installed.
    """

    table: TableName
    prefixlen: int
    shift: int
    routes: Mapping[int, tuple[Route, ...]]


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
            """``routes`` of a shared table, put together (and kept) on first access."""
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
    object.__setattr__(table, "_trie4", _build_trie(ranked4))


def _ranked_groups(
    routes: Iterable[Route], version: int, *, local_first: bool
) -> tuple[_PrefixGroup, ...]:
    """Group one family's routes by (table, prefix length), best-ranked group first.

    With ``local_first`` every ``local`` group comes before every ``main``
    group; without, longer prefixes come first and ``local`` wins a tie.
    """
    max_bits = 32 if version == 4 else 128
    buckets: dict[tuple[TableName, int], dict[int, list[Route]]] = {}
    for route in routes:
        if route.dst.version != version:
            continue
        plen = route.dst.prefixlen
        key = int(route.dst.network_address) >> (max_bits - plen)
        buckets.setdefault((route.table, plen), {}).setdefault(key, []).append(route)

    def rank(table_plen: tuple[TableName, int]) -> tuple[int, int]:
        table_name, plen = table_plen
        not_local = int(table_name is not TableName.LOCAL)
        return (not_local, -plen) if local_first else (-plen, not_local)

    return tuple(
        _PrefixGroup(
            table=table_name,
            prefixlen=plen,
            shift=max_bits - plen,
            routes={
                key: tuple(sorted(same, key=lambda r: r.metric))  # stable: install order
                for key, same in buckets[table_name, plen].items()
            },
        )
        for table_name, plen in sorted(buckets, key=rank)
    )


def _build_trie(ranked4: tuple[_PrefixGroup, ...]) -> _Root:
    """The IPv4 trie: each group's best routes, inserted worst-ranked first.

    Every route inserted outranks every route inserted before it, so it simply
    overwrites (children included) the slots its prefix covers.
    """
    root: list[Any] = [None] * (1 << _STRIDE)
    for group in reversed(ranked4):
        for key, routes in group.routes.items():
            _trie_insert(root, routes[0], key << group.shift, group.prefixlen)
    return root


def _trie_insert(root: list[Any], route: Route, network: int, prefixlen: int) -> None:
    """Write ``route`` into every slot its prefix covers, splitting slots as needed."""
    node = root
    end = 0
    for stride in _STRIDES:
        end += stride
        index = (network >> (32 - end)) & ((1 << stride) - 1)
        if prefixlen <= end:
            count = 1 << (end - prefixlen)
            node[index : index + count] = [route] * count
            return
        child = node[index]
        if not isinstance(child, list):
            child = [child] * (1 << _STRIDE)
            node[index] = child
        node = child


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


def _trie_lookup(root: _Root, address: int) -> Route | None:
    """The route a trie holds for ``address``."""
    slot = root[address >> 24]
    if isinstance(slot, list):
        slot1 = slot[(address >> 16) & 0xFF]
        if isinstance(slot1, list):
            slot2 = slot1[(address >> 8) & 0xFF]
            if isinstance(slot2, list):
                return slot2[address & 0xFF]
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


def _lookup_v6(table: RoutingTable, address: int) -> Route | None:
    """The best IPv6 route for ``address``: one dict probe per prefix length present."""
    for shift, best in table._best6:
        route = best.get(address >> shift)
        if route is not None:
            return route
    return None


def _covering(groups: Iterable[_PrefixGroup], address: int) -> Iterator[Route]:
    """Every route of ``groups`` whose prefix covers ``address``, best-ranked first."""
    for group in groups:
        routes = group.routes.get(address >> group.shift)
        if routes:
            yield from routes


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
