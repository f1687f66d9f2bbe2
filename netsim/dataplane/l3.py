"""``l3`` mode: each node routes its podCIDR; remote podCIDRs are routed via their node.

* ``routing: host-gw`` (flannel's host-gw backend): per remote node, in
  topology order, ``<remote podCIDR> via <remote node IP> dev eth0``. The next
  hop must be on-link, so every node must share one L2 segment: an underlay of
  several subnets is refused.
* ``routing: bgp`` (Calico-like, no encapsulation): the same routes with
  ``proto bird``; a remote node in another subnet is reached via the local
  subnet's gateway, and the underlay router learns every podCIDR via its
  node's IP (``proto bird``), so other subnets and external clients reach
  pods directly.

Pods are attached as in every mode (flannel's bridge layout, MTU = node MTU).
Not modelled: BGP sessions, route reflectors, Calico's IPAM blocks, ``/32``
routes per pod and ``blackhole`` block routes, IPIP.
"""

from __future__ import annotations

from functools import partial
from typing import Final

from netsim.control.state import ClusterState, NodeState
from netsim.dataplane.common import (
    NODE_NIC,
    ModeBuilder,
    flannel_pod_routes,
    route_node_nic,
)
from netsim.dataplane.draft import BuildContext, NamespaceDraft, RemoteBlock
from netsim.dataplane.routes import DEFAULT_PROTO
from netsim.dataplane.routing import Route
from netsim.dataplane.shared import SharedRoutes
from netsim.errors import TopologyError
from netsim.model.topology import L3Routing

__all__ = ["BGP_PROTO", "L3"]

BGP_PROTO: Final = "bird"  # rtm_protocol of routes BIRD installs (RTPROT_BIRD, 12)


def _check(state: ClusterState) -> None:
    topology = state.topology
    subnets = topology.underlay.subnets
    if topology.pod_network.routing is L3Routing.HOST_GW and len(subnets) > 1:
        names = ", ".join(f"{s.name} {s.cidr}" for s in subnets)
        raise TopologyError(
            f"host-gw routes each podCIDR via its node's IP, which must be on-link, but the"
            f" underlay has {len(subnets)} subnets ({names}); use routing: bgp or mode: vxlan",
            source=topology.source,
            field="pod_network.l3.routing",
        )


def _setup_node(ctx: BuildContext, node: NodeState, ns: NamespaceDraft) -> None:
    topology = ctx.state.topology
    route_node_nic(ctx, node, ns, NODE_NIC)
    is_bgp = topology.pod_network.routing is L3Routing.BGP
    # The routes depend on the node only through its subnet (BGP) and which one it skips.
    variant = node.node.subnet if is_bgp else ""
    shared = ctx.share(("l3", variant), partial(_remote_routes, ctx, node, is_bgp=is_bgp))
    ns.add_remote(RemoteBlock(shared, (), (), ctx.node_index(node.name)))


def _remote_routes(ctx: BuildContext, node: NodeState, *, is_bgp: bool) -> SharedRoutes:
    """``<podCIDR> via <node IP or subnet gateway> dev eth0`` of every node, as ``node`` sees it."""
    topology = ctx.state.topology
    gateway = next(s.gateway for s in topology.underlay.subnets if s.name == node.node.subnet)
    proto = BGP_PROTO if is_bgp else DEFAULT_PROTO
    routes = []
    for remote in ctx.state.nodes.values():
        via = remote.ip if not is_bgp or remote.node.subnet == node.node.subnet else gateway
        routes.append(Route(remote.pod_cidr, gateway=via, dev=NODE_NIC, proto=proto))
    return SharedRoutes(tuple(routes))


def _bridge_mtu(node: NodeState) -> int:
    return node.node.mtu


def _setup_router(ctx: BuildContext, router: NamespaceDraft) -> None:
    if ctx.state.topology.pod_network.routing is not L3Routing.BGP:
        return
    for node in ctx.state.nodes.values():
        router.add_route(Route(node.pod_cidr, gateway=node.ip, proto=BGP_PROTO))


L3: Final = ModeBuilder(
    check=_check,
    setup_node=_setup_node,
    bridge_mtu=_bridge_mtu,
    pod_routes=flannel_pod_routes,
    setup_router=_setup_router,
)
