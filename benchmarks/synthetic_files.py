"""The synthetic cluster written as real files, the way a user would keep it.

``write_cluster_files(directory, **sizes)`` writes ``synthetic_spec(**sizes)``
as a topology file (``cluster.yaml``: nodes, address spaces, pod-network mode,
the external client) and Kubernetes manifests under ``manifests/``: one file
of Namespaces, and one file per namespace holding its Deployments, Services
and NetworkPolicies, as ``kubectl apply -f`` takes them. It returns the
topology path and the number of Kubernetes objects written (what the loading
benchmark divides by). Writing uses libyaml's dumper when available; it is
set-up, not timed.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from benchmarks.synthetic import FULL, synthetic_spec
from netsim.model.objects import (
    LabelSelector,
    NetworkPolicy,
    NetworkPolicyRule,
    Service,
    Workload,
)
from netsim.model.spec import ClusterSpec
from netsim.model.topology import PodNetworkMode

_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _selector(selector: LabelSelector) -> dict[str, Any]:
    assert not selector.match_expressions, "the synthetic cluster uses matchLabels only"
    return {"matchLabels": dict(selector.match_labels)}


def _deployment(w: Workload) -> dict[str, Any]:
    containers = [
        {
            "name": c.name,
            "image": "registry.example/app:1.0",
            "ports": [
                {"name": p.name, "containerPort": p.container_port, "protocol": p.protocol.value}
                for p in c.ports
            ],
        }
        for c in w.template.containers
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": w.name, "namespace": w.namespace},
        "spec": {
            "replicas": w.replicas,
            "selector": _selector(w.selector),
            "template": {
                "metadata": {"labels": dict(w.template.labels)},
                "spec": {"containers": containers},
            },
        },
    }


def _service(s: Service) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": s.name, "namespace": s.namespace},
        "spec": {
            "type": s.type.value,
            "selector": dict(s.selector or {}),
            "ports": [
                {
                    "name": p.name,
                    "port": p.port,
                    "protocol": p.protocol.value,
                    "targetPort": p.target_port,
                }
                for p in s.ports
            ],
        },
    }


def _ingress_rule(rule: NetworkPolicyRule) -> dict[str, Any]:
    assert rule.peers is not None and rule.ports is not None, "the synthetic rules list both"
    return {
        "from": [
            {"namespaceSelector": _selector(peer.namespace_selector)}
            for peer in rule.peers
            if peer.namespace_selector is not None
        ],
        "ports": [{"protocol": port.protocol.value, "port": port.port} for port in rule.ports],
    }


def _policy(p: NetworkPolicy) -> dict[str, Any]:
    ingress = [_ingress_rule(rule) for rule in p.ingress]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": p.name, "namespace": p.namespace},
        "spec": {
            "podSelector": _selector(p.pod_selector),
            "policyTypes": list(p.policy_types),
            "ingress": ingress,
        },
    }


def _topology(spec: ClusterSpec) -> dict[str, Any]:
    t = spec.topology
    return {
        "name": t.name,
        "cluster_cidr": str(t.cluster_cidr),
        "node_cidr_mask_size": t.node_cidr_mask_size,
        "service_cidr": str(t.service_cidr),
        "pod_network": {"mode": t.pod_network.mode.value},
        "underlay": {
            "subnets": [
                {"name": s.name, "cidr": str(s.cidr), "gateway": str(s.gateway)}
                for s in t.underlay.subnets
            ]
        },
        "nodes": [
            {"name": n.name, "ip": str(n.ip), "zone": n.zone, "control_plane": n.is_control_plane}
            for n in t.nodes
        ],
        "external_clients": [{"name": c.name, "ip": str(c.ip)} for c in t.external_clients],
        "manifests": ["manifests/*.yaml"],
    }


def write_cluster_files(
    directory: Path,
    nodes: int = FULL["nodes"],
    pods: int = FULL["pods"],
    services: int = FULL["services"],
    policies: int = FULL["policies"],
    namespaces: int = FULL["namespaces"],
    mode: PodNetworkMode = PodNetworkMode.VXLAN,
) -> tuple[Path, int]:
    """Write the synthetic cluster of these sizes; (topology path, Kubernetes objects written)."""
    spec = synthetic_spec(nodes, pods, services, policies, namespaces, mode)
    manifests = directory / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    by_namespace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for w in spec.workloads:
        by_namespace[w.namespace].append(_deployment(w))
    for s in spec.services:
        by_namespace[s.namespace].append(_service(s))
    for p in spec.network_policies:
        by_namespace[p.namespace].append(_policy(p))
    ns_docs = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": n.name,
                "labels": {k: v for k, v in n.labels.items() if k != "kubernetes.io/metadata.name"},
            },
        }
        for n in spec.namespaces
    ]
    (manifests / "00-namespaces.yaml").write_text(
        yaml.dump_all(ns_docs, Dumper=_DUMPER, sort_keys=False)
    )
    for name, docs in sorted(by_namespace.items()):
        (manifests / f"{name}.yaml").write_text(
            yaml.dump_all(docs, Dumper=_DUMPER, sort_keys=False)
        )
    topology = directory / "cluster.yaml"
    topology.write_text(yaml.dump(_topology(spec), Dumper=_DUMPER, sort_keys=False))
    count = len(ns_docs) + sum(len(docs) for docs in by_namespace.values())
    return topology, count
