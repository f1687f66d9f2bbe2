"""The upstream Kubernetes e2e NetworkPolicy suite, test by test, against netsim.

Source: ``test/e2e/network/netpol/network_policy.go`` of kubernetes/kubernetes, read
with the helpers of the same folder: ``reachability.go`` and ``truthtable.go`` (the
Reachability matrix and its Expect* calls) and the policy builders
(``GenNetworkPolicyWithName...``, ``SetSpecIngressRules``, ``SetSpecEgressRules``).
Two versions of the file hold the same 48 tests with the same policies:

* commit 008b3652 (:data:`PER_TEST_PODS_COMMIT`): each test names the pods it creates
  (``"x/a", "x/b", "y/a"``), so its matrix is that many pods square;
* commit 9db638c0 (:data:`NINE_PODS_COMMIT`): every test creates all nine pods x/a..z/c
  (the classic 9x9 matrix) and two tests make one expectation call more for pods the
  later version does not create (:attr:`Probe.nine_pods_extra`).

Every probe is checked under both models. Upstream's setup: namespaces x, y and z
carrying only the API server's ``kubernetes.io/metadata.name`` label; pods labelled
``pod: <name>``, each serving one container port per port and protocol of the test,
named ``serve-<port>-<protocol>``. A test expects "all allowed", edits that
expectation with ``Expect``, ``ExpectPeer``, ``ExpectAllIngress`` and
``ExpectAllEgress`` (later calls win), and each ``ValidateOrFail`` probes every pod to
every pod on one port/protocol, loopback (a pod to itself) ignored.

Here each upstream test is an :class:`UpstreamTest`; each state of the cluster that it
probes (policies created, updated or deleted, labels added) is a :class:`Step`; each
``ValidateOrFail`` of that state is a :class:`Probe` holding upstream's expectation calls
as data. :func:`expected_matrix` replays them; netsim allows a connection when the
client's egress and the server's ingress both allow it
(:func:`netsim.policy.semantics.evaluate`), and the two matrices must agree off the
diagonal.

Not modelled: how upstream reaches a server (a Service's ClusterIP or the pod IP,
through ``agnhost connect``); NetworkPolicy is enforced on the pod after DNAT, so the
question asked is the same pod-to-pod one. Namespaces are named x, y and z rather than
upstream's generated ``netpol-<n>-x``; the selectors name them through the label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType
from typing import Final, Literal

import pytest

from netsim.model.objects import (
    ContainerPort,
    IPBlock,
    LabelSelector,
    NetworkPolicy,
    NetworkPolicyPeer,
    NetworkPolicyPort,
    NetworkPolicyRule,
    Protocol,
    SelectorRequirement,
)
from netsim.policy.semantics import Peer, PodView, PolicyDecision, evaluate

PER_TEST_PODS_COMMIT: Final = "008b3652959ca58af8be3fb5b6ecfe9ae7638282"
NINE_PODS_COMMIT: Final = "9db638c0807a720aa050ebcef69c32e4d4cce280"
NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"  # v1.LabelMetadataName
POD_LABEL: Final = "pod"  # model.go: Pod.LabelSelector() is {"pod": <name>}
NAMESPACES: Final = ("x", "y", "z")
POD_NAMES: Final = ("a", "b", "c")
ALL_PODS: Final = tuple(f"{ns}/{name}" for ns in NAMESPACES for name in POD_NAMES)
# Pod IPs are the cluster's to pick: 10.244.<1 + namespace>.<10 + pod>, as in
# test_upstream_truth_tables.py; only the ipBlock tests read them.
POD_IPS: Final[Mapping[str, IPv4Address]] = MappingProxyType(
    {key: IPv4Address(f"10.244.{1 + i // 3}.{10 + i % 3}") for i, key in enumerate(ALL_PODS)}
)
TCP, UDP, SCTP = Protocol.TCP, Protocol.UDP, Protocol.SCTP

Labels = Mapping[str, str]
Matrix = Mapping[tuple[str, str], bool]  # (client, server) -> is connected


NO_ADDED_LABELS: Final[Mapping[str, Labels]] = MappingProxyType({})


def _no_added_labels() -> Mapping[str, Labels]:
    return field(default_factory=lambda: NO_ADDED_LABELS)


# -- upstream's expectation calls, as data ---------------------------------------------


@dataclass(frozen=True, slots=True)
class PodMatch:
    """Upstream's ``Peer`` matcher: a namespace and a pod name, None matching any."""

    namespace: str | None = None
    name: str | None = None


ANY_POD: Final = PodMatch()


def in_namespace(namespace: str) -> PodMatch:
    """``&Peer{Namespace: ns}``: every pod of ``namespace``."""
    return PodMatch(namespace=namespace)


def pod_named(key: str) -> PodMatch:
    """``&Peer{Namespace: ns, Pod: name}`` (or a ``PodString``) for ``ns/name``."""
    namespace, name = key.split("/")
    return PodMatch(namespace, name)


def pod_match_matches(match: PodMatch, key: str) -> bool:
    """Whether ``match`` matches the pod ``namespace/name``.

    >>> pod_match_matches(in_namespace("x"), "x/b"), pod_match_matches(pod_named("x/a"), "x/b")
    (True, False)
    """
    namespace, name = key.split("/")
    return match.namespace in (None, namespace) and match.name in (None, name)


@dataclass(frozen=True, slots=True)
class Expectation:
    """One expectation call: connections from ``clients`` to ``servers`` are ``is_connected``."""

    clients: PodMatch
    servers: PodMatch
    is_connected: bool


def expect(client: str, server: str, is_connected: bool) -> Expectation:
    """``reachability.Expect(client, server, connected)``: one cell."""
    return Expectation(pod_named(client), pod_named(server), is_connected)


def expect_peer(clients: PodMatch, servers: PodMatch, is_connected: bool) -> Expectation:
    """``reachability.ExpectPeer(from, to, connected)``: every matching cell."""
    return Expectation(clients, servers, is_connected)


def expect_all_ingress(server: str, is_connected: bool) -> Expectation:
    """``reachability.ExpectAllIngress(server, connected)``: the server's column."""
    return Expectation(ANY_POD, pod_named(server), is_connected)


def expect_all_egress(client: str, is_connected: bool) -> Expectation:
    """``reachability.ExpectAllEgress(client, connected)``: the client's row."""
    return Expectation(pod_named(client), ANY_POD, is_connected)


def expected_matrix(
    pods: Iterable[str], expectations: Iterable[Expectation], *, start: bool = True
) -> dict[tuple[str, str], bool]:
    """Replay expectation calls in order on a matrix of ``pods`` that starts all ``start``.

    Args:
        pods: the test's pods, ``namespace/name``.
        expectations: upstream's calls, in the order the test makes them.
        start: ``NewReachability``'s default expectation.

    Returns:
        (client, server) -> whether the connection is expected to succeed.

    Raises:
        ValueError: an expectation matches no cell (a pod the test does not create).

    >>> m = expected_matrix(
    ...     ("x/a", "x/b"), (expect_all_ingress("x/a", False), expect("x/b", "x/a", True))
    ... )
    >>> m["x/b", "x/a"], m["x/a", "x/b"], m["x/a", "x/a"]
    (True, True, False)
    """
    pods = tuple(pods)
    matrix = {(client, server): start for client in pods for server in pods}
    for expectation in expectations:
        cells = [
            (client, server)
            for client, server in matrix
            if pod_match_matches(expectation.clients, client)
            and pod_match_matches(expectation.servers, server)
        ]
        if not cells:
            raise ValueError(f"{expectation} matches none of the pods {pods}")
        for cell in cells:
            matrix[cell] = expectation.is_connected
    return matrix


def render_matrix(pods: tuple[str, ...], matrix: Matrix) -> str:
    """A row per client, a column per server: ``.`` allowed, ``X`` denied, ``-`` loopback.

    >>> print(render_matrix(("x/a", "y/a"), {("x/a", "y/a"): False, ("y/a", "x/a"): True}))
         x/a  y/a
    x/a  -    X
    y/a  .    -
    """
    width = max(len(pod) for pod in pods) + 2
    lines = [" " * width + "".join(pod.ljust(width) for pod in pods)]
    for client in pods:
        marks = (
            "-" if client == server else "." if matrix[client, server] else "X" for server in pods
        )
        lines.append(client.ljust(width) + "".join(mark.ljust(width) for mark in marks))
    return "\n".join(line.rstrip() for line in lines)


# -- the cases: upstream tests, their states and their probes --------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """One ``ValidateOrFail``: a port, a protocol and the expectation calls behind it."""

    port: int
    protocol: Protocol
    expectations: tuple[Expectation, ...] = ()
    nine_pods_extra: tuple[Expectation, ...] = ()  # made after the others at NINE_PODS_COMMIT


@dataclass(frozen=True, slots=True)
class Step:
    """A state of the cluster an upstream test probes, and the probes made in it.

    ``added_pod_labels`` (``AddPodLabels``) and ``added_namespace_labels``
    (``AddNamespaceLabel``) are merged over the pods' and namespaces' own labels.
    """

    name: str
    policies: tuple[NetworkPolicy, ...]
    probes: tuple[Probe, ...]
    added_pod_labels: Mapping[str, Labels] = _no_added_labels()
    added_namespace_labels: Mapping[str, Labels] = _no_added_labels()


@dataclass(frozen=True, slots=True)
class UpstreamTest:
    """One ``f.It`` of network_policy.go: the pods and ports it creates, and its steps."""

    slug: str
    context: str
    name: str
    pods: tuple[str, ...]
    steps: tuple[Step, ...]
    ports: tuple[int, ...] = (80,)
    protocols: tuple[Protocol, ...] = (TCP,)


# -- policy builders: upstream's Gen*/SetSpec* calls, as netsim values -----------------


EVERYTHING: Final = LabelSelector()


def match_labels(labels: Labels) -> LabelSelector:
    """``metav1.LabelSelector{MatchLabels: labels}``."""
    return LabelSelector(MappingProxyType(dict(labels)))


def match_expression(key: str, operator: str, *values: str) -> LabelSelector:
    """``metav1.LabelSelector{MatchExpressions: [{key, operator, values}]}``."""
    return LabelSelector(match_expressions=(SelectorRequirement(key, operator, values),))


def pod_label(name: str) -> LabelSelector:
    """``{MatchLabels: {"pod": name}}``."""
    return match_labels({POD_LABEL: name})


def namespace_label(namespace: str) -> LabelSelector:
    """``{MatchLabels: {"kubernetes.io/metadata.name": namespace}}``."""
    return match_labels({NAMESPACE_NAME_LABEL: namespace})


def peer(
    pods: LabelSelector | None = None, namespaces: LabelSelector | None = None
) -> NetworkPolicyPeer:
    """``NetworkPolicyPeer{PodSelector: pods, NamespaceSelector: namespaces}``."""
    return NetworkPolicyPeer(pod_selector=pods, namespace_selector=namespaces)


def ip_block(cidr: IPv4Network, *excepts: IPv4Network) -> NetworkPolicyPeer:
    """``NetworkPolicyPeer{IPBlock: &IPBlock{CIDR: cidr, Except: excepts}}``."""
    return NetworkPolicyPeer(ip_block=IPBlock(cidr, excepts))


def port(number: int | str, protocol: Protocol = TCP) -> NetworkPolicyPort:
    """``NetworkPolicyPort{Port: number, Protocol: protocol}`` (the API defaults TCP)."""
    return NetworkPolicyPort(protocol, number)


def rule(
    *peers: NetworkPolicyPeer, ports: tuple[NetworkPolicyPort, ...] | None = None
) -> NetworkPolicyRule:
    """An ingress or egress rule; no peers (ports) is upstream's nil ``From``/``To`` (``Ports``)."""
    return NetworkPolicyRule(peers or None, ports)


def netpol(
    name: str,
    namespace: str,
    pod_selector: LabelSelector,
    *,
    ingress: tuple[NetworkPolicyRule, ...] | None = None,
    egress: tuple[NetworkPolicyRule, ...] | None = None,
    policy_types: tuple[str, ...] | None = None,
) -> NetworkPolicy:
    """``GenNetworkPolicyWithName...(name, selector, SetSpec...Rules(...))`` created in ``namespace``.

    ``ingress``/``egress`` is None when the test does not call ``SetSpecIngressRules``
    (``SetSpecEgressRules``); each call adds its type to ``policyTypes``, as upstream's
    builder does, unless the test sets ``policy_types`` itself.
    """
    types = policy_types or tuple(
        kind for kind, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None
    )
    return NetworkPolicy(namespace, name, pod_selector, types, ingress or (), egress or ())


def host_cidr(pod: str) -> IPv4Network:
    """``<pod IP>/32``, as upstream builds an ipBlock from a running pod's ``status.podIP``."""
    return IPv4Network(POD_IPS[pod])


def large_cidr_for(pod: str) -> IPv4Network:
    """``makeLargeCIDRForIP``: the /4 holding the pod's IP.

    At NINE_PODS_COMMIT the tests write ``<x/a's IP>/4`` instead, the same network.

    >>> large_cidr_for("x/b")
    IPv4Network('0.0.0.0/4')
    """
    return IPv4Network((POD_IPS[pod], 4), strict=False)


def single(name: str, policies: tuple[NetworkPolicy, ...], *probes: Probe) -> tuple[Step, ...]:
    """The steps of a test that probes one state only."""
    return (Step(name, policies, probes),)


# -- Describe "Netpol" / Context "NetworkPolicy between server and client" -------------

MAIN: Final = "NetworkPolicy between server and client"


def _main_context() -> list[UpstreamTest]:
    pod_a = pod_label("a")
    not_x = match_expression(NAMESPACE_NAME_LABEL, "NotIn", "x")
    deny_ingress_x = netpol("deny-ingress", "x", EVERYTHING, ingress=())
    allow_81_from_y = netpol(
        "allow-client-a-via-ns-selector",
        "x",
        pod_a,
        ingress=(rule(peer(namespaces=namespace_label("y")), ports=(port(81),)),),
    )
    from_y_only_to_x_a = (
        expect_peer(in_namespace("x"), pod_named("x/a"), False),
        expect_peer(in_namespace("y"), pod_named("x/a"), True),
        expect_peer(in_namespace("z"), pod_named("x/a"), False),
    )
    from_not_x_or_z_to_x_a = (
        expect_peer(in_namespace("x"), pod_named("x/a"), False),
        expect_peer(in_namespace("z"), pod_named("x/a"), False),
    )
    x_b_only_to_x_a = (expect_all_ingress("x/a", False), expect("x/b", "x/a", True))
    deny_all_x = netpol("deny-all", "x", EVERYTHING, ingress=(), egress=())
    nothing_in_or_out_of_x = (
        expect_peer(ANY_POD, in_namespace("x"), False),
        expect_peer(in_namespace("x"), ANY_POD, False),
    )
    except_x_b = netpol(
        "allow-client-a-via-cidr-egress-rule",
        "x",
        pod_a,
        egress=(rule(ip_block(large_cidr_for("x/b"), host_cidr("x/b"))),),
    )
    t = [
        UpstreamTest(
            "default-deny-ingress",
            MAIN,
            "should support a 'default-deny-ingress' policy",
            ("x/a", "x/b", "y/a", "y/b"),
            single(
                "deny-ingress",
                (deny_ingress_x,),
                Probe(80, TCP, (expect_peer(ANY_POD, in_namespace("x"), False),)),
            ),
        ),
        UpstreamTest(
            "default-deny-all",
            MAIN,
            "should support a 'default-deny-all' policy",
            ("x/a", "x/b", "y/a"),
            single("deny-all", (deny_all_x,), Probe(80, TCP, nothing_in_or_out_of_x)),
        ),
        UpstreamTest(
            "same-namespace-pod-selector",
            MAIN,
            "should enforce policy to allow traffic from pods within server namespace"
            " based on PodSelector",
            ("x/a", "x/b", "x/c", "y/a"),
            single(
                "x-a-allows-x-b",
                (
                    netpol(
                        "x-a-allows-x-b",
                        "x",
                        pod_a,
                        ingress=(rule(peer(pods=pod_label("b"))),),
                    ),
                ),
                Probe(80, TCP, x_b_only_to_x_a),
            ),
        ),
        UpstreamTest(
            "ingress-for-a-target",
            MAIN,
            "should enforce policy to allow ingress traffic for a target",
            ("x/a", "x/b", "y/a"),
            single(
                "deny-all-and-allow-all-to-a",
                (
                    netpol("deny-all", "x", EVERYTHING, ingress=()),
                    netpol(
                        "allow-all-to-a",
                        "x",
                        pod_a,
                        ingress=(rule(peer(pods=EVERYTHING, namespaces=EVERYTHING)),),
                    ),
                ),
                Probe(
                    80,
                    TCP,
                    (expect_all_ingress("x/a", True), expect_all_ingress("x/b", False)),
                    nine_pods_extra=(expect_all_ingress("x/c", False),),
                ),
            ),
        ),
        UpstreamTest(
            "from-all-namespaces",
            MAIN,
            "should enforce policy to allow ingress traffic from pods in all namespaces",
            ("x/a", "x/b", "y/a", "z/a"),
            single(
                "allow-from-another-ns",
                (
                    netpol(
                        "allow-from-another-ns",
                        "x",
                        pod_a,
                        ingress=(rule(peer(namespaces=match_labels({}))),),
                    ),
                ),
                Probe(80, TCP),
            ),
        ),
        UpstreamTest(
            "other-namespace-namespace-selector",
            MAIN,
            "should enforce policy to allow traffic only from a different namespace,"
            " based on NamespaceSelector",
            ("x/a", "x/b", "y/a", "z/a"),
            single(
                "allow-client-a-via-ns-selector",
                (
                    netpol(
                        "allow-client-a-via-ns-selector",
                        "x",
                        pod_a,
                        ingress=(rule(peer(namespaces=namespace_label("y"))),),
                    ),
                ),
                Probe(80, TCP, from_not_x_or_z_to_x_a),
            ),
        ),
        UpstreamTest(
            "pod-selector-match-expressions",
            MAIN,
            "should enforce policy based on PodSelector with MatchExpressions",
            ("x/a", "x/b", "y/a"),
            single(
                "x-a-allows-x-b",
                (
                    netpol(
                        "x-a-allows-x-b",
                        "x",
                        pod_a,
                        ingress=(rule(peer(pods=match_expression(POD_LABEL, "In", "b"))),),
                    ),
                ),
                Probe(80, TCP, x_b_only_to_x_a),
            ),
        ),
        UpstreamTest(
            "namespace-selector-match-expressions",
            MAIN,
            "should enforce policy based on NamespaceSelector with MatchExpressions",
            ("x/a", "x/b", "y/a", "z/a"),
            single(
                "allow-ns-y-match-selector",
                (
                    netpol(
                        "allow-ns-y-match-selector",
                        "x",
                        pod_a,
                        ingress=(
                            rule(
                                peer(namespaces=match_expression(NAMESPACE_NAME_LABEL, "In", "y"))
                            ),
                        ),
                    ),
                ),
                Probe(80, TCP, from_not_x_or_z_to_x_a),
            ),
        ),
        UpstreamTest(
            "pod-selector-or-namespace-selector",
            MAIN,
            "should enforce policy based on PodSelector or NamespaceSelector",
            ("x/a", "x/b", "x/c", "y/a"),
            single(
                "allow-ns-y-match-selector",
                (
                    netpol(
                        "allow-ns-y-match-selector",
                        "x",
                        pod_a,
                        ingress=(rule(peer(namespaces=not_x), peer(pods=pod_label("b"))),),
                    ),
                ),
                Probe(80, TCP, (expect("x/a", "x/a", False), expect("x/c", "x/a", False))),
            ),
        ),
        UpstreamTest(
            "pod-selector-and-namespace-selector",
            MAIN,
            "should enforce policy based on PodSelector and NamespaceSelector",
            ("x/a", "x/b", "y/a", "y/b", "z/b"),
            single(
                "allow-ns-y-podselector-and-nsselector",
                (
                    netpol(
                        "allow-ns-y-podselector-and-nsselector",
                        "x",
                        pod_a,
                        ingress=(rule(peer(pods=pod_label("b"), namespaces=not_x)),),
                    ),
                ),
                Probe(
                    80,
                    TCP,
                    (
                        expect_all_ingress("x/a", False),
                        expect("y/b", "x/a", True),
                        expect("z/b", "x/a", True),
                    ),
                ),
            ),
        ),
        UpstreamTest(
            "multiple-pod-and-namespace-selectors",
            MAIN,
            "should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
            ("x/a", "x/b", "y/a", "y/b", "y/c"),
            single(
                "allow-ns-y-z-pod-b-c",
                (
                    netpol(
                        "allow-ns-y-z-pod-b-c",
                        "x",
                        pod_a,
                        ingress=(
                            rule(
                                peer(
                                    pods=match_expression(POD_LABEL, "In", "b", "c"),
                                    namespaces=not_x,
                                )
                            ),
                        ),
                    ),
                ),
                Probe(
                    80,
                    TCP,
                    (
                        expect_peer(in_namespace("x"), pod_named("x/a"), False),
                        expect("y/a", "x/a", False),
                    ),
                    nine_pods_extra=(expect("z/a", "x/a", False),),
                ),
            ),
        ),
        UpstreamTest(
            "any-pod-selectors",
            MAIN,
            "should enforce policy based on any PodSelectors",
            ("x/a", "x/b", "x/c"),
            single(
                "allow-ns-x-pod-b-c",
                (
                    netpol(
                        "allow-ns-x-pod-b-c",
                        "x",
                        pod_a,
                        ingress=(rule(peer(pods=pod_label("b")), peer(pods=pod_label("c"))),),
                    ),
                ),
                Probe(
                    80,
                    TCP,
                    (
                        expect_all_ingress("x/a", False),
                        expect("x/b", "x/a", True),
                        expect("x/c", "x/a", True),
                    ),
                ),
            ),
        ),
        UpstreamTest(
            "pod-in-other-namespace",
            MAIN,
            "should enforce policy to allow traffic only from a pod in a different namespace"
            " based on PodSelector and NamespaceSelector",
            ("x/a", "x/b", "y/a", "y/b", "z/a"),
            single(
                "allow-ns-y-pod-a-via-namespace-pod-selector",
                (
                    netpol(
                        "allow-ns-y-pod-a-via-namespace-pod-selector",
                        "x",
                        pod_a,
                        ingress=(rule(peer(pods=pod_a, namespaces=namespace_label("y"))),),
                    ),
                ),
                Probe(80, TCP, (expect_all_ingress("x/a", False), expect("y/a", "x/a", True))),
            ),
        ),
        UpstreamTest(
            "ports",
            MAIN,
            "should enforce policy based on Ports",
            ("x/a", "x/b", "y/a", "y/b", "z/a"),
            single("allow-port-81", (allow_81_from_y,), Probe(81, TCP, from_y_only_to_x_a)),
            ports=(81,),
        ),
        UpstreamTest(
            "stacked-policies",
            MAIN,
            "should enforce multiple, stacked policies with overlapping podSelectors",
            ("x/a", "x/b", "y/a", "y/b", "z/a"),
            (
                Step(
                    "allow-port-81",
                    (allow_81_from_y,),
                    (
                        Probe(81, TCP, from_y_only_to_x_a),
                        Probe(80, TCP, (expect_all_ingress("x/a", False),)),
                    ),
                ),
                Step(
                    "allow-port-81-and-80",
                    (
                        allow_81_from_y,
                        netpol(
                            "allow-client-a-via-ns-selector-80",
                            "x",
                            pod_a,
                            ingress=(
                                rule(peer(namespaces=namespace_label("y")), ports=(port(80),)),
                            ),
                        ),
                    ),
                    (Probe(80, TCP, from_y_only_to_x_a),),
                ),
            ),
            ports=(80, 81),
        ),
        UpstreamTest(
            "allow-all",
            MAIN,
            "should support allow-all policy",
            ("x/a", "x/b", "y/a"),
            single(
                "allow-all",
                (netpol("allow-all", "x", match_labels({}), ingress=(rule(),)),),
                Probe(80, TCP),
                Probe(81, TCP),
            ),
            ports=(80, 81),
        ),
        UpstreamTest(
            "ingress-named-port",
            MAIN,
            "should allow ingress access on one named port",
            ("x/a", "x/b", "y/a"),
            single(
                "allow-serve-81-tcp",
                (
                    netpol(
                        "allow-all",
                        "x",
                        match_labels({}),
                        ingress=(rule(ports=(port("serve-81-tcp"),)),),
                    ),
                ),
                Probe(81, TCP),
                Probe(80, TCP, (expect_peer(ANY_POD, in_namespace("x"), False),)),
            ),
            ports=(80, 81),
        ),
        UpstreamTest(
            "ingress-from-namespace-named-port",
            MAIN,
            "should allow ingress access from namespace on one named port",
            ("x/a", "x/b", "y/a", "z/a"),
            single(
                "allow-serve-80-tcp-from-y",
                (
                    netpol(
                        "allow-client-a-via-ns-selector-80",
                        "x",
                        pod_a,
                        ingress=(
                            rule(
                                peer(namespaces=namespace_label("y")),
                                ports=(port("serve-80-tcp", TCP),),
                            ),
                        ),
                    ),
                ),
                Probe(80, TCP, from_not_x_or_z_to_x_a),
                Probe(81, TCP, (expect_all_ingress("x/a", False),)),
            ),
            ports=(80, 81),
        ),
        UpstreamTest(
            "egress-named-port",
            MAIN,
            "should allow egress access on one named port",
            ("x/a", "y/a"),
            single(
                "allow-egress-serve-80-tcp",
                (
                    netpol(
                        "allow-egress",
                        "x",
                        match_labels({}),
                        egress=(rule(ports=(port("serve-80-tcp"),)),),
                    ),
                ),
                Probe(80, TCP),
                Probe(81, TCP, (expect_peer(in_namespace("x"), ANY_POD, False),)),
            ),
            ports=(80, 81),
        ),
        UpstreamTest(
            "updated-policy",
            MAIN,
            "should enforce updated policy",
            ("x/a", "y/a"),
            (
                Step(
                    "allow-all",
                    (
                        netpol(
                            "allow-all-mutate-to-deny-all",
                            "x",
                            match_labels({}),
                            ingress=(rule(),),
                        ),
                    ),
                    (Probe(81, TCP),),
                ),
                Step(
                    "updated-to-deny-all",
                    (netpol("allow-all-mutate-to-deny-all", "x", match_labels({}), ingress=()),),
                    (Probe(81, TCP, (expect_peer(ANY_POD, in_namespace("x"), False),)),),
                ),
            ),
            ports=(81,),
        ),
    ]
    from_ns2_updated = (
        netpol(
            "allow-client-a-via-ns-selector",
            "x",
            pod_a,
            ingress=(rule(peer(namespaces=match_labels({"ns2": "updated"}))),),
        ),
    )
    from_pod_b_updated = (
        netpol(
            "allow-client-a-via-pod-selector",
            "x",
            pod_a,
            ingress=(rule(peer(pods=match_labels({"pod": "b", "pod2": "updated"}))),),
        ),
    )
    deny_isolated = (
        netpol(
            "deny-ingress-via-label-selector",
            "x",
            match_labels({"target": "isolated"}),
            ingress=(),
        ),
    )
    t += [
        UpstreamTest(
            "updated-namespace",
            MAIN,
            "should allow ingress access from updated namespace",
            ("x/a", "y/a"),
            (
                Step(
                    "before-label",
                    from_ns2_updated,
                    (Probe(80, TCP, (expect_all_ingress("x/a", False),)),),
                ),
                Step(
                    "y-labelled-ns2-updated",
                    from_ns2_updated,
                    (
                        Probe(
                            80,
                            TCP,
                            (
                                expect_all_ingress("x/a", False),
                                expect_peer(in_namespace("y"), ANY_POD, True),
                            ),
                        ),
                    ),
                    added_namespace_labels=MappingProxyType({"y": {"ns2": "updated"}}),
                ),
            ),
        ),
        UpstreamTest(
            "updated-pod",
            MAIN,
            "should allow ingress access from updated pod",
            ("x/a", "x/b"),
            (
                Step(
                    "before-label",
                    from_pod_b_updated,
                    (Probe(80, TCP, (expect_all_ingress("x/a", False),)),),
                ),
                Step(
                    "x-b-labelled-pod2-updated",
                    from_pod_b_updated,
                    (Probe(80, TCP, x_b_only_to_x_a),),
                    added_pod_labels=MappingProxyType({"x/b": {"pod": "b", "pod2": "updated"}}),
                ),
            ),
        ),
        UpstreamTest(
            "deny-other-namespaces",
            MAIN,
            "should deny ingress from pods on other namespaces",
            ("x/a", "x/b", "y/a", "z/a"),
            single(
                "deny-empty-policy",
                (
                    netpol(
                        "deny-empty-policy",
                        "x",
                        EVERYTHING,
                        ingress=(rule(peer(pods=match_labels({}))),),
                    ),
                ),
                Probe(
                    80,
                    TCP,
                    (
                        expect_peer(in_namespace("y"), in_namespace("x"), False),
                        expect_peer(in_namespace("z"), in_namespace("x"), False),
                    ),
                ),
            ),
        ),
        UpstreamTest(
            "deny-updated-pod",
            MAIN,
            "should deny ingress access to updated pod",
            ("x/a", "y/a"),
            (
                Step("before-label", deny_isolated, (Probe(80, TCP),)),
                Step(
                    "x-a-labelled-target-isolated",
                    deny_isolated,
                    (Probe(80, TCP, (expect_all_ingress("x/a", False),)),),
                    added_pod_labels=MappingProxyType({"x/a": {"target": "isolated"}}),
                ),
            ),
        ),
        UpstreamTest(
            "deny-egress-pod-selector",
            MAIN,
            "should deny egress from pods based on PodSelector",
            ("x/a", "x/b", "y/a"),
            single(
                "deny-egress-pod-a",
                (netpol("deny-egress-pod-a", "x", pod_a, egress=()),),
                Probe(80, TCP, (expect_all_egress("x/a", False),)),
            ),
        ),
        UpstreamTest(
            "deny-egress-namespace",
            MAIN,
            "should deny egress from all pods in a namespace",
            ("x/a", "x/b", "y/a"),
            single(
                "deny-egress-ns-x",
                (netpol("deny-egress-ns-x", "x", EVERYTHING, egress=()),),
                Probe(80, TCP, (expect_peer(in_namespace("x"), ANY_POD, False),)),
            ),
        ),
        UpstreamTest(
            "ingress-and-egress-together",
            MAIN,
            "should work with Ingress, Egress specified together",
            ("x/a", "x/b", "x/c", "y/a"),
            single(
                "ingress-from-b-egress-to-80",
                (
                    netpol(
                        "allow-client-a-via-pod-selector",
                        "x",
                        pod_a,
                        ingress=(rule(peer(pods=pod_label("b"))),),
                        egress=(rule(ports=(port(80),)),),
                        policy_types=("Egress", "Ingress"),
                    ),
                ),
                Probe(80, TCP, x_b_only_to_x_a),
                Probe(
                    81,
                    TCP,
                    (
                        expect_all_ingress("x/a", False),
                        expect_all_egress("x/a", False),
                        expect("x/b", "x/a", True),
                    ),
                ),
            ),
            ports=(80, 81),
        ),
        UpstreamTest(
            "client-side-egress-deny",
            MAIN,
            "should support denying of egress traffic on the client side"
            " (even if the server explicitly allows this traffic)",
            ("x/a", "y/a", "y/b"),
            single(
                "egress-to-y-a-ingress-from-x-a",
                (
                    netpol(
                        "allow-to-ns-y-pod-a",
                        "x",
                        pod_a,
                        egress=(rule(peer(pods=pod_a, namespaces=namespace_label("y"))),),
                    ),
                    netpol(
                        "allow-from-xa-on-ya-match-selector",
                        "y",
                        pod_a,
                        ingress=(rule(peer(pods=pod_a, namespaces=namespace_label("x"))),),
                    ),
                    netpol(
                        "allow-from-xa-on-yb-match-selector",
                        "y",
                        pod_label("b"),
                        ingress=(rule(peer(pods=pod_a, namespaces=namespace_label("x"))),),
                    ),
                ),
                Probe(
                    80,
                    TCP,
                    (
                        expect_peer(pod_named("x/a"), ANY_POD, False),
                        expect_peer(ANY_POD, pod_named("y/a"), False),
                        expect_peer(pod_named("x/a"), pod_named("y/a"), True),
                        expect_peer(ANY_POD, pod_named("y/b"), False),
                    ),
                ),
            ),
        ),
        UpstreamTest(
            "egress-pod-and-namespace-selector",
            MAIN,
            "should enforce egress policy allowing traffic to a server in a different namespace"
            " based on PodSelector and NamespaceSelector",
            ("x/a", "y/a", "y/b"),
            single(
                "allow-to-ns-y-pod-a",
                (
                    netpol(
                        "allow-to-ns-y-pod-a",
                        "x",
                        pod_a,
                        egress=(rule(peer(pods=pod_a, namespaces=namespace_label("y"))),),
                    ),
                ),
                Probe(80, TCP, (expect_all_egress("x/a", False), expect("x/a", "y/a", True))),
            ),
        ),
        UpstreamTest(
            "any-port-one-protocol",
            MAIN,
            "should enforce ingress policy allowing any port traffic to a server"
            " on a specific protocol",
            ("x/a", "y/a"),
            single(
                "allow-ingress-by-proto",
                (
                    netpol(
                        "allow-ingress-by-proto",
                        "x",
                        pod_a,
                        ingress=(rule(ports=(NetworkPolicyPort(TCP),)),),
                    ),
                ),
                Probe(80, TCP),
                Probe(80, UDP, (expect_peer(ANY_POD, pod_named("x/a"), False),)),
            ),
            protocols=(TCP, UDP),
        ),
    ]
    only_80_in = netpol(
        "allow-ingress-port-80", "x", match_labels({}), ingress=(rule(ports=(port(80),)),)
    )
    only_80_out = netpol(
        "allow-egress-port-80", "x", match_labels({}), egress=(rule(ports=(port(80),)),)
    )
    allow_egress_for_a = netpol("allow-egress-for-target", "x", pod_a, egress=(rule(),))
    t += [
        UpstreamTest(
            "ingress-allow-all-precedence",
            MAIN,
            "should enforce multiple ingress policies with ingress allow-all policy"
            " taking precedence",
            ("x/a", "y/a"),
            (
                Step(
                    "allow-port-80",
                    (only_80_in,),
                    (Probe(81, TCP, (expect_peer(ANY_POD, in_namespace("x"), False),)),),
                ),
                Step(
                    "allow-port-80-and-allow-all",
                    (
                        only_80_in,
                        netpol("allow-ingress", "x", match_labels({}), ingress=(rule(),)),
                    ),
                    (Probe(81, TCP),),
                ),
            ),
            ports=(81,),
        ),
        UpstreamTest(
            "egress-allow-all-precedence",
            MAIN,
            "should enforce multiple egress policies with egress allow-all policy"
            " taking precedence",
            ("x/a", "y/a"),
            (
                Step(
                    "allow-port-80",
                    (only_80_out,),
                    (Probe(81, TCP, (expect_peer(in_namespace("x"), ANY_POD, False),)),),
                ),
                Step(
                    "allow-port-80-and-allow-all",
                    (
                        only_80_out,
                        netpol("allow-egress", "x", match_labels({}), egress=(rule(),)),
                    ),
                    (Probe(81, TCP),),
                ),
            ),
            ports=(81,),
        ),
        UpstreamTest(
            "policies-deleted",
            MAIN,
            "should stop enforcing policies after they are deleted",
            ("x/a", "y/a"),
            (
                Step("deny-all", (deny_all_x,), (Probe(80, TCP, nothing_in_or_out_of_x),)),
                Step("policies-deleted", (), (Probe(80, TCP),)),
            ),
        ),
        UpstreamTest(
            "egress-cidr",
            MAIN,
            "should allow egress access to server in CIDR block",
            ("x/a", "y/a", "y/b"),
            single(
                "allow-to-y-b-ip",
                (
                    netpol(
                        "allow-client-a-via-cidr-egress-rule",
                        "x",
                        pod_a,
                        egress=(rule(ip_block(host_cidr("y/b"))),),
                    ),
                ),
                Probe(80, TCP, (expect_all_egress("x/a", False), expect("x/a", "y/b", True))),
            ),
        ),
        UpstreamTest(
            "egress-cidr-except",
            MAIN,
            "should enforce except clause while egress access to server in CIDR block",
            ("x/a", "x/b", "x/c"),
            single(
                "allow-slash-4-except-x-b",
                (except_x_b,),
                Probe(80, TCP, (expect("x/a", "x/b", False),)),
            ),
        ),
        UpstreamTest(
            "egress-cidr-overlapping-except",
            MAIN,
            "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed",
            ("x/a", "x/b", "x/c"),
            (
                Step(
                    "allow-slash-4-except-x-b",
                    (except_x_b,),
                    (Probe(80, TCP, (expect("x/a", "x/b", False),)),),
                ),
                # UpdatePolicy with the same name replaces the first policy's spec.
                Step(
                    "updated-to-allow-x-b-ip",
                    (
                        netpol(
                            "allow-client-a-via-cidr-egress-rule",
                            "x",
                            pod_a,
                            egress=(rule(ip_block(host_cidr("x/b"))),),
                        ),
                    ),
                    (
                        Probe(
                            80,
                            TCP,
                            (expect_all_egress("x/a", False), expect("x/a", "x/b", True)),
                        ),
                    ),
                ),
            ),
        ),
        UpstreamTest(
            "ingress-egress-independent",
            MAIN,
            "should enforce policies to check ingress and egress policies can be controlled"
            " independently based on PodSelector",
            ("x/a", "x/b", "y/a"),
            (
                Step("allow-egress-for-target", (allow_egress_for_a,), (Probe(80, TCP),)),
                Step(
                    "and-deny-ingress-for-target",
                    (
                        allow_egress_for_a,
                        netpol("deny-ingress-via-label-selector", "x", pod_a, ingress=()),
                    ),
                    (Probe(80, TCP, (expect_all_ingress("x/a", False),)),),
                ),
            ),
        ),
        UpstreamTest(
            "sctp-is-not-tcp",
            MAIN,
            "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP',"
            " even if the plugin doesn't support SCTP",
            ("x/a", "y/a"),
            single(
                "deny-ingress-and-allow-sctp-81",
                (
                    deny_ingress_x,
                    netpol(
                        "allow-only-sctp-ingress-on-port-81",
                        "x",
                        pod_a,
                        ingress=(rule(ports=(port(81, SCTP),)),),
                    ),
                ),
                Probe(81, TCP, (expect_peer(ANY_POD, in_namespace("x"), False),)),
            ),
            ports=(81,),
        ),
        UpstreamTest(
            "sctp-policy-isolates",
            MAIN,
            "should properly isolate pods that are selected by a policy allowing SCTP,"
            " even if the plugin doesn't support SCTP",
            ("x/a", "y/a"),
            single(
                "allow-only-sctp-80",
                (
                    netpol(
                        "allow-only-sctp-ingress-on-port-80",
                        "x",
                        pod_a,
                        ingress=(rule(ports=(port(80, SCTP),)),),
                    ),
                ),
                Probe(81, TCP, (expect_all_ingress("x/a", False),)),
            ),
            ports=(81,),
        ),
        UpstreamTest(
            "udp-policy-is-not-tcp",
            MAIN,
            "should not allow access by TCP when a policy specifies only UDP",
            ("x/a", "y/a"),
            single(
                "allow-only-udp-81",
                (
                    netpol(
                        "allow-only-udp-ingress-on-port-81",
                        "x",
                        pod_a,
                        ingress=(rule(ports=(port(81, UDP),)),),
                    ),
                ),
                Probe(81, TCP, (expect_all_ingress("x/a", False),)),
            ),
            ports=(81,),
        ),
        UpstreamTest(
            "default-ns-label-match-labels",
            MAIN,
            "should enforce policy to allow traffic based on NamespaceSelector with"
            " MatchLabels using default ns label",
            ("x/a", "x/b", "y/a", "z/a"),
            single(
                "allow-from-y-by-name-label",
                (
                    netpol(
                        "allow-client-a-via-ns-selector-for-immutable-ns-label",
                        "x",
                        pod_a,
                        ingress=(rule(peer(namespaces=namespace_label("y"))),),
                    ),
                ),
                Probe(80, TCP, from_not_x_or_z_to_x_a),
            ),
        ),
        UpstreamTest(
            "default-ns-label-match-expressions",
            MAIN,
            "should enforce policy based on NamespaceSelector with MatchExpressions"
            " using default ns label",
            ("x/a", "x/b", "y/a", "z/a"),
            single(
                "egress-not-to-y",
                (
                    netpol(
                        "allow-ns-y-match-selector-for-immutable-ns-label",
                        "x",
                        pod_a,
                        egress=(
                            rule(
                                peer(
                                    namespaces=match_expression(NAMESPACE_NAME_LABEL, "NotIn", "y")
                                )
                            ),
                        ),
                    ),
                ),
                Probe(80, TCP, (expect_peer(pod_named("x/a"), in_namespace("y"), False),)),
            ),
        ),
    ]
    return t


# -- Describe "Netpol [LinuxOnly]" (UDP) and "Netpol [Feature:SCTPConnectivity]" (SCTP) --


def _one_protocol_context(protocol: Protocol) -> list[UpstreamTest]:
    """The UDP and SCTP contexts: the same three tests, each probing only ``protocol``."""
    context = f"NetworkPolicy between server and client using {protocol.value}"
    slug = protocol.value.lower()
    pod_a = pod_label("a")
    return [
        UpstreamTest(
            f"{slug}-default-deny-ingress",
            context,
            "should support a 'default-deny-ingress' policy",
            ("x/a", "x/b", "y/a", "y/b"),
            single(
                "deny-all",
                (netpol("deny-all", "x", EVERYTHING, ingress=()),),
                Probe(80, protocol, (expect_peer(ANY_POD, in_namespace("x"), False),)),
            ),
            protocols=(protocol,),
        ),
        UpstreamTest(
            f"{slug}-ports",
            context,
            "should enforce policy based on Ports",
            ("x/a", "x/b", "y/a", "z/a"),
            single(
                "allow-port-81",
                (
                    netpol(
                        "allow-ingress-on-port-81-ns-x",
                        "x",
                        pod_a,
                        ingress=(
                            rule(
                                peer(namespaces=namespace_label("y")),
                                ports=(port(81, protocol),),
                            ),
                        ),
                    ),
                ),
                Probe(
                    81,
                    protocol,
                    (
                        expect_peer(in_namespace("x"), pod_named("x/a"), False),
                        expect_peer(in_namespace("z"), pod_named("x/a"), False),
                    ),
                ),
            ),
            ports=(81,),
            protocols=(protocol,),
        ),
        UpstreamTest(
            f"{slug}-pod-in-other-namespace",
            context,
            "should enforce policy to allow traffic only from a pod in a different namespace"
            " based on PodSelector and NamespaceSelector",
            ("x/a", "x/b", "y/a"),
            single(
                "allow-ns-y-pod-a-via-namespace-pod-selector",
                (
                    netpol(
                        "allow-ns-y-pod-a-via-namespace-pod-selector",
                        "x",
                        pod_a,
                        ingress=(rule(peer(pods=pod_a, namespaces=namespace_label("y"))),),
                    ),
                ),
                Probe(80, protocol, (expect_all_ingress("x/a", False), expect("y/a", "x/a", True))),
            ),
            protocols=(protocol,),
        ),
    ]


UPSTREAM_TESTS: Final = (
    *_main_context(),
    *_one_protocol_context(UDP),
    *_one_protocol_context(SCTP),
)

# Every f.It of network_policy.go, in file order, by (context, name); the same at both commits.
UPSTREAM_INVENTORY: Final = (
    *(
        (MAIN, name)
        for name in (
            "should support a 'default-deny-ingress' policy",
            "should support a 'default-deny-all' policy",
            "should enforce policy to allow traffic from pods within server namespace based on"
            " PodSelector",
            "should enforce policy to allow ingress traffic for a target",
            "should enforce policy to allow ingress traffic from pods in all namespaces",
            "should enforce policy to allow traffic only from a different namespace, based on"
            " NamespaceSelector",
            "should enforce policy based on PodSelector with MatchExpressions",
            "should enforce policy based on NamespaceSelector with MatchExpressions",
            "should enforce policy based on PodSelector or NamespaceSelector",
            "should enforce policy based on PodSelector and NamespaceSelector",
            "should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
            "should enforce policy based on any PodSelectors",
            "should enforce policy to allow traffic only from a pod in a different namespace based"
            " on PodSelector and NamespaceSelector",
            "should enforce policy based on Ports",
            "should enforce multiple, stacked policies with overlapping podSelectors",
            "should support allow-all policy",
            "should allow ingress access on one named port",
            "should allow ingress access from namespace on one named port",
            "should allow egress access on one named port",
            "should enforce updated policy",
            "should allow ingress access from updated namespace",
            "should allow ingress access from updated pod",
            "should deny ingress from pods on other namespaces",
            "should deny ingress access to updated pod",
            "should deny egress from pods based on PodSelector",
            "should deny egress from all pods in a namespace",
            "should work with Ingress, Egress specified together",
            "should support denying of egress traffic on the client side (even if the server"
            " explicitly allows this traffic)",
            "should enforce egress policy allowing traffic to a server in a different namespace"
            " based on PodSelector and NamespaceSelector",
            "should enforce ingress policy allowing any port traffic to a server on a specific"
            " protocol",
            "should enforce multiple ingress policies with ingress allow-all policy taking"
            " precedence",
            "should enforce multiple egress policies with egress allow-all policy taking"
            " precedence",
            "should stop enforcing policies after they are deleted",
            "should allow egress access to server in CIDR block",
            "should enforce except clause while egress access to server in CIDR block",
            "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed",
            "should enforce policies to check ingress and egress policies can be controlled"
            " independently based on PodSelector",
            "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin"
            " doesn't support SCTP",
            "should properly isolate pods that are selected by a policy allowing SCTP, even if"
            " the plugin doesn't support SCTP",
            "should not allow access by TCP when a policy specifies only UDP",
            "should enforce policy to allow traffic based on NamespaceSelector with MatchLabels"
            " using default ns label",
            "should enforce policy based on NamespaceSelector with MatchExpressions using default"
            " ns label",
        )
    ),
    *(
        (f"NetworkPolicy between server and client using {protocol.value}", name)
        for protocol in (UDP, SCTP)
        for name in (
            "should support a 'default-deny-ingress' policy",
            "should enforce policy based on Ports",
            "should enforce policy to allow traffic only from a pod in a different namespace based"
            " on PodSelector and NamespaceSelector",
        )
    ),
)
# Upstream tests netsim cannot express, with the reason: none.
NOT_PORTED: Final[Mapping[tuple[str, str], str]] = MappingProxyType({})


# -- netsim's answer -------------------------------------------------------------------


PodModel = Literal["test-pods", "nine-pods"]
POD_MODELS: Final[Mapping[PodModel, str]] = MappingProxyType(
    {"test-pods": PER_TEST_PODS_COMMIT, "nine-pods": NINE_PODS_COMMIT}
)


def pods_in(test: UpstreamTest, model: PodModel) -> tuple[str, ...]:
    """The pods ``test`` creates under ``model``."""
    return test.pods if model == "test-pods" else ALL_PODS


def expectations_in(probe: Probe, model: PodModel) -> tuple[Expectation, ...]:
    """The expectation calls ``probe`` makes under ``model``."""
    return (
        probe.expectations if model == "test-pods" else probe.expectations + probe.nine_pods_extra
    )


def pod_views(test: UpstreamTest, step: Step, pods: tuple[str, ...]) -> dict[str, PodView]:
    """``pods`` as NetworkPolicy sees them in ``step`` of ``test``, by ``namespace/name``."""
    container_ports = tuple(
        ContainerPort(number, protocol, f"serve-{number}-{protocol.value.lower()}")
        for number in test.ports
        for protocol in test.protocols
    )
    views: dict[str, PodView] = {}
    for key in pods:
        namespace, name = key.split("/")
        namespace_labels = {
            NAMESPACE_NAME_LABEL: namespace,
            **step.added_namespace_labels.get(namespace, {}),
        }
        labels = {POD_LABEL: name, **step.added_pod_labels.get(key, {})}
        views[key] = PodView(namespace, name, labels, namespace_labels, container_ports)
    return views


def connection_decisions(
    policies: tuple[NetworkPolicy, ...],
    client: PodView,
    server: PodView,
    probe: Probe,
) -> tuple[PolicyDecision, PolicyDecision]:
    """netsim's (client egress, server ingress) decisions for ``client`` -> ``server``."""
    to_server = Peer(POD_IPS[server.key], server, f"pod {server.key}")
    from_client = Peer(POD_IPS[client.key], client, f"pod {client.key}")
    return (
        evaluate(policies, client, "egress", to_server, probe.protocol, probe.port),
        evaluate(policies, server, "ingress", from_client, probe.protocol, probe.port),
    )


# -- the tests -------------------------------------------------------------------------


CASES: Final = tuple(
    (test, step, probe, model)
    for test in UPSTREAM_TESTS
    for step in test.steps
    for probe in step.probes
    for model in POD_MODELS
)


def _case_id(test: UpstreamTest, step: Step, probe: Probe, model: PodModel) -> str:
    return f"{test.slug}/{step.name}/{probe.port}-{probe.protocol.value}/{model}"


def test_inventory_accounts_for_every_upstream_test() -> None:
    ported = [(test.context, test.name) for test in UPSTREAM_TESTS]
    assert len(UPSTREAM_INVENTORY) == 48
    assert len(set(ported)) == len(ported), "an upstream test is ported twice"
    assert set(ported).isdisjoint(NOT_PORTED)
    assert set(ported) | set(NOT_PORTED) == set(UPSTREAM_INVENTORY)


def test_cases_are_well_formed() -> None:
    ids = [_case_id(*case) for case in CASES]
    assert len(set(ids)) == len(ids), "case ids collide"
    for test, _step, probe, model in CASES:
        assert set(test.pods) <= set(ALL_PODS), test.slug
        assert probe.port in test.ports and probe.protocol in test.protocols, test.slug
        # raises on an expectation naming a pod the model does not create
        expected_matrix(pods_in(test, model), expectations_in(probe, model))
    for test, _step, probe, _model in CASES:
        for extra in probe.nine_pods_extra:  # only about pods the per-test model lacks
            with pytest.raises(ValueError, match="matches none of the pods"):
                expected_matrix(test.pods, (extra,))


@pytest.mark.parametrize(
    ("test", "step", "probe", "model"), CASES, ids=[_case_id(*case) for case in CASES]
)
def test_netsim_matches_upstream(
    test: UpstreamTest, step: Step, probe: Probe, model: PodModel
) -> None:
    pods = pods_in(test, model)
    views = pod_views(test, step, pods)
    expected = expected_matrix(pods, expectations_in(probe, model))
    got: dict[tuple[str, str], bool] = {}
    differences = []
    for client in pods:
        for server in pods:
            egress, ingress = connection_decisions(
                step.policies, views[client], views[server], probe
            )
            got[client, server] = egress.is_allowed and ingress.is_allowed
            if client == server or got[client, server] == expected[client, server]:
                continue  # upstream ignores loopback
            verdict = "allowed" if expected[client, server] else "denied"
            differences.append(
                f"  {client} -> {server}: upstream expects {verdict}, netsim says"
                f" egress: {egress.reason}; ingress: {ingress.reason}"
            )
    assert not differences, (
        f"{test.context}: {test.name}\n"
        f"step {step.name!r}, {probe.port}/{probe.protocol.value},"
        f" {model} (network_policy.go at {POD_MODELS[model][:8]})\n"
        + "\n".join(differences)
        + f"\nupstream expects:\n{render_matrix(pods, expected)}"
        + f"\nnetsim:\n{render_matrix(pods, got)}"
    )
