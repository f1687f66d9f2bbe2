"""The builder's state: namespaces and devices being made, and the step that freezes them.

A :class:`BuildContext` holds one :class:`NamespaceDraft` per namespace while
the builder (:mod:`netsim.dataplane.build`) and the pod-network modes add
devices, addresses, routes, neighbours and FDB entries in the order a real
node's software would (the order decides ifindexes, ``ip neigh`` order and
``bridge fdb`` order). :meth:`BuildContext.freeze` turns the drafts into
frozen :class:`~netsim.dataplane.devices.Dataplane` values, checking every
route the way ``ip route add`` would.

What the context models of the kernel: a new namespace's ``lo`` and its
sysctls; ifindexes allocated per namespace in creation order; stable, unique
MACs; veth pairs as the CNI plugins make them; the multicast addresses every
Ethernet-type device joins (``01:00:5e:00:00:01`` for 224.0.0.1,
``33:33:00:00:00:01``, which the kernel joins even with IPv6 disabled, and a
bridge's multicast-snooping groups 224.0.0.106 and ff02::6a), which ``bridge
fdb show`` lists as ``self permanent`` entries. Not modelled here: anything
learned from traffic.

The drafts of one namespace and its devices (:class:`NamespaceDraft`,
:class:`InterfaceDraft`, :class:`RemoteBlock`) live in
:mod:`netsim.dataplane.namespace_draft` and are re-exported here: import them
from this module.
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
    InterfaceKind,
    InterfaceRef,
    Link,
    NamespaceKind,
    OperState,
    Segment,
    SysctlName,
    VethPeer,
    VxlanParams,
)
from netsim.dataplane.namespace_draft import InterfaceDraft, NamespaceDraft, RemoteBlock
from netsim.dataplane.routing import LOOPBACK_DEV, address_routes
from netsim.errors import TopologyError
from netsim.naming import host_veth_name, interface_mac, is_pod_mac

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
        """The MAC of a device other than a pod's veth pair (:func:`netsim.naming.pod_mac`):
        stable, unique in the dataplane, fixed on first use."""
        key = (netns, ifname)
        mac = self.macs.get(key)
        if mac is None:
            attempt = 0
            mac = interface_mac(netns, ifname)
            used = self.used_macs
            while mac in used or is_pod_mac(mac):
                attempt += 1
                mac = interface_mac(netns, ifname, attempt)
            self.macs[key] = mac
            used.add(mac)
        return mac

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
        mac: str | None = None,
    ) -> InterfaceDraft:
        """Create a device in ``ns`` (next ifindex; ``mac``, else :meth:`mac_for`'s) with its
        multicast entries."""
        if name in ns.interfaces:
            self.fail(f"device {name} exists twice (RTNETLINK answers: File exists)", obj=ns.label)
        device = InterfaceDraft(
            name=name,
            kind=kind,
            # ifindexes grow in creation order: the newest device holds the highest
            index=ns.interfaces[next(reversed(ns.interfaces))].index + 1,
            mac=self.mac_for(ns.id, name) if mac is None else mac,
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
        macs: tuple[str, str] | tuple[None, None] = (None, None),
    ) -> tuple[InterfaceDraft, InterfaceDraft]:
        """A veth pair as the CNI plugins make it (txqueuelen 0, both ends ``mtu``; ``macs``:
        the ends' MACs, else :meth:`mac_for`'s)."""
        end_a = self.add_device(a, a_name, InterfaceKind.VETH, mtu, txqueuelen=0, mac=macs[0])
        end_b = self.add_device(b, b_name, InterfaceKind.VETH, mtu, txqueuelen=0, mac=macs[1])
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
