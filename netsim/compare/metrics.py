"""Figures read off a built dataplane: table sizes per node, MTUs, broadcast domains, underlay.

Pure functions over :class:`~netsim.dataplane.devices.Dataplane`; each counts
exactly what docs/compare.md defines:

* :func:`node_tables`: the ``main`` and ``local`` routes, the pod-network
  routes (``main`` routes inside the cluster CIDR), the configured neighbours,
  the unicast FDB entries (multicast MACs such as ``33:33:00:00:00:01`` left
  out) and the iptables ``-A`` rules (kube-proxy's ruleset plus the CNI's lines);
* :func:`broadcast_domains`: bridges, switches, veth pairs and cables joined
  into L2 domains, each sized by the devices in it that carry an address;
* :func:`underlay_needs`: what the node network must provide, from the
  routes and the cross-node trace.

Not counted: learned (dynamic) neighbours and MACs, which the dataplane does
not store (see :data:`netsim.compare.formulas.ALL_TO_ALL` for their bounds).
"""

from __future__ import annotations

from collections.abc import Iterable

from netsim.compare.model import BroadcastDomains, NodeTables, UnderlayNeeds
from netsim.control.state import ClusterState
from netsim.dataplane.devices import (
    Dataplane,
    FdbEntry,
    InterfaceKind,
    NamespaceKind,
    NetworkNamespace,
)
from netsim.dataplane.routes import TableName
from netsim.naming import node_netns_id
from netsim.netfilter.node import kube_proxy_ruleset

__all__ = [
    "broadcast_domains",
    "has_bridge",
    "is_multicast_mac",
    "node_tables",
    "pod_counts",
    "pod_mtu",
    "underlay_mtu",
    "underlay_needs",
]


def is_multicast_mac(mac: str) -> bool:
    """Whether ``mac`` is a group address (the I/G bit of the first octet).

    >>> is_multicast_mac("33:33:00:00:00:01"), is_multicast_mac("0e:18:52:a5:3c:9f")
    (True, False)
    """
    return bool(int(mac.split(":")[0], 16) & 1)


def pod_counts(dataplane: Dataplane) -> dict[str, int]:
    """Pods with their own namespace per node (every node listed, topology order)."""
    counts = dict.fromkeys(dataplane.state.nodes, 0)
    for ns in dataplane.namespaces.values():
        if ns.kind is NamespaceKind.POD:
            node = dataplane.state.pods[ns.owner].node
            assert node is not None  # pods get a namespace only once placed
            counts[node] += 1
    return counts


def _unicast_fdb(entries: Iterable[FdbEntry]) -> list[FdbEntry]:
    return [e for e in entries if not is_multicast_mac(e.mac)]


def _cni_rules(ns: NetworkNamespace) -> int:
    return sum(1 for lines in ns.iptables.values() for line in lines if line.startswith("-A "))


def node_tables(
    dataplane: Dataplane, node: str, pods: int, *, with_iptables: bool = True
) -> NodeTables:
    """The table sizes of ``node``'s root namespace (``pods``: its pod count).

    ``with_iptables=False`` skips parsing kube-proxy's ruleset (``iptables_rules`` is
    then the CNI's rules only), for large synthetic clusters.

    Raises:
        KeyError: no such node.
    """
    ns = dataplane.namespaces[node_netns_id(node)]
    cluster_cidr = dataplane.state.topology.cluster_cidr
    routes = ns.routes.routes
    main = [r for r in routes if r.table == TableName.MAIN]
    fdb = _unicast_fdb(ns.fdb)
    cni_rules = _cni_rules(ns)
    if with_iptables:
        ruleset = kube_proxy_ruleset(dataplane.state, node, ns.iptables)
        rules = sum(len(chain.rules) for table in ruleset.tables for chain in table.chains)
    else:
        rules = cni_rules
    return NodeTables(
        node=node,
        pods=pods,
        routes_main=len(main),
        routes_local=sum(1 for r in routes if r.table == TableName.LOCAL),
        pod_routes=sum(1 for r in main if r.dst.version == 4 and r.dst.subnet_of(cluster_cidr)),
        neighbors=len(ns.neighbors),
        fdb=len(fdb),
        fdb_vtep=sum(1 for e in fdb if e.is_self and e.dst is not None),
        iptables_rules=rules,
        cni_rules=cni_rules,
    )


def has_bridge(dataplane: Dataplane, node: str, bridge: str = "cni0") -> bool:
    """Whether the node's root namespace has the CNI bridge (``c`` in the formulas)."""
    return bridge in dataplane.namespaces[node_netns_id(node)].interfaces


def broadcast_domains(dataplane: Dataplane) -> BroadcastDomains:
    """The L2 domains of the dataplane and the sizes that matter.

    Devices are joined when one is a port of the other (``master``), when
    they are the two ends of a veth pair, or the two ends of an underlay
    cable. A VXLAN device starts its own domain (flannel's VTEPs forward
    only to configured unicast entries: no flooding).
    """
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(key: tuple[str, str]) -> tuple[str, str]:
        root = key
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while key != root:
            parent[key], key = root, parent[key]
        return root

    def union(a: tuple[str, str], b: tuple[str, str]) -> None:
        parent[find(a)] = find(b)

    addressed: list[tuple[str, str]] = []
    pod_keys: list[tuple[str, str]] = []
    switch_keys: list[tuple[str, str]] = []
    for ns in dataplane.namespaces.values():
        for iface in ns.interfaces.values():
            if iface.kind is InterfaceKind.LOOPBACK:
                continue
            key = (ns.id, iface.name)
            find(key)
            if iface.master is not None:
                union(key, (ns.id, iface.master))
            if iface.peer is not None:
                union(key, (iface.peer.netns, iface.peer.ifname))
            if iface.addresses:
                addressed.append(key)
            if ns.kind is NamespaceKind.POD or (
                ns.kind is NamespaceKind.NODE and iface.kind is InterfaceKind.BRIDGE
            ):
                pod_keys.append(key)  # pods, and the bridges pods join
            if (
                ns.kind is NamespaceKind.SWITCH
                and iface.kind is InterfaceKind.BRIDGE
                and not dataplane.segments[_segment_of(dataplane, ns.id)].is_external
            ):
                switch_keys.append(key)
    for link in dataplane.links:
        union((link.a.netns, link.a.ifname), (link.b.netns, link.b.ifname))
    sizes: dict[tuple[str, str], int] = {}
    for key in addressed:
        root = find(key)
        sizes[root] = sizes.get(root, 0) + 1
    return BroadcastDomains(
        pod_domain=max((sizes.get(find(k), 0) for k in pod_keys), default=0),
        underlay_domain=max((sizes.get(find(k), 0) for k in switch_keys), default=0),
        domains=len(sizes),
        pods_on_underlay=bool({find(k) for k in pod_keys} & {find(k) for k in switch_keys}),
    )


def _segment_of(dataplane: Dataplane, switch_netns: str) -> str:
    return next(s.name for s in dataplane.segments.values() if s.switch == switch_netns)


def underlay_mtu(state: ClusterState) -> int:
    """The MTU of the first node's NIC (the underlay MTU ``M``)."""
    return next(iter(state.nodes.values())).node.mtu


def pod_mtu(dataplane: Dataplane) -> int:
    """The MTU pods get: the smallest pod ``eth0``.

    Without pods, what the mode would give them: the VTEP's MTU (flannel's
    ``FLANNEL_MTU``), else the bridge's, else the underlay's.
    """
    pods: list[int] = []
    nodes: dict[InterfaceKind, list[int]] = {}
    for ns in dataplane.namespaces.values():
        for iface in ns.interfaces.values():
            if ns.kind is NamespaceKind.POD and iface.kind is InterfaceKind.VETH:
                pods.append(iface.mtu)
            elif ns.kind is NamespaceKind.NODE:
                nodes.setdefault(iface.kind, []).append(iface.mtu)
    for mtus in (pods, nodes.get(InterfaceKind.VXLAN), nodes.get(InterfaceKind.BRIDGE)):
        if mtus:
            return min(mtus)
    return underlay_mtu(dataplane.state)


def underlay_needs(
    dataplane: Dataplane,
    domains: BroadcastDomains,
    *,
    pod_addresses_on_wire: bool,
    encapsulation: str | None,
) -> UnderlayNeeds:
    """What the node network must provide (``domains`` and the trace-derived facts given)."""
    state = dataplane.state
    node_ips = {n.ip for n in state.nodes.values()}
    cluster_cidr = state.topology.cluster_cidr
    routes_via_nodes = any(
        r.gateway in node_ips and r.onlink is False
        for ns in dataplane.namespaces.values()
        if ns.kind is NamespaceKind.NODE
        for r in ns.routes.routes
        if r.dst.version == 4 and r.dst.subnet_of(cluster_cidr)
    )
    shares = domains.pods_on_underlay
    router_routes = sum(
        1
        for ns in dataplane.namespaces.values()
        if ns.kind is NamespaceKind.ROUTER
        for r in ns.routes.routes
        if r.dst.version == 4 and r.dst.subnet_of(cluster_cidr)
    )
    if encapsulation is None:  # no traced flow crossed a tunnel: what the VTEPs are set up for
        encapsulation = next(
            (
                f"vxlan udp/{iface.vxlan.dstport}"
                for ns in dataplane.namespaces.values()
                if ns.kind is NamespaceKind.NODE
                for iface in ns.interfaces.values()
                if iface.vxlan is not None
            ),
            None,
        )
    return UnderlayNeeds(
        pods_share_underlay_segment=shares,
        needs_l2_adjacency=shares or routes_via_nodes,
        pod_addresses_on_wire=pod_addresses_on_wire,
        router_pod_routes=router_routes,
        encapsulation=encapsulation,
    )
