"""kube-proxy rule generation against kube-proxy's own expected rulesets and the spec."""

from __future__ import annotations

import dataclasses
import ipaddress
import random
from pathlib import Path

import pytest

from netsim.control.kubeproxy import generate_rules
from netsim.control.kubeproxy_cache import (
    KubeProxyCache,
    build_cache,
    chunked_ruleset,
    ruleset_from_cache,
    update_cache,
)
from netsim.control.kubeproxy_ports import (
    EndpointInfo,
    KubeProxyNode,
    ServicePortInfo,
    ServicePortKey,
    service_port_key,
)
from netsim.control.kubeproxy_restore import canonical_restore_text
from netsim.model.kube_proxy_config import KubeProxyConfig
from netsim.naming import kube_proxy_chain_hash

DATA = Path(__file__).parent / "data"
IP = ipaddress.IPv4Address

# kube-proxy's fake proxier in its unit tests: node "test-node", ClusterCIDR detector
# 10.0.0.0/8, no --random-fully, nfacct counters available, localhost NodePorts on.
TEST_NODE = KubeProxyNode(
    name="test-node",
    ip=IP("192.168.0.2"),
    local_cidr=ipaddress.IPv4Network("10.0.0.0/8"),
    config=KubeProxyConfig(random_fully=False),
    nfacct=True,
)


def sp(
    ns: str, name: str, cluster_ip: str, *endpoints: EndpointInfo, **kw: object
) -> ServicePortInfo:
    return ServicePortInfo(
        namespace=ns,
        name=name,
        port_name="p80",
        protocol="tcp",
        cluster_ip=IP(cluster_ip),
        port=80,
        endpoints=endpoints,
        **kw,  # type: ignore[arg-type]
    )


def ep(ip: str, node: str | None = None, **kw: object) -> EndpointInfo:
    return EndpointInfo(IP(ip), 80, node_name=node, **kw)  # type: ignore[arg-type]


def test_overall_rules_equal_kube_proxys_expected_output() -> None:
    """kube-proxy's TestOverallIPTablesRules: six services covering every rule type."""
    ports = [
        sp("ns1", "svc1", "172.30.0.41", ep("10.180.0.1")),
        sp(
            "ns2",
            "svc2",
            "172.30.0.42",
            ep("10.180.0.2"),
            node_port=3001,
            external_ips=(IP("192.168.99.22"),),
            load_balancer_vips=(IP("1.2.3.4"),),
            external_policy_local=True,
            health_check_node_port=30000,
        ),
        sp("ns3", "svc3", "172.30.0.43", ep("10.180.0.3"), node_port=3003),
        sp(
            "ns4",
            "svc4",
            "172.30.0.44",
            ep("10.180.0.4"),
            ep("10.180.0.5", "test-node"),
            external_ips=(IP("192.168.99.33"),),
        ),
        sp(
            "ns5",
            "svc5",
            "172.30.0.45",
            ep("10.180.0.3"),
            node_port=3002,
            load_balancer_vips=(IP("5.6.7.8"),),
            source_ranges=(ipaddress.IPv4Network("203.0.113.0/25"),),
            affinity_seconds=10800,
        ),
        sp("ns6", "svc6", "172.30.0.46"),
    ]
    generated = generate_rules(ports, TEST_NODE).restore_text()
    expected = (DATA / "upstream_overall.rules").read_text()
    assert canonical_restore_text(generated) == expected


@pytest.mark.parametrize(
    ("text", "chain"),
    [
        ("ns1/svc1:p80tcp", "XPGD46QRK7WJZT7O"),
        ("ns2/svc2:p80tcp", "GNZBNJ2PO5MGZ6GT"),
        ("ns3/svc3:p80tcp", "X27LE4BHSL4DOUIK"),
        ("ns4/svc4:p80tcp", "4SW47YFZTEDKD3PK"),
        ("ns5/svc5:p80tcp", "NUKIZ6OKUXPJNT4C"),
        ("ns1/svc1tcp", "AQI2S6QIMU7PVVRP"),
        ("ns1/svc1:p80sctp", "GFCIFIA5VTFSTMSM"),
        ("ns1/svc1:p80tcp10.180.0.1:80", "SXIVWICOYRO3J4NJ"),
        ("ns4/svc4:p80tcp10.180.0.4:80", "UKSFD7AGPMPPLUHC"),
        ("ns4/svc4:p80tcp10.180.0.5:80", "C6EBXVWJJZMIWKLZ"),
        ("ns5/svc5:p80tcp10.180.0.3:80", "I77PXRDZVX7PMWMN"),
        ("ns1/svc1tcp10.0.1.1:80", "3JOIVZTXZZRGORX4"),
        ("ns1/svc1:p80sctp10.180.0.1:80", "RFW33Y6OHVBQ4W3M"),
        ("ns1/svc1:p80tcp[ff06::c1]:80", "LIGRYQQLSZN4UWQ5"),
    ],
)
def test_chain_hash_vectors(text: str, chain: str) -> None:
    assert kube_proxy_chain_hash(text) == chain


def nat_chain(text: str, chain: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"-A {chain} ")]


def test_probability_ladder_and_endpoint_order() -> None:
    eps = [ep(f"10.180.0.{i}") for i in (1, 2, 10, 3, 4, 5)]
    text = generate_rules([sp("ns1", "svc1", "172.30.0.41", *eps)], TEST_NODE).restore_text()
    rules = nat_chain(text, "KUBE-SVC-XPGD46QRK7WJZT7O")[1:]
    # sorted as strings: "10.180.0.10:80" < "10.180.0.1:80" (since "0" < ":")
    order = [r.split('"')[1].split(" -> ")[1] for r in rules]
    assert order == [f"10.180.0.{i}:80" for i in (10, 1, 2, 3, 4, 5)]
    probabilities = [r.split("--probability ")[1].split()[0] for r in rules[:-1]]
    assert probabilities == [
        "0.1666666667",
        "0.2000000000",
        "0.2500000000",
        "0.3333333333",
        "0.5000000000",
    ]
    assert "statistic" not in rules[-1]


def test_internal_traffic_policy_local_without_local_endpoints_drops() -> None:
    port = sp("ns1", "svc1", "172.30.0.41", ep("10.180.0.1", "other"), internal_policy_local=True)
    text = generate_rules([port], TEST_NODE).restore_text()
    assert (
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp'
        " -d 172.30.0.41 --dport 80 -j DROP"
    ) in text
    assert "KUBE-SVL" not in text and "KUBE-SEP" not in text


def test_internal_traffic_policy_local_uses_svl_with_local_endpoint() -> None:
    port = sp(
        "ns1",
        "svc1",
        "172.30.0.41",
        ep("10.180.0.1", "test-node"),
        ep("10.180.0.2", "x"),
        internal_policy_local=True,
    )
    text = generate_rules([port], TEST_NODE).restore_text()
    svl = "KUBE-SVL-XPGD46QRK7WJZT7O"
    assert f"-d 172.30.0.41 --dport 80 -j {svl}" in text
    assert len(nat_chain(text, svl)) == 2  # masquerade rule + the one local endpoint
    assert "10.180.0.2" not in text


def test_terminating_endpoints_are_a_fallback() -> None:
    port = sp(
        "ns1",
        "svc1",
        "172.30.0.41",
        ep("10.180.0.1", ready=False, serving=True, terminating=True),
        ep("10.180.0.2", ready=False, serving=False, terminating=True),
    )
    text = generate_rules([port], TEST_NODE).restore_text()
    assert "--to-destination 10.180.0.1:80" in text
    assert "10.180.0.2" not in text


def test_masquerade_all_and_random_fully() -> None:
    node = KubeProxyNode("n", IP("192.168.0.2"), None, config=KubeProxyConfig(masquerade_all=True))
    text = generate_rules([sp("ns1", "svc1", "172.30.0.41", ep("10.180.0.1"))], node).restore_text()
    assert "-j MASQUERADE --random-fully" in text
    assert (
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp'
        " -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ"
    ) in text


def test_large_cluster_mode_drops_endpoint_comments() -> None:
    eps = [EndpointInfo(IP("10.1.0.0") + i, 80) for i in range(1001)]
    text = generate_rules([sp("ns1", "svc1", "172.30.0.41", *eps)], TEST_NODE).restore_text()
    sep = [line for line in text.splitlines() if line.startswith("-A KUBE-SEP-")]
    assert sep and all("--comment" not in line for line in sep)
    svc = nat_chain(text, "KUBE-SVC-XPGD46QRK7WJZT7O")
    assert "cluster IP" in svc[0] and all("--comment" not in r for r in svc[1:])


def test_zone_hints_filter_cluster_endpoints() -> None:
    node = KubeProxyNode("n", IP("192.168.0.2"), None, zone="a")
    port = sp(
        "ns1",
        "svc1",
        "172.30.0.41",
        ep("10.180.0.1", zone_hints=("a",)),
        ep("10.180.0.2", zone_hints=("b",)),
    )
    text = generate_rules([port], node).restore_text()
    assert "10.180.0.1:80" in text and "10.180.0.2" not in text


@pytest.mark.parametrize("node", ["node-1", "node-2", "node-3"])
def test_every_feature_golden(node: str) -> None:
    """topologies/services.yaml: one Service per feature; reviewed against the spec line by line."""
    from netsim.control.kubeproxy import node_rules
    from netsim.control.realize import realize
    from netsim.model.spec import load_cluster
    from tests.conftest import TOPOLOGIES
    from tests.golden import assert_golden

    state = realize(load_cluster(TOPOLOGIES / "services.yaml"))
    assert_golden(DATA / f"services_{node}.rules", node_rules(state, node).restore_text())


# --- the cache kube-proxy keeps between syncs (netsim.control.kubeproxy_cache) ---


def upstream_ports() -> list[ServicePortInfo]:
    """The six service ports of kube-proxy's TestOverallIPTablesRules (as above)."""
    return [
        sp("ns1", "svc1", "172.30.0.41", ep("10.180.0.1")),
        sp(
            "ns2",
            "svc2",
            "172.30.0.42",
            ep("10.180.0.2"),
            node_port=3001,
            external_ips=(IP("192.168.99.22"),),
            load_balancer_vips=(IP("1.2.3.4"),),
            external_policy_local=True,
            health_check_node_port=30000,
        ),
        sp("ns3", "svc3", "172.30.0.43", ep("10.180.0.3"), node_port=3003),
        sp(
            "ns4",
            "svc4",
            "172.30.0.44",
            ep("10.180.0.4"),
            ep("10.180.0.5", "test-node"),
            external_ips=(IP("192.168.99.33"),),
        ),
        sp(
            "ns5",
            "svc5",
            "172.30.0.45",
            ep("10.180.0.3"),
            node_port=3002,
            load_balancer_vips=(IP("5.6.7.8"),),
            source_ranges=(ipaddress.IPv4Network("203.0.113.0/25"),),
            affinity_seconds=10800,
        ),
        sp("ns6", "svc6", "172.30.0.46"),
    ]


def assert_cache_matches(cache: KubeProxyCache, ports: list[ServicePortInfo]) -> None:
    """Every way of reading the cache gives generate_rules' payload, byte for byte."""
    expected = generate_rules(ports, cache.node)
    assert ruleset_from_cache(cache) == expected
    chunked = chunked_ruleset(cache)
    assert chunked.flatten() == expected
    assert chunked.restore_text() == expected.restore_text()
    assert cache.keys == tuple(sorted(cache.keys))
    assert [cache.index[k] for k in cache.keys] == list(range(len(cache.keys)))
    assert cache.total_endpoints == sum(len(p.endpoints) for p in ports)


def test_cache_api_is_pinned() -> None:
    from netsim.control import kubeproxy_cache

    assert kubeproxy_cache.__all__ == [
        "ChunkedRuleset",
        "KubeProxyCache",
        "build_cache",
        "chunked_ruleset",
        "ruleset_from_cache",
        "update_cache",
    ]


def test_cache_equals_kube_proxys_expected_output() -> None:
    cache = build_cache(reversed(upstream_ports()), TEST_NODE)
    assert_cache_matches(cache, upstream_ports())
    expected = (DATA / "upstream_overall.rules").read_text()
    assert canonical_restore_text(ruleset_from_cache(cache).restore_text()) == expected


@pytest.mark.parametrize("node", ["node-1", "node-2", "node-3"])
def test_cache_equals_every_feature_golden(node: str) -> None:
    from netsim.control.kubeproxy import node_rules
    from netsim.control.kubeproxy_ports import cluster_service_ports, kube_proxy_node
    from netsim.control.realize import realize
    from netsim.model.spec import load_cluster
    from tests.conftest import TOPOLOGIES

    state = realize(load_cluster(TOPOLOGIES / "services.yaml"))
    ports = cluster_service_ports(state)
    cache = build_cache(ports, kube_proxy_node(state, node))
    assert_cache_matches(cache, ports)
    assert ruleset_from_cache(cache) == node_rules(state, node)
    assert chunked_ruleset(cache).restore_text() == (DATA / f"services_{node}.rules").read_text()


def test_cluster_service_ports_equal_service_ports_of() -> None:
    from netsim.control.kubeproxy_ports import cluster_service_ports, service_ports_of
    from netsim.control.realize import realize
    from netsim.model.spec import load_cluster
    from tests.conftest import TOPOLOGIES

    state = realize(load_cluster(TOPOLOGIES / "services.yaml"))
    expected = [p for svc in state.services.values() for p in service_ports_of(state, svc)]
    assert cluster_service_ports(state) == expected


def with_endpoints(port: ServicePortInfo, *endpoints: EndpointInfo) -> ServicePortInfo:
    return dataclasses.replace(port, endpoints=port.endpoints + endpoints)


def test_cache_follows_a_sequence_of_changes() -> None:
    ports = {service_port_key(p): p for p in upstream_ports()}
    cache = build_cache(ports.values(), TEST_NODE)
    first = cache
    key1, key4, key6 = (("ns1/svc1:p80", "tcp"), ("ns4/svc4:p80", "tcp"), ("ns6/svc6:p80", "tcp"))
    large = sp("ns0", "big", "172.30.0.40", *(ep(str(IP("10.2.0.0") + i)) for i in range(1000)))
    steps: list[tuple[str, list[ServicePortInfo], list[ServicePortKey]]] = [
        ("add an endpoint", [with_endpoints(ports[key1], ep("10.180.0.9"))], []),
        ("remove a service", [], [key6]),
        ("eTP Local", [dataclasses.replace(ports[key4], external_policy_local=True)], []),
        ("add a UDP port", [dataclasses.replace(ports[key1], protocol="udp")], []),
        ("cross the large-cluster threshold", [large], []),
        ("change while large", [with_endpoints(ports[key4], ep("10.180.0.7"))], []),
        ("drop below the threshold", [], [service_port_key(large)]),
        ("add back and remove at once", [ports.get(key6) or upstream_ports()[5]], [key1]),
    ]
    for label, changed, removed in steps:
        cache = update_cache(cache, changed, removed)
        for key in removed:
            del ports[key]
        ports.update((service_port_key(p), p) for p in changed)
        assert cache.large == (label in ("cross the large-cluster threshold", "change while large"))
        assert_cache_matches(cache, list(ports.values()))
    assert_cache_matches(first, upstream_ports())  # the first cache is unchanged


def test_cache_matches_generate_rules_under_random_changes() -> None:
    rng = random.Random(20240611)
    names = [f"ns{i % 3}/svc{i}" for i in range(12)]

    def random_port(name: str) -> ServicePortInfo:
        ns, svc = name.split("/")
        count = rng.choice([0, 1, 3, 400])
        return sp(
            ns,
            svc,
            f"172.30.1.{len(name)}",
            *(
                ep(f"10.3.{rng.randrange(4)}.{rng.randrange(256)}", rng.choice([None, "test-node"]))
                for _ in range(count)
            ),
            node_port=rng.choice([0, 30080]),
            external_policy_local=rng.random() < 0.3,
            internal_policy_local=rng.random() < 0.2,
            affinity_seconds=rng.choice([None, 60]),
        )

    ports = {service_port_key(p): p for p in (random_port(n) for n in names[:6])}
    cache = build_cache(ports.values(), TEST_NODE)
    modes = {cache.large}
    for _ in range(40):
        changed = [random_port(n) for n in rng.sample(names, rng.randrange(3))]
        changed_keys = {service_port_key(p) for p in changed}
        removable = sorted(set(ports) - changed_keys)
        removed = rng.sample(removable, min(len(removable), rng.randrange(2)))
        cache = update_cache(cache, changed, removed)
        for key in removed:
            del ports[key]
        ports.update((service_port_key(p), p) for p in changed)
        assert_cache_matches(cache, list(ports.values()))
        modes.add(cache.large)
    assert modes == {False, True}  # the changes crossed the large-cluster threshold


def test_cache_rejects_a_port_given_twice() -> None:
    port = sp("ns1", "svc1", "172.30.0.41")
    with pytest.raises(ValueError, match=r"ns1/svc1:p80 \(tcp\) is given twice"):
        build_cache([port, port], TEST_NODE)


def test_cache_rejects_removing_an_unknown_port() -> None:
    cache = build_cache(upstream_ports(), TEST_NODE)
    with pytest.raises(ValueError, match=r"ns9/svc9:p80 \(tcp\) is removed but not in the cache"):
        update_cache(cache, (), [("ns9/svc9:p80", "tcp")])


def test_cache_rejects_a_port_changed_and_removed() -> None:
    cache = build_cache(upstream_ports(), TEST_NODE)
    port = upstream_ports()[0]
    with pytest.raises(ValueError, match="both changed and removed"):
        update_cache(cache, [port], [service_port_key(port)])


@pytest.mark.parametrize(
    ("detector", "if_local"),
    [
        pytest.param(
            {"local_cidr": ipaddress.IPv4Network("10.0.0.0/8")}, "-s 10.0.0.0/8", id="cidr"
        ),
        pytest.param({"local_interface": "cni0"}, "-i cni0", id="BridgeInterface"),
        pytest.param({"local_interface": "veth+"}, "-i veth+", id="InterfaceNamePrefix"),
    ],
)
def test_local_traffic_detectors_write_their_match(
    detector: dict[str, object], if_local: str
) -> None:
    """Spec \u00a77: IfNotLocal in the cluster IP masquerade rule, IfLocal in eTP Local's pod rule."""
    node = dataclasses.replace(TEST_NODE, **{"local_cidr": None, **detector})  # type: ignore[arg-type]
    port = sp("ns1", "svc1", "172.30.0.41", ep("10.180.0.1"), node_port=3001)
    local = dataclasses.replace(port, name="svc2", external_policy_local=True)
    rules = generate_rules([port, local], node).restore_text().splitlines()
    assert (
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp'
        f" -p tcp -d 172.30.0.41 --dport 80 ! {if_local} -j KUBE-MARK-MASQ"
    ) in rules
    assert any(
        r.startswith("-A KUBE-EXT-")
        and f'"pod traffic for ns1/svc2:p80 external destinations" {if_local} -j KUBE-SVC-' in r
        for r in rules
    )
