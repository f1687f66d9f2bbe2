"""Small clusters built in memory for the dataplane tests (no files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import Dataplane
from netsim.model.manifests import Manifests, parse_manifest_documents
from netsim.model.spec import build_spec, load_cluster
from netsim.model.topology import parse_topology

REPO = Path(__file__).resolve().parents[2]
TOPOLOGIES = REPO / "topologies"


def example(mode: str) -> Dataplane:
    """The dataplane of ``topologies/<mode>.yaml``."""
    return build_dataplane(realize(load_cluster(TOPOLOGIES / f"{mode}.yaml")))


def pod(name: str, node: str | None = None, *, host_network: bool = False) -> dict[str, Any]:
    """A bare Pod manifest in namespace ``default``."""
    spec: dict[str, Any] = {"containers": [{"name": "c"}]}
    if node is not None:
        spec["nodeName"] = node
    if host_network:
        spec["hostNetwork"] = True
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def cluster(
    *,
    mode: str = "l3",
    count: int = 2,
    subnets: list[dict[str, Any]] | None = None,
    node_ips: list[str] | None = None,
    manifests: list[dict[str, Any]] | None = None,
    **changes: Any,
) -> ClusterState:
    """Realize a topology of ``count`` nodes on 192.168.56.0/24 (or at ``node_ips``).

    ``changes`` override top-level topology fields (``nodes`` included).
    """
    ips = node_ips or [f"192.168.56.{11 + i}" for i in range(count)]
    topology: dict[str, Any] = {
        "name": "t",
        "cluster_cidr": "10.244.0.0/16",
        "cluster_dns": False,
        "pod_network": {"mode": mode},
        "underlay": {"subnets": subnets or [{"name": "lan", "cidr": "192.168.56.0/24"}]},
        "nodes": [{"name": f"node-{i + 1}", "ip": ip} for i, ip in enumerate(ips)],
    }
    topology.update(changes)
    parsed = parse_topology(topology, source="t.yaml", base_dir=Path("."))
    objects = Manifests()
    parse_manifest_documents(list(manifests or []), "app.yaml", objects)
    return realize(build_spec(parsed, objects))
