"""The NetworkPolicy judge the tracer asks: who an address is, then :func:`evaluate`.

:func:`policy_judge` indexes a :class:`~netsim.control.state.ClusterState`
once (pods by IP, every address of every node) and returns a
:class:`NetworkPolicyJudge`, which fits :class:`netsim.trace.policy.PolicyJudge`
structurally: ``egress(pod_key, packet)`` judges the packet as the sending
pod's node sees it after DNAT, ``ingress(pod_key, packet)`` as it reaches the
receiving pod after SNAT. Which packet to ask about, and where, is the
tracer's business; this module only says who the other end is.

An address is a pod when a placed, non-hostNetwork pod has it; a node when it
is one of the node's addresses (its underlay IP, ``cni0``, ``flannel.1``; a
hostNetwork pod's IP is its node's); anything else is "not a pod". Not
modelled: pods that share an IP over time, IPv6.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from types import MappingProxyType
from typing import Protocol as TypingProtocol

from netsim.control.state import ClusterState, PodState
from netsim.dataplane.devices import Dataplane, InterfaceKind, NamespaceKind
from netsim.model.objects import NetworkPolicy, Protocol
from netsim.naming import node_netns_id
from netsim.policy.semantics import Direction, Peer, PodView, PolicyDecision, evaluate

__all__ = [
    "NetworkPolicyJudge",
    "NodeAddresses",
    "PacketView",
    "judge_packet",
    "node_addresses",
    "policy_judge",
]

METADATA_NAME = "kubernetes.io/metadata.name"  # the label every namespace carries (v1.22+)


class _Named(TypingProtocol):
    @property
    def value(self) -> str: ...


class PacketView(TypingProtocol):
    """What the judge reads of a packet (the tracer's ``Header`` fits)."""

    @property
    def src(self) -> IPv4Address: ...

    @property
    def dst(self) -> IPv4Address: ...

    @property
    def dport(self) -> int: ...

    @property
    def protocol(self) -> _Named: ...


@dataclass(frozen=True, slots=True)
class NetworkPolicyJudge:
    """The cluster's policies with who-is-who lookups (build with :func:`policy_judge`)."""

    policies: tuple[NetworkPolicy, ...]
    pods: Mapping[str, PodView]
    pod_nodes: Mapping[str, str | None]
    pods_by_ip: Mapping[IPv4Address, PodView]
    nodes_by_ip: Mapping[IPv4Address, str]
    by_namespace: Mapping[str, tuple[NetworkPolicy, ...]] = field(
        init=False, repr=False, compare=False
    )
    """``policies`` by namespace, made from them (a policy selects pods of its own namespace)."""

    def __post_init__(self) -> None:
        grouped: dict[str, list[NetworkPolicy]] = {}
        for policy in self.policies:
            grouped.setdefault(policy.namespace, []).append(policy)
        by_namespace = {namespace: tuple(found) for namespace, found in grouped.items()}
        object.__setattr__(self, "by_namespace", MappingProxyType(by_namespace))

    def egress(self, pod_key: str, packet: PacketView) -> PolicyDecision:
        """May ``pod_key`` send ``packet`` (as seen after DNAT)?"""
        return judge_packet(self, pod_key, "egress", packet)

    def ingress(self, pod_key: str, packet: PacketView) -> PolicyDecision:
        """May ``packet`` (as seen after SNAT) reach ``pod_key``?"""
        return judge_packet(self, pod_key, "ingress", packet)


def _peer(judge: NetworkPolicyJudge, ip: IPv4Address) -> Peer:
    pod = judge.pods_by_ip.get(ip)
    if pod is not None:
        return Peer(ip, pod, f"pod {pod.key}")
    node = judge.nodes_by_ip.get(ip)
    if node is not None:
        return Peer(ip, None, f"node {node}")
    return Peer(ip, None, "not a pod")


def judge_packet(
    judge: NetworkPolicyJudge, pod_key: str, direction: Direction, packet: PacketView
) -> PolicyDecision:
    """The decision for ``packet`` leaving (egress) or reaching (ingress) ``pod_key``.

    Raises:
        KeyError: ``pod_key`` is not a pod of the cluster.
    """
    pod = judge.pods[pod_key]
    other_ip = packet.dst if direction == "egress" else packet.src
    other = _peer(judge, other_ip)
    node = judge.pod_nodes[pod_key]
    own_node = node if node is not None and judge.nodes_by_ip.get(other_ip) == node else None
    protocol = Protocol(packet.protocol.value.upper())
    policies = (
        judge.policies if judge.by_namespace is None else judge.by_namespace.get(pod.namespace, ())
    )
    return evaluate(policies, pod, direction, other, protocol, packet.dport, own_node=own_node)


def _view(state: ClusterState, pod: PodState) -> PodView:
    namespace = state.namespaces.get(pod.namespace)
    labels = namespace.labels if namespace is not None else {METADATA_NAME: pod.namespace}
    return PodView(
        pod.namespace,
        pod.name,
        pod.pod.labels,
        labels,
        tuple(port for c in pod.pod.template.containers for port in c.ports),
        pod.is_host_network,
    )


def node_addresses(
    state: ClusterState, dataplane: Dataplane | None = None
) -> Mapping[IPv4Address, str]:
    """Every address of every node -> node name.

    From the dataplane when given (every non-loopback address of each node's
    root namespace: underlay IP, ``cni0``, ``flannel.1``), else from the
    ClusterState (underlay IP and ``cni0`` gateway). With a dataplane the
    mapping is :class:`NodeAddresses`: a node's namespace is read when an
    address that may be its own is asked about.
    """
    found: dict[IPv4Address, str] = {}
    for node in state.nodes.values():
        found[node.ip] = node.name
        found[node.gateway] = node.name
    if dataplane is not None:
        return NodeAddresses(state, dataplane, found)
    return found


class NodeAddresses(Mapping[IPv4Address, str]):
    """``node_addresses`` of a dataplane, reading a node's root namespace only when needed.

    Every address a node's root namespace holds is its underlay IP or lies in
    its podCIDR (``cni0``, ``flannel.1``, the ``l2`` bridge), in every mode
    netsim builds; so an address is looked up in the namespaces of the nodes
    with that IP or podCIDR, and the answer is what scanning every node's
    namespace in order (a later node winning) gives. Iterating reads them all.
    """

    __slots__ = ("_base", "_by_cidr", "_by_ip", "_dataplane", "_full", "_made")

    def __init__(
        self, state: ClusterState, dataplane: Dataplane, base: Mapping[IPv4Address, str]
    ) -> None:
        self._dataplane = dataplane
        self._base = base
        self._by_ip: dict[int, list[str]] = {}
        self._by_cidr: dict[int, dict[int, list[str]]] = {}
        for name, node in state.nodes.items():
            self._by_ip.setdefault(int(node.ip), []).append(name)
            cidr = node.pod_cidr
            networks = self._by_cidr.setdefault(cidr.prefixlen, {})
            networks.setdefault(int(cidr.network_address), []).append(name)
        self._made: dict[IPv4Address, str | None] = {}
        self._full: dict[IPv4Address, str] | None = None

    def _candidates(self, ip: IPv4Address) -> list[str]:
        value = int(ip)
        names = set(self._by_ip.get(value, ()))
        for length, networks in self._by_cidr.items():
            names.update(networks.get(value & (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF, ()))
        return [name for name in self._dataplane.state.nodes if name in names]

    def _holder(self, ip: IPv4Address) -> str | None:
        holder = None
        for name in self._candidates(ip):
            ns = self._dataplane.namespaces.get(node_netns_id(name))
            if ns is None or ns.kind is not NamespaceKind.NODE:
                continue
            for iface in ns.interfaces.values():
                if iface.kind is not InterfaceKind.LOOPBACK and any(
                    a.ip == ip for a in iface.addresses
                ):
                    holder = ns.owner
        return holder

    def __getitem__(self, ip: IPv4Address) -> str:
        if ip not in self._made:
            self._made[ip] = self._holder(ip) if isinstance(ip, IPv4Address) else None
        found = self._made[ip]
        if found is None:
            return self._base[ip]
        return found

    def _everything(self) -> dict[IPv4Address, str]:
        if self._full is None:
            found = dict(self._base)
            for ns in self._dataplane.namespaces.values():
                if ns.kind is not NamespaceKind.NODE:
                    continue
                for iface in ns.interfaces.values():
                    if iface.kind is InterfaceKind.LOOPBACK:
                        continue
                    for address in iface.addresses:
                        found[address.ip] = ns.owner
            self._full = found
        return self._full

    def __iter__(self) -> Iterator[IPv4Address]:
        return iter(self._everything())

    def __len__(self) -> int:
        return len(self._everything())


def policy_judge(state: ClusterState, dataplane: Dataplane | None = None) -> NetworkPolicyJudge:
    """The NetworkPolicy judge of a realized cluster (``dataplane`` adds every node address).

    >>> from netsim.control.realize import realize
    >>> from netsim.model.spec import load_cluster
    >>> judge = policy_judge(realize(load_cluster("topologies/l3.yaml")))
    >>> [p.key for p in judge.policies]
    ['shop/web-ingress']
    """
    pods = {key: _view(state, pod) for key, pod in state.pods.items()}
    by_ip = {
        pod.ip: pods[key]
        for key, pod in state.pods.items()
        if pod.ip is not None and not pod.is_host_network
    }
    return NetworkPolicyJudge(
        policies=tuple(state.network_policies),
        pods=MappingProxyType(pods),
        pod_nodes=MappingProxyType({key: pod.node for key, pod in state.pods.items()}),
        pods_by_ip=MappingProxyType(by_ip),
        nodes_by_ip=node_addresses(state, dataplane),
    )
