"""One namespace being built: the mutable drafts of a namespace and its devices, and their freezing.

:class:`NamespaceDraft` holds a namespace's devices (:class:`InterfaceDraft`),
addresses, routes, neighbours, FDB entries, sysctls and iptables lines in the
order they were added, and :class:`RemoteBlock`, what ``l3`` and ``vxlan``
nodes hold for every other node, shared by all of them.
:meth:`NamespaceDraft.freeze` makes the frozen
:class:`~netsim.dataplane.devices.NetworkNamespace`, checking every route the
way ``ip route add`` would and listing the FDB in ``bridge fdb show`` order.

What these drafts model of the kernel besides the tables themselves: netns ids
(``link-netnsid``) allocated per namespace as veths to other namespaces
appear; a bridge port's own MAC as a ``master <bridge> permanent`` entry; the
order ``bridge fdb show`` lists entries in. Not modelled here: anything learned
from traffic. Creating namespaces and devices (ifindexes, MACs, multicast
entries) is :class:`~netsim.dataplane.draft.BuildContext`'s job; import these
names from :mod:`netsim.dataplane.draft`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from types import MappingProxyType
from typing import TypeVar

from netsim.dataplane.devices import (
    Address,
    AddressScope,
    FdbEntry,
    Interface,
    InterfaceKind,
    NamespaceKind,
    Neighbor,
    NetworkNamespace,
    OperState,
    SharedEntries,
    SysctlName,
    VethPeer,
    VxlanParams,
)
from netsim.dataplane.routing import Route, RoutingTable, address_routes
from netsim.dataplane.shared import SharedRoutes, shared_table
from netsim.errors import InputError, TopologyError

__all__ = ["InterfaceDraft", "NamespaceDraft", "RemoteBlock"]

T = TypeVar("T")


@dataclass(slots=True)
class InterfaceDraft:
    """A device being built (the mutable twin of :class:`~netsim.dataplane.devices.Interface`)."""

    name: str
    kind: InterfaceKind
    index: int
    mac: str
    mtu: int
    qdisc: str
    txqueuelen: int
    operstate: OperState
    addresses: list[Address] = field(default_factory=list)
    master: str | None = None
    is_hairpin: bool = False
    peer: VethPeer | None = None
    vxlan: VxlanParams | None = None

    def freeze(self) -> Interface:
        """The frozen device."""
        return Interface(
            name=self.name,
            kind=self.kind,
            index=self.index,
            mac=self.mac,
            mtu=self.mtu,
            addresses=tuple(self.addresses),
            operstate=self.operstate,
            qdisc=self.qdisc,
            txqueuelen=self.txqueuelen,
            master=self.master,
            is_hairpin=self.is_hairpin,
            peer=self.peer,
            vxlan=self.vxlan,
        )


@dataclass(frozen=True, slots=True)
class RemoteBlock:
    """What a node holds for every other node, shared by all nodes (``l3``, ``vxlan``).

    Entry ``i`` of each tuple belongs to node ``i`` (topology order); a node
    holds all but its own (``index``), in order. ``neighbors`` and ``fdb`` are
    empty when the mode adds none.
    """

    routes: SharedRoutes
    neighbors: tuple[Neighbor, ...]
    fdb: tuple[FdbEntry, ...]
    index: int

    def kept(self, entries: tuple[T, ...]) -> tuple[T, ...]:
        """``entries`` without this node's own."""
        if not entries:
            return entries
        return entries[: self.index] + entries[self.index + 1 :]


@dataclass(slots=True)
class NamespaceDraft:
    """A namespace being built; devices, routes and entries in the order they were added."""

    id: str
    kind: NamespaceKind
    owner: str
    name: str | None
    interfaces: dict[str, InterfaceDraft] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    neighbors: list[Neighbor] = field(default_factory=list)
    fdb: list[FdbEntry] = field(default_factory=list)
    sysctls: dict[SysctlName, int] = field(default_factory=dict)
    iptables: dict[str, list[str]] = field(default_factory=dict)
    nsids: dict[str, int] = field(default_factory=dict)
    remote: RemoteBlock | None = None
    remote_at: tuple[int, int, int] = (0, 0, 0)  # where it sits in routes, neighbors, fdb

    @property
    def label(self) -> str:
        """``node node-1``, ``pod shop/web-0``: how error messages name it."""
        return f"{self.kind.value} {self.owner}"

    def add_address(
        self,
        ifname: str,
        address: IPv4Interface,
        *,
        scope: AddressScope = AddressScope.GLOBAL,
        with_broadcast: bool = True,
    ) -> None:
        """``ip addr add <address> [brd +] dev <ifname>``, with the routes the kernel adds."""
        broadcast = None
        if with_broadcast and address.network.prefixlen < 31:
            broadcast = address.network.broadcast_address
        self.interfaces[ifname].addresses.append(Address(address, scope, broadcast))
        self.routes.extend(address_routes(address, ifname))

    def add_route(self, route: Route) -> None:
        """``ip route add``; checked when the namespace is frozen."""
        self.routes.append(route)

    def add_neighbor(self, neighbor: Neighbor) -> None:
        """``ip neigh add``."""
        self.neighbors.append(neighbor)

    def add_remote(self, block: RemoteBlock) -> None:
        """The routes, neighbours and FDB entries for every other node, at this point."""
        self.remote = block
        self.remote_at = (len(self.routes), len(self.neighbors), len(self.fdb))

    def all_routes(self) -> list[Route]:
        """Every route, the remote block's in place."""
        if self.remote is None:
            return self.routes
        at = self.remote_at[0]
        kept = self.remote.kept(self.remote.routes.routes)
        return [*self.routes[:at], *kept, *self.routes[at:]]

    def routing_table(self, topology_source: str, *, share: bool = True) -> RoutingTable:
        """The frozen routing table (sharing the remote block's routes when ``share``).

        Raises:
            TopologyError: a route the kernel would refuse (e.g. an unreachable gateway).
        """
        if share and self.remote is not None:
            at = self.remote_at[0]
            block = self.remote
            table = shared_table(self.routes[:at], block.routes, block.index, self.routes[at:])
            if table is not None:
                return table
        try:
            return RoutingTable(tuple(self.all_routes()))
        except InputError as exc:
            raise TopologyError(
                f"the kernel would refuse it: {exc}",
                source=topology_source,
                obj=self.label,
                field="routes",
            ) from None

    def add_fdb(self, entry: FdbEntry) -> None:
        """``bridge fdb add``."""
        self.fdb.append(entry)

    def enslave(self, port: str, bridge: str, *, hairpin: bool = False) -> None:
        """``ip link set <port> master <bridge>``: the port's MAC enters the bridge's FDB."""
        device = self.interfaces[port]
        device.master = bridge
        device.is_hairpin = hairpin
        self.fdb.append(FdbEntry(device.mac, port, master=bridge))

    def nsid_for(self, other: str) -> int:
        """The id this namespace gives namespace ``other`` (allocated on first use)."""
        return self.nsids.setdefault(other, len(self.nsids))

    def freeze(
        self, topology_source: str, *, table: RoutingTable | None = None, share: bool = True
    ) -> NetworkNamespace:
        """The frozen namespace (``table``: its routing table, made already).

        Raises:
            TopologyError: a route the kernel would refuse (e.g. an unreachable gateway).
        """
        if table is None:
            table = self.routing_table(topology_source, share=share)
        interfaces = {name: device.freeze() for name, device in self.interfaces.items()}
        neighbors, fdb = tuple(self.neighbors), self.fdb
        shared = None
        if self.remote is not None:
            _, at_neighbor, at_fdb = self.remote_at
            kept = self.remote.kept(self.remote.neighbors)
            neighbors = (*neighbors[:at_neighbor], *kept, *neighbors[at_neighbor:])
            fdb = [*fdb[:at_fdb], *self.remote.kept(self.remote.fdb), *fdb[at_fdb:]]
            if self.remote.neighbors or self.remote.fdb:
                shared = SharedEntries(
                    self.remote.neighbors,
                    self.remote.fdb,
                    self.remote.index,
                    tuple(self.neighbors),
                    _fdb_dump_order(self.fdb, self.interfaces),  # their order in ``fdb``
                )
        frozen = NetworkNamespace(
            id=self.id,
            kind=self.kind,
            owner=self.owner,
            name=self.name,
            interfaces=MappingProxyType(interfaces),
            routes=table,
            neighbors=neighbors,
            fdb=_fdb_dump_order(fdb, self.interfaces),
            sysctls=MappingProxyType(dict(self.sysctls)),
            iptables=MappingProxyType({t: tuple(lines) for t, lines in self.iptables.items()}),
        )
        if shared is not None:
            object.__setattr__(frozen, "shared", shared)
        return frozen


def _fdb_dump_order(
    entries: list[FdbEntry], devices: dict[str, InterfaceDraft]
) -> tuple[FdbEntry, ...]:
    """``entries`` in the order ``bridge fdb show`` (rtnl_fdb_dump) lists them.

    Devices in ifindex order. A bridge: its multicast list, then the entries of
    its own FDB that belong to no port (newest first: ``br->fdb_list`` grows at
    its head). A bridge port: its bridge's entries for the port (newest first),
    then its multicast list. A VXLAN device: its entries, newest first (Linux
    6.18; older kernels list them in hash order). Verified against Linux 6.18.
    """
    ordered: list[FdbEntry] = []
    by_dev: dict[str, list[FdbEntry]] = {}
    for entry in entries:
        by_dev.setdefault(entry.dev, []).append(entry)
    for device in sorted(devices.values(), key=lambda d: d.index):
        own = by_dev.get(device.name, [])
        bridged = [e for e in own if e.master is not None]
        selfs = [e for e in own if e.master is None]
        if device.kind is InterfaceKind.VXLAN:
            ordered += reversed(own)
        elif device.kind is InterfaceKind.BRIDGE:
            ordered += selfs + bridged[::-1]
        else:
            ordered += bridged[::-1] + selfs
    return tuple(ordered)
