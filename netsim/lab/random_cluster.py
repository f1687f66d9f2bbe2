"""Seeded random clusters for ``netsim lab verify`` in CI.

:func:`write_random_cluster` writes ``topology.yaml`` and ``app.yaml`` (JSON,
which YAML reads) for a seed and a pod-network mode: 2-4 nodes on one
underlay subnet, an external client, two namespaces, 2-3 Deployments of 2-4
replicas (TCP ports, some UDP, named), ClusterIP and NodePort Services with
several endpoints (some ``externalTrafficPolicy: Local``), and
NetworkPolicies mixing ingress and egress, ``podSelector``,
``namespaceSelector``, ``ipBlock`` (with ``except``), numbered and named ports.
The same seed always writes the same files.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Final

__all__ = ["write_random_cluster"]

SUBNET: Final = "192.168.60"  # the underlay /24 of every random cluster
CLIENT_IP: Final = "203.0.113.20"
NAMESPACES: Final = ("alpha", "beta")
APPS: Final = ("api", "web", "db", "cache")


def _deployment(namespace: str, app: str, replicas: int, udp: bool) -> dict[str, Any]:
    ports: list[dict[str, Any]] = [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    if udp:
        ports.append({"name": "dns", "containerPort": 5353, "protocol": "UDP"})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": app, "image": "x:1", "ports": ports}]},
            },
        },
    }


def _service(
    namespace: str, app: str, kind: str, udp: bool, local: bool, node_port: int | None
) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    if node_port is not None:
        port["nodePort"] = node_port
    ports = [port]
    if udp:
        ports.append({"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"})
    spec: dict[str, Any] = {"type": kind, "selector": {"app": app}, "ports": ports}
    if local:
        spec["externalTrafficPolicy"] = "Local"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app, "namespace": namespace},
        "spec": spec,
    }


def _peer(rng: random.Random, apps: list[tuple[str, str]]) -> dict[str, Any]:
    namespace, app = rng.choice(apps)
    match rng.randrange(4):
        case 0:
            return {"podSelector": {"matchLabels": {"app": app}}}
        case 1:
            return {"namespaceSelector": {"matchLabels": {"team": namespace}}}
        case 2:
            return {
                "namespaceSelector": {"matchLabels": {"team": namespace}},
                "podSelector": {"matchLabels": {"app": app}},
            }
        case _:
            block: dict[str, Any] = {"cidr": f"{SUBNET}.0/24"}
            if rng.random() < 0.5:
                block = {"cidr": "10.244.0.0/16", "except": ["10.244.1.0/24"]}
            return {"ipBlock": block}


def _policy(
    rng: random.Random, number: int, namespace: str, app: str, apps: list[tuple[str, str]]
) -> dict[str, Any]:
    direction = rng.choice(("Ingress", "Egress", "Ingress"))
    field = "from" if direction == "Ingress" else "to"
    rule: dict[str, Any] = {field: [_peer(rng, apps) for _ in range(rng.randint(1, 2))]}
    if rng.random() < 0.7:
        port: int | str = rng.choice((8080, "http"))
        rule["ports"] = [{"protocol": "TCP", "port": port}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"p{number}", "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": {"app": app}},
            "policyTypes": [direction],
            direction.lower(): [rule],
        },
    }


def write_random_cluster(directory: Path, seed: int, mode: str) -> Path:
    """Write a random cluster for ``seed`` in pod-network ``mode``; the topology's path.

    >>> import tempfile
    >>> path = write_random_cluster(Path(tempfile.mkdtemp()), 1, "l3")
    >>> path.name
    'topology.yaml'
    """
    rng = random.Random(seed)
    nodes = rng.randint(2, 4)
    topology = {
        "name": f"random-{seed}",
        "cluster_cidr": "10.244.0.0/16",
        "pod_network": {"mode": mode},
        "underlay": {
            "subnets": [{"name": "lan", "cidr": f"{SUBNET}.0/24", "gateway": f"{SUBNET}.1"}]
        },
        "nodes": [{"name": f"node-{i}", "ip": f"{SUBNET}.{10 + i}"} for i in range(1, nodes + 1)],
        "external_clients": [{"name": "client", "ip": CLIENT_IP}],
        "manifests": ["app.yaml"],
    }
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"team": ns}},
        }
        for ns in NAMESPACES
    ]
    apps = [(rng.choice(NAMESPACES), app) for app in rng.sample(APPS, rng.randint(2, 3))]
    for number, (namespace, app) in enumerate(apps):
        udp = rng.random() < 0.4
        objects.append(_deployment(namespace, app, rng.randint(2, 4), udp))
        kind = "NodePort" if number == 0 or rng.random() < 0.5 else "ClusterIP"
        node_port = 30100 + number if kind == "NodePort" else None
        local = kind == "NodePort" and rng.random() < 0.5
        objects.append(_service(namespace, app, kind, udp, local, node_port))
    for number in range(rng.randint(1, 3)):
        namespace, app = rng.choice(apps)
        objects.append(_policy(rng, number, namespace, app, apps))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.yaml").write_text(
        "".join(f"---\n{json.dumps(obj, indent=1)}\n" for obj in objects)
    )
    path = directory / "topology.yaml"
    path.write_text(json.dumps(topology, indent=1) + "\n")
    return path
