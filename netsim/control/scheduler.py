"""A deterministic stand-in for kube-scheduler.

Rule, in order:

1. A pod with ``spec.nodeName`` runs there (as the kubelet admits it; the
   scheduler is bypassed). Its node must exist.
2. Otherwise the feasible nodes are those whose labels match the pod's
   ``nodeSelector``, whose ``NoSchedule``/``NoExecute`` taints the pod tolerates,
   and that run fewer than ``MAX_PODS_PER_NODE`` pods.
3. Among them the pod goes to the node with the fewest pods of the same owner
   (spreading replicas, like the default ``PodTopologySpread`` by hostname),
   then the fewest pods overall, then the first in topology order.
4. A pod with no feasible node stays ``Pending`` (no node, no IP) and a warning
   says why.

``PreferNoSchedule`` taints, affinity and topology-spread constraints are not
modelled (the loader warns about the last two).
"""

from __future__ import annotations

from collections.abc import Sequence

from netsim.model.objects import Pod, PodTemplate, Toleration
from netsim.model.selectors import service_selector_matches
from netsim.model.topology import Node, Taint

__all__ = ["MAX_PODS_PER_NODE", "node_accepts", "schedule", "tolerates"]

MAX_PODS_PER_NODE = 110  # kubelet --max-pods default


def tolerates(tolerations: Sequence[Toleration], taint: Taint) -> bool:
    """Whether any toleration tolerates ``taint`` (core/v1 ToleratesTaint).

    >>> t = Taint("dedicated", "db", "NoSchedule")
    >>> tolerates([Toleration("dedicated", "Equal", "db", "NoSchedule")], t)
    True
    >>> tolerates([Toleration(None, "Exists")], t), tolerates([], t)
    (True, False)
    """
    for toleration in tolerations:
        if toleration.effect is not None and toleration.effect != taint.effect:
            continue
        if toleration.key is None:
            if toleration.operator == "Exists":
                return True
            continue
        if toleration.key != taint.key:
            continue
        if toleration.operator == "Exists" or toleration.value == taint.value:
            return True
    return False


def node_accepts(node: Node, template: PodTemplate, *, daemon: bool = False) -> bool:
    """Whether ``node`` passes the pod's nodeSelector and taint filters.

    DaemonSet pods (``daemon``) also tolerate the node-condition taints the
    DaemonSet controller adds tolerations for; those are not modelled as taints.
    """
    if template.node_selector and not service_selector_matches(template.node_selector, node.labels):
        return False
    return all(
        tolerates(template.tolerations, taint)
        for taint in node.taints
        if taint.effect in ("NoSchedule", "NoExecute")
    )


def schedule(
    pods: Sequence[Pod], nodes: Sequence[Node], warnings: list[str]
) -> dict[str, str | None]:
    """Place pods on nodes; returns ``{pod key: node name or None}``.

    >>> from netsim.model.objects import Container
    >>> import ipaddress
    >>> nodes = [Node(n, ipaddress.IPv4Address(f"10.0.0.{i}"), None, {}, (), None, 1500,
    ...               False, "s") for i, n in enumerate(["a", "b"], 1)]
    >>> t = PodTemplate(containers=(Container("c"),))
    >>> pods = [Pod("ns", f"p{i}", t, owner="ReplicaSet ns/x") for i in range(3)]
    >>> schedule(pods, nodes, [])
    {'ns/p0': 'a', 'ns/p1': 'b', 'ns/p2': 'a'}
    """
    by_name = {node.name: node for node in nodes}
    total = dict.fromkeys(by_name, 0)
    per_owner: dict[tuple[str, str], int] = {}
    placement: dict[str, str | None] = {}
    for pod in pods:
        if pod.template.node_name is not None:
            placement[pod.key] = pod.template.node_name
            total[pod.template.node_name] += 1
            owner = pod.owner or pod.key
            key = (owner, pod.template.node_name)
            per_owner[key] = per_owner.get(key, 0) + 1
    for pod in pods:
        if pod.template.node_name is not None:
            continue
        owner = pod.owner or pod.key
        feasible = [
            (per_owner.get((owner, node.name), 0), total[node.name], index, node.name)
            for index, node in enumerate(nodes)
            if node_accepts(node, pod.template) and total[node.name] < MAX_PODS_PER_NODE
        ]
        if not feasible:
            placement[pod.key] = None
            warnings.append(
                f"Pod {pod.key}: Pending: no node matches its nodeSelector, tolerates"
                f" the node taints and has room (max {MAX_PODS_PER_NODE} pods per node)"
            )
            continue
        chosen = min(feasible)[3]
        placement[pod.key] = chosen
        total[chosen] += 1
        per_owner[(owner, chosen)] = per_owner.get((owner, chosen), 0) + 1
    return placement
