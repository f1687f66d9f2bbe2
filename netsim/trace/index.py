"""``prepare(dataplane) -> TraceIndex``: what the tracer's lookups need, built once.

Per dataplane: the layer-2 index (:mod:`netsim.trace.l2`), the Kubernetes
node of every namespace, each namespace's local and broadcast addresses (for
``addrtype`` and the local-delivery decision), the cluster's own address
spaces (cluster CIDR, service CIDR, underlay subnets: what ``EXITS_CLUSTER``
is measured against) and the netfilter seam with every node's compiled
ruleset (:func:`netsim.trace.hooks.netfilter_for`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType

from netsim.dataplane.devices import Dataplane, NamespaceKind
from netsim.trace.hooks import NetfilterSeam, netfilter_for
from netsim.trace.l2 import L2Index, NeighborTables, build_l2_index

__all__ = ["TraceIndex", "namespace_tables", "prepare"]


@dataclass(frozen=True, slots=True)
class TraceIndex:
    """What the lookups need, built once per dataplane by :func:`prepare`."""

    dataplane: Dataplane
    l2: L2Index
    netfilter: NetfilterSeam
    node_of: Mapping[str, str | None]  # netns id -> Kubernetes node
    local_addresses: Mapping[str, frozenset[IPv4Address]]
    broadcast_addresses: Mapping[str, frozenset[IPv4Address]]
    cluster_spaces: tuple[IPv4Network, ...]
    host_network_pods: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # node -> its hostNetwork pods, in ClusterState order
    tables: dict[str, NeighborTables] = field(default_factory=dict, compare=False, repr=False)
    """Each namespace's neighbour and FDB lookups, made the first time a walk needs them."""


def namespace_tables(index: TraceIndex, netns: str) -> NeighborTables:
    """The neighbour and FDB lookups of ``netns`` (made once, on first use)."""
    found = index.tables.get(netns)
    if found is None:
        found = index.tables[netns] = NeighborTables(index.dataplane.namespaces[netns])
    return found


def prepare(dataplane: Dataplane, *, netfilter: NetfilterSeam | None = None) -> TraceIndex:
    """Build the lookups of a dataplane once: layer 2, addresses, netfilter rulesets.

    Args:
        dataplane: the built dataplane.
        netfilter: the netfilter seam; default :func:`netsim.trace.hooks.netfilter_for`.
    """
    state = dataplane.state
    node_of: dict[str, str | None] = {}
    for ns in dataplane.namespaces.values():
        if ns.kind is NamespaceKind.NODE:
            node_of[ns.id] = ns.owner
        elif ns.kind is NamespaceKind.POD:
            node_of[ns.id] = state.pods[ns.owner].node
        else:
            node_of[ns.id] = None
    local = {
        ns.id: frozenset(a.ip for i in ns.interfaces.values() for a in i.addresses)
        for ns in dataplane.namespaces.values()
    }
    broadcast = {
        ns.id: frozenset(
            a.broadcast for i in ns.interfaces.values() for a in i.addresses if a.broadcast
        )
        for ns in dataplane.namespaces.values()
    }
    host_network: dict[str, list[str]] = {}
    for pod in state.pods.values():
        if pod.node is not None and pod.is_host_network:
            host_network.setdefault(pod.node, []).append(pod.key)
    topology = state.topology
    spaces = (
        topology.cluster_cidr,
        topology.service_cidr,
        *(s.cidr for s in dataplane.segments.values() if not s.is_external),
    )
    return TraceIndex(
        dataplane,
        build_l2_index(dataplane),
        netfilter if netfilter is not None else netfilter_for(dataplane),
        MappingProxyType(node_of),
        MappingProxyType(local),
        MappingProxyType(broadcast),
        spaces,
        MappingProxyType({node: tuple(keys) for node, keys in host_network.items()}),
    )
