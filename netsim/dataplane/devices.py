"""The typed tables of a dataplane: namespaces, devices, addresses, neighbours, FDB.

What is modelled, per network namespace, is what ``ip addr``, ``ip route``,
``ip neigh``, ``bridge fdb`` and ``iptables-save`` show on a Linux host:

* :class:`Interface`: loopback, ethernet (a NIC or a switch port), veth, bridge
  and VXLAN devices with their ifindex, MAC, MTU, IPv4 addresses, bridge master,
  veth peer and VXLAN parameters, and the attributes ``ip addr`` prints (qdisc,
  txqueuelen, operstate);
* the routing tables (:class:`~netsim.dataplane.routing.RoutingTable`, ``local``
  and ``main``), neighbours (:class:`Neighbor`), bridge and VXLAN forwarding
  entries (:class:`FdbEntry`), the sysctls that change forwarding, and the
  iptables rules the pod network adds, as ``iptables-restore`` lines per table;
* :class:`Dataplane`: every namespace of the cluster (node root namespaces, pod
  namespaces, the underlay router, external clients, one switch per L2 segment),
  the underlay cables (:class:`Link`) and segments (:class:`Segment`), and the
  :class:`~netsim.control.state.ClusterState` it was built from.

Not modelled: IPv6 (every namespace runs with ``disable_ipv6=1``; what the
kernel still shows of it, the ``33:33:00:00:00:01`` multicast entry, is kept),
link state changes (every device is up), secondary addresses and address
lifetimes, bridge VLAN filtering, STP, learned (dynamic) neighbour and FDB
entries at build time (the tracer resolves them), conntrack, tc.

Values are frozen; the builder (:mod:`netsim.dataplane.build`) makes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Final

from netsim.control.state import ClusterState
from netsim.dataplane.lazy import LazyNamespaces
from netsim.dataplane.routing import RoutingTable
from netsim.naming import node_netns_id

__all__ = [
    "BROADCAST_MAC",
    "LOOPBACK_MAC",
    "Address",
    "AddressScope",
    "Dataplane",
    "FdbEntry",
    "FdbState",
    "Interface",
    "InterfaceKind",
    "InterfaceRef",
    "Link",
    "NamespaceKind",
    "Neighbor",
    "NeighborState",
    "NetworkNamespace",
    "OperState",
    "Segment",
    "SharedEntries",
    "SysctlName",
    "VethPeer",
    "VxlanParams",
    "interfaces_with_address",
    "namespaces_of_node",
]

LOOPBACK_MAC: Final = "00:00:00:00:00:00"  # ``link/loopback`` of every namespace
BROADCAST_MAC: Final = "ff:ff:ff:ff:ff:ff"  # what ``ip addr`` prints after ``brd``


class NamespaceKind(StrEnum):
    """What a network namespace stands for."""

    NODE = "node"  # a node's root namespace (hostNetwork pods live here too)
    POD = "pod"
    ROUTER = "router"  # the underlay router
    CLIENT = "client"  # an external client
    SWITCH = "switch"  # an L2 segment of the underlay (a bridge with one port per host)


class InterfaceKind(StrEnum):
    """The device types modelled (``ip -d link`` ``kind``; ``ethernet`` is a NIC)."""

    LOOPBACK = "loopback"
    ETHERNET = "ethernet"
    VETH = "veth"
    BRIDGE = "bridge"
    VXLAN = "vxlan"


class OperState(StrEnum):
    """``state`` in ``ip addr``: the operational state (RFC 2863) the kernel reports."""

    UP = "UP"
    UNKNOWN = "UNKNOWN"  # devices without carrier management: lo, vxlan
    DOWN = "DOWN"


class AddressScope(StrEnum):
    """``scope`` of an address."""

    GLOBAL = "global"
    LINK = "link"
    HOST = "host"


class NeighborState(StrEnum):
    """``nud`` state of a neighbour entry, as ``ip neigh`` prints it."""

    PERMANENT = "PERMANENT"
    REACHABLE = "REACHABLE"


class FdbState(StrEnum):
    """Whether an FDB entry was configured (``permanent``) or learned (``dynamic``)."""

    PERMANENT = "permanent"
    DYNAMIC = "dynamic"


class SysctlName(StrEnum):
    """The sysctls that change forwarding, as ``sysctl`` names them."""

    IP_FORWARD = "net.ipv4.ip_forward"
    ROUTE_LOCALNET = "net.ipv4.conf.all.route_localnet"
    BRIDGE_NF_CALL_IPTABLES = "net.bridge.bridge-nf-call-iptables"
    PROXY_ARP = "net.ipv4.conf.all.proxy_arp"
    DISABLE_IPV6 = "net.ipv6.conf.all.disable_ipv6"
    SEND_REDIRECTS = "net.ipv4.conf.all.send_redirects"
    DEFAULT_SEND_REDIRECTS = "net.ipv4.conf.default.send_redirects"


@dataclass(frozen=True, slots=True)
class InterfaceRef:
    """A device in a namespace: ``(netns id, ifname)``."""

    netns: str
    ifname: str


@dataclass(frozen=True, slots=True)
class Address:
    """An IPv4 address on a device, as ``ip addr`` prints it.

    ``broadcast`` is the ``brd`` address (netlink clients such as the CNI
    plugins set it for prefixes up to /30); ``None`` prints no ``brd``.
    """

    interface: IPv4Interface
    scope: AddressScope = AddressScope.GLOBAL
    broadcast: IPv4Address | None = None

    @property
    def ip(self) -> IPv4Address:
        """The address without its prefix."""
        return self.interface.ip


@dataclass(frozen=True, slots=True)
class VethPeer:
    """The other end of a veth pair, with what ``ip addr`` prints about it.

    ``ifindex`` is the peer's index (``eth0@if5``); ``link_netnsid`` the id this
    namespace gives the peer's namespace; ``link_netns`` the peer namespace's name
    in ``/run/netns`` when it has one (``ip addr`` then prints ``link-netns
    <name>`` instead of ``link-netnsid <id>``).
    """

    netns: str
    ifname: str
    ifindex: int
    link_netnsid: int
    link_netns: str | None


@dataclass(frozen=True, slots=True)
class VxlanParams:
    """A VXLAN device's parameters (``ip link add ... type vxlan``)."""

    vni: int
    local: IPv4Address
    dstport: int
    dev: str  # the underlay device
    is_learning: bool = False  # flannel: ``nolearning``


@dataclass(frozen=True, slots=True)
class Interface:
    """A network device in one namespace.

    Args:
        name: the device name (``eth0``, ``cni0``, ``flannel.1``, ``veth1a2b3c4d``).
        kind: its type.
        index: the ifindex, allocated per namespace in creation order (``lo`` is 1).
        mac: the MAC address, lowercase ``aa:bb:cc:dd:ee:ff``.
        mtu: the MTU.
        addresses: IPv4 addresses, primary first, in the order they were added.
        operstate: ``state`` in ``ip addr``.
        qdisc: the root qdisc ``ip addr`` prints (``noqueue`` for virtual devices).
        txqueuelen: ``qlen``; 0 prints nothing (veths made by the CNI plugins).
        master: the bridge this device is a port of.
        is_hairpin: hairpin mode on its bridge port (``bridge link ... hairpin on``).
        peer: the other end of a veth.
        vxlan: the parameters of a VXLAN device.
    """

    name: str
    kind: InterfaceKind
    index: int
    mac: str
    mtu: int
    addresses: tuple[Address, ...] = ()
    operstate: OperState = OperState.UP
    qdisc: str = "noqueue"
    txqueuelen: int = 1000
    master: str | None = None
    is_hairpin: bool = False
    peer: VethPeer | None = None
    vxlan: VxlanParams | None = None


@dataclass(frozen=True, slots=True)
class Neighbor:
    """A neighbour (ARP) entry: ``<ip> dev <dev> lladdr <mac> <STATE>``."""

    ip: IPv4Address
    lladdr: str
    dev: str
    state: NeighborState = NeighborState.PERMANENT


@dataclass(frozen=True, slots=True)
class FdbEntry:
    """A forwarding-database entry as ``bridge fdb show`` lists it.

    ``master`` names the bridge for entries of a bridge's FDB (``master cni0``);
    ``is_self`` marks entries of the device's own table (``self``): a VXLAN
    device's remote VTEPs (with ``dst``) and a device's multicast addresses.
    """

    mac: str
    dev: str
    master: str | None = None
    is_self: bool = False
    dst: IPv4Address | None = None
    state: FdbState = FdbState.PERMANENT


@dataclass(frozen=True, slots=True)
class SharedEntries:
    """The neighbour and FDB entries a node holds for every other node, shared by all nodes.

    ``neighbors[i]`` and ``fdb[i]`` belong to node ``i`` (topology order); a node
    holds all but its own (``index``). ``own_neighbors`` and ``own_fdb`` are
    the namespace's other entries, in the order ``neighbors`` and ``fdb`` hold
    them. A namespace's ``neighbors`` and ``fdb`` hold exactly these; this
    view lets a lookup index the shared part once for all nodes.
    """

    neighbors: tuple[Neighbor, ...]
    fdb: tuple[FdbEntry, ...]
    index: int
    own_neighbors: tuple[Neighbor, ...]
    own_fdb: tuple[FdbEntry, ...]


@dataclass(frozen=True, slots=True)
class NetworkNamespace:
    """One network namespace and its tables.

    Args:
        id: the netns id (see :mod:`netsim.naming`), the key in ``Dataplane.namespaces``.
        kind: what it stands for.
        owner: the node name, pod key (``namespace/name``), client or segment name,
            or ``router``.
        name: its name in ``/run/netns`` if it has one (pods: containerd's
            ``cni-<uuid>``); a node's root namespace has none.
        interfaces: devices by name, in ifindex order.
        routes: the ``local`` and ``main`` routing tables.
        neighbors: neighbour entries, in the order they were added.
        fdb: FDB entries, in the order ``bridge fdb show`` lists them.
        sysctls: the values of :class:`SysctlName` sysctls.
        iptables: per table (``nat``, ``filter``), the ``iptables-restore`` lines
            the pod network adds: user-chain declarations (``:CHAIN - [0:0]``)
            and ``-A`` rules, in order (no ``*table`` or ``COMMIT`` line).
        shared: where ``neighbors`` and ``fdb`` hold entries shared with every
            other node (``l3``, ``vxlan``), the shared and the own entries apart.
    """

    id: str
    kind: NamespaceKind
    owner: str
    name: str | None
    interfaces: Mapping[str, Interface]
    routes: RoutingTable
    neighbors: tuple[Neighbor, ...]
    fdb: tuple[FdbEntry, ...]
    sysctls: Mapping[SysctlName, int]
    iptables: Mapping[str, tuple[str, ...]]
    # set by the build only (``dataclasses.replace`` drops it: a changed table shares nothing)
    shared: SharedEntries | None = field(default=None, init=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Link:
    """An underlay cable between a host's NIC and a switch port."""

    a: InterfaceRef
    b: InterfaceRef
    segment: str


@dataclass(frozen=True, slots=True)
class Segment:
    """An L2 segment: an underlay subnet or the /24 of external clients.

    ``gateway`` is the router's address on it: the subnet's ``gateway``, or for
    an external segment the first host address that is no client's. (With one
    underlay subnet and no external client there is no router namespace, and
    the nodes' default route points at an address nobody holds.)
    """

    name: str
    cidr: IPv4Network
    gateway: IPv4Address
    switch: str  # netns id of its switch
    is_external: bool


@dataclass(frozen=True, slots=True)
class Dataplane:
    """Every namespace of a cluster and the underlay joining them.

    ``namespaces`` are ordered: node root namespaces (topology order), pod
    namespaces (CNI ADD order), the router, external clients, switches.
    """

    state: ClusterState
    namespaces: Mapping[str, NetworkNamespace]
    segments: Mapping[str, Segment]
    links: tuple[Link, ...]


def namespaces_of_node(dataplane: Dataplane, node: str) -> tuple[NetworkNamespace, ...]:
    """A node's root namespace followed by its pods' namespaces (CNI ADD order).

    Raises:
        KeyError: no such node.
    """
    root = dataplane.namespaces[node_netns_id(node)]
    if isinstance(dataplane.namespaces, LazyNamespaces):  # without freezing the other nodes
        keys = dataplane.namespaces.keys_of_group(node)[1:]
        return (root, *(dataplane.namespaces[key] for key in keys))
    pods = tuple(
        ns
        for ns in dataplane.namespaces.values()
        if ns.kind is NamespaceKind.POD and dataplane.state.pods[ns.owner].node == node
    )
    return (root, *pods)


def interfaces_with_address(
    dataplane: Dataplane, ip: IPv4Address
) -> tuple[tuple[NetworkNamespace, Interface], ...]:
    """Every (namespace, device) carrying ``ip`` (loopback included)."""
    return tuple(
        (ns, iface)
        for ns in dataplane.namespaces.values()
        for iface in ns.interfaces.values()
        if any(a.ip == ip for a in iface.addresses)
    )
