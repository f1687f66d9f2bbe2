"""compare(): the demo in every mode, what differs, and the formula checks."""

from __future__ import annotations

import pytest

from netsim.compare import Comparison, analysis, compare
from netsim.compare.designs import Design
from netsim.compare.formulas import FORMULAS, Formula
from netsim.model.topology import PodNetworkMode


def test_key_figures(demo_comparison: Comparison) -> None:
    figures = {
        d.name: (d.pod_mtu, d.overhead_bytes, d.broadcast.pod_domain, d.underlay.encapsulation)
        for d in demo_comparison.designs
    }
    assert figures == {
        "l2": (1500, 0, 10, None),
        "l3": (1500, 0, 3, None),
        "vxlan": (1450, 50, 3, "vxlan udp/8472"),
    }
    vxlan = demo_comparison.designs[2]
    assert vxlan.efficiency == ((60, 60 / 110), (576, 576 / 626), (1450, 1450 / 1500))
    assert [d.routing for d in demo_comparison.designs] == [None, "host-gw", None]


def test_underlay_needs(demo_comparison: Comparison) -> None:
    needs = {d.name: d.underlay for d in demo_comparison.designs}
    assert needs["l2"].pods_share_underlay_segment and needs["l2"].needs_l2_adjacency
    assert not needs["l3"].pods_share_underlay_segment and needs["l3"].needs_l2_adjacency
    assert needs["l3"].pod_addresses_on_wire and not needs["vxlan"].pod_addresses_on_wire
    assert not needs["vxlan"].needs_l2_adjacency
    assert all(n.router_pod_routes == 0 for n in needs.values())


def test_every_check_passes(demo_comparison: Comparison) -> None:
    assert demo_comparison.failed_checks == ()
    metrics = {c.metric for c in demo_comparison.designs[0].checks}
    assert {"routes_main", "fdb", "pod_mtu", "overhead_bytes", "ttl_cross_node"} <= metrics
    assert demo_comparison.scaling is not None
    assert len(demo_comparison.scaling.points) == 3 * 3


def test_the_nodeport_policy_difference_is_surfaced(demo_comparison: Comparison) -> None:
    traced = [d for d in demo_comparison.differences if d.kind == "trace"]
    assert len(traced) == 2
    for difference in traced:
        assert difference.flow.startswith("external-nodeport: ext:laptop -> node:node-1:30080 => ")
        # l2: br_netfilter bridges the DNATed packet back towards the uplink it came from
        assert dict(difference.verdicts) == {
            "l2": "NEIGHBOR_UNREACHABLE",
            "l3": "DELIVERED",
            "vxlan": "DENIED_BY_NETWORKPOLICY",
        }
    policy = [d for d in demo_comparison.differences if d.kind == "policy"]
    assert policy and all(d.flow.startswith("node:") for d in policy)
    assert all(dict(d.verdicts)["l3"] == "allowed" for d in policy)


def test_identical_designs_do_not_differ(demo_designs: tuple[Design, ...]) -> None:
    l3 = demo_designs[1]
    comparison = compare([l3, l3])
    assert comparison.differences == ()
    assert comparison.scaling is None
    assert comparison.title == "l3, l3"


def test_a_wrong_formula_fails_the_check(
    demo_designs: tuple[Design, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = {m: dict(f) for m, f in FORMULAS.items()}
    wrong[PodNetworkMode.L3]["routes_main"] = Formula("N", lambda s: s.nodes)
    monkeypatch.setattr(analysis, "FORMULAS", wrong)
    comparison = compare([demo_designs[1]])
    failed = comparison.failed_checks
    assert {(c.metric, c.expected, c.measured) for c in failed} == {("routes_main", 3, 5)}
    assert len(failed) == 3  # one per node
