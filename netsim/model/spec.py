"""ClusterSpec: the topology plus every declared object, validated, nothing computed.

:func:`load_cluster` is the pipeline's first stage: it reads the topology file,
expands its ``manifests:`` paths and globs (relative to the topology file, in
the order given, each glob's matches sorted) and parses every manifest.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from netsim.errors import ManifestError, TopologyError
from netsim.model.files import load_yaml_documents
from netsim.model.manifests import NAMESPACE_NAME_LABEL, Manifests, parse_manifest_documents
from netsim.model.objects import (
    EndpointSlice,
    Namespace,
    NetworkPolicy,
    Pod,
    Service,
    Workload,
    frozen_map,
)
from netsim.model.topology import Topology, load_topology

__all__ = ["BUILTIN_NAMESPACES", "ClusterSpec", "build_spec", "load_cluster"]

BUILTIN_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")  # kube-apiserver


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """Everything declared about a cluster: the topology and the manifests' objects."""

    topology: Topology
    namespaces: tuple[Namespace, ...]
    pods: tuple[Pod, ...]
    workloads: tuple[Workload, ...]
    services: tuple[Service, ...]
    endpoint_slices: tuple[EndpointSlice, ...]
    network_policies: tuple[NetworkPolicy, ...]
    warnings: tuple[str, ...]


def load_cluster(topology_path: Path | str) -> ClusterSpec:
    """Load a topology file and the manifests it names.

    Raises:
        TopologyError: the topology file is invalid, or a manifest path matches nothing.
        ManifestError: a manifest is invalid (file, object and field named).
    """
    topology = load_topology(topology_path)
    manifests = Manifests()
    for path, source in _manifest_files(topology):
        documents = load_yaml_documents(path, source, ManifestError)
        parse_manifest_documents(documents, source, manifests)
    return build_spec(topology, manifests)


def _manifest_files(topology: Topology) -> Iterable[tuple[Path, str]]:
    seen: set[Path] = set()
    for index, pattern in enumerate(topology.manifests):
        full = topology.base_dir / pattern
        if glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(str(full), recursive=True))
        else:
            matches = [full] if full.exists() else []
        if not matches:
            raise TopologyError(
                f"{pattern!r} matches no file (paths are relative to the topology file)",
                source=topology.source,
                field=f"manifests[{index}]",
            )
        for path in matches:
            if path.is_dir():
                continue
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            yield path, str(path)


def build_spec(topology: Topology, manifests: Manifests) -> ClusterSpec:
    """Check declared objects against each other and freeze them into a ClusterSpec.

    Duplicate objects are errors; a namespace used but not declared is created
    (as ``kubectl get -A -o yaml`` dumps omit Namespaces) with a warning.
    """
    warnings = list(manifests.warnings)
    namespaces: dict[str, Namespace] = {
        name: Namespace(name, frozen_map({NAMESPACE_NAME_LABEL: name}))
        for name in BUILTIN_NAMESPACES
    }
    declared: set[str] = set()
    for ns in manifests.namespaces:
        if ns.name in declared:
            raise ManifestError("declared twice", obj=f"Namespace {ns.name}")
        declared.add(ns.name)
        namespaces[ns.name] = ns
    _unique("Pod", ((p.key, p.source) for p in manifests.pods))
    _unique("Service", ((s.key, s.source) for s in manifests.services))
    _unique(
        "EndpointSlice", ((f"{e.namespace}/{e.name}", e.source) for e in manifests.endpoint_slices)
    )
    _unique("NetworkPolicy", ((n.key, n.source) for n in manifests.network_policies))
    _unique(
        "workload",
        ((f"{w.kind} {w.namespace}/{w.name}", w.source) for w in manifests.workloads),
    )
    used = [
        *(p.namespace for p in manifests.pods),
        *(w.namespace for w in manifests.workloads),
        *(s.namespace for s in manifests.services),
        *(e.namespace for e in manifests.endpoint_slices),
        *(n.namespace for n in manifests.network_policies),
    ]
    for name in used:
        if name not in namespaces:
            namespaces[name] = Namespace(name, frozen_map({NAMESPACE_NAME_LABEL: name}))
            warnings.append(
                f"Namespace {name}: used but not declared; created with only the"
                f" {NAMESPACE_NAME_LABEL} label"
            )
    return ClusterSpec(
        topology=topology,
        namespaces=tuple(namespaces.values()),
        pods=tuple(manifests.pods),
        workloads=tuple(manifests.workloads),
        services=tuple(manifests.services),
        endpoint_slices=tuple(manifests.endpoint_slices),
        network_policies=tuple(manifests.network_policies),
        warnings=tuple(warnings),
    )


def _unique(kind: str, keys: Iterable[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for key, source in keys:
        if key in seen:
            raise ManifestError(
                f"declared twice (first in {seen[key]})", source=source, obj=f"{kind} {key}"
            )
        seen[key] = source
