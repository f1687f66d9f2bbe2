"""Figures read off the built dataplane: tables, domains, MTUs, underlay needs."""

from __future__ import annotations

import pytest

from netsim.compare.designs import Design
from netsim.compare.metrics import (
    broadcast_domains,
    is_multicast_mac,
    node_tables,
    pod_counts,
    pod_mtu,
    underlay_mtu,
)


def _by_mode(designs: tuple[Design, ...]) -> dict[str, Design]:
    return {d.name: d for d in designs}


@pytest.mark.parametrize(
    ("mode", "routes", "local", "pod_routes", "neighbors", "fdb", "vtep"),
    [
        ("l2", 3, 7, 1, 0, 4, 0),
        ("l3", 5, 7, 3, 0, 3, 0),
        ("vxlan", 5, 8, 3, 2, 5, 2),
    ],
)
def test_node_tables_of_the_demo(
    demo_designs: tuple[Design, ...],
    mode: str,
    routes: int,
    local: int,
    pod_routes: int,
    neighbors: int,
    fdb: int,
    vtep: int,
) -> None:
    design = _by_mode(demo_designs)[mode]
    tables = node_tables(design.dataplane, "node-1", 2)
    assert (tables.routes_main, tables.routes_local, tables.pod_routes) == (
        routes,
        local,
        pod_routes,
    )
    assert (tables.neighbors, tables.fdb, tables.fdb_vtep) == (neighbors, fdb, vtep)
    assert tables.cni_rules == 10
    assert tables.iptables_rules > tables.cni_rules
    quick = node_tables(design.dataplane, "node-1", 2, with_iptables=False)
    assert quick.iptables_rules == quick.cni_rules == 10


def test_pod_counts_and_mtus(demo_designs: tuple[Design, ...]) -> None:
    designs = _by_mode(demo_designs)
    assert pod_counts(designs["l3"].dataplane) == {"node-1": 2, "node-2": 2, "node-3": 2}
    assert underlay_mtu(designs["vxlan"].state) == 1500
    assert pod_mtu(designs["vxlan"].dataplane) == 1450
    assert pod_mtu(designs["l2"].dataplane) == 1500


def test_broadcast_domains(demo_designs: tuple[Design, ...]) -> None:
    designs = _by_mode(demo_designs)
    l2 = broadcast_domains(designs["l2"].dataplane)
    assert (l2.pod_domain, l2.underlay_domain, l2.pods_on_underlay) == (10, 10, True)
    l3 = broadcast_domains(designs["l3"].dataplane)
    assert (l3.pod_domain, l3.underlay_domain, l3.pods_on_underlay) == (3, 4, False)
    assert l3.domains == 5  # the underlay, three cni0 bridges, the external segment


def test_multicast_macs() -> None:
    assert is_multicast_mac("01:00:5e:00:00:01")
    assert not is_multicast_mac("82:f0:8a:d6:dc:05")


def test_unknown_node(demo_designs: tuple[Design, ...]) -> None:
    with pytest.raises(KeyError):
        node_tables(demo_designs[0].dataplane, "node-9", 0)
