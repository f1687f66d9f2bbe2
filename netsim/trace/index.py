"""``prepare(dataplane) -> TraceIndex``: what the tracer's lookups need, made once.

Per dataplane: the layer-2 index (:mod:`netsim.trace.l2`), the Kubernetes
node of every namespace, each namespace's local and broadcast addresses (for
``addrtype`` and the local-delivery decision), the cluster's own address
spaces (cluster CIDR, service CIDR, underlay subnets: what ``EXITS_CLUSTER``
is measured against) and the netfilter seam with every node's compiled
ruleset (:func:`netsim.trace.hooks.netfilter_for`).

``prepare`` reads no node or pod namespace of a lazily built dataplane
(:mod:`netsim.dataplane.lazy`): the layer-2 index, the per-namespace
mappings and the nodes' rulesets are filled in for the namespaces a walk
enters, the first time it enters them. :func:`warm` does all of it up front
(what ``prepare`` did before), for a caller about to trace many flows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType
from typing import TypeVar

from netsim.dataplane.devices import Dataplane, NamespaceKind, NetworkNamespace
from netsim.trace.hooks import NetfilterSeam, netfilter_for
from netsim.trace.l2 import L2Index, NeighborTables, SharedBlock, build_l2_index

__all__ = ["PerNamespace", "TraceIndex", "namespace_tables", "prepare", "warm"]

V = TypeVar("V")


class PerNamespace(Mapping[str, V]):
    """A read-only ``{netns id: value}`` computing each value from its namespace on first access.

    The keys are the dataplane's; a value is made (and kept) when it is first
    read, so a lazily built namespace is frozen only when someone asks about it.
    """

    __slots__ = ("_made", "_make", "_namespaces")

    def __init__(
        self, namespaces: Mapping[str, NetworkNamespace], make: Callable[[NetworkNamespace], V]
    ) -> None:
        self._namespaces = namespaces
        self._make = make
        self._made: dict[str, V] = {}

    def __getitem__(self, key: str) -> V:
        try:
            return self._made[key]
        except KeyError:
            value = self._made[key] = self._make(self._namespaces[key])
            return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._namespaces)

    def __len__(self) -> int:
        return len(self._namespaces)

    def __contains__(self, key: object) -> bool:
        return key in self._namespaces


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
    shared_blocks: dict[tuple[int, int], SharedBlock] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Each namespace's neighbour and FDB lookups, made the first time a walk needs them."""


def namespace_tables(index: TraceIndex, netns: str) -> NeighborTables:
    """The neighbour and FDB lookups of ``netns`` (made once, on first use)."""
    found = index.tables.get(netns)
    if found is None:
        found = index.tables[netns] = NeighborTables(
            index.dataplane.namespaces[netns], index.shared_blocks
        )
    return found


def prepare(dataplane: Dataplane, *, netfilter: NetfilterSeam | None = None) -> TraceIndex:
    """Build the lookups of a dataplane once: layer 2, addresses, netfilter rulesets.

    Args:
        dataplane: the built dataplane.
        netfilter: the netfilter seam; default :func:`netsim.trace.hooks.netfilter_for`.
    """
    state = dataplane.state
    pods = state.pods

    def node_of(ns: NetworkNamespace) -> str | None:
        if ns.kind is NamespaceKind.NODE:
            return ns.owner
        if ns.kind is NamespaceKind.POD:
            return pods[ns.owner].node
        return None

    def local(ns: NetworkNamespace) -> frozenset[IPv4Address]:
        return frozenset(a.ip for i in ns.interfaces.values() for a in i.addresses)

    def broadcast(ns: NetworkNamespace) -> frozenset[IPv4Address]:
        return frozenset(
            a.broadcast for i in ns.interfaces.values() for a in i.addresses if a.broadcast
        )

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
        PerNamespace(dataplane.namespaces, node_of),
        PerNamespace(dataplane.namespaces, local),
        PerNamespace(dataplane.namespaces, broadcast),
        spaces,
        MappingProxyType({node: tuple(keys) for node, keys in host_network.items()}),
    )


def warm(index: TraceIndex) -> None:
    """Freeze and index every namespace and compile every node's rules now, not on first use.

    What ``prepare`` did eagerly before it became lazy: for a caller about to
    trace flows through most of a large cluster, who would rather pay once.
    Answers are the same either way.
    """
    index.l2.read_all()
    warm_rules = getattr(index.netfilter, "warm", None)
    for netns in index.dataplane.namespaces:
        index.node_of.get(netns)
        index.local_addresses[netns]
        index.broadcast_addresses[netns]
        if warm_rules is not None and index.netfilter.has_rules(netns):
            warm_rules(netns)
