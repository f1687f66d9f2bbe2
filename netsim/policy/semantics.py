"""networking.k8s.io/v1 NetworkPolicy semantics, as pure functions over the model.

What Kubernetes defines (https://kubernetes.io/docs/concepts/services-networking/network-policies/
and the API reference of ``NetworkPolicySpec``):

* a pod is *isolated* for ingress (egress) iff some NetworkPolicy of its
  namespace selects it (``podSelector``) and lists ``Ingress`` (``Egress``) in
  ``policyTypes`` (the loader has already defaulted ``policyTypes``);
* a connection is allowed in a direction iff the pod is not isolated for it,
  or some rule of some isolating policy allows it (policies are a union; order
  never matters);
* a rule allows when some peer matches (``from``/``to`` missing or empty: every
  peer) and some port matches (``ports`` missing or empty: every port);
* a peer is an ``ipBlock`` (``cidr`` minus ``except``, judged on the address as
  seen where the policy is enforced) or selectors: ``podSelector`` alone means
  pods of the policy's namespace, ``namespaceSelector`` alone every pod of the
  matching namespaces, both ANDed in one peer; an empty selector ``{}``
  matches everything, a missing one is "not specified". Selectors only ever
  match pods that have their own network namespace: never hostNetwork pods,
  nodes or addresses outside the cluster (only an ``ipBlock`` matches those);
* a port matches on protocol (default TCP) and a number, a ``port``..``endPort``
  range, or a named port resolved against the *destination* pod's container
  ports (the selected pod for ingress, the peer for egress);
* traffic between a pod and its own node is always allowed, and hostNetwork
  pods are never selected.

Not modelled: IPv6, ``NetworkPolicy`` status, AdminNetworkPolicy, and CNI
deviations (e.g. whether an ``ipBlock`` matches pod IPs is left to
implementations upstream; netsim matches it on any address).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from netsim.model.objects import (
    ContainerPort,
    IPBlock,
    NetworkPolicy,
    NetworkPolicyPeer,
    NetworkPolicyPort,
    NetworkPolicyRule,
    Protocol,
)
from netsim.model.selectors import selector_matches

__all__ = [
    "POLICY_TYPES",
    "Direction",
    "Peer",
    "PodView",
    "PolicyDecision",
    "evaluate",
    "ip_block_matches",
    "isolating_policies",
    "peer_matches",
    "policy_selects",
    "port_matches",
    "rule_allows",
]

Direction = Literal["ingress", "egress"]
POLICY_TYPES: Final[Mapping[Direction, str]] = {"ingress": "Ingress", "egress": "Egress"}
ALL: Final = None  # a rule's peer or port index when the field is missing or empty


@dataclass(frozen=True, slots=True)
class PodView:
    """What NetworkPolicy sees of a pod: its namespace's labels, its labels and ports."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    namespace_labels: Mapping[str, str]
    container_ports: tuple[ContainerPort, ...] = ()
    is_host_network: bool = False

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Peer:
    """The other end of a connection: an address and, when it is a pod's own, the pod.

    ``what`` names it for explanations (``pod client/curl``, ``node node-1``,
    ``not a pod``).
    """

    ip: ipaddress.IPv4Address
    pod: PodView | None = None
    what: str = "not a pod"

    @property
    def text(self) -> str:
        """``pod client/curl (10.244.0.2)``."""
        return f"{self.what} ({self.ip})"


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """A NetworkPolicy verdict, its one-line reason and what decided it.

    ``policy`` (``namespace/name``), ``rule`` (``ingress[0]``), ``peer`` and
    ``port`` (indexes into the rule's ``from``/``to`` and ``ports``; None when
    the field is missing or empty, i.e. all) name the rule that allowed;
    ``isolated_by`` the policies that isolate the pod in that direction.
    """

    is_allowed: bool
    reason: str
    policy: str | None = None
    rule: str | None = None
    peer: int | None = None
    port: int | None = None
    isolated_by: tuple[str, ...] = ()


def policy_selects(policy: NetworkPolicy, pod: PodView) -> bool:
    """Whether ``policy`` selects ``pod`` (same namespace, podSelector, never hostNetwork).

    >>> from netsim.model.objects import LabelSelector
    >>> p = NetworkPolicy("x", "deny", LabelSelector(), ("Ingress",))
    >>> policy_selects(p, PodView("x", "a", {}, {})), policy_selects(p, PodView("y", "a", {}, {}))
    (True, False)
    """
    return (
        not pod.is_host_network
        and policy.namespace == pod.namespace
        and selector_matches(policy.pod_selector, pod.labels)
    )


def isolating_policies(
    policies: Iterable[NetworkPolicy], pod: PodView, direction: Direction
) -> tuple[NetworkPolicy, ...]:
    """The policies that isolate ``pod`` for ``direction`` (sorted by ``namespace/name``)."""
    wanted = POLICY_TYPES[direction]
    chosen = [p for p in policies if wanted in p.policy_types and policy_selects(p, pod)]
    return tuple(sorted(chosen, key=lambda p: p.key))


def ip_block_matches(block: IPBlock, ip: ipaddress.IPv4Address) -> bool:
    """Whether ``ip`` is in ``cidr`` and in none of the ``except`` ranges.

    >>> net = ipaddress.IPv4Network
    >>> block = IPBlock(net("10.0.0.0/16"), (net("10.0.1.0/24"),))
    >>> [ip_block_matches(block, ipaddress.IPv4Address(a)) for a in ("10.0.2.1", "10.0.1.1")]
    [True, False]
    """
    return ip in block.cidr and not any(ip in excluded for excluded in block.excepts)


def peer_matches(peer: NetworkPolicyPeer, policy_namespace: str, other: Peer) -> bool:
    """Whether one ``from``/``to`` entry of a policy in ``policy_namespace`` matches ``other``."""
    if peer.ip_block is not None:
        return ip_block_matches(peer.ip_block, other.ip)
    pod = other.pod
    if pod is None or pod.is_host_network:
        return False  # selectors match pods with their own network namespace only
    if peer.namespace_selector is None:
        in_namespace = pod.namespace == policy_namespace
    else:
        in_namespace = selector_matches(peer.namespace_selector, pod.namespace_labels)
    if not in_namespace:
        return False
    return peer.pod_selector is None or selector_matches(peer.pod_selector, pod.labels)


def port_matches(
    port: NetworkPolicyPort,
    protocol: Protocol,
    number: int,
    destination_ports: tuple[ContainerPort, ...],
) -> bool:
    """Whether one ``ports`` entry matches ``number``/``protocol`` at the destination.

    A named port matches when the destination pod declares a container port of
    that name and protocol with that number.

    >>> http = (ContainerPort(8080, Protocol.TCP, "http"),)
    >>> port_matches(NetworkPolicyPort(Protocol.TCP, "http"), Protocol.TCP, 8080, http)
    True
    >>> port_matches(NetworkPolicyPort(Protocol.TCP, 80, 90), Protocol.TCP, 91, ())
    False
    """
    if port.protocol is not protocol:
        return False
    if port.port is None:
        return True
    if isinstance(port.port, str):
        return any(
            cp.name == port.port and cp.protocol is protocol and cp.container_port == number
            for cp in destination_ports
        )
    if port.end_port is None:
        return number == port.port
    return port.port <= number <= port.end_port


def rule_allows(
    rule: NetworkPolicyRule,
    policy_namespace: str,
    other: Peer,
    protocol: Protocol,
    number: int,
    destination_ports: tuple[ContainerPort, ...],
) -> tuple[int | None, int | None] | None:
    """The (peer, port) indexes that let ``rule`` allow the connection, else None.

    An index is None when the rule's ``from``/``to`` (``ports``) is missing or
    empty, which Kubernetes reads as every peer (every port).
    """
    peer_index: int | None = ALL
    if rule.peers:
        peer_index = next(
            (i for i, peer in enumerate(rule.peers) if peer_matches(peer, policy_namespace, other)),
            -1,
        )
        if peer_index < 0:
            return None
    port_index: int | None = ALL
    if rule.ports:
        port_index = next(
            (
                i
                for i, port in enumerate(rule.ports)
                if port_matches(port, protocol, number, destination_ports)
            ),
            -1,
        )
        if port_index < 0:
            return None
    return peer_index, port_index


def evaluate(
    policies: Iterable[NetworkPolicy],
    pod: PodView,
    direction: Direction,
    other: Peer,
    protocol: Protocol,
    number: int,
    *,
    own_node: str | None = None,
) -> PolicyDecision:
    """Whether ``pod`` may receive from (ingress) or send to (egress) ``other``.

    Args:
        policies: every NetworkPolicy of the cluster.
        pod: the pod whose isolation is judged (the destination for ingress,
            the source for egress).
        direction: ``ingress`` or ``egress``.
        other: the source (ingress) or destination (egress) as seen where the
            policy is enforced (after DNAT for egress, after SNAT for ingress).
        protocol: the L4 protocol.
        number: the destination port.
        own_node: the name of ``pod``'s node when ``other`` is an address of
            it (always allowed), else None.

    Returns:
        The decision with the policy, rule, peer and port that allowed it, or
        the isolating policies when denied.
    """
    towards = "from" if direction == "ingress" else "to"
    on = f"{number}/{protocol.value}"
    if pod.is_host_network:
        return PolicyDecision(True, f"{pod.key} is a hostNetwork pod: never selected by policies")
    if own_node is not None:
        return PolicyDecision(
            True,
            f"traffic {towards} the pod's own node {own_node} ({other.ip}) is always allowed",
        )
    isolating = isolating_policies(policies, pod, direction)
    if not isolating:
        return PolicyDecision(
            True,
            f"not isolated for {direction}: no policy with policyTypes"
            f" {POLICY_TYPES[direction]} selects {pod.key}",
        )
    names = tuple(p.key for p in isolating)
    destination_ports = pod.container_ports if direction == "ingress" else ()
    if direction == "egress" and other.pod is not None:
        destination_ports = other.pod.container_ports
    for policy in isolating:
        rules = policy.ingress if direction == "ingress" else policy.egress
        for index, rule in enumerate(rules):
            found = rule_allows(rule, policy.namespace, other, protocol, number, destination_ports)
            if found is None:
                continue
            peer, port = found
            peer_text = "all peers" if peer is None else f"peer {peer}"
            port_text = "all ports" if port is None else f"port {port}"
            name = f"{direction}[{index}]"
            return PolicyDecision(
                True,
                f"{policy.key} {name} {peer_text} {port_text}: allows {other.text} on {on}",
                policy=policy.key,
                rule=name,
                peer=peer,
                port=port,
                isolated_by=names,
            )
    return PolicyDecision(
        False,
        f"pod is isolated for {direction} by policies {', '.join(names)};"
        f" no rule allows {other.text} on {on}",
        isolated_by=names,
    )
