"""The reachability matrix: its values and :func:`reachability`, which builds it on classes.

How the classes are drawn (profiles and signatures), which addresses each
kind of endpoint sends from, and what is not modelled: see
:mod:`netsim.policy.reach`. Reading the matrix is :mod:`netsim.policy.reach_query`
(one pair with its explanation, every cell) and
:mod:`netsim.policy.reach_index` (allowed or not, by name, fast).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from types import MappingProxyType
from typing import Final, Literal

from netsim.control.state import ClusterState, NodeState
from netsim.model.objects import (
    ContainerPort,
    LabelSelector,
    NetworkPolicy,
    NetworkPolicyPeer,
    Protocol,
)
from netsim.policy.judge import METADATA_NAME
from netsim.policy.semantics import (
    POLICY_TYPES,
    Direction,
    Peer,
    PodView,
    PolicyDecision,
    evaluate,
    isolating_policies,
    peer_matches,
)

__all__ = [
    "NODE_SOURCE_ADDRESS",
    "EndpointKind",
    "PortKey",
    "ReachCell",
    "ReachEndpoint",
    "ReachMatrix",
    "reachability",
]

EndpointKind = Literal["pod", "node", "external"]
PortKey = tuple[int, Protocol]  # (number, protocol)
NODE_SOURCE_ADDRESS: Final[Mapping[str, Callable[[NodeState], IPv4Address]]] = {
    # The source address a node's own traffic to a pod on another node carries, per
    # pod-network mode (the kernel picks the address of the route's device):
    "l2": lambda node: node.gateway,  # one bridged segment: the route is on cni0
    "l3": lambda node: node.ip,  # host-gw: via the other node's underlay IP, on eth0
    "vxlan": lambda node: node.pod_cidr.network_address,  # flannel.1 holds the subnet's .0
}


@dataclass(frozen=True, slots=True)
class ReachEndpoint:
    """A source or destination of the matrix and the classes it falls in.

    ``name`` is ``NAMESPACE/POD``, ``node:NAME`` or ``ext:NAME``; ``peer`` is
    how policies see it as the other end (``ip`` is the address it sends
    from, see the module docstring). ``ports`` are the (number, protocol)
    checked when it is a destination (pods only). ``source_signature`` and
    ``egress_profile`` (pods only) place it as a source,
    ``ingress_profile`` and ``destination_signature`` (pods only) as a
    destination.
    """

    name: str
    kind: EndpointKind
    peer: Peer
    node: str | None
    view: PodView | None
    ports: tuple[PortKey, ...]
    source_signature: int
    egress_profile: int | None
    ingress_profile: int | None
    destination_signature: int | None

    @property
    def ip(self) -> IPv4Address:
        """The endpoint's address (a pod's IP, a node's underlay IP, a client's IP)."""
        return self.peer.ip


@dataclass(frozen=True, slots=True)
class ReachCell:
    """The verdict of one (source, destination, port, protocol).

    ``egress`` is judged at the source (for nodes and external clients an
    allowed decision saying so), ``ingress`` at the destination.
    """

    source: str
    destination: str
    port: int
    protocol: Protocol
    egress: PolicyDecision
    ingress: PolicyDecision

    @property
    def is_allowed(self) -> bool:
        """Allowed at both ends."""
        return self.egress.is_allowed and self.ingress.is_allowed


@dataclass(frozen=True, slots=True)
class ReachMatrix:
    """The class tables of a cluster (build with :func:`reachability`).

    ``ingress`` maps (ingress profile, source signature, protocol, port) to
    the representative's decision, ``egress`` (egress profile, destination
    signature, protocol, port); explanations are re-worded per pair by
    :func:`query`. ``ingress_policies``/``egress_policies`` are the isolating
    policies of each profile. ``gateways`` is each node's ``cni0`` address (by
    ``node:NAME``), the source of its traffic to its own pods.
    """

    sources: tuple[ReachEndpoint, ...]
    destinations: tuple[ReachEndpoint, ...]
    endpoints: Mapping[str, ReachEndpoint]
    ingress_policies: tuple[tuple[NetworkPolicy, ...], ...]
    egress_policies: tuple[tuple[NetworkPolicy, ...], ...]
    ingress: Mapping[tuple[int, int, Protocol, int], PolicyDecision]
    egress: Mapping[tuple[int, int, Protocol, int], PolicyDecision]
    gateways: Mapping[str, IPv4Address]
    source_classes: int
    destination_classes: int


_SelectorKey = tuple[tuple[tuple[str, str], ...], tuple[object, ...]] | None


def _selector_key(selector: LabelSelector | None) -> _SelectorKey:
    if selector is None:
        return None
    return tuple(sorted(selector.match_labels.items())), tuple(selector.match_expressions)


def _peer_key(peer: NetworkPolicyPeer, namespace: str) -> tuple[object, ...]:
    """A hashable identity of a peer as matched from ``namespace`` (selectors only need it)."""
    if peer.ip_block is not None:
        return ("ipBlock", peer.ip_block.cidr, peer.ip_block.excepts)
    scope = namespace if peer.namespace_selector is None else None
    return (
        "selectors",
        scope,
        _selector_key(peer.pod_selector),
        _selector_key(peer.namespace_selector),
    )


def _atoms(
    policies: Iterable[NetworkPolicy], direction: Direction
) -> list[tuple[NetworkPolicyPeer, str]]:
    """Every distinct peer of every ``direction`` rule, with the namespace it is read in."""
    found: dict[tuple[object, ...], tuple[NetworkPolicyPeer, str]] = {}
    for policy in policies:
        if POLICY_TYPES[direction] not in policy.policy_types:
            continue
        for rule in policy.ingress if direction == "ingress" else policy.egress:
            for peer in rule.peers or ():
                found.setdefault(_peer_key(peer, policy.namespace), (peer, policy.namespace))
    return list(found.values())


_Block = tuple[int, int, int, tuple[tuple[int, int], ...]]  # atom, low, high, excepts


def _split_atoms(
    atoms: list[tuple[NetworkPolicyPeer, str]],
) -> tuple[list[tuple[int, NetworkPolicyPeer, str]], list[_Block]]:
    """Selector atoms as they are; ipBlock atoms as integer ranges (cidr minus excepts)."""
    selectors: list[tuple[int, NetworkPolicyPeer, str]] = []
    blocks: list[_Block] = []
    for index, (peer, namespace) in enumerate(atoms):
        block = peer.ip_block
        if block is None:
            selectors.append((index, peer, namespace))
            continue
        excepts = tuple((int(n.network_address), int(n.broadcast_address)) for n in block.excepts)
        cidr = block.cidr
        blocks.append((index, int(cidr.network_address), int(cidr.broadcast_address), excepts))
    return selectors, blocks


class _Signer:
    """Interns the set of peers (of one direction) an endpoint matches."""

    def __init__(self, policies: Sequence[NetworkPolicy], direction: Direction) -> None:
        self.atoms = _atoms(policies, direction)
        self.selectors, self.blocks = _split_atoms(self.atoms)
        self.by_labels: dict[tuple[object, ...], frozenset[int]] = {}
        self.ids: dict[tuple[object, ...], int] = {}

    def selector_part(self, label_key: tuple[object, ...], peer: Peer) -> frozenset[int]:
        found = self.by_labels.get(label_key)
        if found is None:
            found = frozenset(i for i, atom, ns in self.selectors if peer_matches(atom, ns, peer))
            self.by_labels[label_key] = found
        return found

    def block_part(self, ip: IPv4Address) -> frozenset[int]:
        if not self.blocks:
            return frozenset()
        value = int(ip)
        return frozenset(
            i
            for i, low, high, excepts in self.blocks
            if low <= value <= high and not any(a <= value <= b for a, b in excepts)
        )

    def sign(self, label_key: tuple[object, ...], peer: Peer, extra: object = None) -> int:
        return self.sign_parts(self.selector_part(label_key, peer), peer.ip, extra)

    def sign_parts(
        self, selector_part: frozenset[int], ip: IPv4Address, extra: object = None
    ) -> int:
        key = (selector_part, self.block_part(ip) if self.blocks else frozenset(), extra)
        return self.ids.setdefault(key, len(self.ids))


def _intern(
    profiles: dict[tuple[object, ...], int],
    chosen: list[tuple[NetworkPolicy, ...]],
    by_namespace: Mapping[str, Sequence[NetworkPolicy]],
    view: PodView,
    direction: Direction,
    declared: tuple[ContainerPort, ...],
) -> int:
    """The profile id of ``view``'s isolating policies for ``direction`` (and ports)."""
    isolating = isolating_policies(by_namespace.get(view.namespace, ()), view, direction)
    key = (tuple(p.key for p in isolating), declared)
    found = profiles.get(key)
    if found is None:
        found = profiles[key] = len(chosen)
        chosen.append(isolating)
    return found


def _ports_for(
    view: PodView, ports: Sequence[int] | None, protocols: Sequence[Protocol] | None
) -> tuple[PortKey, ...]:
    if ports is not None:
        return tuple((n, p) for n in ports for p in (protocols or (Protocol.TCP,)))
    declared = {(cp.container_port, cp.protocol) for cp in view.container_ports}
    if protocols is not None:
        declared = {key for key in declared if key[1] in protocols}
    return tuple(sorted(declared, key=lambda k: (k[0], k[1].value)))


def reachability(
    state: ClusterState,
    *,
    ports: Sequence[int] | None = None,
    protocols: Sequence[Protocol] | None = None,
) -> ReachMatrix:
    """The reachability matrix of a realized cluster, computed on classes.

    Args:
        state: the realized cluster.
        ports: check these port numbers at every destination instead of its
            declared container ports.
        protocols: only these protocols (with ``ports``: each number with each
            protocol; default TCP).

    Returns:
        The class tables; read them with :func:`query` and :func:`cells`.

    >>> from netsim.control.realize import realize
    >>> from netsim.model.spec import load_cluster
    >>> from netsim.policy.reach_query import query
    >>> m = reachability(realize(load_cluster("topologies/l3.yaml")))
    >>> web = next(d.name for d in m.destinations if d.name.startswith("shop/web"))
    >>> query(m, "client/curl", web, 8080, Protocol.TCP).ingress.rule
    'ingress[0]'
    """
    policies = tuple(state.network_policies)
    by_namespace: dict[str, list[NetworkPolicy]] = {}
    for policy in policies:
        by_namespace.setdefault(policy.namespace, []).append(policy)
    ingress_signer = _Signer(policies, "ingress")
    egress_signer = _Signer(policies, "egress")
    ingress_profiles: dict[tuple[object, ...], int] = {}
    ingress_policies: list[tuple[NetworkPolicy, ...]] = []
    egress_profiles: dict[tuple[object, ...], int] = {}
    egress_policies: list[tuple[NetworkPolicy, ...]] = []
    pods: list[ReachEndpoint] = []
    representative_source: dict[int, ReachEndpoint] = {}
    representative_destination: dict[int, ReachEndpoint] = {}
    signature_ports: dict[int, set[PortKey]] = {}
    profile_ports: dict[int, set[PortKey]] = {}
    namespace_labels: dict[str, Mapping[str, str]] = {
        name: namespace.labels for name, namespace in state.namespaces.items()
    }
    # What every pod with the same namespace, labels and declared ports shares.
    facts: dict[
        tuple[object, ...],
        tuple[tuple[PortKey, ...], int, int, frozenset[int], frozenset[int]],
    ] = {}
    for pod in state.pods.values():
        if pod.ip is None or pod.node is None or pod.is_host_network:
            continue
        declared = tuple(port for c in pod.pod.template.containers for port in c.ports)
        view = PodView(
            pod.namespace,
            pod.name,
            pod.pod.labels,
            namespace_labels.get(pod.namespace, {METADATA_NAME: pod.namespace}),
            declared,
        )
        peer = Peer(pod.ip, view, f"pod {pod.key}")
        label_key = (pod.namespace, frozenset(pod.pod.labels.items()), declared)
        shared = facts.get(label_key)
        if shared is None:
            checked = _ports_for(view, ports, protocols)
            in_id = _intern(
                ingress_profiles, ingress_policies, by_namespace, view, "ingress", declared
            )
            out_id = _intern(egress_profiles, egress_policies, by_namespace, view, "egress", ())
            shared = (
                checked,
                in_id,
                out_id,
                ingress_signer.selector_part(label_key, peer),
                egress_signer.selector_part(label_key, peer),
            )
            facts[label_key] = shared
            profile_ports.setdefault(in_id, set()).update(checked)
        checked, in_id, out_id, in_part, out_part = shared
        endpoint = ReachEndpoint(
            name=pod.key,
            kind="pod",
            peer=peer,
            node=pod.node,
            view=view,
            ports=checked,
            source_signature=ingress_signer.sign_parts(in_part, pod.ip),
            egress_profile=out_id,
            ingress_profile=in_id,
            destination_signature=egress_signer.sign_parts(out_part, pod.ip, declared),
        )
        pods.append(endpoint)
        representative_source.setdefault(endpoint.source_signature, endpoint)
        assert endpoint.destination_signature is not None
        if endpoint.destination_signature not in representative_destination:
            representative_destination[endpoint.destination_signature] = endpoint
            signature_ports[endpoint.destination_signature] = set()
        signature_ports[endpoint.destination_signature].update(checked)
    others: list[ReachEndpoint] = []
    node_source = NODE_SOURCE_ADDRESS[state.topology.pod_network.mode.value]
    for node in state.nodes.values():
        peer = Peer(node_source(node), None, f"node {node.name}")
        others.append(_not_a_pod(f"node:{node.name}", "node", peer, node.name, ingress_signer))
    for client in state.topology.external_clients:
        peer = Peer(client.ip, None, "not a pod")
        others.append(_not_a_pod(f"ext:{client.name}", "external", peer, None, ingress_signer))
    for endpoint in others:
        representative_source.setdefault(endpoint.source_signature, endpoint)

    representative_profile: dict[int, ReachEndpoint] = {}
    representative_egress: dict[int, ReachEndpoint] = {}
    for endpoint in pods:
        assert endpoint.ingress_profile is not None and endpoint.egress_profile is not None
        representative_profile.setdefault(endpoint.ingress_profile, endpoint)
        representative_egress.setdefault(endpoint.egress_profile, endpoint)

    ingress: dict[tuple[int, int, Protocol, int], PolicyDecision] = {}
    for profile, destination in representative_profile.items():
        assert destination.view is not None
        for signature, source in representative_source.items():
            for number, protocol in sorted(profile_ports[profile], key=repr):
                ingress[profile, signature, protocol, number] = evaluate(
                    ingress_policies[profile],
                    destination.view,
                    "ingress",
                    source.peer,
                    protocol,
                    number,
                )
    egress: dict[tuple[int, int, Protocol, int], PolicyDecision] = {}
    for profile, source in representative_egress.items():
        assert source.view is not None
        for signature, destination in representative_destination.items():
            for number, protocol in sorted(signature_ports[signature], key=repr):
                egress[profile, signature, protocol, number] = evaluate(
                    egress_policies[profile],
                    source.view,
                    "egress",
                    destination.peer,
                    protocol,
                    number,
                )
    sources = (*pods, *others)
    return ReachMatrix(
        sources=sources,
        destinations=tuple(pods),
        endpoints=MappingProxyType({e.name: e for e in sources}),
        ingress_policies=tuple(ingress_policies),
        egress_policies=tuple(egress_policies),
        ingress=MappingProxyType(ingress),
        egress=MappingProxyType(egress),
        gateways=MappingProxyType({f"node:{n.name}": n.gateway for n in state.nodes.values()}),
        source_classes=len({(e.source_signature, e.egress_profile) for e in sources}),
        destination_classes=len({(e.ingress_profile, e.destination_signature) for e in pods}),
    )


def _not_a_pod(
    name: str, kind: EndpointKind, peer: Peer, node: str | None, signer: _Signer
) -> ReachEndpoint:
    return ReachEndpoint(
        name=name,
        kind=kind,
        peer=peer,
        node=node,
        view=None,
        ports=(),
        source_signature=signer.sign(("not a pod",), peer),
        egress_profile=None,
        ingress_profile=None,
        destination_signature=None,
    )
