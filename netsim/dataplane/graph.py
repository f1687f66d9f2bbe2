"""The dataplane as a networkx graph: an index for topology questions and export.

:func:`dataplane_graph` derives a ``MultiDiGraph`` from the typed tables; it
is never used to forward packets (routes, FDB and chains are). Graph nodes
(ids from :mod:`netsim.naming`), each with the attributes ``type``, ``kind``,
``netns``, ``name``, ``node`` (the Kubernetes node it belongs to, or
``None``), ``addresses`` (``ip/prefix`` strings) and ``mtu``:

* ``type="namespace"``: every namespace (``kind`` node, pod, router, client, switch);
* ``type="device"``: every device but ``lo`` (``kind`` ethernet, veth, bridge,
  vxlan; also ``mac``);
* ``type="kube-proxy"``: one per node;
* ``type="service"``: one per ClusterIP service port (``kind="cluster-ip"``)
  and one per NodePort (``kind="node-port"``), with ``port`` and ``protocol``.

Edges carry ``relation`` (also their key): ``contains`` (namespace → device,
node namespace → kube-proxy), and in both directions ``veth`` (pair),
``bridge-port`` (port ↔ bridge), ``link`` (NIC ↔ switch port, with
``segment``), ``vxlan`` (VTEP ↔ VTEP, with ``vni``, ``port`` and the remote
``dst``, derived from the VTEPs' FDB entries); ``implements`` (kube-proxy →
every service port and NodePort) and ``forwards-to`` (NodePort → its service
port) form the virtual service network.

Also :func:`broadcast_domains`, the L2 domains (bridges, veths and cables
joined), and :func:`node_view`, one node's part of the graph.
"""

from __future__ import annotations

from typing import Any, Final

import networkx as nx

from netsim.dataplane.devices import (
    Dataplane,
    InterfaceKind,
    InterfaceRef,
    NamespaceKind,
    NetworkNamespace,
)
from netsim.naming import (
    device_node_id,
    kube_proxy_node_id,
    node_netns_id,
    node_port_node_id,
    service_port_node_id,
)

__all__ = [
    "BIDIRECTIONAL",
    "broadcast_domains",
    "dataplane_graph",
    "node_view",
]

BIDIRECTIONAL: Final = frozenset({"veth", "bridge-port", "link", "vxlan"})
_FOLLOWED_BY_VIEW: Final = frozenset({"link", "vxlan", "implements"})


def _node_of(dataplane: Dataplane, ns: NetworkNamespace) -> str | None:
    if ns.kind is NamespaceKind.NODE:
        return ns.owner
    if ns.kind is NamespaceKind.POD:
        return dataplane.state.pods[ns.owner].node
    return None


def _add_both(graph: Any, a: str, b: str, relation: str, **attrs: Any) -> None:
    graph.add_edge(a, b, key=relation, relation=relation, **attrs)
    graph.add_edge(b, a, key=relation, relation=relation, **attrs)


def dataplane_graph(dataplane: Dataplane) -> Any:
    """The graph of namespaces, devices, links and the service network (module docstring).

    Returns:
        A ``networkx.MultiDiGraph`` with graph attributes ``name`` (the
        cluster) and ``mode`` (the pod-network mode).
    """
    topology = dataplane.state.topology
    graph = nx.MultiDiGraph(name=topology.name, mode=topology.pod_network.mode.value)
    vteps: dict[tuple[int, str], str] = {}
    for ns in dataplane.namespaces.values():
        node = _node_of(dataplane, ns)
        addresses = tuple(
            str(a.interface)
            for d in ns.interfaces.values()
            if d.kind is not InterfaceKind.LOOPBACK
            for a in d.addresses
        )
        graph.add_node(
            ns.id,
            type="namespace",
            kind=ns.kind.value,
            netns=ns.id,
            name=ns.owner,
            node=node,
            addresses=addresses,
            mtu=None,
        )
        for device in ns.interfaces.values():
            if device.kind is InterfaceKind.LOOPBACK:
                continue
            dev_id = device_node_id(ns.id, device.name)
            graph.add_node(
                dev_id,
                type="device",
                kind=device.kind.value,
                netns=ns.id,
                name=device.name,
                node=node,
                mac=device.mac,
                mtu=device.mtu,
                addresses=tuple(str(a.interface) for a in device.addresses),
            )
            graph.add_edge(ns.id, dev_id, key="contains", relation="contains")
            if device.master is not None:
                _add_both(graph, dev_id, device_node_id(ns.id, device.master), "bridge-port")
            if device.peer is not None:
                peer = device_node_id(device.peer.netns, device.peer.ifname)
                graph.add_edge(dev_id, peer, key="veth", relation="veth")
            if device.vxlan is not None:
                vteps[(device.vxlan.vni, str(device.vxlan.local))] = dev_id
    for link in dataplane.links:
        a = device_node_id(link.a.netns, link.a.ifname)
        b = device_node_id(link.b.netns, link.b.ifname)
        _add_both(graph, a, b, "link", segment=link.segment)
    for ns in dataplane.namespaces.values():
        for device in ns.interfaces.values():
            if device.vxlan is None:
                continue
            for entry in ns.fdb:
                remote = vteps.get((device.vxlan.vni, str(entry.dst)))
                if entry.dev == device.name and remote is not None:
                    graph.add_edge(
                        device_node_id(ns.id, device.name),
                        remote,
                        key="vxlan",
                        relation="vxlan",
                        vni=device.vxlan.vni,
                        port=device.vxlan.dstport,
                        dst=str(entry.dst),
                    )
    _add_service_network(graph, dataplane)
    return graph


def _add_service_network(graph: Any, dataplane: Dataplane) -> None:
    """kube-proxy per node, ClusterIP service ports and NodePorts, from the ClusterState."""
    state = dataplane.state
    services: list[str] = []
    for svc in state.services.values():
        if svc.cluster_ip is None:
            continue  # headless and ExternalName: no virtual address
        for port_state in svc.ports:
            port = port_state.port
            protocol = port.protocol.value
            svc_id = service_port_node_id(
                svc.service.namespace, svc.service.name, port.port, protocol
            )
            graph.add_node(
                svc_id,
                type="service",
                kind="cluster-ip",
                netns=None,
                name=f"{svc.key}:{port.port}/{protocol}",
                node=None,
                addresses=(f"{svc.cluster_ip}/32",),
                mtu=None,
                port=port.port,
                protocol=protocol,
            )
            services.append(svc_id)
            if port_state.node_port is not None:
                np_id = node_port_node_id(port_state.node_port, protocol)
                graph.add_node(
                    np_id,
                    type="service",
                    kind="node-port",
                    netns=None,
                    name=f"NodePort {port_state.node_port}/{protocol}",
                    node=None,
                    addresses=(),
                    mtu=None,
                    port=port_state.node_port,
                    protocol=protocol,
                )
                graph.add_edge(np_id, svc_id, key="forwards-to", relation="forwards-to")
                services.append(np_id)
    for name in state.nodes:
        proxy = kube_proxy_node_id(name)
        graph.add_node(
            proxy,
            type="kube-proxy",
            kind="kube-proxy",
            netns=node_netns_id(name),
            name="kube-proxy",
            node=name,
            addresses=(),
            mtu=None,
        )
        graph.add_edge(node_netns_id(name), proxy, key="contains", relation="contains")
        for target in services:
            graph.add_edge(proxy, target, key="implements", relation="implements")


def node_view(graph: Any, node: str) -> Any:
    """The part of ``graph`` that belongs to ``node``, with what its links reach.

    Keeps the node's namespaces (its root and its pods'), their devices, its
    kube-proxy, and the far ends of its ``link``, ``vxlan``, ``implements``
    and ``forwards-to`` edges (switch ports, remote VTEPs, service nodes).

    Raises:
        KeyError: the graph has no such node.
    """
    if node_netns_id(node) not in graph:
        raise KeyError(node)
    own = {n for n, attrs in graph.nodes(data=True) if attrs.get("node") == node}
    keep = set(own)
    for current in own:
        for _, target, relation in graph.out_edges(current, keys=True):
            if relation in _FOLLOWED_BY_VIEW:
                keep.add(target)
    view = nx.MultiDiGraph(**graph.graph)
    view.add_nodes_from((n, attrs) for n, attrs in graph.nodes(data=True) if n in keep)
    view.add_edges_from(
        (source, target, relation, attrs)
        for source, target, relation, attrs in graph.edges(keys=True, data=True)
        if (source in own or target in own)
        or (relation == "forwards-to" and source in keep and target in keep)
    )
    return view


def broadcast_domains(dataplane: Dataplane) -> tuple[frozenset[InterfaceRef], ...]:
    """The L2 broadcast domains: devices joined by bridges, veth pairs and cables.

    A VXLAN device is a domain of its own (flannel's VTEPs answer no ARP and
    flood nothing); ``lo`` is left out. Domains come largest first.
    """
    parent: dict[InterfaceRef, InterfaceRef] = {}

    def find(ref: InterfaceRef) -> InterfaceRef:
        while parent[ref] != ref:
            parent[ref] = parent[parent[ref]]
            ref = parent[ref]
        return ref

    def union(a: InterfaceRef, b: InterfaceRef) -> None:
        parent[find(a)] = find(b)

    for ns in dataplane.namespaces.values():
        for device in ns.interfaces.values():
            if device.kind is not InterfaceKind.LOOPBACK:
                ref = InterfaceRef(ns.id, device.name)
                parent.setdefault(ref, ref)
    for ns in dataplane.namespaces.values():
        for device in ns.interfaces.values():
            ref = InterfaceRef(ns.id, device.name)
            if device.master is not None:
                union(ref, InterfaceRef(ns.id, device.master))
            if device.peer is not None:
                union(ref, InterfaceRef(device.peer.netns, device.peer.ifname))
    for link in dataplane.links:
        union(link.a, link.b)
    groups: dict[InterfaceRef, set[InterfaceRef]] = {}
    for ref in parent:
        groups.setdefault(find(ref), set()).add(ref)
    return tuple(
        frozenset(group)
        for group in sorted(groups.values(), key=lambda g: (-len(g), min(_sort_key(r) for r in g)))
    )


def _sort_key(ref: InterfaceRef) -> tuple[str, str]:
    return (ref.netns, ref.ifname)
