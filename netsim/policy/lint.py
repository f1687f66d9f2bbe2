"""NetworkPolicy lint: rules that can never match in this cluster.

:func:`lint_policies` reads a realized :class:`~netsim.control.state.ClusterState`
and reports, per policy and rule path (``ingress[0].from[1]``), what can never
have the effect its author meant:

* ``masqueraded-ip-block``: an ingress ``ipBlock`` covering an external
  client's address, on pods reachable from outside only through NodePort /
  LoadBalancer / externalIP Services with ``externalTrafficPolicy: Cluster``.
  kube-proxy masquerades that traffic (``KUBE-MARK-MASQ``), so the pod sees a
  node address, never the client's, and the ipBlock never matches the client;
* ``dns-blocked``: a policy isolating pods for egress while no rule of any
  policy lets them reach the cluster DNS Service's endpoints
  (``kube-system/kube-dns``) on 53/UDP or 53/TCP;
* ``no-matching-pod`` / ``no-matching-namespace``: a ``podSelector`` (the
  policy's own or a peer's) or a peer's ``namespaceSelector`` that matches no
  pod / namespace of the cluster (hostNetwork pods are never selected);
* ``unknown-named-port``: a named port in ``ports`` that no destination pod
  declares with that protocol (ingress: the pods the policy selects; egress:
  the pods the rule's peers match).

Not modelled: pods reaching the cluster from outside by their own IP (the
demo topologies do not route pod IPs from outside), DNS Services other than
``kube-system/kube-dns``, ipBlocks meant for nodes, rules shadowed by other
rules (a union never shadows).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from netsim.control.state import ClusterState, PodState, ServiceState
from netsim.model.objects import (
    NetworkPolicy,
    NetworkPolicyPeer,
    NetworkPolicyRule,
    Protocol,
    ServiceType,
)
from netsim.model.selectors import selector_matches
from netsim.policy.judge import METADATA_NAME
from netsim.policy.semantics import (
    Direction,
    Peer,
    PodView,
    evaluate,
    ip_block_matches,
    peer_matches,
    policy_selects,
)

__all__ = ["CLUSTER_DNS_SERVICE", "DNS_PORT", "LintFinding", "LintKind", "lint_policies"]

CLUSTER_DNS_SERVICE: Final = "kube-system/kube-dns"  # kubeadm's CoreDNS Service
DNS_PORT: Final = 53  # RFC 1035 section 4.2
DNS_PROTOCOLS: Final = (Protocol.UDP, Protocol.TCP)  # RFC 7766: TCP is required too
PEER_FIELD: Final[Mapping[Direction, str]] = {"ingress": "from", "egress": "to"}
EXTERNAL_TYPES: Final = (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)
SPEC_ORDER: Final = {"podSelector": 0, "ingress": 1, "egress": 2}  # as kubectl shows a spec
_ANY_ADDRESS: Final = ipaddress.IPv4Address("0.0.0.0")  # selector peers never read it


class LintKind(StrEnum):
    """What a finding is about (see the module docstring)."""

    MASQUERADED_IP_BLOCK = "masqueraded-ip-block"
    DNS_BLOCKED = "dns-blocked"
    NO_MATCHING_POD = "no-matching-pod"
    NO_MATCHING_NAMESPACE = "no-matching-namespace"
    UNKNOWN_NAMED_PORT = "unknown-named-port"


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One rule that can never match: where, what, why and how to fix it.

    ``policy`` is ``namespace/name``; ``path`` the field inside the spec
    (``podSelector``, ``ingress[0].from[1]``, ``egress[0].ports[0]``,
    ``egress`` for the policy's egress rules as a whole).
    """

    policy: str
    path: str
    kind: LintKind
    message: str
    hint: str


@dataclass(frozen=True, slots=True)
class _Cluster:
    """The pods and namespaces as policies see them."""

    views: tuple[tuple[PodState, PodView], ...]  # non-hostNetwork pods
    by_namespace: Mapping[str, tuple[tuple[PodState, PodView], ...]]  # the same, per namespace
    namespace_labels: Mapping[str, Mapping[str, str]]

    def in_namespaces(self, names: Iterable[str]) -> Iterator[tuple[PodState, PodView]]:
        """The pods of these namespaces (a policy's selectors never reach further)."""
        for name in names:
            yield from self.by_namespace.get(name, ())


def _cluster(state: ClusterState) -> _Cluster:
    labels: dict[str, Mapping[str, str]] = {
        name: namespace.labels for name, namespace in state.namespaces.items()
    }
    views: list[tuple[PodState, PodView]] = []
    by_namespace: dict[str, list[tuple[PodState, PodView]]] = {}
    for pod in state.pods.values():
        labels.setdefault(pod.namespace, {METADATA_NAME: pod.namespace})
        if pod.is_host_network:
            continue
        declared = tuple(port for c in pod.pod.template.containers for port in c.ports)
        view = PodView(pod.namespace, pod.name, pod.pod.labels, labels[pod.namespace], declared)
        views.append((pod, view))
        by_namespace.setdefault(pod.namespace, []).append((pod, view))
    grouped = {name: tuple(found) for name, found in by_namespace.items()}
    return _Cluster(tuple(views), grouped, labels)


def _selected(cluster: _Cluster, policy: NetworkPolicy) -> list[tuple[PodState, PodView]]:
    return [
        (pod, view)
        for pod, view in cluster.in_namespaces((policy.namespace,))
        if policy_selects(policy, view)
    ]


def lint_policies(
    state: ClusterState, policies: Collection[str] | None = None
) -> tuple[LintFinding, ...]:
    """Every finding of every NetworkPolicy of ``state``, sorted by policy, then path.

    Args:
        state: the realized cluster.
        policies: lint only these policies (``namespace/name``); the others
            still count where a finding depends on every policy (DNS).

    >>> from netsim.control.realize import realize
    >>> from netsim.model.spec import load_cluster
    >>> lint_policies(realize(load_cluster("topologies/l3.yaml")))
    ()
    """
    cluster = _cluster(state)
    linted = [p for p in state.network_policies if policies is None or p.key in policies]
    fronting = _fronting(state)
    findings: list[LintFinding] = []
    for policy in linted:
        selected = _selected(cluster, policy)
        findings.extend(_selector_findings(cluster, policy, selected))
        findings.extend(_named_port_findings(cluster, policy, selected))
        findings.extend(_masquerade_findings(state, policy, selected, fronting))
    findings.extend(_dns_findings(state, cluster, linted))
    return tuple(sorted(findings, key=lambda f: (f.policy, _path_key(f.path), f.kind.value)))


def _rules(
    policy: NetworkPolicy,
) -> tuple[tuple[Direction, tuple[NetworkPolicyRule, ...]], ...]:
    return (("ingress", policy.ingress), ("egress", policy.egress))


def _path_key(path: str) -> tuple[object, ...]:
    """Spec order (``podSelector``, ``ingress``, ``egress``); ``[10]`` after ``[2]``.

    >>> sorted(["egress", "ingress[10].ports[0]", "ingress[2]", "podSelector"], key=_path_key)
    ['podSelector', 'ingress[2]', 'ingress[10].ports[0]', 'egress']
    """
    parts: list[object] = []
    for part in path.replace("]", "").split("."):
        name, _, index = part.partition("[")
        parts.append((SPEC_ORDER.get(name, len(SPEC_ORDER)), name, int(index) if index else -1))
    return tuple(parts)


# -- selectors ------------------------------------------------------------------------


def _selector_findings(
    cluster: _Cluster, policy: NetworkPolicy, selected: Sequence[tuple[PodState, PodView]]
) -> Iterable[LintFinding]:
    if not selected:
        yield LintFinding(
            policy.key,
            "podSelector",
            LintKind.NO_MATCHING_POD,
            f"podSelector matches no pod of namespace {policy.namespace}:"
            " the policy isolates and allows nothing",
            "fix the podSelector's labels or deploy the pods it is meant for",
        )
    for direction, rules in _rules(policy):
        for i, rule in enumerate(rules):
            for j, peer in enumerate(rule.peers or ()):
                path = f"{direction}[{i}].{PEER_FIELD[direction]}[{j}]"
                yield from _peer_selector_findings(cluster, policy, peer, path)


def _peer_selector_findings(
    cluster: _Cluster, policy: NetworkPolicy, peer: NetworkPolicyPeer, path: str
) -> Iterable[LintFinding]:
    if peer.ip_block is not None:
        return
    if peer.namespace_selector is None:
        namespaces = [policy.namespace]
    else:
        namespaces = [
            name
            for name, labels in sorted(cluster.namespace_labels.items())
            if selector_matches(peer.namespace_selector, labels)
        ]
        if not namespaces:
            yield LintFinding(
                policy.key,
                f"{path}.namespaceSelector",
                LintKind.NO_MATCHING_NAMESPACE,
                "namespaceSelector matches no namespace: the peer never matches",
                f"fix the labels, or select a namespace by its {METADATA_NAME} label",
            )
            return
    if peer.pod_selector is None:
        return
    selector = peer.pod_selector
    if not any(
        selector_matches(selector, view.labels) for _, view in cluster.in_namespaces(namespaces)
    ):
        where = ", ".join(namespaces)
        yield LintFinding(
            policy.key,
            f"{path}.podSelector",
            LintKind.NO_MATCHING_POD,
            f"podSelector matches no pod in namespace {where}: the peer never matches",
            "fix the podSelector's labels (or add a namespaceSelector for pods"
            " of other namespaces)",
        )


# -- named ports ----------------------------------------------------------------------


def _declares(views: Sequence[PodView], name: str, protocol: Protocol) -> bool:
    return any(
        cp.name == name and cp.protocol is protocol for view in views for cp in view.container_ports
    )


def _named_port_findings(
    cluster: _Cluster, policy: NetworkPolicy, selected: Sequence[tuple[PodState, PodView]]
) -> Iterable[LintFinding]:
    for direction, rules in _rules(policy):
        for i, rule in enumerate(rules):
            if direction == "ingress":
                if not selected:
                    continue  # reported as no-matching-pod
                destinations, whose = [view for _, view in selected], "pod the policy selects"
            else:
                destinations = [v for _, v in _peer_pods_by_selector(cluster, rule, policy)]
                whose = "pod this rule's peers match"
            for j, port in enumerate(rule.ports or ()):
                if not isinstance(port.port, str):
                    continue
                if _declares(destinations, port.port, port.protocol):
                    continue
                yield LintFinding(
                    policy.key,
                    f"{direction}[{i}].ports[{j}]",
                    LintKind.UNKNOWN_NAMED_PORT,
                    f"named port {port.port!r} ({port.protocol.value}): no {whose}"
                    " declares a container port of that name and protocol",
                    "use the port number, or the name of a declared containerPort",
                )


def _peer_pods_by_selector(
    cluster: _Cluster, rule: NetworkPolicyRule, policy: NetworkPolicy
) -> list[tuple[PodState, PodView]]:
    """The pods a rule's peers match: selectors on labels, ipBlocks on pod IPs."""
    if not rule.peers:
        return list(cluster.views)
    candidates: Iterable[tuple[PodState, PodView]] = cluster.views
    if all(peer.ip_block is None and peer.namespace_selector is None for peer in rule.peers):
        candidates = cluster.in_namespaces((policy.namespace,))  # pod selectors: own namespace
    found = []
    for pod, view in candidates:
        for peer in rule.peers:
            if peer.ip_block is not None:
                hit = pod.ip is not None and ip_block_matches(peer.ip_block, pod.ip)
            else:
                hit = peer_matches(peer, policy.namespace, Peer(_ANY_ADDRESS, view))
            if hit:
                found.append((pod, view))
                break
    return found


# -- masqueraded ipBlocks -------------------------------------------------------------


def _external_services(state: ClusterState) -> list[ServiceState]:
    """Services a client outside the cluster can call (NodePort, LoadBalancer, externalIPs)."""
    return [
        s
        for s in state.services.values()
        if s.service.type in EXTERNAL_TYPES or s.service.external_ips
    ]


def _endpoint_pods(state: ClusterState, service: ServiceState) -> set[str]:
    return {
        e.target_pod
        for s in state.slices_for(service)
        for e in s.endpoints
        if e.target_pod is not None
    }


def _fronting(state: ClusterState) -> dict[str, list[ServiceState]]:
    """Per pod (``namespace/name``), the Services a client outside the cluster reaches it by."""
    found: dict[str, list[ServiceState]] = {}
    for service in _external_services(state):
        for key in _endpoint_pods(state, service):
            found.setdefault(key, []).append(service)
    return found


def _masquerade_findings(
    state: ClusterState,
    policy: NetworkPolicy,
    selected: Sequence[tuple[PodState, PodView]],
    fronting_of: Mapping[str, Sequence[ServiceState]],
) -> Iterable[LintFinding]:
    if "Ingress" not in policy.policy_types or not selected:
        return
    fronting = list(
        {s.key: s for _, view in selected for s in fronting_of.get(view.key, ())}.values()
    )
    if not fronting or any(s.service.external_traffic_policy == "Local" for s in fronting):
        return  # unreachable from outside, or the client's address is preserved
    names = ", ".join(sorted(s.key for s in fronting))
    for i, rule in enumerate(policy.ingress):
        for j, peer in enumerate(rule.peers or ()):
            block = peer.ip_block
            if block is None:
                continue
            clients = [c for c in state.topology.external_clients if ip_block_matches(block, c.ip)]
            if not clients:
                continue
            who = ", ".join(f"{c.name} ({c.ip})" for c in clients)
            yield LintFinding(
                policy.key,
                f"ingress[{i}].from[{j}]",
                LintKind.MASQUERADED_IP_BLOCK,
                f"ipBlock {block.cidr} covers external client {who}, but the selected"
                f" pods are reachable from outside only through {names}"
                " (externalTrafficPolicy: Cluster): kube-proxy masquerades the client"
                " to a node address, so this peer never matches it",
                "set externalTrafficPolicy: Local on the Service to keep the client's"
                " address, or allow the nodes' addresses instead",
            )


# -- DNS ------------------------------------------------------------------------------


def _dns_findings(
    state: ClusterState, cluster: _Cluster, linted: Sequence[NetworkPolicy]
) -> Iterable[LintFinding]:
    service = state.services.get(CLUSTER_DNS_SERVICE)
    if service is None:
        return
    targets = _endpoint_pods(state, service)
    by_key = {view.key: (pod, view) for pod, view in cluster.views}
    endpoints = [by_key[k] for k in sorted(targets) if k in by_key and by_key[k][0].ip is not None]
    numbers: dict[Protocol, int] = {}
    for sp in service.service.ports:
        if sp.port == DNS_PORT and sp.protocol in DNS_PROTOCOLS:
            target = sp.target_port
            if isinstance(target, str):
                target = next(
                    (
                        p.port
                        for s in state.slices_for(service)
                        for p in s.ports
                        if p.name == sp.name and p.protocol is sp.protocol
                    ),
                    DNS_PORT,
                )
            numbers[sp.protocol] = target
    if not endpoints or not numbers:
        return
    policies_in: dict[str, list[NetworkPolicy]] = {}  # only a pod's own namespace's select it
    for policy in state.network_policies:
        policies_in.setdefault(policy.namespace, []).append(policy)
    blocked_on: dict[tuple[str, frozenset[tuple[str, str]]], list[Protocol]] = {}
    for policy in linted:
        policies = policies_in[policy.namespace]
        if "Egress" not in policy.policy_types:
            continue
        blocked: dict[Protocol, list[str]] = {}
        for pod, view in _selected(cluster, policy):
            if pod.ip is None or view.key in targets:
                continue  # unplaced, or a DNS server itself
            # Egress is decided by the pod's namespace and labels alone: replicas share it.
            alike = (view.namespace, frozenset(view.labels.items()))
            denied = blocked_on.get(alike)
            if denied is None:
                denied = blocked_on[alike] = [
                    protocol
                    for protocol, number in sorted(numbers.items())
                    if not any(
                        evaluate(
                            policies,
                            view,
                            "egress",
                            Peer(ep.ip, ev, f"pod {ev.key}"),
                            protocol,
                            number,
                        ).is_allowed
                        for ep, ev in endpoints
                        if ep.ip is not None
                    )
                ]
            for protocol in denied:
                blocked.setdefault(protocol, []).append(view.key)
        if not blocked:
            continue
        pods = sorted({key for keys in blocked.values() for key in keys})
        on = ", ".join(f"{DNS_PORT}/{p.value}" for p in sorted(blocked))
        shown = ", ".join(pods[:3]) + (f" and {len(pods) - 3} more" if len(pods) > 3 else "")
        yield LintFinding(
            policy.key,
            "egress",
            LintKind.DNS_BLOCKED,
            f"isolates {shown} for egress and no rule allows them to reach"
            f" {CLUSTER_DNS_SERVICE} ({service.cluster_ip}) on {on}: name lookups fail",
            "add an egress rule to namespaceSelector {kubernetes.io/metadata.name:"
            " kube-system} + podSelector {k8s-app: kube-dns} on 53/UDP and 53/TCP",
        )
