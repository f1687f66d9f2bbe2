"""``vxlan`` mode: flannel's vxlan backend (an overlay between the nodes).

Per node, as flanneld sets it up before any pod: the VTEP ``flannel.<VNI>``
(name, VNI and UDP port from ``pod_network.vxlan``; ``local`` = node IP,
``dev eth0``, ``nolearning``, MTU = node MTU − 50, address ``<podCIDR
network>/32``), then for every remote node, in topology order and in this
order: the neighbour ``<remote podCIDR network> lladdr <remote VTEP MAC>
PERMANENT``, the FDB entry ``<remote VTEP MAC> dev flannel.1 dst <remote node
IP> self permanent`` and the route ``<remote podCIDR> via <remote podCIDR
network> dev flannel.1 onlink``. ``cni0``, the veths and the pods' ``eth0``
get the VTEP's MTU (flannel writes it as ``FLANNEL_MTU``). VXLAN only needs
routable node IPs, so any underlay works.

Not modelled: ``DirectRouting``, ``GBP``, VXLAN over IPv6, flannel's lease
renewals and the VTEP MAC annotation round trip (each VTEP MAC is derived from
its node, see :func:`netsim.naming.interface_mac`).
"""

from __future__ import annotations

from functools import partial
from ipaddress import IPv4Interface
from typing import Final

from netsim.control.state import ClusterState, NodeState
from netsim.dataplane.common import (
    NODE_NIC,
    ModeBuilder,
    flannel_pod_routes,
    route_node_nic,
)
from netsim.dataplane.devices import FdbEntry, InterfaceKind, Neighbor, VxlanParams
from netsim.dataplane.draft import BuildContext, NamespaceDraft, RemoteBlock
from netsim.dataplane.routing import Route
from netsim.dataplane.shared import SharedRoutes
from netsim.naming import node_netns_id

__all__ = ["VXLAN", "VXLAN_OVERHEAD"]

# Outer Ethernet 14 + outer IPv4 20 + UDP 8 + VXLAN 8 (RFC 7348); flannel's MTU cut.
VXLAN_OVERHEAD: Final = 50


def _check(state: ClusterState) -> None:
    """VXLAN works on any underlay with routable node IPs: nothing to refuse."""


def _setup_node(ctx: BuildContext, node: NodeState, ns: NamespaceDraft) -> None:
    config = ctx.state.topology.pod_network.vxlan
    device = config.device
    route_node_nic(ctx, node, ns, NODE_NIC)
    params = VxlanParams(vni=config.vni, local=node.ip, dstport=config.port, dev=NODE_NIC)
    ctx.add_device(ns, device, InterfaceKind.VXLAN, _bridge_mtu(node), vxlan=params)
    ns.add_address(device, IPv4Interface((int(node.pod_cidr.network_address), 32)))
    neighbors, fdb, routes = ctx.share(("vxlan",), partial(_remote_entries, ctx))
    ns.add_remote(RemoteBlock(routes, neighbors, fdb, ctx.node_index(node.name)))


def _remote_entries(
    ctx: BuildContext,
) -> tuple[tuple[Neighbor, ...], tuple[FdbEntry, ...], SharedRoutes]:
    """What the other nodes hold for each node: neighbour, FDB entry, route (topology order)."""
    device = ctx.state.topology.pod_network.vxlan.device
    neighbors, fdb, routes = [], [], []
    for remote in ctx.state.nodes.values():
        vtep = remote.pod_cidr.network_address
        mac = ctx.mac_for(node_netns_id(remote.name), device)
        neighbors.append(Neighbor(vtep, mac, device))
        fdb.append(FdbEntry(mac, device, is_self=True, dst=remote.ip))
        routes.append(Route(remote.pod_cidr, gateway=vtep, dev=device, onlink=True))
    return tuple(neighbors), tuple(fdb), SharedRoutes(tuple(routes))


def _bridge_mtu(node: NodeState) -> int:
    return node.node.mtu - VXLAN_OVERHEAD


def _setup_router(ctx: BuildContext, router: NamespaceDraft) -> None:
    """The router only carries the outer packets between node IPs: no pod routes."""


VXLAN: Final = ModeBuilder(
    check=_check,
    setup_node=_setup_node,
    bridge_mtu=_bridge_mtu,
    pod_routes=flannel_pod_routes,
    setup_router=_setup_router,
)
