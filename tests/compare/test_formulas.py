"""The closed forms: values at known sizes, totals, bounds, efficiency."""

from __future__ import annotations

import pytest

from netsim.compare.formulas import (
    ALL_TO_ALL,
    FORMULAS,
    VXLAN_OVERHEAD_BYTES,
    Sizes,
    efficiency,
    expected,
)
from netsim.model.topology import PodNetworkMode

L2, L3, VXLAN = PodNetworkMode.L2, PodNetworkMode.L3, PodNetworkMode.VXLAN
S = Sizes(nodes=100, pods_per_node=30, pods=3000, routers=1, mtu=1500, has_bridge=True)


@pytest.mark.parametrize(
    ("mode", "metric", "value"),
    [
        (L2, "routes_main", 3),
        (L3, "routes_main", 102),
        (VXLAN, "routes_main", 102),
        (L3, "pod_routes", 100),
        (VXLAN, "neighbors", 99),
        (L2, "fdb", 32),
        (L3, "fdb", 31),
        (VXLAN, "fdb", 130),
        (L2, "pod_domain", 3101),
        (L3, "pod_domain", 31),
        (L3, "underlay_domain", 101),
        (VXLAN, "pod_mtu", 1450),
        (VXLAN, "overhead_bytes", VXLAN_OVERHEAD_BYTES),
        (L3, "ttl_cross_node", 2),
        (L2, "ttl_cross_node", 0),
        (VXLAN, "total_neighbors", 9900),
        (L3, "total_pod_routes", 10000),
        (L2, "total_pod_routes", 100),
        (L2, "total_neighbors", 0),
    ],
    ids=lambda v: str(v),
)
def test_values(mode: PodNetworkMode, metric: str, value: int) -> None:
    assert expected(mode, metric, S)[1] == value


def test_no_bridge_removes_the_cni0_terms() -> None:
    empty = Sizes(nodes=10, pods_per_node=0, pods=0, routers=0, mtu=9000, has_bridge=False)
    assert expected(L3, "routes_main", empty)[1] == 11
    assert expected(VXLAN, "routes_local", empty)[1] == 6
    assert expected(VXLAN, "fdb", empty)[1] == 9


def test_every_mode_has_the_same_metrics() -> None:
    assert set(FORMULAS[L2]) == set(FORMULAS[L3]) == set(FORMULAS[VXLAN])
    assert all(set(ALL_TO_ALL[m]) == {"neighbors", "fdb"} for m in PodNetworkMode)


@pytest.mark.parametrize("mode", list(PodNetworkMode), ids=str)
def test_bounds_are_at_least_the_configured_entries(mode: PodNetworkMode) -> None:
    for metric in ("neighbors", "fdb"):
        assert ALL_TO_ALL[mode][metric].value(S) >= FORMULAS[mode][metric].value(S)


def test_unknown_metric() -> None:
    with pytest.raises(KeyError):
        expected(L2, "bgp_sessions", S)


def test_efficiency() -> None:
    assert efficiency(1450, 50) == pytest.approx(1450 / 1500)
    assert efficiency(60, 50) == pytest.approx(0.5454545)
    assert efficiency(1500, 0) == 1.0
