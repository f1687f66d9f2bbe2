"""What every pod-network mode builds alike: node root namespaces, pod attachment, masquerade.

* A node's root namespace: ``lo``, the NIC ``eth0`` (MTU of the node, qdisc
  ``fq_codel``), ``ip_forward=1``, ``route_localnet=1`` when kube-proxy's
  localhost NodePorts are on (kube-proxy sets it), and flanneld's
  ``--ip-masq`` rules (:func:`flannel_masquerade_rules`).
* Pod attachment as the flannel CNI plugin's delegate, the ``bridge`` plugin,
  does it (``isGateway``, ``isDefaultGateway``, ``hairpinMode``, ``mtu``):
  ``cni0`` created with the first pod and given ``<gateway>/<podCIDR prefix>``,
  a veth pair per pod (``eth0`` in the pod, ``veth`` + 8 hex on the node,
  enslaved to ``cni0`` with hairpin on, both ends at the mode's MTU), the pod
  address and the routes the mode gives.

Not modelled: the ``portmap`` plugin (hostPort), the bridge plugin's own
``ipMasq`` (flannel turns it off), ``arp_notify`` and other per-device sysctls,
bridge ageing and STP parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from typing import Final

from netsim.control.kubeproxy_ports import localhost_nodeports
from netsim.control.realize import POD_IFNAME
from netsim.control.state import ClusterState, NodeState, PodState
from netsim.dataplane.devices import InterfaceKind, NamespaceKind, SysctlName
from netsim.dataplane.draft import BuildContext, NamespaceDraft
from netsim.dataplane.routing import DEFAULT_DST, Route
from netsim.naming import node_netns_id, pod_host_mac, pod_mac, pod_netns_id, pod_netns_name

__all__ = [
    "CNI_BRIDGE",
    "NODE_NIC",
    "ModeBuilder",
    "attach_pod",
    "ensure_bridge",
    "flannel_masquerade_rules",
    "flannel_pod_routes",
    "new_node_namespace",
    "node_subnet",
    "route_node_nic",
]

CNI_BRIDGE: Final = "cni0"  # the bridge plugin's default ``bridge``, flannel's too
NODE_NIC: Final = "eth0"  # the node's external interface (flannel's ``--iface``)
KUBE_PROXY_MARK: Final = "0x4000/0x4000"  # flannel's kubeProxyMark: kube-proxy masquerades these
MULTICAST: Final = IPv4Network("224.0.0.0/4")  # flannel never masquerades multicast
FLANNEL_MASQ_COMMENT: Final = '"flanneld masq"'
FLANNEL_FORWARD_COMMENT: Final = '"flanneld forward"'
FLANNEL_POSTRTG: Final = "FLANNEL-POSTRTG"
FLANNEL_FWD: Final = "FLANNEL-FWD"


@dataclass(frozen=True, slots=True)
class ModeBuilder:
    """What one pod-network mode adds to the shared parts (values of ``POD_NETWORK_MODES``).

    Attributes:
        check: refuses a cluster the mode cannot serve (``TopologyError``).
        setup_node: the node's own devices, addresses and routes, before any pod.
        bridge_mtu: the MTU of ``cni0``, the veths and the pods' ``eth0``.
        pod_routes: the routes the CNI result gives a pod (besides the connected one).
        setup_router: routes the underlay router gets from the mode.
    """

    check: Callable[[ClusterState], None]
    setup_node: Callable[[BuildContext, NodeState, NamespaceDraft], None]
    bridge_mtu: Callable[[NodeState], int]
    pod_routes: Callable[[BuildContext, NodeState], list[Route]]
    setup_router: Callable[[BuildContext, NamespaceDraft], None]


def node_subnet(ctx: BuildContext, node: NodeState) -> tuple[IPv4Network, IPv4Interface]:
    """The node's underlay subnet and its address with that subnet's prefix."""
    subnet = next(s for s in ctx.state.topology.underlay.subnets if s.name == node.node.subnet)
    return subnet.cidr, IPv4Interface((int(node.ip), subnet.cidr.prefixlen))


def new_node_namespace(ctx: BuildContext, node: NodeState) -> NamespaceDraft:
    """A node's root namespace with ``lo``, the NIC (no address yet) and flanneld's rules."""
    topology = ctx.state.topology
    ns = ctx.new_namespace(node_netns_id(node.name), NamespaceKind.NODE, node.name, ip_forward=True)
    ns.sysctls[SysctlName.ROUTE_LOCALNET] = int(localhost_nodeports(topology.kube_proxy, node.ip))
    ctx.add_device(ns, NODE_NIC, InterfaceKind.ETHERNET, node.node.mtu)
    rules = flannel_masquerade_rules(
        node.pod_cidr, topology.cluster_cidr, random_fully=topology.kube_proxy.random_fully
    )
    for table, lines in rules.items():
        ns.iptables.setdefault(table, []).extend(lines)
    return ns


def route_node_nic(ctx: BuildContext, node: NodeState, ns: NamespaceDraft, dev: str) -> None:
    """The node IP with its subnet's prefix on ``dev`` and ``default via <subnet gateway>``."""
    _, address = node_subnet(ctx, node)
    ns.add_address(dev, address)
    gateway = next(
        s.gateway for s in ctx.state.topology.underlay.subnets if s.name == node.node.subnet
    )
    ns.add_route(Route(DEFAULT_DST, gateway=gateway, dev=dev))


def flannel_masquerade_rules(
    pod_cidr: IPv4Network, cluster_cidr: IPv4Network, *, random_fully: bool = True
) -> dict[str, list[str]]:
    """flanneld ``--ip-masq`` rules of one node, as ``iptables-restore`` lines per table.

    The rule text is flannel's (``pkg/trafficmngr/iptables``), which is also
    how ``iptables-save`` prints it (verified with iptables 1.8.9).

    >>> rules = flannel_masquerade_rules(IPv4Network("10.244.1.0/24"), IPv4Network("10.244.0.0/16"))
    >>> print("\\n".join(rules["nat"][:3]))
    :FLANNEL-POSTRTG - [0:0]
    -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
    -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
    """
    pod_cidr_text, cluster_text = str(pod_cidr), str(cluster_cidr)  # printed once
    masq = f"-m comment --comment {FLANNEL_MASQ_COMMENT}"
    fwd = f"-m comment --comment {FLANNEL_FORWARD_COMMENT}"
    masquerade = "MASQUERADE --random-fully" if random_fully else "MASQUERADE"
    chain = f"-A {FLANNEL_POSTRTG}"
    nat = [
        f":{FLANNEL_POSTRTG} - [0:0]",
        f"-A POSTROUTING {masq} -j {FLANNEL_POSTRTG}",
        f"{chain} -m mark --mark {KUBE_PROXY_MARK} {masq} -j RETURN",
        f"{chain} -s {pod_cidr_text} -d {cluster_text} {masq} -j RETURN",
        f"{chain} -s {cluster_text} -d {pod_cidr_text} {masq} -j RETURN",
        f"{chain} ! -s {cluster_text} -d {pod_cidr_text} {masq} -j RETURN",
        f"{chain} -s {cluster_text} ! -d {MULTICAST} {masq} -j {masquerade}",
        f"{chain} ! -s {cluster_text} -d {cluster_text} {masq} -j {masquerade}",
    ]
    filter_ = [
        f":{FLANNEL_FWD} - [0:0]",
        f"-A FORWARD {fwd} -j {FLANNEL_FWD}",
        f"-A {FLANNEL_FWD} -s {cluster_text} {fwd} -j ACCEPT",
        f"-A {FLANNEL_FWD} -d {cluster_text} {fwd} -j ACCEPT",
    ]
    return {"filter": filter_, "nat": nat}


def flannel_pod_routes(ctx: BuildContext, node: NodeState) -> list[Route]:
    """A flannel pod's routes: ``<cluster CIDR> via <gw>`` (IPAM) and ``default via <gw>``."""
    cluster_cidr = ctx.state.topology.cluster_cidr
    return [
        Route(cluster_cidr, gateway=node.gateway, dev=POD_IFNAME),
        Route(DEFAULT_DST, gateway=node.gateway, dev=POD_IFNAME),
    ]


def attach_pod(
    ctx: BuildContext,
    node_ns: NamespaceDraft,
    node: NodeState,
    pod: PodState,
    mode: ModeBuilder,
) -> NamespaceDraft:
    """CNI ADD of one pod with the bridge plugin: its namespace, veth pair, address, routes."""
    assert pod.ip is not None  # placed, non-hostNetwork pods have an IP
    mtu = mode.bridge_mtu(node)
    ensure_bridge(ctx, node_ns, node, mode)
    pod_ns = ctx.new_namespace(
        pod_netns_id(pod.key), NamespaceKind.POD, pod.key, name=pod_netns_name(pod.container_id)
    )
    host_veth = ctx.free_veth_name(node_ns, pod.container_id)
    ip = int(pod.ip)
    ctx.add_veth_pair(pod_ns, POD_IFNAME, node_ns, host_veth, mtu, (pod_mac(ip), pod_host_mac(ip)))
    node_ns.enslave(host_veth, CNI_BRIDGE, hairpin=True)
    pod_ns.add_address(POD_IFNAME, IPv4Interface((ip, pod.prefix_len)))
    for route in ctx.share(("pod-routes", node.name), lambda: mode.pod_routes(ctx, node)):
        pod_ns.add_route(route)
    return pod_ns


def ensure_bridge(
    ctx: BuildContext, node_ns: NamespaceDraft, node: NodeState, mode: ModeBuilder
) -> None:
    """``cni0`` with ``<gateway>/<podCIDR prefix>``, made by the node's first pod's ADD."""
    if CNI_BRIDGE not in node_ns.interfaces:
        ctx.add_device(node_ns, CNI_BRIDGE, InterfaceKind.BRIDGE, mode.bridge_mtu(node))
        prefix = node.pod_cidr.prefixlen
        node_ns.add_address(CNI_BRIDGE, IPv4Interface((int(node.gateway), prefix)))
