"""Routing tables that share the routes every node holds for the other nodes' podCIDRs.

In ``l3`` and ``vxlan`` modes each node routes every remote podCIDR: N - 1
routes per node, N(N - 1) in the cluster (25 million at 5,000 nodes), all the
same objects but for the one a node leaves out, its own. :class:`SharedRoutes`
holds them once, one per node in topology order, with their lookup trie;
:func:`shared_table` makes a node's :class:`~netsim.dataplane.routing.RoutingTable`
from the node's own routes plus the shared ones minus its own. Such a table
is equal to the plain table of the same routes and answers every lookup,
``check_nexthop`` and ``resolve_nexthop`` the same; ``routes`` lists them in
the same order (put together on first access).

Sharing is exact only under conditions :func:`shared_table` checks; when one
fails it returns ``None`` and the caller builds the plain table (which also
raises the kernel's error, if any). The conditions:

* the shared routes are IPv4 ``unicast`` routes of table ``main``, scope
  ``global``, with a gateway and a ``dev``, metric 0, their prefixes pairwise
  disjoint, no gateway multicast or the limited broadcast;
* the table has no custom rules, no ``onlink`` route of its own, and no
  ``main`` route with the destination of a shared route it keeps;
* every shared route it keeps passes ``check_nexthop`` unchanged. A check
  without ``onlink`` never looks at the shared routes (their scope is
  ``global``, below the ``link`` scope a gateway needs), so its outcome only
  depends on which of the node's own routes cover the gateway: one check per
  cell of the address space the node's own prefixes cut. With ``onlink`` the
  check fails only where the node's best own route is ``local`` or
  ``broadcast`` and beats the best shared route: checked gateway by gateway
  in those (small) cells only.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from itertools import pairwise
from typing import Any

from netsim.dataplane.prefix_index import _build_trie, _covering, _ranked_groups, _trie_lookup
from netsim.dataplane.routes import IPV4_LIMITED_BROADCAST
from netsim.dataplane.routing import (
    Route,
    RouteScope,
    RouteType,
    RoutingTable,
    TableName,
)
from netsim.dataplane.routing_table import _check_nexthop_v4
from netsim.errors import InputError

__all__ = ["SharedRoutes", "shared_table"]

_Class = tuple[str | None, RouteScope, bool]  # (dev, scope, onlink) decides a check


@dataclass(frozen=True, slots=True)
class SharedRoutes:
    """The routes nodes hold for each other, one per node (``routes[i]`` is node ``i``'s).

    Node ``i``'s table holds every route but ``routes[i]``.
    """

    routes: tuple[Route, ...]
    is_shareable: bool = field(init=False, repr=False, compare=False)
    _trie4: Any = field(init=False, repr=False, compare=False)
    _ranked4: Any = field(init=False, repr=False, compare=False)
    # per check class: the gateways as sorted ints and the route indexes in that order
    _classes: dict[_Class, tuple[list[int], list[int]]] = field(
        init=False, repr=False, compare=False
    )
    _dsts: dict[Any, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "is_shareable", _is_shareable(self.routes))
        ranked = _ranked_groups(self.routes, 4, local_first=False)
        set_(self, "_ranked4", ranked)
        set_(self, "_trie4", _build_trie(ranked))
        classes: dict[_Class, list[tuple[int, int]]] = {}
        for index, route in enumerate(self.routes):
            key = (route.dev, route.scope, route.onlink)
            classes.setdefault(key, []).append((int(route.gateway or 0), index))
        sorted_classes = {}
        for key, pairs in classes.items():
            pairs.sort()
            sorted_classes[key] = ([g for g, _ in pairs], [i for _, i in pairs])
        set_(self, "_classes", sorted_classes)
        set_(self, "_dsts", {route.dst: i for i, route in enumerate(self.routes)})


def _is_shareable(routes: Sequence[Route]) -> bool:
    """Whether the routes meet the first condition of the module docstring."""
    spans = []
    for route in routes:
        gateway = route.gateway
        if (
            not isinstance(route.dst, IPv4Network)
            or route.type is not RouteType.UNICAST
            or route.table is not TableName.MAIN
            or route.scope is not RouteScope.GLOBAL
            or route.metric != 0
            or route.dev is None
            or not isinstance(gateway, IPv4Address)
            or gateway.is_multicast
            or gateway == IPV4_LIMITED_BROADCAST
        ):
            return False
        spans.append((int(route.dst.network_address), int(route.dst.broadcast_address)))
    spans.sort()
    return all(a[1] < b[0] for a, b in pairwise(spans))


def shared_table(
    before: Sequence[Route], shared: SharedRoutes, own_index: int, after: Sequence[Route]
) -> RoutingTable | None:
    """The table of ``before``, the shared routes but ``own_index``'s, then ``after``.

    Returns:
        A table equal to ``RoutingTable((*before, *kept, *after))``, or ``None``
        when sharing would not be exact or a route would be refused (build the
        plain table then: it raises the kernel's error).
    """
    if not shared.is_shareable:
        return None
    own_routes = (*before, *after)
    for route in own_routes:
        if route.onlink:
            return None
        if route.table is TableName.MAIN and shared._dsts.get(route.dst, own_index) != own_index:
            return None
    try:
        overlay = RoutingTable(own_routes)
    except InputError:
        return None
    own = shared.routes[own_index] if 0 <= own_index < len(shared.routes) else None
    if not _certified(overlay, shared, own):
        return None
    table: RoutingTable = object.__new__(RoutingTable)
    set_ = object.__setattr__
    set_(table, "has_custom_rules", False)
    for name in ("_ranked4", "_ranked6", "_best6"):  # the trie: on first lookup
        set_(table, name, getattr(overlay, name))
    set_(table, "_shared4", shared._trie4)
    set_(table, "_shared_ranked4", shared._ranked4)
    set_(table, "_own", own)
    resolved = overlay.routes
    cut = len(before)
    set_(table, "_parts", (resolved[:cut], shared.routes, own_index, resolved[cut:]))
    return table


def _certified(overlay: RoutingTable, shared: SharedRoutes, own: Route | None) -> bool:
    """Whether every kept shared route passes ``check_nexthop`` unchanged in the table."""
    spans = [
        (key << group.shift, ((key + 1) << group.shift) - 1)
        for group in overlay._ranked4
        for key in group.routes
    ]
    for (_, _, onlink), (gateways, indexes) in shared._classes.items():
        low, high = gateways[0], gateways[-1]
        bounds = {low, high + 1}
        for start, end in spans:
            if low <= start <= high:
                bounds.add(start)
            if low <= end + 1 <= high:
                bounds.add(end + 1)
        edges = sorted(bounds)
        for cell_start, cell_end in pairwise(edges):
            i, j = bisect_left(gateways, cell_start), bisect_left(gateways, cell_end)
            first = next((k for k in range(i, j) if shared.routes[indexes[k]] is not own), None)
            if first is None:
                continue
            probe = shared.routes[indexes[first]]
            if not onlink:
                try:
                    dev = _check_nexthop_v4(overlay, probe, IPv4Address(gateways[first]))
                except InputError:
                    return False
                if dev != probe.dev:
                    return False
                continue
            best = next(_covering(overlay._ranked4, cell_start), None)
            if best is None or best.type not in (RouteType.LOCAL, RouteType.BROADCAST):
                continue
            for k in range(i, j):
                if shared.routes[indexes[k]] is own:
                    continue
                other = _trie_lookup(shared._trie4, gateways[k])
                if other is None or other is own or other.dst.prefixlen <= best.dst.prefixlen:
                    return False
    return True
