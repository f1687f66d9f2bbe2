"""Workload controllers: Deployments, ReplicaSets, StatefulSets, DaemonSets and Jobs to Pods.

Each controller's pods are named as that controller names them (the scheme is
in :mod:`netsim.naming`) and listed in ordinal order. DaemonSet pods go to
every node whose labels match the template's nodeSelector and whose taints the
template tolerates (the DaemonSet controller pins each pod with node
affinity; netsim sets ``nodeName``). Rollout history, scaling and
failed/succeeded Job pods are not modelled: a Job contributes its
``min(parallelism, completions)`` running pods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from netsim.control.records import slot_setters
from netsim.control.scheduler import node_accepts
from netsim.model.objects import Pod, PodTemplate, Workload, frozen_map
from netsim.model.topology import Node
from netsim.naming import pod_template_hash, random_suffix

__all__ = ["expand_workload"]

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"  # Deployment controller
STATEFULSET_POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"  # StatefulSet controller
CONTROLLER_REVISION_HASH_LABEL = "controller-revision-hash"  # StatefulSet, DaemonSet


def expand_workload(
    workload: Workload, nodes: Sequence[Node], taken: set[str] | None = None
) -> tuple[Pod, ...]:
    """The pods a workload's controller creates.

    ``taken`` holds the ``namespace/name`` of pods that exist already; a generated
    name that collides is drawn again (as a controller retries after the API
    server's AlreadyExists), and every new name is added to it.

    >>> from netsim.model.objects import LabelSelector, PodTemplate, Container
    >>> w = Workload("StatefulSet", "db", "pg", 2, LabelSelector(),
    ...              PodTemplate(containers=(Container("pg"),)))
    >>> [p.name for p in expand_workload(w, ())]
    ['pg-0', 'pg-1']
    """
    template = workload.template
    kind, ns, name = workload.kind, workload.namespace, workload.name
    pods: list[Pod] = []
    used = taken if taken is not None else set()

    def unique(prefix: str, seed: str) -> str:
        attempt = 0
        while True:
            candidate = f"{prefix}-{random_suffix(seed if attempt == 0 else f'{seed}/{attempt}')}"
            key = f"{ns}/{candidate}"
            if key not in used:
                used.add(key)
                return candidate
            attempt += 1

    match kind:
        case "Deployment":
            template_hash = pod_template_hash(_canonical(template))
            owner = f"{name}-{template_hash}"
            labels = {**template.labels, POD_TEMPLATE_HASH_LABEL: template_hash}
            # Every replica has the same template: one frozen value shared by all.
            shared = _template(workload, labels)
            replica_set = f"ReplicaSet {ns}/{owner}"
            for i in range(workload.replicas):
                pod_name = unique(owner, f"ReplicaSet/{ns}/{owner}/{i}")
                pods.append(_pod(workload, pod_name, shared, replica_set))
        case "ReplicaSet" | "Job":
            shared = _template(workload, dict(template.labels))
            for i in range(workload.replicas):
                pod_name = unique(name, f"{kind}/{ns}/{name}/{i}")
                pods.append(_pod(workload, pod_name, shared))
        case "StatefulSet":
            for i in range(workload.replicas):
                pod_name = f"{name}-{i}"
                used.add(f"{ns}/{pod_name}")
                labels = {**template.labels, STATEFULSET_POD_NAME_LABEL: pod_name}
                pods.append(_pod(workload, pod_name, _template(workload, labels)))
        case "DaemonSet":
            for node in nodes:
                if node_accepts(node, template, daemon=True):
                    pod_name = unique(name, f"DaemonSet/{ns}/{name}/{node.name}")
                    pinned = replace(
                        template, labels=frozen_map(template.labels), node_name=node.name
                    )
                    pods.append(_pod(workload, pod_name, pinned))
        case _:
            raise ValueError(f"unknown workload kind {kind!r}")
    return tuple(pods)


def _canonical(template: PodTemplate) -> dict[str, Any]:
    """The template as plain data, the input of the pod-template-hash."""
    return {
        "labels": dict(template.labels),
        "containers": [
            [c.name, [[p.container_port, str(p.protocol), p.name] for p in c.ports]]
            for c in template.containers
        ],
        "node_name": template.node_name,
        "node_selector": dict(template.node_selector),
        "tolerations": [[t.key, t.operator, t.value, t.effect] for t in template.tolerations],
        "host_network": template.host_network,
    }


def _template(workload: Workload, labels: dict[str, str]) -> PodTemplate:
    """The workload's template with the pods' labels."""
    return replace(workload.template, labels=frozen_map(labels))


_new = object.__new__
(
    _set_namespace,
    _set_name,
    _set_template,
    _set_pod_ip,
    _set_is_ready,
    _set_is_terminating,
    _set_owner,
    _set_source,
) = slot_setters(
    Pod, "namespace", "name", "template", "pod_ip", "is_ready", "is_terminating", "owner", "source"
)


def _pod(workload: Workload, name: str, template: PodTemplate, owner: str | None = None) -> Pod:
    """``Pod(namespace, name, template, owner=..., source=...)`` through its slots (see
    :mod:`netsim.control.records`): workloads make most of a cluster's pods."""
    pod: Pod = _new(Pod)
    _set_namespace(pod, workload.namespace)
    _set_name(pod, name)
    _set_template(pod, template)
    _set_pod_ip(pod, None)
    _set_is_ready(pod, True)
    _set_is_terminating(pod, False)
    _set_owner(pod, owner or f"{workload.kind} {workload.namespace}/{workload.name}")
    _set_source(pod, workload.source)
    return pod
