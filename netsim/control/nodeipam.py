"""Node IPAM: podCIDRs carved from the cluster CIDR like kube-controller-manager's range allocator.

``--allocate-node-cidrs --cluster-cidr=C --node-cidr-mask-size=M``: CIDR index
``i`` is ``C + i * 2^(32-M)``. Nodes that declare a ``pod_cidr`` keep it (the
allocator marks it taken first, as it does for existing Nodes at start-up);
the others, in topology order, get the first free index scanning from
``nextCandidate`` (0, then one past the last allocation, wrapping).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from netsim.errors import AllocationError
from netsim.model.topology import Node

__all__ = ["allocate_pod_cidrs"]


def allocate_pod_cidrs(
    cluster_cidr: ipaddress.IPv4Network, mask: int, nodes: Sequence[Node], source: str
) -> dict[str, ipaddress.IPv4Network]:
    """The podCIDR of every node.

    >>> import ipaddress as ip
    >>> nodes = [Node(n, ip.IPv4Address(f"10.0.0.{i}"), None, {}, (), None, 1500, False, "s")
    ...          for i, n in enumerate(["a", "b"], 1)]
    >>> {k: str(v) for k, v in allocate_pod_cidrs(ip.IPv4Network("10.244.0.0/16"), 24,
    ...                                            nodes, "t.yaml").items()}
    {'a': '10.244.0.0/24', 'b': '10.244.1.0/24'}

    Raises:
        AllocationError: more nodes than the cluster CIDR holds.
    """
    capacity = 1 << (mask - cluster_cidr.prefixlen)
    step = 1 << (32 - mask)
    base = int(cluster_cidr.network_address)
    taken = [False] * capacity
    result: dict[str, ipaddress.IPv4Network] = {}
    for node in nodes:
        if node.pod_cidr is not None:
            taken[(int(node.pod_cidr.network_address) - base) // step] = True
            result[node.name] = node.pod_cidr
    next_candidate = 0
    for node in nodes:
        if node.pod_cidr is not None:
            continue
        for offset in range(capacity):
            index = (next_candidate + offset) % capacity
            if not taken[index]:
                break
        else:
            raise AllocationError(
                "CIDR allocation failed; there are no remaining CIDRs left to allocate in the"
                f" accepted range (cluster_cidr {cluster_cidr} holds {capacity} /{mask} podCIDRs"
                f" for {len(nodes)} nodes; widen cluster_cidr or raise node_cidr_mask_size)",
                source=source,
                obj=f"node {node.name}",
                field="pod_cidr",
            )
        taken[index] = True
        next_candidate = (index + 1) % capacity
        result[node.name] = ipaddress.IPv4Network((base + index * step, mask))
    return result
