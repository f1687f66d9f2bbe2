"""What kube-proxy reads before it writes rules: service ports, endpoints, its node.

Faithful to kube-proxy 1.28-1.34 (facts in ``shared/spec/kube-proxy-iptables.md``
§§1, 4, 5; kube-proxy's ``pkg/proxy/{service.go,endpointslicecache.go,topology.go}``):

* :func:`service_ports_of` and :func:`cluster_service_ports` derive what
  kube-proxy's service and endpoint change trackers hold from a realized
  cluster: one :class:`ServicePortInfo` per port of every Service with a
  cluster IP (headless and ExternalName Services get none), its endpoints
  (:class:`EndpointInfo`) taken from the Service's EndpointSlices, matched on
  port name and protocol; eTP Local only counts for NodePort and LoadBalancer.
* :func:`kube_proxy_node` is what kube-proxy knows about the node it runs on
  (:class:`KubeProxyNode`): its name, IP, zone, addresses
  (:func:`node_addresses`), the local-traffic detector's CIDR (ClusterCIDR,
  NodeCIDR or none) and kube-proxy's configuration; :func:`node_port_ips` and
  :func:`localhost_nodeports` are what ``--nodeport-addresses`` and
  ``--iptables-localhost-nodeports`` make of them (NewNodePortAddresses,
  GetNodeIPs).
* :func:`categorize_endpoints` is CategorizeEndpoints: which endpoints one
  node's chains use for a service port — cluster, local, all reachable —
  with duplicates (same ``ip:port``) merged, terminating endpoints as
  fallback and zone hints (hints alone decide, as from 1.33; no topology-mode
  annotation).
* :func:`service_port_key` is the order service ports are written in.

Not modelled: IPv6, node hints (PreferSameNode traffic distribution).
Not here: the rules written from these (:mod:`netsim.control.kubeproxy`),
the restore file around them (:mod:`netsim.control.kubeproxy_restore`), the
blocks kept between syncs (:mod:`netsim.control.kubeproxy_cache`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from netsim.control.state import ClusterState, ServiceState
from netsim.model.kube_proxy_config import NODE_PORT_ADDRESSES_PRIMARY, KubeProxyConfig
from netsim.model.objects import EndpointSlice, ServiceType
from netsim.model.topology import PodNetworkMode

__all__ = [
    "EndpointInfo",
    "KubeProxyNode",
    "ServicePortInfo",
    "ServicePortKey",
    "categorize_endpoints",
    "cluster_service_ports",
    "kube_proxy_node",
    "localhost_nodeports",
    "node_addresses",
    "node_port_cidrs",
    "node_port_ips",
    "service_port_key",
    "service_ports_of",
]


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """One endpoint of a service port as kube-proxy's endpoint cache holds it."""

    ip: ipaddress.IPv4Address
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str | None = None
    zone_hints: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """``ip:port``, the string kube-proxy sorts and hashes."""
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True)
class ServicePortInfo:
    """One service port with everything kube-proxy reads about it."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # lowercase: tcp, udp, sctp
    cluster_ip: ipaddress.IPv4Address
    port: int
    node_port: int = 0
    external_ips: tuple[ipaddress.IPv4Address, ...] = ()
    load_balancer_vips: tuple[ipaddress.IPv4Address, ...] = ()
    source_ranges: tuple[ipaddress.IPv4Network, ...] = ()
    external_policy_local: bool = False
    internal_policy_local: bool = False
    affinity_seconds: int | None = None  # ClientIP timeout, None without affinity
    health_check_node_port: int = 0
    endpoints: tuple[EndpointInfo, ...] = ()

    @property
    def name_string(self) -> str:
        """``namespace/name[:port]``, the N of every comment and hash."""
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port_name}" if self.port_name else base

    @property
    def is_externally_accessible(self) -> bool:
        """A NodePort, an externalIP or a LoadBalancer VIP makes it external."""
        return bool(self.node_port or self.external_ips or self.load_balancer_vips)


@dataclass(frozen=True, slots=True)
class KubeProxyNode:
    """What kube-proxy knows about the node it runs on."""

    name: str
    ip: ipaddress.IPv4Address
    local_cidr: ipaddress.IPv4Network | None  # the local-traffic detector's CIDR, if any
    zone: str | None = None
    config: KubeProxyConfig = field(default_factory=KubeProxyConfig)
    nfacct: bool = False  # 1.31+ with nfacct counters available
    tcp_be_liberal: bool = (
        False  # sysctl nf_conntrack_tcp_be_liberal (1.29+ drops the INVALID rule)
    )
    # every address on the node's interfaces, in the kernel's order (--nodeport-addresses
    # picks from these); empty: the node IP and 127.0.0.1
    addresses: tuple[ipaddress.IPv4Address, ...] = ()
    # the detector's -i match instead of a CIDR: BridgeInterface "cni0", InterfaceNamePrefix "veth+"
    local_interface: str | None = None


LOOPBACK_START = ipaddress.IPv4Address("127.0.0.0")  # kube-proxy's ipv4LoopbackStart
LOOPBACK = ipaddress.IPv4Address("127.0.0.1")  # lo


def node_port_cidrs(
    config: KubeProxyConfig, node_ip: ipaddress.IPv4Address
) -> tuple[ipaddress.IPv4Network, ...] | None:
    """The IPv4 CIDRs of ``--nodeport-addresses`` on the node ``node_ip``; None: every address.

    As NewNodePortAddresses for IPv4: ``primary`` is the node IP as a /32;
    IPv6 CIDRs are another family's; none left (or ``0.0.0.0/0`` among them)
    matches every address.

    >>> ip = ipaddress.IPv4Address("192.168.0.2")
    >>> node_port_cidrs(KubeProxyConfig(), ip) is None
    True
    >>> node_port_cidrs(KubeProxyConfig(node_port_addresses=("primary",)), ip)
    (IPv4Network('192.168.0.2/32'),)
    """
    values = config.node_port_addresses
    if values == (NODE_PORT_ADDRESSES_PRIMARY,):
        return (ipaddress.IPv4Network(node_ip),)
    cidrs = tuple(
        net for net in map(ipaddress.ip_network, values) if isinstance(net, ipaddress.IPv4Network)
    )
    if not cidrs or any(net.prefixlen == 0 for net in cidrs):
        return None
    return cidrs


def localhost_nodeports(config: KubeProxyConfig, node_ip: ipaddress.IPv4Address) -> bool:
    """Whether NodePorts answer on 127.0.0.1: the flag, unless ``--nodeport-addresses`` leaves
    out every loopback address (kube-proxy then turns it off, and ``route_localnet`` with it).
    """
    if not config.node_port_addresses:  # the usual case, asked once per NodePort
        return config.localhost_nodeports
    cidrs = node_port_cidrs(config, node_ip)
    contains_loopback = cidrs is None or any(
        net.network_address.is_loopback or LOOPBACK_START in net for net in cidrs
    )
    return config.localhost_nodeports and contains_loopback


def node_port_ips(node: KubeProxyNode) -> tuple[ipaddress.IPv4Address, ...] | None:
    """The node's addresses that accept NodePorts; None: every local address (addrtype LOCAL).

    GetNodeIPs: each address of the node's interfaces inside some CIDR, once,
    in interface order; loopback addresses only with localhost NodePorts on.
    """
    cidrs = node_port_cidrs(node.config, node.ip)
    if cidrs is None:
        return None
    localhost = localhost_nodeports(node.config, node.ip)
    addresses = node.addresses or (LOOPBACK, node.ip)
    return tuple(
        ip
        for ip in dict.fromkeys(addresses)
        if any(ip in net for net in cidrs) and (localhost or not ip.is_loopback)
    )


ServicePortKey = tuple[str, str]  # (name_string, protocol): the order kube-proxy's tests sort into
_EndpointText = tuple[str, EndpointInfo]  # (``ip:port``, endpoint)


def service_port_key(sp: ServicePortInfo) -> ServicePortKey:
    """The key service ports are written in order of: ``(namespace/name[:port], protocol)``."""
    return (sp.name_string, sp.protocol)


def _text_key(pair: _EndpointText) -> str:
    return pair[0]


def categorize_endpoints(
    sp: ServicePortInfo, node: KubeProxyNode
) -> tuple[list[_EndpointText], list[_EndpointText], list[_EndpointText], bool]:
    """CategorizeEndpoints: (cluster, local, all reachable, has any endpoints).

    Endpoints with the same ``ip:port`` are merged (the local one wins); each
    list is sorted by ``ip:port`` and pairs that text with its endpoint.
    """
    node_name = node.name
    seen: dict[str, EndpointInfo] = {}
    for e in sp.endpoints:
        text = f"{e.ip!s}:{e.port}"
        if text not in seen or e.node_name == node_name:
            seen[text] = e
    endpoints = sorted(seen.items(), key=_text_key)
    uses_cluster = not sp.internal_policy_local or sp.is_externally_accessible
    uses_local = sp.internal_policy_local or (
        sp.external_policy_local and sp.is_externally_accessible
    )
    cluster: list[_EndpointText] = []
    local: list[_EndpointText] = []
    has_any = False
    if uses_cluster:
        if _can_use_topology(endpoints, node):
            zone = node.zone
            cluster = [p for p in endpoints if p[1].ready and zone in p[1].zone_hints]
        else:
            cluster = [p for p in endpoints if p[1].ready]
        if not cluster:
            cluster = [p for p in endpoints if p[1].serving and p[1].terminating]
        has_any = bool(cluster)
    if not uses_local:
        return cluster, local, cluster, has_any
    local_ready = local_terminating = False
    for _, e in endpoints:
        if e.ready:
            has_any = True
            local_ready = local_ready or e.node_name == node_name
        elif e.serving and e.terminating:
            has_any = True
            local_terminating = local_terminating or e.node_name == node_name
    if local_ready:
        local = [p for p in endpoints if p[1].node_name == node_name and p[1].ready]
    elif local_terminating:
        local = [
            p
            for p in endpoints
            if p[1].node_name == node_name and p[1].serving and p[1].terminating
        ]
    if not uses_cluster:
        return cluster, local, local, has_any
    merged = dict(cluster)
    merged.update(local)
    return cluster, local, sorted(merged.items(), key=_text_key), has_any


def _can_use_topology(endpoints: Sequence[_EndpointText], node: KubeProxyNode) -> bool:
    """Zone hints are used when every ready endpoint has them and one names this zone."""
    ready = [e for _, e in endpoints if e.ready]
    if node.zone is None or not ready or any(not e.zone_hints for e in ready):
        return False
    return any(node.zone in e.zone_hints for e in ready)


def service_ports_of(state: ClusterState, service: ServiceState) -> list[ServicePortInfo]:
    """The service ports kube-proxy programs for a realized Service (none when headless)."""
    return _service_ports(service, state.slices_for(service))


def cluster_service_ports(state: ClusterState) -> list[ServicePortInfo]:
    """The service ports kube-proxy programs for every Service of a realized cluster."""
    return [sp for svc in state.services.values() for sp in service_ports_of(state, svc)]


def _service_ports(service: ServiceState, slices: Sequence[EndpointSlice]) -> list[ServicePortInfo]:
    """The service ports of ``service`` whose endpoints are in ``slices`` (its own slices)."""
    svc = service.service
    if service.cluster_ip is None or svc.type == ServiceType.EXTERNAL_NAME:
        return []
    external = svc.type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)
    result = []
    for port_state in service.ports:
        port = port_state.port
        endpoints = []
        for eps in slices:
            for ep_port in eps.ports:
                if (ep_port.name or "") != (port.name or "") or ep_port.protocol != port.protocol:
                    continue
                endpoints += [
                    EndpointInfo(
                        ip=e.address,
                        port=ep_port.port,
                        ready=e.ready,
                        serving=e.serving,
                        terminating=e.terminating,
                        node_name=e.node_name,
                        zone_hints=e.hints_zones,
                    )
                    for e in eps.endpoints
                ]
        result.append(
            ServicePortInfo(
                namespace=svc.namespace,
                name=svc.name,
                port_name=port.name or "",
                protocol=str(port.protocol).lower(),
                cluster_ip=service.cluster_ip,
                port=port.port,
                node_port=port_state.node_port or 0,
                external_ips=svc.external_ips,
                load_balancer_vips=(
                    svc.load_balancer_ingress if svc.type == ServiceType.LOAD_BALANCER else ()
                ),
                source_ranges=svc.load_balancer_source_ranges,
                external_policy_local=external and svc.external_traffic_policy == "Local",
                internal_policy_local=svc.internal_traffic_policy == "Local",
                affinity_seconds=(
                    svc.session_affinity_timeout if svc.session_affinity == "ClientIP" else None
                ),
                health_check_node_port=service.health_check_node_port or 0,
                endpoints=tuple(endpoints),
            )
        )
    return result


def kube_proxy_node(state: ClusterState, node_name: str) -> KubeProxyNode:
    """What kube-proxy knows about ``node_name`` of a realized cluster."""
    topology = state.topology
    node = state.nodes[node_name]
    config = topology.kube_proxy
    detector = config.detect_local
    local_cidr = {"ClusterCIDR": topology.cluster_cidr, "NodeCIDR": node.pod_cidr}.get(detector)
    local_interface = {
        "BridgeInterface": config.pod_bridge_interface,
        "InterfaceNamePrefix": f"{config.pod_interface_name_prefix}+",
    }.get(detector)
    return KubeProxyNode(
        name=node_name,
        ip=node.ip,
        local_cidr=local_cidr,
        zone=node.node.zone,
        config=config,
        addresses=node_addresses(state, node_name),
        local_interface=local_interface,
    )


def node_addresses(state: ClusterState, node_name: str) -> tuple[ipaddress.IPv4Address, ...]:
    """The addresses on ``node_name``'s interfaces, in the order netsim's dataplane adds them.

    ``lo``, the NIC (the ``l2`` bridge holds it instead), ``flannel.1`` (its
    podCIDR's network address, in ``vxlan``), then the bridge's gateway.
    """
    node = state.nodes[node_name]
    flannel = (
        (node.pod_cidr.network_address,)
        if state.topology.pod_network.mode == PodNetworkMode.VXLAN
        else ()
    )
    return (LOOPBACK, node.ip, *flannel, node.gateway)
