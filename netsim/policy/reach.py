"""Who can reach whom: the NetworkPolicy verdict of every (source, destination, port).

:func:`reachability` judges direct pod-IP traffic, i.e. what NetworkPolicy
judges: a connection from a source (every placed non-hostNetwork pod, every
node as ``node:NAME``, every external client as ``ext:NAME``) to a
destination pod's own IP on one of its declared container ports. A
connection is allowed iff the source may send it (egress, judged for pods
only) and the destination may receive it (ingress), each decided by
:func:`netsim.policy.semantics.evaluate`.

It is computed on equivalence classes, not pairs, so it stays fast at scale.
What a policy can see of an endpoint is:

* for isolation (the pod whose policies are judged): the policies that
  select it for the direction (its namespace and labels) and, for ingress,
  its declared ports (named ports resolve against them);
* as the other end: which ``from``/``to`` peers of all policies it matches
  (selectors: namespace labels, labels, is it a pod; ``ipBlock``: its
  address) and, as an egress destination, its declared ports.

Each of the four is interned to a small integer: an *ingress profile*
(isolating ingress policies + ports), a *source signature* (the set of
ingress peers it matches, ipBlocks included, so pods are partitioned by the
ipBlocks their IP falls in), an *egress profile* (isolating egress policies)
and a *destination signature* (egress peers matched + ports). The build
evaluates one representative per (profile, signature, port); a pair is two
table lookups (:func:`query`; :func:`is_allowed` on a :func:`pair_index` says
only allowed or not, without the explanation, in about a microsecond). Traffic
between a node and its own pods is always allowed and is decided per pair (it
depends on the node, not the class).

Addresses: a pod sends from its own IP; a node sends to its own pods from its
``cni0`` address (its gateway) and to other pods from the address of the
device its route uses (:data:`NODE_SOURCE_ADDRESS`: ``cni0`` in l2, the
underlay IP in l3, ``flannel.1`` in vxlan), which is what an ``ipBlock``
judges; an external client from its IP. Not modelled: traffic through Services or
NodePorts (DNAT picks the endpoint, masquerading changes the source the
destination judges: see ``netsim trace``), hostNetwork pods (never selected;
neither sources nor destinations here), a pod reaching itself (over ``lo``,
never judged), ports a destination does not declare unless asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from ipaddress import IPv4Address
from types import MappingProxyType
from typing import Final, Literal

from netsim.control.state import ClusterState, NodeState
from netsim.errors import InputError
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
    "EndpointKind",
    "PairIndex",
    "PortKey",
    "ReachCell",
    "ReachEndpoint",
    "ReachMatrix",
    "cells",
    "is_allowed",
    "pair_index",
    "query",
    "reachability",
    "select_endpoints",
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
NOT_JUDGED: Final = "{name} is not a pod: no NetworkPolicy judges its egress"
SELF: Final = "traffic of {name} to itself stays on lo and is never judged"


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


# -- build ----------------------------------------------------------------------------


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


# -- read -----------------------------------------------------------------------------


def _reworded(
    decision: PolicyDecision,
    direction: Direction,
    pod_key: str,
    other: Peer,
    protocol: Protocol,
    number: int,
) -> PolicyDecision:
    """The class representative's decision worded for this pair (as :func:`evaluate` words it)."""
    on = f"{number}/{protocol.value}"
    if decision.policy is not None:
        peer_text = "all peers" if decision.peer is None else f"peer {decision.peer}"
        port_text = "all ports" if decision.port is None else f"port {decision.port}"
        reason = (
            f"{decision.policy} {decision.rule} {peer_text} {port_text}:"
            f" allows {other.text} on {on}"
        )
    elif decision.is_allowed:
        reason = (
            f"not isolated for {direction}: no policy with policyTypes"
            f" {POLICY_TYPES[direction]} selects {pod_key}"
        )
    else:
        reason = (
            f"pod is isolated for {direction} by policies {', '.join(decision.isolated_by)};"
            f" no rule allows {other.text} on {on}"
        )
    return replace(decision, reason=reason)


def _endpoint(matrix: ReachMatrix, name: str) -> ReachEndpoint:
    found = matrix.endpoints.get(name)
    if found is None:
        raise InputError(
            f"no source or destination {name!r}: name a placed non-hostNetwork pod"
            " as NAMESPACE/POD, a node as node:NAME or an external client as ext:NAME"
        )
    return found


def query(
    matrix: ReachMatrix, source: str, destination: str, port: int, protocol: Protocol
) -> ReachCell:
    """The verdict of one (source, destination, port, protocol): two table lookups.

    A port the matrix was not built for is evaluated on the classes'
    representatives' policies on the spot (same answer, not O(1)).

    Raises:
        InputError: ``source`` or ``destination`` is not in the matrix, or the
            destination is not a pod.
    """
    src = _endpoint(matrix, source)
    dst = _endpoint(matrix, destination)
    if dst.view is None or dst.ingress_profile is None or dst.destination_signature is None:
        raise InputError(f"destination {destination!r} is not a pod: only pods are destinations")
    if src.name == dst.name:
        decision = PolicyDecision(True, SELF.format(name=src.name))
        return ReachCell(src.name, dst.name, port, protocol, decision, decision)
    if src.kind == "node" and src.node == dst.node:
        assert src.node is not None
        gateway = Peer(_gateway(matrix, src), None, src.peer.what)
        ingress = evaluate((), dst.view, "ingress", gateway, protocol, port, own_node=src.node)
    else:
        key = (dst.ingress_profile, src.source_signature, protocol, port)
        found = matrix.ingress.get(key)
        if found is None:
            found = evaluate(
                matrix.ingress_policies[dst.ingress_profile],
                dst.view,
                "ingress",
                src.peer,
                protocol,
                port,
            )
        ingress = _reworded(found, "ingress", dst.name, src.peer, protocol, port)
    if src.view is None or src.egress_profile is None:
        egress = PolicyDecision(True, NOT_JUDGED.format(name=src.name))
    else:
        out_key = (src.egress_profile, dst.destination_signature, protocol, port)
        decided = matrix.egress.get(out_key)
        if decided is None:
            decided = evaluate(
                matrix.egress_policies[src.egress_profile],
                src.view,
                "egress",
                dst.peer,
                protocol,
                port,
            )
        egress = _reworded(decided, "egress", src.name, dst.peer, protocol, port)
    return ReachCell(src.name, dst.name, port, protocol, egress, ingress)


def _gateway(matrix: ReachMatrix, node: ReachEndpoint) -> IPv4Address:
    """The address a node sends to its own pods from (its ``cni0``)."""
    return matrix.gateways.get(node.name, node.ip)


def cells(
    matrix: ReachMatrix,
    sources: Iterable[ReachEndpoint] | None = None,
    destinations: Iterable[ReachEndpoint] | None = None,
) -> Iterator[ReachCell]:
    """Every cell of the matrix (or of the given sources × destinations), expanded to pods.

    Pairs of a pod with itself are left out (never judged).
    """
    chosen = tuple(destinations if destinations is not None else matrix.destinations)
    for source in sources if sources is not None else matrix.sources:
        for destination in chosen:
            if destination.name == source.name:
                continue
            for number, protocol in destination.ports:
                yield query(matrix, source.name, destination.name, number, protocol)


def select_endpoints(
    matrix: ReachMatrix, pattern: str, *, destinations: bool = False
) -> tuple[ReachEndpoint, ...]:
    """The endpoints ``pattern`` names.

    ``NAMESPACE/POD``, ``NAMESPACE/*``, ``node:NAME`` or ``ext:NAME`` (the last
    two as sources only).

    Raises:
        InputError: nothing matches, or (``destinations``) the pattern names no pod.

    >>> from netsim.control.realize import realize
    >>> from netsim.model.spec import load_cluster
    >>> m = reachability(realize(load_cluster("topologies/l3.yaml")))
    >>> [e.name for e in select_endpoints(m, "client/*")]
    ['client/curl']
    """
    pool = matrix.destinations if destinations else matrix.sources
    if pattern.endswith("/*"):
        namespace = pattern[:-2]
        found = tuple(e for e in pool if e.kind == "pod" and e.name.startswith(f"{namespace}/"))
    else:
        found = tuple(e for e in pool if e.name == pattern)
    if not found:
        role = "destination" if destinations else "source"
        forms = (
            "NAMESPACE/POD or NAMESPACE/*"
            if destinations
            else "NAMESPACE/POD, NAMESPACE/*, node:NAME or ext:NAME"
        )
        raise InputError(f"{role} {pattern!r} matches nothing: give {forms} of a placed pod")
    return found


# -- fast pair lookups ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairIndex:
    """A matrix's verdicts as flat lookups for :func:`is_allowed` (build with :func:`pair_index`).

    ``sources`` maps an endpoint name to (source signature, egress profile or
    -1 when its egress is not judged, node, is a node); ``destinations`` a pod
    name to (ingress profile, destination signature, node). ``ingress`` and
    ``egress`` hold the matrix's decisions as booleans under the same keys.
    """

    matrix: ReachMatrix
    sources: Mapping[str, tuple[int, int, str | None, bool]]
    destinations: Mapping[str, tuple[int, int, str | None]]
    ingress: Mapping[tuple[int, int, Protocol, int], bool]
    egress: Mapping[tuple[int, int, Protocol, int], bool]


def pair_index(matrix: ReachMatrix) -> PairIndex:
    """Flatten ``matrix`` for :func:`is_allowed` (linear in endpoints and table entries).

    >>> from netsim.control.realize import realize
    >>> from netsim.model.spec import load_cluster
    >>> m = reachability(realize(load_cluster("topologies/l3.yaml")))
    >>> index = pair_index(m)
    >>> web = next(e.name for e in m.destinations if e.name.startswith("shop/web"))
    >>> is_allowed(index, "ext:laptop", web, 8080, Protocol.TCP)
    False
    >>> is_allowed(index, "client/curl", web, 8080, Protocol.TCP)
    True
    """
    sources = {
        e.name: (
            e.source_signature,
            -1 if e.view is None or e.egress_profile is None else e.egress_profile,
            e.node,
            e.kind == "node",
        )
        for e in matrix.sources
    }
    destinations = {
        e.name: (e.ingress_profile, e.destination_signature, e.node)
        for e in matrix.destinations
        if e.view is not None
        and e.ingress_profile is not None
        and e.destination_signature is not None
    }
    return PairIndex(
        matrix,
        sources,
        destinations,
        {key: d.is_allowed for key, d in matrix.ingress.items()},
        {key: d.is_allowed for key, d in matrix.egress.items()},
    )


def is_allowed(
    index: PairIndex, source: str, destination: str, port: int, protocol: Protocol
) -> bool:
    """``query(index.matrix, source, destination, port, protocol).is_allowed``, in two lookups.

    Pairs the flat tables do not hold (a pod with itself, a node with its own
    pods, a port the matrix was not built for, unknown names) are answered by
    :func:`query`, with its errors.

    Raises:
        InputError: as :func:`query`.
    """
    src = index.sources.get(source)
    dst = index.destinations.get(destination)
    if src is None or dst is None or source == destination or (src[3] and src[2] == dst[2]):
        return query(index.matrix, source, destination, port, protocol).is_allowed
    allowed = index.ingress.get((dst[0], src[0], protocol, port))
    if allowed is None:
        return query(index.matrix, source, destination, port, protocol).is_allowed
    if not allowed or src[1] < 0:
        return allowed
    sent = index.egress.get((src[1], dst[1], protocol, port))
    if sent is None:
        return query(index.matrix, source, destination, port, protocol).is_allowed
    return sent
