"""Designs: modes parsed, a cluster realized per mode, files loaded, refusals kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from netsim.compare import designs_from_files, designs_in_modes, parse_modes, spec_in_mode
from netsim.errors import InputError
from netsim.model.spec import load_cluster
from netsim.model.topology import PodNetworkMode
from tests.conftest import TOPOLOGIES, WriteCluster

TWO_SUBNETS = {
    "underlay": {
        "subnets": [
            {"name": "a", "cidr": "192.168.56.0/24"},
            {"name": "b", "cidr": "192.168.57.0/24"},
        ]
    },
    "nodes": [
        {"name": "node-1", "ip": "192.168.56.11"},
        {"name": "node-2", "ip": "192.168.57.12"},
    ],
}


def test_parse_modes() -> None:
    assert parse_modes("l3") == (PodNetworkMode.L3,)
    assert parse_modes(" vxlan,l2 ") == (PodNetworkMode.VXLAN, PodNetworkMode.L2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("l4", r"unknown mode 'l4'; use some of: l2, l3, vxlan"),
        ("l2,l2", "given twice"),
        ("", "unknown mode ''"),
    ],
    ids=["unknown", "twice", "empty"],
)
def test_parse_modes_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_modes(text)


def test_spec_in_mode_keeps_everything_else() -> None:
    spec = load_cluster(TOPOLOGIES / "vxlan.yaml")
    l2 = spec_in_mode(spec, PodNetworkMode.L2)
    assert l2.topology.pod_network.mode is PodNetworkMode.L2
    assert l2.topology.pod_network.vxlan == spec.topology.pod_network.vxlan
    assert l2.pods == spec.pods


def test_a_mode_the_underlay_cannot_serve_is_a_refusal(write_cluster: WriteCluster) -> None:
    spec = load_cluster(write_cluster(**TWO_SUBNETS))
    designs, refused = designs_in_modes(spec, tuple(PodNetworkMode))
    assert [d.name for d in designs] == ["vxlan"]
    assert [r.name for r in refused] == ["l2", "l3"]
    assert "2 subnets" in refused[0].reason and "host-gw" in refused[1].reason


def test_files_are_named_by_stem_or_path(tmp_path: Path) -> None:
    designs, refused = designs_from_files([TOPOLOGIES / "l2.yaml", TOPOLOGIES / "l3.yaml"])
    assert [(d.name, d.mode) for d in designs] == [
        ("l2", PodNetworkMode.L2),
        ("l3", PodNetworkMode.L3),
    ]
    assert refused == ()
    copy = tmp_path / "l2.yaml"
    shutil.copy(TOPOLOGIES / "l2.yaml", copy)
    shutil.copytree(TOPOLOGIES / "demo", tmp_path / "demo")
    designs, _ = designs_from_files([TOPOLOGIES / "l2.yaml", copy])
    assert [d.name for d in designs] == [str(TOPOLOGIES / "l2.yaml"), str(copy)]
