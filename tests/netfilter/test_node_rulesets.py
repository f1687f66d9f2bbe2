"""``compiled_node_rulesets`` equals compiling every node's ruleset on its own."""

from __future__ import annotations

import pytest

from benchmarks.synthetic import synthetic_spec
from netsim.control.kubeproxy_ports import cluster_service_ports, kube_proxy_node
from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.dataplane.build import build_dataplane
from netsim.model.spec import load_cluster
from netsim.model.topology import PodNetworkMode
from netsim.naming import node_netns_id
from netsim.netfilter import node as node_module
from netsim.netfilter.compiled import (
    ChainOverlay,
    CompiledRule,
    CompiledRuleset,
    compile_ruleset,
)
from netsim.netfilter.node import (
    compiled_node_rulesets,
    kube_proxy_ruleset,
    kube_proxy_sharing_key,
)


def _states() -> list[tuple[str, ClusterState]]:
    found = [(m, realize(load_cluster(f"topologies/{m}.yaml"))) for m in ("l2", "l3", "vxlan")]
    small = synthetic_spec(
        nodes=4, pods=40, services=5, policies=2, namespaces=2, mode=PodNetworkMode.L3
    )
    return [*found, ("synthetic", realize(small))]


def _tests(rules: tuple[CompiledRule, ...]) -> list[list[tuple[object, ...]]]:
    return [[(t.kind, t.part, t.note) for t in r.tests] for r in rules]


def _same_chains(got: CompiledRuleset, want: CompiledRuleset) -> None:
    assert list(got.tables) == list(want.tables)
    for name, table in want.tables.items():
        mine = got.tables[name].chains
        assert sorted(mine) == sorted(table.chains)
        for chain, compiled in table.chains.items():
            assert mine[chain].chain == compiled.chain
            assert _tests(mine[chain].rules) == _tests(compiled.rules)
            assert mine[chain].buckets == compiled.buckets


@pytest.mark.parametrize(
    ("label", "state"), _states(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_shared_rulesets_equal_node_by_node(
    label: str, state: ClusterState, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataplane = build_dataplane(state)
    extra = {n: dataplane.namespaces[node_netns_id(n)].iptables for n in state.nodes}
    expected = {n: kube_proxy_ruleset(state, n, extra[n]) for n in state.nodes}

    def not_per_node(*args: object) -> None:
        raise AssertionError("the shared path fell back to one node's full parse")

    monkeypatch.setattr(node_module, "kube_proxy_ruleset", not_per_node)
    got = compiled_node_rulesets(state, extra)
    for name, want in expected.items():
        _same_chains(got[name], compile_ruleset(want))
        assert got[name].ruleset == want
    if len(state.nodes) > 1:
        assert any(isinstance(t.chains, ChainOverlay) for t in got[name].tables.values())


def test_lines_that_redeclare_a_kube_proxy_chain_fall_back_to_a_full_parse() -> None:
    state = realize(load_cluster("topologies/l3.yaml"))
    node = next(iter(state.nodes))
    extra = {node: {"nat": (":KUBE-SERVICES - [0:0]",)}}
    got = compiled_node_rulesets(state, extra)
    assert got[node].ruleset == kube_proxy_ruleset(state, node, extra[node])


def test_sharing_key_names_the_node_only_when_rules_depend_on_it() -> None:
    state = realize(load_cluster("topologies/l3.yaml"))
    ports = cluster_service_ports(state)
    keys = {kube_proxy_sharing_key(ports, kube_proxy_node(state, n)) for n in state.nodes}
    local = [p for p in ports if p.external_policy_local or p.internal_policy_local]
    assert len(keys) == (len(state.nodes) if local else 1)


def test_compiled_ruleset_is_immutable_and_says_its_tables() -> None:
    state = realize(load_cluster("topologies/l3.yaml"))
    node = next(iter(state.nodes))
    compiled = compile_ruleset(kube_proxy_ruleset(state, node))
    with pytest.raises(AttributeError, match="immutable"):
        compiled.tables = {}
    assert repr(compiled) == "CompiledRuleset(tables=['filter', 'mangle', 'nat'])"
