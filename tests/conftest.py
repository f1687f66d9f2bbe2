"""Shared fixtures: example topologies and a helper that writes small clusters to disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TOPOLOGIES = REPO / "topologies"
EXAMPLES = sorted(TOPOLOGIES.glob("*.yaml"))  # every bundled topology
MODE_EXAMPLES = [TOPOLOGIES / f"{mode}.yaml" for mode in ("l2", "l3", "vxlan")]  # the demo app

BASE_TOPOLOGY: dict[str, object] = {
    "name": "t",
    "cluster_cidr": "10.244.0.0/16",
    "pod_network": {"mode": "l3"},
    "underlay": {"subnets": [{"name": "lan", "cidr": "192.168.56.0/24"}]},
    "nodes": [
        {"name": "node-1", "ip": "192.168.56.11"},
        {"name": "node-2", "ip": "192.168.56.12"},
    ],
    "manifests": ["app.yaml"],
}

WriteCluster = Callable[..., Path]


@pytest.fixture
def write_cluster(tmp_path: Path) -> WriteCluster:
    """Write a topology (BASE_TOPOLOGY updated with ``changes``) and app.yaml; return its path."""

    def write(manifests: str = "", topology_text: str | None = None, **changes: object) -> Path:
        topology = {**BASE_TOPOLOGY, **changes}
        path = tmp_path / "topology.yaml"
        path.write_text(topology_text if topology_text is not None else yaml.safe_dump(topology))
        (tmp_path / "app.yaml").write_text(manifests)
        return path

    return write
