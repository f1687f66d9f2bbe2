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

At scale (5,000 nodes, 150,000 pods) step 4 and the freezing of node and pod
namespaces are deferred (:mod:`netsim.dataplane.lazy`): the build fixes now
everything whose order is global (the MACs of every device but the pods'
veth pairs, unique in the dataplane, are handed out in the order above; a
pod's are made from its IP, see :func:`netsim.naming.pod_mac`) and checks
every route now, so a route the kernel would refuse is still an error of
``build_dataplane``; a node's namespace and its pods' (with their host-side
veth names, unique per node) are made on first access. Nodes share their
routes to the other nodes' podCIDRs (:mod:`netsim.dataplane.shared`). The
result equals :func:`build_dataplane_eager`'s.
"""

from __future__ import annotations

from functools import partial
from ipaddress import IPv4Interface
from types import MappingProxyType
from typing import Final

from netsim.control.realize import POD_IFNAME
from netsim.control.records import gc_paused
from netsim.control.state import ClusterState, NodeState, PodState
from netsim.dataplane.common import (
    NODE_NIC,
    ModeBuilder,
    attach_pod,
    ensure_bridge,
    new_node_namespace,
)
from netsim.dataplane.devices import Dataplane, NamespaceKind, NetworkNamespace
from netsim.dataplane.draft import _LOOPBACK_ROUTES, _ORDER, BuildContext, NamespaceDraft
from netsim.dataplane.l2 import L2
from netsim.dataplane.l3 import L3
from netsim.dataplane.lazy import LazyNamespaces
from netsim.dataplane.routing import Route, address_routes
from netsim.dataplane.routing_table import _check_routes
from netsim.dataplane.underlay import add_clients, add_router, add_segments, attach
from netsim.dataplane.vxlan import VXLAN
from netsim.errors import InputError, TopologyError
from netsim.naming import node_netns_id, pod_netns_id

__all__ = ["POD_NETWORK_MODES", "build_dataplane", "cni_add_order"]

POD_NETWORK_MODES: Final[dict[str, ModeBuilder]] = {"l2": L2, "l3": L3, "vxlan": VXLAN}


def cni_add_order(state: ClusterState) -> list[PodState]:
    """Pods that get a namespace, in the order CNI ADD ran: snapshot pods first."""
    attached = [p for p in state.pods.values() if p.node is not None and not p.is_host_network]
    snapshot = [p for p in attached if p.pod.pod_ip is not None]
    dynamic = [p for p in attached if p.pod.pod_ip is None]
    return [*snapshot, *dynamic]


def _build_nodes(state: ClusterState) -> tuple[ModeBuilder, BuildContext]:
    """Steps 1 to 3."""
    mode = POD_NETWORK_MODES[state.topology.pod_network.mode.value]
    mode.check(state)
    ctx = BuildContext(state)
    add_segments(ctx)
    for node in state.nodes.values():
        ns = new_node_namespace(ctx, node)
        attach(ctx, ns, NODE_NIC, node.node.subnet)
        mode.setup_node(ctx, node, ns)
    return mode, ctx


def build_dataplane_eager(state: ClusterState, *, share: bool = True) -> Dataplane:
    """:func:`build_dataplane` with every namespace frozen now (``share``: see
    :mod:`netsim.dataplane.shared`; without, every table holds its own routes).

    Raises:
        TopologyError: as :func:`build_dataplane`.
    """
    mode, ctx = _build_nodes(state)
    for pod in cni_add_order(state):
        assert pod.node is not None
        node = state.nodes[pod.node]
        attach_pod(ctx, ctx.namespaces[node_netns_id(node.name)], node, pod, mode)
    add_clients(ctx)
    add_router(ctx, mode.setup_router)
    return ctx.freeze(share=share)


def build_dataplane(state: ClusterState) -> Dataplane:
    """Build every namespace of the cluster for its pod-network mode.

    Node and pod namespaces are frozen on first access (see the module docstring).

    Args:
        state: the realized cluster.

    Returns:
        The frozen dataplane.

    Raises:
        TopologyError: the mode cannot run on this underlay (``host-gw`` or ``l2``
            on several subnets), an external client's segment clashes with another
            address space, or a route the kernel would refuse.
    """
    with gc_paused():  # hundreds of thousands of drafts and names, none of them garbage
        return _build_lazy(state)


def _build_lazy(state: ClusterState) -> Dataplane:
    mode, ctx = _build_nodes(state)
    pods_of: dict[str, list[PodState]] = {name: [] for name in state.nodes}
    groups: dict[str, str | None] = {node_netns_id(name): name for name in state.nodes}
    order = cni_add_order(state)
    firsts = _reserve_pod_devices(ctx, mode, order, pods_of, groups)
    add_clients(ctx)
    add_router(ctx, mode.setup_router)
    # Step 6, in the order freezing everything would raise: nodes, pods, the rest.
    tables = {
        name: ctx.namespaces[node_netns_id(name)].routing_table(ctx.source) for name in state.nodes
    }
    _check_pod_routes(ctx, mode, firsts)
    frozen: dict[str, NetworkNamespace] = {}
    rest = [d for d in ctx.namespaces.values() if d.kind not in (NamespaceKind.NODE,)]
    for draft in sorted(rest, key=lambda d: _ORDER.index(d.kind)):
        frozen[draft.id] = draft.freeze(ctx.source)
        groups[draft.id] = None

    def materialize(node_name: str) -> None:
        node = state.nodes[node_name]
        node_ns = ctx.namespaces.pop(node_netns_id(node_name))
        drafts = [attach_pod(ctx, node_ns, node, pod, mode) for pod in pods_of.pop(node_name)]
        frozen[node_ns.id] = node_ns.freeze(ctx.source, table=tables.pop(node_name))
        for draft in drafts:
            frozen[draft.id] = draft.freeze(ctx.source)
            del ctx.namespaces[draft.id]

    return Dataplane(
        state=state,
        namespaces=LazyNamespaces(groups, frozen, materialize),
        segments=MappingProxyType(dict(ctx.segments)),
        links=tuple(ctx.links),
    )


def _reserve_pod_devices(
    ctx: BuildContext,
    mode: ModeBuilder,
    order: list[PodState],
    pods_of: dict[str, list[PodState]],
    groups: dict[str, str | None],
) -> list[PodState]:
    """Step 4 without its namespaces: each node's ``cni0`` (its MAC is taken in the order
    ADD would make the bridges); each pod joins its node's group. The pods' veth names
    (unique per node) and MACs (:func:`netsim.naming.pod_mac`) are made with their node.

    Returns:
        The first pod of each kind of pod table, in order (see :func:`_check_pod_routes`).
    """
    nodes = ctx.state.nodes
    # per node: its pods, and the gateways of its pods' routes (as ints)
    seen: dict[str, tuple[list[PodState], set[int]]] = {}
    kinds: set[tuple[str, int, int, int | None]] = set()
    firsts: list[PodState] = []
    for pod in order:
        node_name = pod.node
        assert node_name is not None and pod.ip is not None
        entry = seen.get(node_name)
        if entry is None:
            node = nodes[node_name]
            node_ns = ctx.namespaces[node_netns_id(node_name)]
            ensure_bridge(ctx, node_ns, node, mode)
            routes = _pod_routes(ctx, mode, node)
            gateways = {int(r.gateway) for r in routes if r.gateway is not None}
            entry = seen[node_name] = (pods_of[node_name], gateways)
        entry[0].append(pod)
        groups[pod_netns_id(pod.pod.key)] = node_name
        # The pod's kind of table: its node, subnet, and which gateway its address is.
        ip, prefix_len = int(pod.ip), pod.prefix_len
        network = ip >> (32 - prefix_len) if prefix_len else 0
        kind = (node_name, network, prefix_len, ip if ip in entry[1] else None)
        if kind not in kinds:
            kinds.add(kind)
            firsts.append(pod)
    return firsts


def _pod_routes(ctx: BuildContext, mode: ModeBuilder, node: NodeState) -> list[Route]:
    """The routes the mode gives the pods of ``node``, made once per node."""
    return ctx.share(("pod-routes", node.name), partial(mode.pod_routes, ctx, node))


def _check_pod_routes(ctx: BuildContext, mode: ModeBuilder, firsts: list[PodState]) -> None:
    """Check every pod's routes as freezing would, once per kind of pod table.

    A pod's table is the loopback routes, its address's and the node's pod
    routes; whether a route's gateway passes depends on which of them cover
    it: the same for every pod of a node with the same subnet, unless its
    address is the gateway. ``firsts`` holds the first pod of each such kind,
    in CNI ADD order (:func:`_reserve_pod_devices`).

    Raises:
        TopologyError: a route the kernel would refuse, for the first such pod.
    """
    for pod in firsts:
        assert pod.node is not None and pod.ip is not None
        routes = _pod_routes(ctx, mode, ctx.state.nodes[pod.node])
        address = IPv4Interface((int(pod.ip), pod.prefix_len))
        try:
            _check_routes((*_LOOPBACK_ROUTES, *address_routes(address, POD_IFNAME), *routes))
        except InputError as exc:
            raise TopologyError(
                f"the kernel would refuse it: {exc}",
                source=ctx.source,
                obj=NamespaceDraft(pod_netns_id(pod.key), NamespaceKind.POD, pod.key, None).label,
                field="routes",
            ) from None
