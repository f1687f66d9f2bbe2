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

import heapq
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
    pods: Sequence[Pod],
    nodes: Sequence[Node],
    warnings: list[str],
    *,
    keys: Sequence[str] | None = None,
) -> dict[str, str | None]:
    """Place pods on nodes; returns ``{pod key: node name or None}``.

    ``keys``: the pods' keys in the same order, when the caller has them already.

    >>> from netsim.model.objects import Container
    >>> import ipaddress
    >>> nodes = [Node(n, ipaddress.IPv4Address(f"10.0.0.{i}"), None, {}, (), None, 1500,
    ...               False, "s") for i, n in enumerate(["a", "b"], 1)]
    >>> t = PodTemplate(containers=(Container("c"),))
    >>> pods = [Pod("ns", f"p{i}", t, owner="ReplicaSet ns/x") for i in range(3)]
    >>> schedule(pods, nodes, [])
    {'ns/p0': 'a', 'ns/p1': 'b', 'ns/p2': 'a'}
    """
    if keys is None:
        keys = [pod.key for pod in pods]
    index_of = {node.name: i for i, node in enumerate(nodes)}
    names = [node.name for node in nodes]
    total = [0] * len(nodes)
    per_owner: dict[str, dict[int, int]] = {}
    placement: dict[str, str | None] = {}
    for pod, key in zip(pods, keys, strict=True):
        if pod.template.node_name is not None:
            placement[key] = pod.template.node_name
            i = index_of[pod.template.node_name]
            total[i] += 1
            owned = per_owner.setdefault(pod.owner or key, {})
            owned[i] = owned.get(i, 0) + 1
    # Feasibility depends only on the template's nodeSelector and tolerations: one heap
    # of (pod count, node index) per distinct pair, updated lazily. Replicas share their
    # template, so the pair is found once per template object.
    classes: dict[tuple[object, ...], tuple[list[int], list[tuple[int, int]]]] = {}
    class_of: dict[int, tuple[list[int], list[tuple[int, int]]]] = {}
    heaps_of_node: list[list[list[tuple[int, int]]]] = [[] for _ in nodes]
    heappush = heapq.heappush
    for pod, key in zip(pods, keys, strict=True):
        template = pod.template
        if template.node_name is not None:
            continue
        found = class_of.get(id(template))
        if found is None:
            signature = (tuple(sorted(template.node_selector.items())), template.tolerations)
            if signature not in classes:
                feasible = [i for i, node in enumerate(nodes) if node_accepts(node, template)]
                heap = [(total[i], i) for i in feasible]
                heapq.heapify(heap)
                classes[signature] = (feasible, heap)
                for i in feasible:
                    heaps_of_node[i].append(heap)
            found = class_of[id(template)] = classes[signature]
        feasible, heap = found
        owner = pod.owner or key
        owned = per_owner.setdefault(owner, {})
        chosen = _pick(heap, feasible, owned, total)
        if chosen is None:
            placement[key] = None
            warnings.append(
                f"Pod {key}: Pending: no node matches its nodeSelector, tolerates"
                f" the node taints and has room (max {MAX_PODS_PER_NODE} pods per node)"
            )
            continue
        placement[key] = names[chosen]
        count = total[chosen] = total[chosen] + 1
        owned[chosen] = owned.get(chosen, 0) + 1
        if count < MAX_PODS_PER_NODE:
            entry = (count, chosen)
            for other in heaps_of_node[chosen]:
                heappush(other, entry)
    return placement


def _pick(
    heap: list[tuple[int, int]], feasible: list[int], owned: dict[int, int], total: list[int]
) -> int | None:
    """The feasible node with the fewest pods of this owner, then fewest pods, then first.

    The heap yields open nodes by (pod count, index); nodes already running a pod
    of this owner are set aside and pushed back. Only when every open node runs
    one (more replicas than nodes) or all are full does it scan the nodes.
    """
    set_aside: list[tuple[int, int]] = []
    heappop = heapq.heappop
    while heap:
        entry = heappop(heap)
        count, i = entry
        if count != total[i] or count >= MAX_PODS_PER_NODE:
            continue  # a stale entry, or the node is full
        if i not in owned:
            # The chosen node's entry is not pushed back: its count is about to grow,
            # which makes the entry stale (the caller pushes the new count).
            for kept in set_aside:
                heapq.heappush(heap, kept)
            return i
        set_aside.append(entry)
    for kept in set_aside:
        heapq.heappush(heap, kept)
    open_nodes = [i for i in feasible if total[i] < MAX_PODS_PER_NODE]
    if not open_nodes:
        return None
    low = min(owned.get(i, 0) for i in open_nodes)
    return min((i for i in open_nodes if owned.get(i, 0) == low), key=lambda i: (total[i], i))
