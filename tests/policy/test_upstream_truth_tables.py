"""Truth tables in the style of the upstream Kubernetes e2e NetworkPolicy suite.

The setup is upstream's (``test/e2e/network/netpol``): namespaces x, y and z
(labelled ``ns: <name>``), pods a, b and c in each (labelled ``pod: <name>``),
each serving ports 80 and 81 on TCP, UDP and SCTP (container ports named
``serve-<port>-<protocol>``). Every scenario is a set of policies and, per
port/protocol, the expected 9x9 reachability matrix: a row per client, a column
per server, in the order x/a x/b x/c y/a y/b y/c z/a z/b z/c; ``.`` allowed,
``X`` denied, ``-`` a pod to itself (upstream ignores loopback). A connection
is allowed when the client's egress and the server's ingress both allow it.
The expected tables were written by hand from the policies, not generated.
"""

from __future__ import annotations

from dataclasses import dataclass
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
)
from netsim.policy.semantics import Peer, PodView, evaluate

NAMESPACES = ("x", "y", "z")
POD_NAMES = ("a", "b", "c")
PORTS = (80, 81)
PROTOCOLS = (Protocol.TCP, Protocol.UDP, Protocol.SCTP)
COMBOS = tuple(f"{port}/{proto.value}" for proto in PROTOCOLS for port in PORTS)


def _pod(namespace: str, name: str) -> PodView:
    ports = tuple(
        ContainerPort(port, proto, f"serve-{port}-{proto.value.lower()}")
        for port in PORTS
        for proto in PROTOCOLS
    )
    ns_labels = {"kubernetes.io/metadata.name": namespace, "ns": namespace}
    return PodView(namespace, name, {"pod": name}, ns_labels, ports)


PODS = tuple(_pod(ns, name) for ns in NAMESPACES for name in POD_NAMES)
IPS = {
    pod.key: IPv4Address(f"10.244.{1 + NAMESPACES.index(pod.namespace)}.{10 + i % 3}")
    for i, pod in enumerate(PODS)
}


def _reachable(policies: tuple[NetworkPolicy, ...], src: PodView, dst: PodView, combo: str) -> bool:
    port_text, proto_text = combo.split("/")
    proto, port = Protocol(proto_text), int(port_text)
    to_dst = Peer(IPS[dst.key], dst, f"pod {dst.key}")
    from_src = Peer(IPS[src.key], src, f"pod {src.key}")
    return (
        evaluate(policies, src, "egress", to_dst, proto, port).is_allowed
        and evaluate(policies, dst, "ingress", from_src, proto, port).is_allowed
    )


def _matrix(policies: tuple[NetworkPolicy, ...], combo: str) -> list[str]:
    return [
        "".join(
            "-" if src == dst else "." if _reachable(policies, src, dst, combo) else "X"
            for dst in PODS
        )
        for src in PODS
    ]


# -- policy builders (the YAML's shape, as values) ----------------------------------------


def labels(**items: str) -> LabelSelector:
    return LabelSelector(items)


EVERYTHING = LabelSelector()


def peer(
    pod: LabelSelector | None = None, namespace: LabelSelector | None = None
) -> NetworkPolicyPeer:
    return NetworkPolicyPeer(pod_selector=pod, namespace_selector=namespace)


def netpol(
    name: str,
    namespace: str,
    selector: LabelSelector,
    types: tuple[str, ...],
    ingress: tuple[NetworkPolicyRule, ...] = (),
    egress: tuple[NetworkPolicyRule, ...] = (),
) -> NetworkPolicy:
    return NetworkPolicy(namespace, name, selector, types, ingress, egress)


def rule(
    *peers: NetworkPolicyPeer, ports: tuple[NetworkPolicyPort, ...] | None = None
) -> NetworkPolicyRule:
    return NetworkPolicyRule(peers or None, ports)


POD_A = labels(pod="a")


def table(text: str) -> list[str]:
    rows = text.split()
    assert len(rows) == 9 and all(len(r) == 9 for r in rows), text
    return rows


ALL_OPEN = table("""
    -........  .-.......  ..-......  ...-.....  ....-....  .....-...  ......-..  .......-.  ........-
""")
X_A_CLOSED = table("""
    -........  X-.......  X.-......  X..-.....  X...-....  X....-...  X.....-..  X......-.  X.......-
""")


@dataclass(frozen=True)
class Scenario:
    policies: tuple[NetworkPolicy, ...]
    tables: dict[str, list[str]]  # "80/TCP" -> rows; "*" for every other port/protocol


SCENARIOS: dict[str, Scenario] = {
    "default-deny-ingress-in-x": Scenario(
        (netpol("deny", "x", EVERYTHING, ("Ingress",)),),
        {
            "*": table("""
                -XX......  X-X......  XX-......  XXX-.....  XXX.-....  XXX..-...
                XXX...-..  XXX....-.  XXX.....-
            """)
        },
    ),
    "allow-from-same-namespace": Scenario(
        (netpol("same", "x", EVERYTHING, ("Ingress",), (rule(peer(pod=EVERYTHING)),)),),
        {
            "*": table("""
                -........  .-.......  ..-......  XXX-.....  XXX.-....  XXX..-...
                XXX...-..  XXX....-.  XXX.....-
            """)
        },
    ),
    "allow-from-namespace-y-by-namespace-selector": Scenario(
        (netpol("from-y", "x", POD_A, ("Ingress",), (rule(peer(namespace=labels(ns="y"))),)),),
        {
            "*": table("""
                -........  X-.......  X.-......  ...-.....  ....-....  .....-...
                X.....-..  X......-.  X.......-
            """)
        },
    ),
    "pod-selector-and-namespace-selector": Scenario(
        (
            netpol(
                "y-b",
                "x",
                POD_A,
                ("Ingress",),
                (rule(peer(pod=labels(pod="b"), namespace=labels(ns="y"))),),
            ),
        ),
        {
            "*": table("""
                -........  X-.......  X.-......  X..-.....  ....-....  X....-...
                X.....-..  X......-.  X.......-
            """)
        },
    ),
    "pod-selector-or-namespace-selector": Scenario(
        (
            netpol(
                "y-or-b",
                "x",
                POD_A,
                ("Ingress",),
                (rule(peer(namespace=labels(ns="y")), peer(pod=labels(pod="b"))),),
            ),
        ),
        {
            "*": table("""
                -........  .-.......  X.-......  ...-.....  ....-....  .....-...
                X.....-..  X......-.  X.......-
            """)
        },
    ),
    "port-81-only": Scenario(
        (
            netpol(
                "p81",
                "x",
                POD_A,
                ("Ingress",),
                (
                    rule(
                        peer(namespace=EVERYTHING),
                        ports=(NetworkPolicyPort(Protocol.TCP, 81),),
                    ),
                ),
            ),
        ),
        {"81/TCP": ALL_OPEN, "*": X_A_CLOSED},
    ),
    "named-port-udp": Scenario(
        (
            netpol(
                "named",
                "x",
                POD_A,
                ("Ingress",),
                (
                    rule(
                        peer(namespace=EVERYTHING),
                        ports=(NetworkPolicyPort(Protocol.UDP, "serve-80-udp"),),
                    ),
                ),
            ),
        ),
        {"80/UDP": ALL_OPEN, "*": X_A_CLOSED},
    ),
    "end-port-range-sctp": Scenario(
        (
            netpol(
                "range",
                "x",
                POD_A,
                ("Ingress",),
                (
                    rule(
                        peer(namespace=EVERYTHING),
                        ports=(NetworkPolicyPort(Protocol.SCTP, 80, 81),),
                    ),
                ),
            ),
        ),
        {"80/SCTP": ALL_OPEN, "81/SCTP": ALL_OPEN, "*": X_A_CLOSED},
    ),
    "deny-all-egress-in-x": Scenario(
        (netpol("deny-out", "x", EVERYTHING, ("Egress",)),),
        {
            "*": table("""
                -XXXXXXXX  X-XXXXXXX  XX-XXXXXX  ...-.....  ....-....  .....-...
                ......-..  .......-.  ........-
            """)
        },
    ),
    "egress-to-namespace-y-only": Scenario(
        (
            netpol(
                "to-y",
                "x",
                POD_A,
                ("Egress",),
                egress=(rule(peer(namespace=labels(ns="y"))),),
            ),
        ),
        {
            "*": table("""
                -XX...XXX  .-.......  ..-......  ...-.....  ....-....  .....-...
                ......-..  .......-.  ........-
            """)
        },
    ),
    "ip-block-except-one-pod-ip": Scenario(
        (
            netpol(
                "block",
                "x",
                POD_A,
                ("Ingress",),
                (
                    rule(
                        NetworkPolicyPeer(
                            ip_block=IPBlock(
                                IPv4Network("10.244.0.0/16"), (IPv4Network("10.244.2.11/32"),)
                            )
                        )
                    ),
                ),
            ),
        ),
        {
            "*": table("""
                -........  .-.......  ..-......  ...-.....  X...-....  .....-...
                ......-..  .......-.  ........-
            """)
        },
    ),
    "multiple-policies-union": Scenario(
        (
            netpol("from-y", "x", POD_A, ("Ingress",), (rule(peer(namespace=labels(ns="y"))),)),
            netpol(
                "from-z-c",
                "x",
                POD_A,
                ("Ingress",),
                (rule(peer(pod=labels(pod="c"), namespace=labels(ns="z"))),),
            ),
        ),
        {
            "*": table("""
                -........  X-.......  X.-......  ...-.....  ....-....  .....-...
                X.....-..  X......-.  ........-
            """)
        },
    ),
    "policy-types-egress-only": Scenario(
        (
            netpol(
                "a-to-b",
                "x",
                POD_A,
                ("Egress",),
                egress=(rule(peer(pod=labels(pod="b"))),),
            ),
        ),
        {
            "*": table("""
                -.XXXXXXX  .-.......  ..-......  ...-.....  ....-....  .....-...
                ......-..  .......-.  ........-
            """)
        },
    ),
    "egress-and-ingress-together": Scenario(
        (
            netpol(
                "a-to-y-b",
                "x",
                POD_A,
                ("Egress",),
                egress=(rule(peer(pod=labels(pod="b"), namespace=labels(ns="y"))),),
            ),
            netpol(
                "only-x-a",
                "y",
                EVERYTHING,
                ("Ingress",),
                (rule(peer(pod=POD_A, namespace=labels(ns="x"))),),
            ),
        ),
        {
            "*": table("""
                -XXX.XXXX  .-.XXX...  ..-XXX...  ...-XX...  ...X-X...  ...XX-...
                ...XXX-..  ...XXX.-.  ...XXX..-
            """)
        },
    ),
}


def test_setup_matches_upstream() -> None:
    assert [p.key for p in PODS] == [f"{n}/{p}" for n in NAMESPACES for p in POD_NAMES]
    assert len(set(IPS.values())) == 9
    assert len(PODS[0].container_ports) == 6
    assert len(SCENARIOS) >= 10


def test_no_policies_everything_open() -> None:
    for combo in COMBOS:
        assert _matrix((), combo) == ALL_OPEN


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("combo", COMBOS)
def test_truth_table(name: str, combo: str) -> None:
    scenario = SCENARIOS[name]
    expected = scenario.tables.get(combo, scenario.tables["*"])
    got = _matrix(scenario.policies, combo)
    rows = [f"{p.key}  {g}  expected {e}" for p, g, e in zip(PODS, got, expected, strict=True)]
    assert got == expected, f"{name} {combo}:\n" + "\n".join(rows)
