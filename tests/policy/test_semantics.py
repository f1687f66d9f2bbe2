"""NetworkPolicy semantics, case by case (each expectation checked by hand against the API doc)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

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
from netsim.model.spec import load_cluster
from netsim.policy.semantics import (
    Peer,
    PodView,
    PolicyDecision,
    evaluate,
    isolating_policies,
    peer_matches,
    port_matches,
)
from tests.conftest import WriteCluster

TCP, UDP, SCTP = Protocol.TCP, Protocol.UDP, Protocol.SCTP
ALL_SELECTOR = LabelSelector()


def ns_labels(name: str, **extra: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": name, **extra}


WEB = PodView(
    "shop",
    "web",
    {"app": "web"},
    ns_labels("shop", team="shop"),
    (ContainerPort(8080, TCP, "http"), ContainerPort(5353, UDP, "dns")),
)
CURL = PodView("client", "curl", {"app": "curl"}, ns_labels("client", team="client"))
OTHER = PodView("client", "other", {"app": "other"}, ns_labels("client", team="client"))
SHOP_DB = PodView("shop", "db", {"app": "db"}, ns_labels("shop", team="shop"))
HOST = PodView("kube-system", "proxy", {"app": "curl"}, ns_labels("kube-system"), (), True)


def peer(pod: PodView, ip: str = "10.244.0.2") -> Peer:
    return Peer(IPv4Address(ip), pod, f"pod {pod.key}")


def address(ip: str, what: str = "not a pod") -> Peer:
    return Peer(IPv4Address(ip), None, what)


def sel(**labels: str) -> LabelSelector:
    return LabelSelector(labels)


def policy(
    name: str = "p",
    *,
    namespace: str = "shop",
    selector: LabelSelector | None = None,
    types: tuple[str, ...] = ("Ingress",),
    ingress: tuple[NetworkPolicyRule, ...] = (),
    egress: tuple[NetworkPolicyRule, ...] = (),
) -> NetworkPolicy:
    return NetworkPolicy(
        namespace, name, selector or sel(app="web"), types, ingress=ingress, egress=egress
    )


def rule(
    *peers: NetworkPolicyPeer, ports: tuple[NetworkPolicyPort, ...] | None = None
) -> NetworkPolicyRule:
    return NetworkPolicyRule(peers or None, ports)


def ingress(pol: list[NetworkPolicy], other: Peer, port: int = 8080, proto: Protocol = TCP) -> bool:
    return evaluate(pol, WEB, "ingress", other, proto, port).is_allowed


# -- isolation ------------------------------------------------------------------------


def test_not_isolated_without_policies() -> None:
    decision = evaluate([], WEB, "ingress", peer(CURL), TCP, 8080)
    assert decision == PolicyDecision(
        True, "not isolated for ingress: no policy with policyTypes Ingress selects shop/web"
    )


def test_isolation_is_per_direction() -> None:
    deny_ingress = [policy(types=("Ingress",))]
    assert not evaluate(deny_ingress, WEB, "ingress", peer(CURL), TCP, 8080).is_allowed
    assert evaluate(deny_ingress, WEB, "egress", peer(CURL), TCP, 80).is_allowed
    deny_egress = [policy(types=("Egress",))]
    assert evaluate(deny_egress, WEB, "ingress", peer(CURL), TCP, 8080).is_allowed
    assert not evaluate(deny_egress, WEB, "egress", peer(CURL), TCP, 80).is_allowed


def test_policy_selects_only_its_namespace_and_selector() -> None:
    pol = [policy(selector=ALL_SELECTOR)]
    assert isolating_policies(pol, WEB, "ingress") == tuple(pol)
    assert isolating_policies(pol, SHOP_DB, "ingress") == tuple(pol)
    assert isolating_policies(pol, CURL, "ingress") == ()
    only_db = [policy(selector=sel(app="db"))]
    assert isolating_policies(only_db, WEB, "ingress") == ()


def test_denied_reason_names_every_isolating_policy() -> None:
    pols = [policy("b"), policy("a", ingress=(rule(NetworkPolicyPeer(pod_selector=sel(app="x"))),))]
    decision = evaluate(pols, WEB, "ingress", peer(CURL), TCP, 8080)
    assert decision.reason == (
        "pod is isolated for ingress by policies shop/a, shop/b;"
        " no rule allows pod client/curl (10.244.0.2) on 8080/TCP"
    )
    assert decision.isolated_by == ("shop/a", "shop/b")


POLICY_TYPES_YAML = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: p, namespace: default}}
spec:
  podSelector: {{}}
{body}
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", ("Ingress",)),
        ("  ingress: [{}]", ("Ingress",)),
        ("  egress: [{}]", ("Ingress", "Egress")),
        ("  policyTypes: [Egress]", ("Egress",)),
    ],
    ids=["nothing", "ingress-rules", "egress-rules", "explicit-egress"],
)
def test_policy_types_defaulting_as_loaded(
    write_cluster: WriteCluster, body: str, expected: tuple[str, ...]
) -> None:
    path = write_cluster(manifests=POLICY_TYPES_YAML.format(body=body))
    (pol,) = load_cluster(path).network_policies
    assert pol.policy_types == expected
    default_pod = PodView("default", "a", {}, ns_labels("default"))
    isolated = {d for d in ("ingress", "egress") if isolating_policies([pol], default_pod, d)}
    assert isolated == {t.lower() for t in expected}


def test_egress_rules_only_default_types_isolate_both_ways() -> None:
    pol = [policy(types=("Ingress", "Egress"), egress=(rule(),))]
    assert not ingress(pol, peer(CURL))  # no ingress rules: denied
    assert evaluate(pol, WEB, "egress", peer(CURL), TCP, 80).is_allowed


# -- rules and peers ------------------------------------------------------------------


def test_rule_without_from_allows_everything() -> None:
    pol = [policy(ingress=(rule(),))]
    decision = evaluate(pol, WEB, "ingress", address("203.0.113.10"), TCP, 1)
    assert decision.is_allowed
    assert decision.reason == (
        "shop/p ingress[0] all peers all ports: allows not a pod (203.0.113.10) on 1/TCP"
    )
    assert (decision.policy, decision.rule, decision.peer, decision.port) == (
        "shop/p",
        "ingress[0]",
        None,
        None,
    )


def test_rule_with_empty_from_and_ports_lists_allows_everything() -> None:
    pol = [policy(ingress=(NetworkPolicyRule((), ()),))]
    assert ingress(pol, address("203.0.113.10"), 1, UDP)


def test_pod_selector_alone_means_the_policys_namespace() -> None:
    by_pod = NetworkPolicyPeer(pod_selector=sel(app="db"))
    assert peer_matches(by_pod, "shop", peer(SHOP_DB))
    db_elsewhere = PodView("client", "db", {"app": "db"}, ns_labels("client"))
    assert not peer_matches(by_pod, "shop", peer(db_elsewhere))


def test_empty_pod_selector_is_every_pod_of_the_namespace() -> None:
    everyone_here = NetworkPolicyPeer(pod_selector=ALL_SELECTOR)
    assert peer_matches(everyone_here, "shop", peer(SHOP_DB))
    assert not peer_matches(everyone_here, "shop", peer(CURL))


def test_namespace_selector_alone_is_every_pod_of_matching_namespaces() -> None:
    by_ns = NetworkPolicyPeer(namespace_selector=sel(team="client"))
    assert peer_matches(by_ns, "shop", peer(CURL))
    assert peer_matches(by_ns, "shop", peer(OTHER))
    assert not peer_matches(by_ns, "shop", peer(SHOP_DB))
    everywhere = NetworkPolicyPeer(namespace_selector=ALL_SELECTOR)
    assert all(peer_matches(everywhere, "shop", peer(p)) for p in (CURL, SHOP_DB, WEB))


def test_both_selectors_in_one_peer_are_anded() -> None:
    both = NetworkPolicyPeer(pod_selector=sel(app="curl"), namespace_selector=sel(team="client"))
    assert peer_matches(both, "shop", peer(CURL))
    assert not peer_matches(both, "shop", peer(OTHER))  # namespace right, pod wrong
    curl_in_shop = PodView("shop", "curl", {"app": "curl"}, ns_labels("shop", team="shop"))
    assert not peer_matches(both, "shop", peer(curl_in_shop))  # pod right, namespace wrong


def test_peers_are_ored_and_the_decision_names_the_matching_one() -> None:
    pol = [
        policy(
            ingress=(
                rule(
                    NetworkPolicyPeer(pod_selector=sel(app="db")),
                    NetworkPolicyPeer(namespace_selector=sel(team="client")),
                ),
            )
        )
    ]
    decision = evaluate(pol, WEB, "ingress", peer(OTHER), TCP, 8080)
    assert (decision.is_allowed, decision.peer) == (True, 1)
    assert evaluate(pol, WEB, "ingress", peer(SHOP_DB), TCP, 8080).peer == 0


def test_match_expressions_in_peers() -> None:
    not_curl = LabelSelector(match_expressions=(SelectorRequirement("app", "NotIn", ("curl",)),))
    by_expr = NetworkPolicyPeer(pod_selector=not_curl, namespace_selector=ALL_SELECTOR)
    assert peer_matches(by_expr, "shop", peer(OTHER))
    assert not peer_matches(by_expr, "shop", peer(CURL))


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("192.168.56.11", True),
        ("192.168.56.200", False),  # in the except range
        ("192.168.57.1", False),
        ("10.244.0.2", False),
    ],
    ids=["inside", "except", "outside", "pod-outside"],
)
def test_ip_block_with_except(ip: str, allowed: bool) -> None:
    block = IPBlock(IPv4Network("192.168.56.0/24"), (IPv4Network("192.168.56.128/25"),))
    pol = [policy(ingress=(rule(NetworkPolicyPeer(ip_block=block)),))]
    assert ingress(pol, address(ip)) is allowed


def test_ip_block_matches_pod_addresses_too() -> None:
    block = IPBlock(IPv4Network("10.244.0.0/16"))
    assert peer_matches(NetworkPolicyPeer(ip_block=block), "shop", peer(CURL))


def test_selectors_never_match_non_pods_or_host_network_pods() -> None:
    everything = NetworkPolicyPeer(pod_selector=ALL_SELECTOR, namespace_selector=ALL_SELECTOR)
    assert peer_matches(everything, "shop", peer(CURL))
    assert not peer_matches(everything, "shop", address("192.168.56.12", "node node-2"))
    assert not peer_matches(everything, "shop", address("203.0.113.10"))
    assert not peer_matches(everything, "shop", peer(HOST, "192.168.56.12"))


# -- ports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "proto", "number", "expected"),
    [
        (NetworkPolicyPort(), TCP, 1, True),
        (NetworkPolicyPort(), UDP, 1, False),  # protocol defaults to TCP
        (NetworkPolicyPort(UDP), UDP, 53, True),
        (NetworkPolicyPort(SCTP, 80), SCTP, 80, True),
        (NetworkPolicyPort(SCTP, 80), TCP, 80, False),
        (NetworkPolicyPort(TCP, 80), TCP, 81, False),
        (NetworkPolicyPort(TCP, 80, 90), TCP, 80, True),
        (NetworkPolicyPort(TCP, 80, 90), TCP, 90, True),
        (NetworkPolicyPort(TCP, 80, 90), TCP, 91, False),
        (NetworkPolicyPort(TCP, 80, 90), TCP, 79, False),
        (NetworkPolicyPort(TCP, "http"), TCP, 8080, True),
        (NetworkPolicyPort(TCP, "http"), TCP, 80, False),
        (NetworkPolicyPort(UDP, "http"), UDP, 8080, False),  # http is TCP
        (NetworkPolicyPort(UDP, "dns"), UDP, 5353, True),
        (NetworkPolicyPort(TCP, "nope"), TCP, 8080, False),
    ],
    ids=[
        "all-tcp",
        "all-tcp-not-udp",
        "all-udp",
        "sctp",
        "sctp-not-tcp",
        "numeric-miss",
        "range-low",
        "range-high",
        "range-above",
        "range-below",
        "named",
        "named-wrong-number",
        "named-wrong-protocol",
        "named-udp",
        "named-undeclared",
    ],
)
def test_port_matches(
    port: NetworkPolicyPort, proto: Protocol, number: int, expected: bool
) -> None:
    assert port_matches(port, proto, number, WEB.container_ports) is expected


def test_named_port_resolves_against_the_destination_pod() -> None:
    named = rule(ports=(NetworkPolicyPort(TCP, "http"),))
    # ingress: the selected (destination) pod declares http=8080
    assert ingress([policy(ingress=(named,))], peer(CURL), 8080)
    # egress from web: resolved against the peer, which declares http=9090
    api = PodView("client", "api", {}, ns_labels("client"), (ContainerPort(9090, TCP, "http"),))
    out = [policy(types=("Egress",), egress=(named,))]
    assert evaluate(out, WEB, "egress", peer(api), TCP, 9090).is_allowed
    assert not evaluate(out, WEB, "egress", peer(api), TCP, 8080).is_allowed  # web's own http
    assert not evaluate(out, WEB, "egress", address("203.0.113.10"), TCP, 8080).is_allowed


def test_ports_are_ored_and_anded_with_peers() -> None:
    r = rule(
        NetworkPolicyPeer(pod_selector=ALL_SELECTOR, namespace_selector=sel(team="client")),
        ports=(NetworkPolicyPort(UDP, 53), NetworkPolicyPort(SCTP, 9000, 9100)),
    )
    pol = [policy(ingress=(r,))]
    decision = evaluate(pol, WEB, "ingress", peer(CURL), SCTP, 9050)
    assert (decision.is_allowed, decision.port) == (True, 1)
    assert ingress(pol, peer(CURL), 53, UDP)
    assert not ingress(pol, peer(CURL), 53, TCP)
    assert not ingress(pol, peer(SHOP_DB), 53, UDP)


# -- union, own node, hostNetwork ----------------------------------------------------


def test_union_over_policies_and_rules() -> None:
    from_curl = policy(
        "a",
        ingress=(
            rule(
                NetworkPolicyPeer(
                    namespace_selector=sel(team="client"), pod_selector=sel(app="curl")
                )
            ),
        ),
    )
    from_db = policy("b", ingress=(rule(), rule(NetworkPolicyPeer(pod_selector=sel(app="db")))))
    deny = policy("c", selector=ALL_SELECTOR)
    pols = [deny, from_db, from_curl]
    decision = evaluate(pols, WEB, "ingress", peer(CURL), TCP, 8080)
    assert (decision.policy, decision.rule) == ("shop/a", "ingress[0]")
    assert decision.isolated_by == ("shop/a", "shop/b", "shop/c")
    only_db = policy(
        "b",
        ingress=(
            rule(ports=(NetworkPolicyPort(UDP),)),
            rule(NetworkPolicyPeer(pod_selector=sel(app="db"))),
        ),
    )
    decision = evaluate([deny, only_db], WEB, "ingress", peer(SHOP_DB), TCP, 8080)
    assert (decision.policy, decision.rule, decision.peer) == ("shop/b", "ingress[1]", 0)
    assert not ingress([deny, only_db], peer(OTHER))


def test_own_node_is_always_allowed() -> None:
    deny_both = [policy(types=("Ingress", "Egress"))]
    node = address("10.244.0.1", "node node-1")
    decision = evaluate(deny_both, WEB, "ingress", node, TCP, 8080, own_node="node-1")
    assert decision == PolicyDecision(
        True, "traffic from the pod's own node node-1 (10.244.0.1) is always allowed"
    )
    out = evaluate(deny_both, WEB, "egress", node, TCP, 10250, own_node="node-1")
    assert out.reason == "traffic to the pod's own node node-1 (10.244.0.1) is always allowed"
    assert not evaluate(deny_both, WEB, "ingress", node, TCP, 8080).is_allowed  # another node


def test_host_network_pods_are_never_selected() -> None:
    pol = [policy(namespace="kube-system", selector=ALL_SELECTOR, types=("Ingress", "Egress"))]
    assert isolating_policies(pol, HOST, "ingress") == ()
    decision = evaluate(pol, HOST, "ingress", peer(CURL), TCP, 10256)
    assert decision.reason == ("kube-system/proxy is a hostNetwork pod: never selected by policies")
