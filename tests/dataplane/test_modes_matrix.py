"""Every example topology builds in all three pod-network modes and prints its tables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import namespaces_of_node
from netsim.model.spec import ClusterSpec, load_cluster
from netsim.model.topology import PodNetwork, PodNetworkMode
from netsim.report.tables import render_node_tables
from tests.conftest import EXAMPLES


def in_mode(spec: ClusterSpec, mode: PodNetworkMode) -> ClusterSpec:
    topology = replace(spec.topology, pod_network=PodNetwork(mode))
    return replace(spec, topology=topology)


@pytest.mark.parametrize("mode", list(PodNetworkMode), ids=[m.value for m in PodNetworkMode])
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_builds_in_every_mode(path: Path, mode: PodNetworkMode) -> None:
    dataplane = build_dataplane(realize(in_mode(load_cluster(path), mode)))
    for node in dataplane.state.nodes:
        namespaces = namespaces_of_node(dataplane, node)
        assert namespaces[0].id == f"node:{node}"
        text = render_node_tables(dataplane, node)
        assert "$ ip route" in text
        routes = [str(r.dst) for r in namespaces[0].routes.routes if r.table == "main"]
        others = [str(n.pod_cidr) for name, n in dataplane.state.nodes.items() if name != node]
        if mode is PodNetworkMode.L2:
            assert not set(others) & set(routes)  # one broadcast domain: no per-node routes
        else:
            assert set(others) <= set(routes)  # a route per remote podCIDR
