"""The topology file: nodes, address spaces, pod-network mode, underlay, clients.

What it models: the facts a cluster administrator decides before any manifest
is applied (the flags of kube-controller-manager, kube-apiserver, kube-proxy
and the CNI). The format is documented in ``docs/topology.md``.

What it does not model: anything the control plane computes (podCIDRs of nodes
that do not declare one, pod IPs, ClusterIPs) — see :mod:`netsim.control`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from netsim.errors import TopologyError
from netsim.model.files import load_yaml_documents
from netsim.model.kube_proxy_config import KubeProxyConfig, parse_kube_proxy
from netsim.model.reader import Reader
from netsim.naming import MAX_IFNAME

__all__ = [
    "DEFAULT_MTU",
    "DEFAULT_NODE_PORT_RANGE",
    "DEFAULT_SERVICE_CIDR",
    "FLANNEL_VXLAN_PORT",
    "IANA_VXLAN_PORT",
    "ExternalClient",
    "L3Routing",
    "Node",
    "PodNetwork",
    "PodNetworkMode",
    "Subnet",
    "Taint",
    "Topology",
    "Underlay",
    "VxlanConfig",
    "load_topology",
    "parse_topology",
]

DEFAULT_SERVICE_CIDR = ipaddress.IPv4Network("10.96.0.0/12")  # kubeadm's default
DEFAULT_NODE_CIDR_MASK_SIZE = 24  # kube-controller-manager --node-cidr-mask-size (IPv4)
DEFAULT_NODE_PORT_RANGE = (30000, 32767)  # kube-apiserver --service-node-port-range
DEFAULT_MTU = 1500  # Ethernet
FLANNEL_VXLAN_PORT = 8472  # Linux kernel default, flannel's default
IANA_VXLAN_PORT = 4789  # RFC 7348
DEFAULT_VNI = 1  # flannel's default VNI
DEFAULT_CLUSTER_DOMAIN = "cluster.local"  # kubeadm's default
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"  # kubeadm
ZONE_LABEL = "topology.kubernetes.io/zone"  # well-known label
HOSTNAME_LABEL = "kubernetes.io/hostname"  # set by kubelet
OS_LABEL = "kubernetes.io/os"  # set by kubelet
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")  # core/v1 TaintEffect

IPv4Net = ipaddress.IPv4Network


class PodNetworkMode(StrEnum):
    """The three pod-network designs."""

    L2 = "l2"
    L3 = "l3"
    VXLAN = "vxlan"


class L3Routing(StrEnum):
    """How layer-3 mode distributes podCIDR routes."""

    HOST_GW = "host-gw"
    BGP = "bgp"


@dataclass(frozen=True, slots=True)
class Taint:
    """A node taint (``key=value:effect``)."""

    key: str
    value: str
    effect: str


@dataclass(frozen=True, slots=True)
class Node:
    """A node as the topology declares it."""

    name: str
    ip: ipaddress.IPv4Address
    pod_cidr: IPv4Net | None
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    zone: str | None
    mtu: int
    is_control_plane: bool
    subnet: str


@dataclass(frozen=True, slots=True)
class VxlanConfig:
    """VXLAN overlay options (flannel's vxlan backend)."""

    vni: int = DEFAULT_VNI
    port: int = FLANNEL_VXLAN_PORT
    device: str = f"flannel.{DEFAULT_VNI}"


@dataclass(frozen=True, slots=True)
class PodNetwork:
    """The pod-network mode and its options."""

    mode: PodNetworkMode
    vxlan: VxlanConfig = VxlanConfig()
    routing: L3Routing = L3Routing.HOST_GW


@dataclass(frozen=True, slots=True)
class Subnet:
    """One underlay subnet (an L2 segment) and its router address."""

    name: str
    cidr: IPv4Net
    gateway: ipaddress.IPv4Address


@dataclass(frozen=True, slots=True)
class Underlay:
    """The node network: one or more L2 segments, joined by a router when several."""

    subnets: tuple[Subnet, ...]
    mtu: int

    @property
    def is_single_segment(self) -> bool:
        """Whether every node shares one L2 segment."""
        return len(self.subnets) == 1


@dataclass(frozen=True, slots=True)
class ExternalClient:
    """A host outside the cluster that traces can start from."""

    name: str
    ip: ipaddress.IPv4Address


@dataclass(frozen=True, slots=True)
class Topology:
    """A parsed, validated topology file."""

    name: str
    source: str
    base_dir: Path
    nodes: tuple[Node, ...]
    cluster_cidr: IPv4Net
    node_cidr_mask_size: int
    service_cidr: IPv4Net
    node_port_range: tuple[int, int]
    pod_network: PodNetwork
    underlay: Underlay
    external_clients: tuple[ExternalClient, ...]
    kube_proxy: KubeProxyConfig
    cluster_dns: bool
    cluster_domain: str
    manifests: tuple[str, ...]


_TOP_KEYS = (
    "name",
    "nodes",
    "cluster_cidr",
    "node_cidr_mask_size",
    "service_cidr",
    "node_port_range",
    "pod_network",
    "underlay",
    "external_clients",
    "kube_proxy",
    "cluster_dns",
    "cluster_domain",
    "manifests",
)
_NODE_KEYS = ("name", "ip", "pod_cidr", "labels", "taints", "zone", "mtu", "control_plane")


def load_topology(path: Path | str) -> Topology:
    """Read and validate a topology file.

    Raises:
        TopologyError: the file is missing, malformed or invalid (file, object and field named).
    """
    path = Path(path)
    source = str(path)
    documents = load_yaml_documents(path, source, TopologyError)
    if len(documents) != 1:
        raise TopologyError(
            f"a topology file holds exactly one YAML document, found {len(documents)}",
            source=source,
        )
    return parse_topology(documents[0], source=source, base_dir=path.parent)


def parse_topology(data: Any, *, source: str, base_dir: Path) -> Topology:
    """Validate a parsed topology document.

    >>> t = parse_topology(
    ...     {"name": "demo", "cluster_cidr": "10.244.0.0/16", "pod_network": {"mode": "l3"},
    ...      "nodes": [{"name": "n1", "ip": "192.168.1.11"}]},
    ...     source="demo.yaml", base_dir=Path("."))
    >>> (t.nodes[0].name, str(t.underlay.subnets[0].cidr), str(t.service_cidr))
    ('n1', '192.168.1.0/24', '10.96.0.0/12')
    """
    if not isinstance(data, dict):
        raise TopologyError("the topology must be a YAML mapping", source=source)
    top = Reader(data, source, error=TopologyError)
    top.check_keys(_TOP_KEYS)
    name = top.string("name", required=True)
    cluster_cidr = _ipv4_network(top, "cluster_cidr", required=True)
    assert cluster_cidr is not None
    service_cidr = _ipv4_network(top, "service_cidr") or DEFAULT_SERVICE_CIDR
    mask = top.integer(
        "node_cidr_mask_size",
        DEFAULT_NODE_CIDR_MASK_SIZE,
        minimum=cluster_cidr.prefixlen,
        maximum=30,
    )
    if mask - cluster_cidr.prefixlen > 16:
        raise top.fail(
            f"{mask} is more than 16 bits longer than cluster_cidr /{cluster_cidr.prefixlen}"
            " (kube-controller-manager refuses it)",
            "node_cidr_mask_size",
        )
    node_port_range = _port_range(top)
    pod_network = _pod_network(top.sub("pod_network", required=True))
    raw_nodes = list(top.items("nodes", required=True))
    if not raw_nodes:
        raise top.fail("at least one node is required", "nodes")
    underlay = _underlay(top, raw_nodes)
    nodes = _nodes(raw_nodes, underlay, cluster_cidr, mask)
    clients = _external_clients(top)
    kube_proxy = parse_kube_proxy(top.sub("kube_proxy"))
    manifests = tuple(top.string_list("manifests"))
    topology = Topology(
        name=name,
        source=source,
        base_dir=base_dir,
        nodes=nodes,
        cluster_cidr=cluster_cidr,
        node_cidr_mask_size=mask,
        service_cidr=service_cidr,
        node_port_range=node_port_range,
        pod_network=pod_network,
        underlay=underlay,
        external_clients=clients,
        kube_proxy=kube_proxy,
        cluster_dns=top.boolean("cluster_dns", True),
        cluster_domain=top.string("cluster_domain", DEFAULT_CLUSTER_DOMAIN),
        manifests=manifests,
    )
    _check_address_spaces(topology, top)
    return topology


def _ipv4_network(reader: Reader, key: str, *, required: bool = False) -> IPv4Net | None:
    if not reader.has(key):
        if required:
            raise reader.fail("required field is missing", key)
        return None
    network = reader.network(key)
    if not isinstance(network, ipaddress.IPv4Network):
        raise reader.fail("only IPv4 is modelled; give an IPv4 CIDR", key)
    if network.prefixlen > 30:
        raise reader.fail(f"{network} is too small (at most /30)", key)
    return network


def _port_range(top: Reader) -> tuple[int, int]:
    if not top.has("node_port_range"):
        return DEFAULT_NODE_PORT_RANGE
    text = str(top.raw("node_port_range"))
    parts = text.split("-")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise top.fail(f"{text!r} must look like 30000-32767", "node_port_range")
    low, high = int(parts[0]), int(parts[1])
    if not 1 <= low <= high <= 65535:
        raise top.fail(f"{text!r} must be a range within 1-65535", "node_port_range")
    return (low, high)


def _pod_network(reader: Reader) -> PodNetwork:
    reader.check_keys(("mode", "vxlan", "l3"))
    mode = PodNetworkMode(reader.choice("mode", [m.value for m in PodNetworkMode]))
    for option in ("vxlan", "l3"):
        if reader.has(option) and option != mode.value:
            raise reader.fail(f"options for mode {option} given but mode is {mode.value}", option)
    vx = reader.sub("vxlan")
    vx.check_keys(("vni", "port", "device"))
    vni = vx.integer("vni", DEFAULT_VNI, minimum=0, maximum=2**24 - 1)
    vxlan = VxlanConfig(
        vni=vni,
        port=vx.integer("port", FLANNEL_VXLAN_PORT, minimum=1, maximum=65535),
        device=vx.string("device", f"flannel.{vni}"),
    )
    if len(vxlan.device) > MAX_IFNAME:
        raise vx.fail(
            f"{vxlan.device!r} is longer than {MAX_IFNAME} characters (IFNAMSIZ)", "device"
        )
    l3 = reader.sub("l3")
    l3.check_keys(("routing",))
    routing = L3Routing(l3.choice("routing", [r.value for r in L3Routing], L3Routing.HOST_GW))
    return PodNetwork(mode=mode, vxlan=vxlan, routing=routing)


def _underlay(top: Reader, raw_nodes: list[Reader]) -> Underlay:
    reader = top.sub("underlay")
    reader.check_keys(("subnets", "mtu"))
    mtu = reader.integer("mtu", DEFAULT_MTU, minimum=576, maximum=9216)
    subnets: list[Subnet] = []
    for item in reader.items("subnets"):
        item.check_keys(("name", "cidr", "gateway"))
        cidr = _ipv4_network(item, "cidr", required=True)
        assert cidr is not None
        gateway = item.ip("gateway") if item.has("gateway") else cidr.network_address + 1
        if gateway not in cidr or gateway in (cidr.network_address, cidr.broadcast_address):
            raise item.fail(f"{gateway} is not a host address of {cidr}", "gateway")
        subnets.append(Subnet(item.string("name", required=True), cidr, gateway))  # type: ignore[arg-type]
    if not subnets:
        first = raw_nodes[0]
        ip = first.ip("ip")
        cidr = ipaddress.IPv4Network(f"{ip}/24", strict=False)
        subnets.append(Subnet("underlay", cidr, cidr.network_address + 1))
    _check_unique([s.name for s in subnets], reader, "subnets", "subnet")
    for i, a in enumerate(subnets):
        for b in subnets[i + 1 :]:
            if a.cidr.overlaps(b.cidr):
                raise reader.fail(f"subnet {a.name} {a.cidr} overlaps {b.name} {b.cidr}", "subnets")
    return Underlay(tuple(subnets), mtu)


def _nodes(
    raw_nodes: list[Reader], underlay: Underlay, cluster_cidr: IPv4Net, mask: int
) -> tuple[Node, ...]:
    nodes: list[Node] = []
    for raw in raw_nodes:
        raw.check_keys(_NODE_KEYS)
        name = raw.string("name", required=True)
        item = raw.for_object(f"node {name}", path="")
        ip = item.ip("ip")
        if not isinstance(ip, ipaddress.IPv4Address):
            raise item.fail("only IPv4 is modelled", "ip")
        subnet = next((s for s in underlay.subnets if ip in s.cidr), None)
        if subnet is None:
            declared = ", ".join(f"{s.name} {s.cidr}" for s in underlay.subnets)
            raise item.fail(
                f"{ip} is in no underlay subnet (declared: {declared});"
                " add its subnet under underlay.subnets",
                "ip",
            )
        if ip in (subnet.cidr.network_address, subnet.cidr.broadcast_address, subnet.gateway):
            raise item.fail(f"{ip} is the network, broadcast or router address of {subnet.cidr}")
        pod_cidr = _ipv4_network(item, "pod_cidr")
        if pod_cidr is not None:
            if not pod_cidr.subnet_of(cluster_cidr):
                raise item.fail(f"{pod_cidr} is not inside cluster_cidr {cluster_cidr}", "pod_cidr")
            if pod_cidr.prefixlen != mask:
                raise item.fail(f"{pod_cidr} is not a /{mask} (node_cidr_mask_size)", "pod_cidr")
        taints = []
        for t in item.items("taints"):
            t.check_keys(("key", "value", "effect"))
            taints.append(
                Taint(t.string("key"), str(t.raw("value", "")), t.choice("effect", TAINT_EFFECTS))
            )
        zone = item.optional_string("zone")
        is_control_plane = item.boolean("control_plane", False)
        labels = {HOSTNAME_LABEL: name, OS_LABEL: "linux"}
        if zone is not None:
            labels[ZONE_LABEL] = zone
        if is_control_plane:
            labels[CONTROL_PLANE_LABEL] = ""
        labels.update(item.string_map("labels"))
        mtu = item.integer("mtu", underlay.mtu, minimum=576, maximum=9216)
        nodes.append(
            Node(
                name=name,
                ip=ip,
                pod_cidr=pod_cidr,
                labels=MappingProxyType(labels),
                taints=tuple(taints),
                zone=zone,
                mtu=mtu,
                is_control_plane=is_control_plane,
                subnet=subnet.name,
            )
        )
    if not any(n.is_control_plane for n in nodes):
        first = nodes[0]
        labels = dict(first.labels)
        labels[CONTROL_PLANE_LABEL] = ""
        nodes[0] = Node(
            first.name,
            first.ip,
            first.pod_cidr,
            MappingProxyType(labels),
            first.taints,
            first.zone,
            first.mtu,
            True,
            first.subnet,
        )
    parent = raw_nodes[0]
    _check_unique([n.name for n in nodes], parent, "name", "node name", objects="nodes")
    _check_unique([str(n.ip) for n in nodes], parent, "ip", "node IP", objects="nodes")
    explicit = [n for n in nodes if n.pod_cidr is not None]
    for i, a in enumerate(explicit):
        for b in explicit[i + 1 :]:
            assert a.pod_cidr is not None and b.pod_cidr is not None
            if a.pod_cidr.overlaps(b.pod_cidr):
                raise TopologyError(
                    f"{a.pod_cidr} overlaps node {a.name}'s pod_cidr {b.pod_cidr}",
                    source=parent.source,
                    obj=f"node {b.name}",
                    field="pod_cidr",
                )
    return tuple(nodes)


def _external_clients(top: Reader) -> tuple[ExternalClient, ...]:
    clients = []
    for item in top.items("external_clients"):
        item.check_keys(("name", "ip"))
        name = item.string("name", required=True)
        ip = item.for_object(f"external client {name}", path="").ip("ip")
        if not isinstance(ip, ipaddress.IPv4Address):
            raise item.fail("only IPv4 is modelled", "ip")
        clients.append(ExternalClient(name, ip))
    _check_unique([c.name for c in clients], top, "external_clients", "external client name")
    return tuple(clients)


def _check_unique(
    names: list[str], reader: Reader, key: str, what: str, *, objects: str | None = None
) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise TopologyError(
                f"duplicate {what} {name!r}",
                source=reader.source,
                obj=objects,
                field=key,
            )
        seen.add(name)


def _check_address_spaces(topology: Topology, top: Reader) -> None:
    """The node, pod and service networks never overlap; clients stay outside the cluster."""
    spaces: list[tuple[str, IPv4Net]] = [
        ("cluster_cidr", topology.cluster_cidr),
        ("service_cidr", topology.service_cidr),
    ]
    spaces += [(f"underlay subnet {s.name}", s.cidr) for s in topology.underlay.subnets]
    for i, (name_a, a) in enumerate(spaces):
        for name_b, b in spaces[i + 1 :]:
            if a.overlaps(b):
                field = name_b if name_b.endswith("cidr") else "underlay.subnets"
                raise top.fail(f"{name_b} {b} overlaps {name_a} {a}", field)
    for client in topology.external_clients:
        for space in ("cluster_cidr", "service_cidr"):
            net = getattr(topology, space)
            if client.ip in net:
                raise TopologyError(
                    f"{client.ip} lies inside {space} {net}",
                    source=topology.source,
                    obj=f"external client {client.name}",
                    field="ip",
                )
        for node in topology.nodes:
            if client.ip == node.ip:
                raise TopologyError(
                    f"{client.ip} is node {node.name}'s IP",
                    source=topology.source,
                    obj=f"external client {client.name}",
                    field="ip",
                )
