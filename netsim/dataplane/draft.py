"""The dataplane builder's mutable drafts and the one step that freezes them.

A :class:`BuildContext` holds one :class:`NamespaceDraft` per namespace while
the builder (:mod:`netsim.dataplane.build`) and the pod-network modes add
devices, addresses, routes, neighbours and FDB entries in the order a real
node's software would (the order decides ifindexes, ``ip neigh`` order and
``bridge fdb`` order). :meth:`BuildContext.freeze` turns the drafts into
frozen :class:`~netsim.dataplane.devices.Dataplane` values, checking every
route the way ``ip route add`` would.

What the drafts model of the kernel besides the tables themselves: ifindexes
allocated per namespace in creation order; netns ids (``link-netnsid``)
allocated per namespace as veths to other namespaces appear; the multicast
addresses every Ethernet-type device joins (``01:00:5e:00:00:01`` for
224.0.0.1, ``33:33:00:00:00:01``, which the kernel joins even with IPv6
disabled, and a bridge's multicast-snooping groups 224.0.0.106 and ff02::6a),
which ``bridge fdb show`` lists as ``self permanent`` entries; a bridge port's
own MAC as a ``master <bridge> permanent`` entry. Not modelled here: anything
learned from traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from types import MappingProxyType
from typing import Any, Final, NoReturn, TypeVar, cast

from netsim.control.state import ClusterState
from netsim.dataplane.devices import (
    LOOPBACK_MAC,
    Address,
    AddressScope,
    Dataplane,
    FdbEntry,
    Interface,
    InterfaceKind,
    InterfaceRef,
    Link,
    NamespaceKind,
    Neighbor,
    NetworkNamespace,
    OperState,
    Segment,
    SysctlName,
    VethPeer,
    VxlanParams,
)
from netsim.dataplane.routing import LOOPBACK_DEV, Route, RoutingTable, address_routes
from netsim.dataplane.shared import SharedRoutes, shared_table
from netsim.errors import InputError, TopologyError
from netsim.naming import host_veth_name, interface_mac

__all__ = ["BuildContext", "InterfaceDraft", "NamespaceDraft", "RemoteBlock"]

T = TypeVar("T")

LOOPBACK_MTU: Final = 65536  # drivers/net/loopback.c: (64 * 1024)
LOOPBACK_ADDRESS: Final = IPv4Interface("127.0.0.1/8")  # inet_init: lo's address
NIC_QDISC: Final = "fq_codel"  # systemd's net.core.default_qdisc on a single-queue NIC
DEFAULT_TXQUEUELEN: Final = 1000  # DEFAULT_TX_QUEUE_LEN (ether_setup; lo, bridge, vxlan too)
# Multicast MACs a device's multicast list holds, as ``bridge fdb show`` lists them
# (verified on Linux 6.18 with IPv6 disabled): every Ethernet-type device joins
# ff02::1 at registration and 224.0.0.1 when it comes up; a bridge with multicast
# snooping joins 224.0.0.106 and ff02::6a (br_multicast_join_snoopers) in between.
MC_ALL_NODES6: Final = "33:33:00:00:00:01"
MC_ALL_HOSTS4: Final = "01:00:5e:00:00:01"
MC_SNOOPERS4: Final = "01:00:5e:00:00:6a"
MC_SNOOPERS6: Final = "33:33:00:00:00:6a"
_DEVICE_MULTICAST: Final = (MC_ALL_NODES6, MC_ALL_HOSTS4)
_BRIDGE_MULTICAST: Final = (MC_ALL_NODES6, MC_SNOOPERS4, MC_SNOOPERS6, MC_ALL_HOSTS4)
# Frozen values shared by every namespace (building them once is most of the speed-up).
_LOOPBACK_ADDRESS: Final = Address(LOOPBACK_ADDRESS, AddressScope.HOST)
_LOOPBACK_ROUTES: Final = address_routes(LOOPBACK_ADDRESS, LOOPBACK_DEV)
_ORDER: Final = (
    NamespaceKind.NODE,
    NamespaceKind.POD,
    NamespaceKind.ROUTER,
    NamespaceKind.CLIENT,
    NamespaceKind.SWITCH,
)


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
        if self.remote is not None:
            _, at_neighbor, at_fdb = self.remote_at
            kept = self.remote.kept(self.remote.neighbors)
            neighbors = (*neighbors[:at_neighbor], *kept, *neighbors[at_neighbor:])
            fdb = [*fdb[:at_fdb], *self.remote.kept(self.remote.fdb), *fdb[at_fdb:]]
        return NetworkNamespace(
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


@dataclass(slots=True)
class BuildContext:
    """Everything the builder holds while it works; :meth:`freeze` makes the Dataplane."""

    state: ClusterState
    namespaces: dict[str, NamespaceDraft] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    macs: dict[tuple[str, str], str] = field(default_factory=dict)
    used_macs: set[str] = field(default_factory=set)
    shared: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def share(self, key: tuple[str, ...], make: Callable[[], T]) -> T:
        """The value ``make()`` returns, built once per ``key`` and shared afterwards.

        Tables are frozen values, so routes, neighbours and FDB entries that are
        the same on many nodes (a remote podCIDR's route) can be one object.
        """
        if key not in self.shared:
            self.shared[key] = make()
        return cast(T, self.shared[key])

    def node_index(self, node: str) -> int:
        """The position of ``node`` in the topology."""
        index: dict[str, int] = self.share(
            ("node-index",), lambda: {name: i for i, name in enumerate(self.state.nodes)}
        )
        return index[node]

    @property
    def source(self) -> str:
        """The topology file, for error messages."""
        return self.state.topology.source

    def fail(self, message: str, *, obj: str | None = None, path: str | None = None) -> NoReturn:
        """Raise a TopologyError about the topology file (``path``: the field)."""
        raise TopologyError(message, source=self.source, obj=obj, field=path)

    def mac_for(self, netns: str, ifname: str) -> str:
        """The MAC of a device: stable, unique in the dataplane, fixed on first use."""
        key = (netns, ifname)
        if key not in self.macs:
            attempt = 0
            mac = interface_mac(netns, ifname)
            while mac in self.used_macs:
                attempt += 1
                mac = interface_mac(netns, ifname, attempt)
            self.macs[key] = mac
            self.used_macs.add(mac)
        return self.macs[key]

    def new_namespace(
        self,
        netns: str,
        kind: NamespaceKind,
        owner: str,
        *,
        name: str | None = None,
        ip_forward: bool = False,
    ) -> NamespaceDraft:
        """A namespace with ``lo`` up and 127.0.0.1/8, IPv6 disabled."""
        draft = NamespaceDraft(netns, kind, owner, name)
        draft.sysctls.update(
            {
                SysctlName.IP_FORWARD: int(ip_forward),
                SysctlName.ROUTE_LOCALNET: 0,
                SysctlName.BRIDGE_NF_CALL_IPTABLES: 1,  # br_netfilter's per-netns default
                SysctlName.PROXY_ARP: 0,
                SysctlName.DISABLE_IPV6: 1,
            }
        )
        draft.interfaces[LOOPBACK_DEV] = InterfaceDraft(
            name=LOOPBACK_DEV,
            kind=InterfaceKind.LOOPBACK,
            index=1,
            mac=LOOPBACK_MAC,
            mtu=LOOPBACK_MTU,
            qdisc="noqueue",
            txqueuelen=DEFAULT_TXQUEUELEN,
            operstate=OperState.UNKNOWN,
        )
        draft.interfaces[LOOPBACK_DEV].addresses.append(_LOOPBACK_ADDRESS)
        draft.routes.extend(_LOOPBACK_ROUTES)
        self.namespaces[netns] = draft
        return draft

    def add_device(
        self,
        ns: NamespaceDraft,
        name: str,
        kind: InterfaceKind,
        mtu: int,
        *,
        txqueuelen: int = DEFAULT_TXQUEUELEN,
        vxlan: VxlanParams | None = None,
    ) -> InterfaceDraft:
        """Create a device in ``ns`` (next ifindex, stable MAC) with its multicast entries."""
        if name in ns.interfaces:
            self.fail(f"device {name} exists twice (RTNETLINK answers: File exists)", obj=ns.label)
        device = InterfaceDraft(
            name=name,
            kind=kind,
            # ifindexes grow in creation order: the newest device holds the highest
            index=ns.interfaces[next(reversed(ns.interfaces))].index + 1,
            mac=self.mac_for(ns.id, name),
            mtu=mtu,
            qdisc=NIC_QDISC if kind is InterfaceKind.ETHERNET else "noqueue",
            txqueuelen=txqueuelen,
            operstate=OperState.UNKNOWN if kind is InterfaceKind.VXLAN else OperState.UP,
            vxlan=vxlan,
        )
        ns.interfaces[name] = device
        if kind is InterfaceKind.BRIDGE:
            for mac in _BRIDGE_MULTICAST:
                ns.fdb.append(FdbEntry(mac, name, is_self=True))
            ns.fdb.append(FdbEntry(device.mac, name, master=name))
        elif kind in (InterfaceKind.ETHERNET, InterfaceKind.VETH):
            for mac in _DEVICE_MULTICAST:
                ns.fdb.append(FdbEntry(mac, name, is_self=True))
        return device

    def add_veth_pair(
        self,
        a: NamespaceDraft,
        a_name: str,
        b: NamespaceDraft,
        b_name: str,
        mtu: int,
    ) -> tuple[InterfaceDraft, InterfaceDraft]:
        """A veth pair as the CNI plugins make it (txqueuelen 0, both ends ``mtu``)."""
        end_a = self.add_device(a, a_name, InterfaceKind.VETH, mtu, txqueuelen=0)
        end_b = self.add_device(b, b_name, InterfaceKind.VETH, mtu, txqueuelen=0)
        end_a.peer = VethPeer(b.id, b_name, end_b.index, a.nsid_for(b.id), b.name)
        end_b.peer = VethPeer(a.id, a_name, end_a.index, b.nsid_for(a.id), a.name)
        return end_a, end_b

    def free_veth_name(
        self, ns: NamespaceDraft, container_id: str, taken: Container[str] = frozenset()
    ) -> str:
        """The bridge plugin's host-side veth name, retried while taken in ``ns`` (or ``taken``)."""
        attempt = 0
        name = host_veth_name(container_id)
        while name in ns.interfaces or name in taken:
            attempt += 1
            name = host_veth_name(container_id, attempt)
        return name

    def cable(self, a: InterfaceRef, b: InterfaceRef, segment: str) -> None:
        """An underlay cable between two devices."""
        self.links.append(Link(a, b, segment))

    def freeze(self, *, share: bool = True) -> Dataplane:
        """The frozen Dataplane (namespaces: nodes, pods, router, clients, switches).

        Every namespace is frozen now (``share``: remote routes shared between
        tables); :func:`netsim.dataplane.build.build_dataplane` freezes node and
        pod namespaces on first access instead.

        Raises:
            TopologyError: a route the kernel would refuse.
        """
        drafts = sorted(self.namespaces.values(), key=lambda d: _ORDER.index(d.kind))
        namespaces = {d.id: d.freeze(self.source, share=share) for d in drafts}
        return Dataplane(
            state=self.state,
            namespaces=MappingProxyType(namespaces),
            segments=MappingProxyType(dict(self.segments)),
            links=tuple(self.links),
        )
