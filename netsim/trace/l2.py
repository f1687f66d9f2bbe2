"""Layer 2 for the tracer: broadcast domains, ARP answers and what each bridge has learned.

Made once per dataplane (:func:`build_l2_index`) from the typed tables, and
filled in as the walk asks:

* the devices joined at layer 2 (veth pairs, bridge ports and their bridge,
  the underlay cables): every device knows its broadcast domain;
* ARP: who answers ``who-has X`` in a domain — a device that is not a bridge
  port and carries ``X`` (``proxy_arp`` is 0 everywhere, so nobody answers for
  an address it does not hold);
* per bridge, MAC → port as the bridge would have learned it after the ARP
  exchanges of a converged network: the port behind which a device with that
  MAC sits. Configured (``permanent``) FDB entries are named as such.

Lazily: a node's namespace and its pods' namespaces (one group of
:class:`~netsim.dataplane.lazy.LazyNamespaces`) are read only when a question
needs them. Groups meet the rest of the cluster only through underlay cables
(veths join a pod to its own node), so the domains are kept as a union-find
over the namespaces read so far plus every cable end: a group with one cable
cannot join two domains, and one with several is read at once. ARP for an
address reads the group the cluster state says holds it (the node with that
IP or podCIDR) first; only when that finds nobody is every group of the
domain read, so "no answer" is as exhaustive as before. An address is held
by one device of a broadcast domain in every cluster netsim builds (the
loader refuses overlapping address spaces); were it held by several, the
first device read would answer. A bridge's port for a MAC is found by
walking back from the devices with that MAC towards the bridge, which gives
the port an eager walk out of every port in order would have given.

Not modelled: flooding of unknown unicast (every MAC the tracer needs has been
resolved by ARP first, so it is known), FDB ageing, STP, VLAN filtering, MAC
limits, gratuitous ARP, multicast.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address
from operator import attrgetter
from typing import TypeVar

from netsim.dataplane.devices import (
    Dataplane,
    FdbEntry,
    Interface,
    InterfaceKind,
    InterfaceRef,
    Neighbor,
    NetworkNamespace,
    SharedEntries,
)
from netsim.dataplane.lazy import LazyNamespaces

__all__ = [
    "L2Index",
    "NeighborTables",
    "SharedBlock",
    "arp_owner",
    "bridge_port",
    "build_l2_index",
    "cable_peer",
    "fdb_entry",
    "shared_block",
]

_IP_INT = attrgetter("ip._ip")  # IPv4Address keeps its integer in the slot ``_ip``
_MAC = attrgetter("mac")
_IS_SELF = attrgetter("is_self")
K = TypeVar("K")
V = TypeVar("V")
E = TypeVar("E", Neighbor, FdbEntry)
_STANDALONE = (InterfaceKind.LOOPBACK, InterfaceKind.VXLAN)  # no layer-2 neighbours


class L2Index:
    """The layer-2 lookups of a dataplane, read group by group (see module docstring).

    Mutable inside (it fills in as questions come); every answer is what the
    whole dataplane's index would answer.
    """

    __slots__ = (
        "_adjacent",
        "_answers",
        "_by_ip",
        "_by_mac",
        "_cable_ends",
        "_cidrs",
        "_dataplane",
        "_group_of",
        "_hint",
        "_interfaces",
        "_loaded",
        "_parent",
        "_port_order",
        "_ports",
        "cables",
    )

    def __init__(self, dataplane: Dataplane) -> None:
        self._dataplane = dataplane
        namespaces = dataplane.namespaces
        group_of: dict[str, str] = {}
        if isinstance(namespaces, LazyNamespaces):
            for node in dataplane.state.nodes:
                for key in namespaces.keys_of_group(node):
                    group_of[key] = node
        self._group_of = group_of
        self._loaded: set[str] = set()
        self._adjacent: dict[InterfaceRef, list[InterfaceRef]] = {}
        self._interfaces: dict[InterfaceRef, Interface] = {}
        self._parent: dict[InterfaceRef, InterfaceRef] = {}
        self._by_ip: dict[int, list[InterfaceRef]] = {}
        self._by_mac: dict[str, list[InterfaceRef]] = {}
        self.cables: dict[InterfaceRef, InterfaceRef] = {}
        # answers are kept: a later read never changes one (see the module docstring)
        self._answers: dict[tuple[InterfaceRef, int], InterfaceRef | None] = {}
        self._ports: dict[tuple[InterfaceRef, str], str | None] = {}
        self._port_order: dict[InterfaceRef, tuple[str, ...]] = {}  # a bridge's ports
        self._cable_ends: dict[str, list[InterfaceRef]] = {}  # group -> its cabled devices
        hint: dict[int, str] = {}  # node IP -> node
        cidrs: dict[int, dict[int, str]] = {}  # prefix length -> podCIDR network -> node
        for name, node_state in dataplane.state.nodes.items():
            hint[int(node_state.node.ip)] = name
            cidr = node_state.pod_cidr
            cidrs.setdefault(cidr.prefixlen, {})[int(cidr.network_address)] = name
        self._hint = hint
        self._cidrs = cidrs
        for link in dataplane.links:
            self.cables[link.a] = link.b
            self.cables[link.b] = link.a
            for ref in (link.a, link.b):
                self._link(ref, self.cables[ref])
                group = group_of.get(ref.netns)
                if group is not None:
                    self._cable_ends.setdefault(group, []).append(ref)
        for key in namespaces:
            if key not in group_of:
                self._read(namespaces[key])
        for group, ends in self._cable_ends.items():
            if len(ends) > 1:  # it may join two domains: read it now
                self._load(group)

    # -- reading namespaces ------------------------------------------------------

    def _link(self, a: InterfaceRef, b: InterfaceRef) -> None:
        self._adjacent.setdefault(a, []).append(b)
        self._union(a, b)

    def _read(self, ns: NetworkNamespace) -> None:
        for iface in ns.interfaces.values():
            if iface.kind in _STANDALONE:
                continue
            ref = InterfaceRef(ns.id, iface.name)
            self._interfaces[ref] = iface
            self._adjacent.setdefault(ref, [])
            self._parent.setdefault(ref, ref)
            if iface.peer is not None:
                self._link(ref, InterfaceRef(iface.peer.netns, iface.peer.ifname))
            if iface.master is not None:
                master = InterfaceRef(ns.id, iface.master)
                self._link(ref, master)
                self._link(master, ref)
                continue
            self._by_mac.setdefault(iface.mac, []).append(ref)
            for address in iface.addresses:
                self._by_ip.setdefault(int(address.ip), []).append(ref)

    def _load(self, group: str) -> None:
        """Read a node's group of namespaces (freezing them if they are not yet)."""
        if group in self._loaded:
            return
        self._loaded.add(group)
        namespaces = self._dataplane.namespaces
        assert isinstance(namespaces, LazyNamespaces)
        for key in namespaces.keys_of_group(group):
            self._read(namespaces[key])

    def read_all(self) -> None:
        """Read every group now (what an eager index does)."""
        if self._group_of:
            for group in self._dataplane.state.nodes:
                self._load(group)

    def _ensure(self, netns: str) -> None:
        group = self._group_of.get(netns)
        if group is not None and group not in self._loaded:
            self._load(group)

    # -- domains -----------------------------------------------------------------

    def _find(self, ref: InterfaceRef) -> InterfaceRef:
        parent = self._parent
        root = parent.setdefault(ref, ref)
        while root != parent[root]:
            root = parent[root]
        while ref != root:
            ref, parent[ref] = parent[ref], root
        return root

    def _union(self, a: InterfaceRef, b: InterfaceRef) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self._parent[rb] = ra

    def _domain_groups(self, root: InterfaceRef) -> list[str]:
        """The unread groups with a cable into the domain ``root``."""
        return [
            group
            for group, ends in self._cable_ends.items()
            if group not in self._loaded and any(self._find(e) == root for e in ends)
        ]

    # -- questions ---------------------------------------------------------------

    def domain(self, device: InterfaceRef) -> InterfaceRef | None:
        """A representative of the device's broadcast domain (None: loopback, VXLAN, unknown)."""
        self._ensure(device.netns)
        if device not in self._interfaces:
            return None
        return self._find(device)

    def _holder(
        self, candidates: Iterable[InterfaceRef], device: InterfaceRef
    ) -> InterfaceRef | None:
        root = self._find(device)  # found again: reading a group may have joined domains
        return next((ref for ref in candidates if self._find(ref) == root), None)

    def arp_owner(self, device: InterfaceRef, ip: IPv4Address) -> InterfaceRef | None:
        """The device answering ``who-has ip`` sent out of ``device``, or None."""
        key = (device, int(ip))
        if key in self._answers:
            return self._answers[key]
        found = self._answers[key] = self._arp_owner(device, ip)
        return found

    def _arp_owner(self, device: InterfaceRef, ip: IPv4Address) -> InterfaceRef | None:
        if self.domain(device) is None:
            return None
        key = int(ip)
        found = self._holder(self._by_ip.get(key, ()), device)
        if found is not None:
            return found
        hinted = self._hint.get(key) or self._pod_cidr_node(ip)
        if hinted is not None and hinted not in self._loaded and hinted in self._cable_ends:
            self._load(hinted)
            found = self._holder(self._by_ip.get(key, ()), device)
            if found is not None:
                return found
        for group in self._domain_groups(self._find(device)):
            self._load(group)
        return self._holder(self._by_ip.get(key, ()), device)

    def _pod_cidr_node(self, ip: IPv4Address) -> str | None:
        """The node whose podCIDR holds ``ip`` (its pods, ``cni0``, ``flannel.1``)."""
        value = int(ip)
        for length, networks in self._cidrs.items():
            found = networks.get(value & (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF)
            if found is not None:
                return found
        return None

    def bridge_port(self, bridge: InterfaceRef, mac: str) -> str | None:
        """The port ``bridge`` sends a frame for ``mac`` out of (None: unknown MAC)."""
        key = (bridge, mac)
        if key in self._ports:
            return self._ports[key]
        found = self._ports[key] = self._bridge_port(bridge, mac)
        return found

    def _bridge_port(self, bridge: InterfaceRef, mac: str) -> str | None:
        if self.domain(bridge) is None:
            return None
        holders = self._holders_of_mac(bridge, mac)
        if not holders:
            for group in self._domain_groups(self._find(bridge)):
                self._load(group)
            holders = self._holders_of_mac(bridge, mac)
        order = self._port_order.get(bridge)
        if order is None:  # a switch of a large cluster has a port per node: listed once
            ns = self._dataplane.namespaces[bridge.netns]
            order = tuple(i.name for i in ns.interfaces.values() if i.master == bridge.ifname)
            self._port_order[bridge] = order
        reached = self._ports_towards(bridge, holders)
        return next((name for name in order if name in reached), None)

    def _holders_of_mac(self, bridge: InterfaceRef, mac: str) -> list[InterfaceRef]:
        root = self._find(bridge)
        return [r for r in self._by_mac.get(mac, ()) if r != bridge and self._find(r) == root]

    def _ports_towards(self, bridge: InterfaceRef, holders: list[InterfaceRef]) -> set[str]:
        """The ports of ``bridge`` out of which an eager walk would reach one of ``holders``.

        Walking out of a port, away from the bridge, passes through bridges and
        bridge ports and stops at any other device; so walk back from each
        holder through bridges and ports, never through the bridge itself.
        """
        reached: set[str] = set()
        seen: set[InterfaceRef] = {bridge, *holders}
        queue = [r for h in holders for r in self._adjacent.get(h, ()) if r not in seen]
        while queue:
            ref = queue.pop()
            if ref in seen:
                continue
            seen.add(ref)
            iface = self._interfaces.get(ref)
            if iface is None:
                # an unread group, entered by its only cable: a dead end (the bridge's
                # own group is read, and groups with several cables were read at once)
                continue
            if iface.kind is not InterfaceKind.BRIDGE and iface.master is None:
                continue  # a device that ends layer 2
            if ref.netns == bridge.netns and iface.master == bridge.ifname:
                reached.add(ref.ifname)
            queue.extend(r for r in self._adjacent.get(ref, ()) if r not in seen)
        return reached


def build_l2_index(dataplane: Dataplane) -> L2Index:
    """The layer-2 index of a dataplane (filled in group by group as the walk asks)."""
    return L2Index(dataplane)


def arp_owner(index: L2Index, device: InterfaceRef, ip: IPv4Address) -> InterfaceRef | None:
    """The device answering ``who-has ip`` sent out of ``device``, or None."""
    return index.arp_owner(device, ip)


def bridge_port(index: L2Index, bridge: InterfaceRef, mac: str) -> str | None:
    """The port a bridge sends a frame for ``mac`` out of (None: unknown MAC)."""
    return index.bridge_port(bridge, mac)


def fdb_entry(dataplane: Dataplane, bridge: InterfaceRef, mac: str) -> FdbEntry | None:
    """The configured FDB entry of ``bridge`` for ``mac``, if any."""
    ns = dataplane.namespaces[bridge.netns]
    for entry in ns.fdb:
        is_ours = entry.master == bridge.ifname or entry.dev == bridge.ifname
        if entry.mac == mac and is_ours and not entry.is_self:
            return entry
    return None


def cable_peer(index: L2Index, device: InterfaceRef) -> InterfaceRef | None:
    """The device at the other end of an underlay cable."""
    return index.cables.get(device)


def _grouped(keys: Iterable[K], values: Iterable[V]) -> dict[K, list[V]]:
    """``values`` listed under their keys, in order."""
    grouped: dict[K, list[V]] = {}
    for key, value in zip(keys, values, strict=True):
        grouped.setdefault(key, []).append(value)
    return grouped


def _kept(block: tuple[E, ...], numbers: Iterable[int], shared: SharedEntries) -> list[E]:
    """The block's entries at ``numbers`` that the namespace holds (all but its own)."""
    return [block[i] for i in numbers if i != shared.index]


class SharedBlock:
    """Indexes of one block of entries every node shares (:class:`SharedEntries`), made once.

    Keeps the block's tuples, so the ids that key it stay theirs.
    """

    __slots__ = ("fdb", "fdb_by_mac", "has_bridge_entries", "neighbors", "neighbors_by_ip")

    def __init__(self, shared: SharedEntries) -> None:
        self.neighbors = shared.neighbors
        self.fdb = shared.fdb
        self.neighbors_by_ip = _grouped(map(_IP_INT, shared.neighbors), range(len(self.neighbors)))
        self.fdb_by_mac = _grouped(map(_MAC, shared.fdb), range(len(self.fdb)))
        self.has_bridge_entries = not all(map(_IS_SELF, shared.fdb))


def shared_block(blocks: dict[tuple[int, int], SharedBlock], shared: SharedEntries) -> SharedBlock:
    """The indexes of ``shared``'s block, from ``blocks`` or made and kept there."""
    key = (id(shared.neighbors), id(shared.fdb))
    found = blocks.get(key)
    if found is None:
        found = blocks[key] = SharedBlock(shared)
    return found


class NeighborTables:
    """One namespace's neighbour and FDB lookups, each indexed the first time it is asked.

    A node of a large overlay holds one neighbour and one FDB entry per other
    node (5,000 at full scale), and a trace usually asks one or two questions
    of it. Those entries are the same for every node
    (:class:`~netsim.dataplane.devices.SharedEntries`), so they are indexed
    once for all nodes (:class:`SharedBlock`) and a node indexes only its own
    few; an address or MAC found more than once is looked up in order in the
    whole table, as before. Other namespaces index their tables on the first
    question, with C-level passes only (``attrgetter``, ``zip``; addresses
    keyed by their integer, since hashing an ``IPv4Address`` goes through
    ``hex()``).
    """

    __slots__ = ("_blocks", "_bridge_fdb", "_by_ip", "_by_mac", "ns")

    def __init__(
        self, ns: NetworkNamespace, blocks: dict[tuple[int, int], SharedBlock] | None = None
    ) -> None:
        self.ns = ns
        self._blocks = {} if blocks is None else blocks
        self._by_ip: dict[int, list[Neighbor]] | None = None
        self._by_mac: dict[str, list[FdbEntry]] | None = None
        self._bridge_fdb: dict[tuple[str, str], FdbEntry] | None = None

    def _first_neighbor(self, ip: IPv4Address) -> Neighbor | None:
        key = int(ip)
        shared = self.ns.shared
        if self._by_ip is None:
            own = self.ns.neighbors if shared is None else shared.own_neighbors
            self._by_ip = _grouped(map(_IP_INT, own), own)
        found = self._by_ip.get(key, [])
        if shared is not None:
            block = shared_block(self._blocks, shared)
            found = found + _kept(block.neighbors, block.neighbors_by_ip.get(key, ()), shared)
        if len(found) <= 1:
            return found[0] if found else None
        return next(n for n in self.ns.neighbors if n.ip == ip)  # several: the first in order

    def neighbor(self, dev: str, ip: IPv4Address) -> Neighbor | None:
        """The first neighbour entry for ``ip`` on ``dev``."""
        first = self._first_neighbor(ip)
        if first is None or first.dev == dev:
            return first
        return next((n for n in self.ns.neighbors if n.dev == dev and n.ip == ip), None)

    def _first_fdb(self, mac: str) -> FdbEntry | None:
        shared = self.ns.shared
        if self._by_mac is None:
            own = self.ns.fdb if shared is None else shared.own_fdb
            self._by_mac = _grouped(map(_MAC, own), own)
        found = self._by_mac.get(mac, [])
        if shared is not None:
            block = shared_block(self._blocks, shared)
            found = found + _kept(block.fdb, block.fdb_by_mac.get(mac, ()), shared)
        if len(found) <= 1:
            return found[0] if found else None
        return next(e for e in self.ns.fdb if e.mac == mac)  # several: the first in order

    def vtep(self, dev: str, mac: str) -> IPv4Address | None:
        """The remote VTEP of the first FDB entry of ``dev`` for ``mac`` that has one."""
        first = self._first_fdb(mac)
        if first is None:
            return None
        if first.dev == dev and first.dst is not None:
            return first.dst
        return next(
            (e.dst for e in self.ns.fdb if e.dev == dev and e.mac == mac and e.dst is not None),
            None,
        )

    def bridge_entry(self, bridge: str, mac: str) -> FdbEntry | None:
        """The configured entry of ``bridge`` for ``mac``, as :func:`fdb_entry` finds it."""
        if self._bridge_fdb is None:
            entries = self.ns.fdb
            shared = self.ns.shared
            if shared is not None and not shared_block(self._blocks, shared).has_bridge_entries:
                entries = shared.own_fdb  # the shared entries are all ``self``: none counts
            found: dict[tuple[str, str], FdbEntry] = {}
            for entry in [e for e in entries[::-1] if not e.is_self]:
                if entry.master is not None:
                    found[entry.master, entry.mac] = entry
                found[entry.dev, entry.mac] = entry
            self._bridge_fdb = found
        return self._bridge_fdb.get((bridge, mac))
