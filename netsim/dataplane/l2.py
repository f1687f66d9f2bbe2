"""``l2`` mode: pods and nodes in one broadcast domain (the node NIC enslaved to ``cni0``).

Per node, as the administrator sets it up at boot: ``cni0`` (MTU of the node)
with the NIC ``eth0`` enslaved (no address on ``eth0``); on ``cni0`` the node
IP with its underlay subnet's prefix, then the node's gateway (first address
of its podCIDR slice) with the prefix of the whole cluster CIDR; ``default via
<subnet gateway> dev cni0``. Pods are addressed from the node's slice with the
cluster CIDR's prefix, so their connected route is the whole cluster CIDR;
their only other route is ``default via <node gateway>``. No route per remote
node, no encapsulation: cross-node pod traffic is switched by the underlay
segment, which must therefore be one (several subnets are refused).

The node is a one-armed router here (what it forwards between pods and the
underlay enters and leaves ``cni0``), so ICMP redirects are off
(``send_redirects`` 0 for ``all`` and ``default``). With them on, the kernel
would redirect pods past the node for each such packet and, because a redirect
and an ICMP error to the same source share one rate limit, swallow the port
unreachable of kube-proxy's REJECT for a Service without endpoints.

Not modelled: the underlay's tolerance for many MACs per port (cloud VPCs drop
unknown MACs), neighbour-table limits (``gc_thresh``), FDB ageing.
"""

from __future__ import annotations

from ipaddress import IPv4Interface
from typing import Final

from netsim.control.realize import POD_IFNAME
from netsim.control.state import ClusterState, NodeState
from netsim.dataplane.common import CNI_BRIDGE, NODE_NIC, ModeBuilder, route_node_nic
from netsim.dataplane.devices import InterfaceKind, SysctlName
from netsim.dataplane.draft import BuildContext, NamespaceDraft
from netsim.dataplane.routing import DEFAULT_DST, Route
from netsim.errors import TopologyError

__all__ = ["L2"]


def _check(state: ClusterState) -> None:
    topology = state.topology
    subnets = topology.underlay.subnets
    if len(subnets) > 1:
        names = ", ".join(f"{s.name} {s.cidr}" for s in subnets)
        raise TopologyError(
            f"l2 puts every pod and node in one broadcast domain, but the underlay has"
            f" {len(subnets)} subnets ({names}); use one underlay subnet, or mode: vxlan,"
            " or mode: l3 with routing: bgp",
            source=topology.source,
            field="pod_network.mode",
        )


def _setup_node(ctx: BuildContext, node: NodeState, ns: NamespaceDraft) -> None:
    ctx.add_device(ns, CNI_BRIDGE, InterfaceKind.BRIDGE, node.node.mtu)
    ns.enslave(NODE_NIC, CNI_BRIDGE)
    ns.sysctls[SysctlName.SEND_REDIRECTS] = 0
    ns.sysctls[SysctlName.DEFAULT_SEND_REDIRECTS] = 0
    route_node_nic(ctx, node, ns, CNI_BRIDGE)
    prefix = ctx.state.topology.cluster_cidr.prefixlen
    ns.add_address(CNI_BRIDGE, IPv4Interface(f"{node.gateway}/{prefix}"))


def _bridge_mtu(node: NodeState) -> int:
    return node.node.mtu


def _pod_routes(ctx: BuildContext, node: NodeState) -> list[Route]:
    return [Route(DEFAULT_DST, gateway=node.gateway, dev=POD_IFNAME)]


def _setup_router(ctx: BuildContext, router: NamespaceDraft) -> None:
    """Pod addresses are not routed by the underlay router in l2 mode."""


L2: Final = ModeBuilder(
    check=_check,
    setup_node=_setup_node,
    bridge_mtu=_bridge_mtu,
    pod_routes=_pod_routes,
    setup_router=_setup_router,
)
