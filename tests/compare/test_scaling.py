"""Synthetic clusters at several sizes: built, measured, and every figure equal to its formula."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from netsim.compare.formulas import FORMULAS
from netsim.compare.model import ScalingPoint
from netsim.compare.scaling import (
    SCALING_METRICS,
    check_point,
    measure,
    parse_sizes,
    scaling_report,
    synthetic_spec,
)
from netsim.errors import InputError
from netsim.model.spec import load_cluster
from netsim.model.topology import L3Routing, PodNetworkMode, Topology
from tests.compare.conftest import SMALL_SIZES
from tests.conftest import TOPOLOGIES


def _topology(mode: PodNetworkMode, **changes: object) -> Topology:
    topology = load_cluster(TOPOLOGIES / "vxlan.yaml").topology
    pod_network = replace(topology.pod_network, mode=mode)
    return replace(topology, pod_network=pod_network, **changes)  # type: ignore[arg-type]


def test_parse_sizes() -> None:
    assert parse_sizes("1000,3, 30") == (3, 30, 1000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3,x", r"'x' is not a number"),
        ("1", r"1 nodes is outside 2-5000"),
        ("6000", r"outside 2-5000"),
        ("3,3", r"3 given twice"),
    ],
    ids=["not-a-number", "too-small", "too-large", "twice"],
)
def test_parse_sizes_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_sizes(text)


def test_synthetic_spec_pins_p_pods_to_each_node() -> None:
    spec = synthetic_spec(_topology(PodNetworkMode.L3), 4, 3)
    assert [n.name for n in spec.topology.nodes] == ["node-1", "node-2", "node-3", "node-4"]
    assert len(spec.pods) == 12
    assert {p.template.node_name for p in spec.pods} == {"node-1", "node-2", "node-3", "node-4"}
    assert spec.topology.cluster_cidr == ipaddress.IPv4Network("10.244.0.0/16")  # fits: kept
    assert spec.topology.underlay.subnets[0].cidr == ipaddress.IPv4Network("172.16.0.0/28")
    assert not spec.topology.cluster_dns


def test_the_cluster_cidr_widens_when_nodes_do_not_fit() -> None:
    topology = _topology(
        PodNetworkMode.VXLAN,
        node_cidr_mask_size=28,
        cluster_cidr=ipaddress.IPv4Network("10.244.0.0/26"),
    )
    spec = synthetic_spec(topology, 5, 1)
    assert spec.topology.cluster_cidr == ipaddress.IPv4Network("10.0.0.0/25")
    point, sizes = measure("vxlan", spec, 1)
    assert all(c.is_ok for c in check_point(PodNetworkMode.VXLAN, point, sizes))


def test_nodes_that_cannot_fit_next_to_the_service_cidr() -> None:
    topology = _topology(
        PodNetworkMode.L3,
        cluster_cidr=ipaddress.IPv4Network("10.244.0.0/23"),
        service_cidr=ipaddress.IPv4Network("10.0.0.0/12"),
    )
    with pytest.raises(
        InputError, match=r"5 nodes of /24 podCIDRs do not fit next to the service CIDR 10.0.0.0/12"
    ):
        synthetic_spec(topology, 5, 1)


@pytest.mark.parametrize(
    "topology",
    [
        _topology(PodNetworkMode.L2),
        _topology(PodNetworkMode.L3),
        replace(
            _topology(PodNetworkMode.L3),
            pod_network=replace(_topology(PodNetworkMode.L3).pod_network, routing=L3Routing.BGP),
        ),
        _topology(PodNetworkMode.VXLAN),
        _topology(PodNetworkMode.VXLAN, external_clients=()),
    ],
    ids=["l2", "l3-host-gw", "l3-bgp", "vxlan", "vxlan-no-router"],
)
@pytest.mark.parametrize("pods_per_node", [0, 2], ids=["p0", "p2"])
def test_every_figure_agrees_with_its_formula(topology: Topology, pods_per_node: int) -> None:
    report = scaling_report([("d", topology, pods_per_node)], SMALL_SIZES)
    assert report.sizes == SMALL_SIZES
    assert [p.nodes for p in report.points] == list(SMALL_SIZES)
    assert len(report.checks) == len(SMALL_SIZES) * len(SCALING_METRICS)
    wrong = [c for c in report.checks if not c.is_ok]
    assert wrong == []


def test_a_mismatch_is_a_failed_check() -> None:
    point = ScalingPoint("d", 10, 2, (("neighbors", 7), ("routes_main", 12)))
    spec = synthetic_spec(_topology(PodNetworkMode.VXLAN), 10, 2)
    _, sizes = measure("d", spec, 2)
    checks = check_point(PodNetworkMode.VXLAN, point, sizes)
    assert [(c.metric, c.expected, c.measured, c.is_ok) for c in checks] == [
        ("neighbors", 9, 7, False),
        ("routes_main", 12, 12, True),
    ]
    assert checks[0].formula == FORMULAS[PodNetworkMode.VXLAN]["neighbors"].text == "N-1"


def test_points_carry_the_all_to_all_bounds() -> None:
    point, _ = measure("d", synthetic_spec(_topology(PodNetworkMode.L2), 10, 2), 2)
    assert dict(point.bounds) == {"neighbors": 9 + 20 + 1, "fdb": 2 + 2 + 9 + 20 + 1}
    with pytest.raises(KeyError):
        point.value("bgp_sessions")
