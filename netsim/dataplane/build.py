"""``build_dataplane(state) -> Dataplane``: the kernel tables of every host of a cluster.

The build runs in the order the real software would set a cluster up, which
fixes ifindexes and the order of tables:

1. the mode refuses an underlay it cannot serve (``TopologyError``);
2. the underlay segments and their switches (:mod:`netsim.dataplane.underlay`);
3. per node, in topology order: the root namespace, NIC cabled to its
   segment, flanneld's masquerade rules, then what the mode sets up before any
   pod runs (:data:`POD_NETWORK_MODES`);
4. per pod, in CNI ADD order (snapshot pods first, then declaration order, as
   :func:`netsim.control.realize.realize` allocates them): the bridge plugin's
   ADD (:func:`netsim.dataplane.common.attach_pod`). hostNetwork pods share
   their node's namespace; Pending pods have none;
5. external clients, then the router with the mode's routes;
6. freezing: every route is checked as ``ip route add`` checks it.

A packet that would be dropped or find no route is not an error here: only
what the kernel would refuse to configure is.
"""

from __future__ import annotations

from typing import Final

from netsim.control.state import ClusterState, PodState
from netsim.dataplane.common import NODE_NIC, ModeBuilder, attach_pod, new_node_namespace
from netsim.dataplane.devices import Dataplane
from netsim.dataplane.draft import BuildContext
from netsim.dataplane.l2 import L2
from netsim.dataplane.l3 import L3
from netsim.dataplane.underlay import add_clients, add_router, add_segments, attach
from netsim.dataplane.vxlan import VXLAN
from netsim.naming import node_netns_id

__all__ = ["POD_NETWORK_MODES", "build_dataplane", "cni_add_order"]

POD_NETWORK_MODES: Final[dict[str, ModeBuilder]] = {"l2": L2, "l3": L3, "vxlan": VXLAN}


def cni_add_order(state: ClusterState) -> list[PodState]:
    """Pods that get a namespace, in the order CNI ADD ran: snapshot pods first."""
    attached = [p for p in state.pods.values() if p.node is not None and not p.is_host_network]
    snapshot = [p for p in attached if p.pod.pod_ip is not None]
    dynamic = [p for p in attached if p.pod.pod_ip is None]
    return [*snapshot, *dynamic]


def build_dataplane(state: ClusterState) -> Dataplane:
    """Build every namespace of the cluster for its pod-network mode.

    Args:
        state: the realized cluster.

    Returns:
        The frozen dataplane.

    Raises:
        TopologyError: the mode cannot run on this underlay (``host-gw`` or ``l2``
            on several subnets), an external client's segment clashes with another
            address space, or a route the kernel would refuse.
    """
    topology = state.topology
    mode = POD_NETWORK_MODES[topology.pod_network.mode.value]
    mode.check(state)
    ctx = BuildContext(state)
    add_segments(ctx)
    for node in state.nodes.values():
        ns = new_node_namespace(ctx, node)
        attach(ctx, ns, NODE_NIC, node.node.subnet)
        mode.setup_node(ctx, node, ns)
    for pod in cni_add_order(state):
        assert pod.node is not None
        node = state.nodes[pod.node]
        attach_pod(ctx, ctx.namespaces[node_netns_id(node.name)], node, pod, mode)
    add_clients(ctx)
    add_router(ctx, mode.setup_router)
    return ctx.freeze()
