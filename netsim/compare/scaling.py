"""How each figure grows: synthetic clusters at several sizes, built and measured.

:func:`synthetic_spec` derives a cluster of ``N`` nodes with ``p`` pods each
from the user's topology: the same pod-network options (mode, ``l3``
routing, VXLAN device and port), MTU, node CIDR mask, service CIDR,
kube-proxy options, and one external client when the topology has any
(which gives the underlay a router, ``r`` = 1). What changes so thousands
of nodes fit: one underlay subnet ``172.16.0.0/k`` (nodes from ``.10``), the
cluster CIDR widened to ``10.0.0.0/k`` when the user's cannot hold ``N``
podCIDRs, no cluster DNS, and bare pods pinned to nodes (``nodeName``) so
every node runs exactly ``p``.

:func:`measure` builds one such cluster and reads the per-node tables of its
first node, the cluster-wide sums and the broadcast domains;
:func:`scaling_report` checks every figure against
:data:`netsim.compare.formulas.FORMULAS` at every size.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from netsim.compare.formulas import ALL_TO_ALL, FORMULAS, Sizes
from netsim.compare.metrics import broadcast_domains, has_bridge, node_tables, pod_mtu
from netsim.compare.model import FormulaCheck, ScalingPoint, ScalingReport
from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import NamespaceKind
from netsim.errors import InputError
from netsim.model.objects import (
    Container,
    ContainerPort,
    Namespace,
    Pod,
    PodTemplate,
    Protocol,
    frozen_map,
)
from netsim.model.spec import ClusterSpec
from netsim.model.topology import (
    ExternalClient,
    Node,
    PodNetworkMode,
    Subnet,
    Topology,
    Underlay,
)

__all__ = [
    "DEFAULT_SIZES",
    "MAX_NODES",
    "SCALING_METRICS",
    "measure",
    "parse_sizes",
    "scaling_report",
    "synthetic_spec",
]

DEFAULT_SIZES: Final = (3, 10, 30, 100, 300, 1000)
MAX_NODES: Final = 5000  # Kubernetes' supported maximum (scalability thresholds)
UNDERLAY_BASE: Final = ipaddress.IPv4Address("172.16.0.0")  # RFC 1918, the synthetic node network
CLUSTER_BASE: Final = ipaddress.IPv4Address("10.0.0.0")  # the widened cluster CIDR
FIRST_NODE_OFFSET: Final = 10  # nodes from .10, the router at .1
SYNTHETIC_CLIENT: Final = ExternalClient("client", ipaddress.IPv4Address("203.0.113.10"))
SYNTHETIC_PORT: Final = 8080
SOURCE: Final = "<synthetic>"

SCALING_METRICS: Final = (
    "routes_main",
    "routes_local",
    "pod_routes",
    "neighbors",
    "fdb",
    "fdb_vtep",
    "cni_rules",
    "total_pod_routes",
    "total_neighbors",
    "total_fdb",
    "pod_domain",
    "underlay_domain",
    "pod_mtu",
)
"""The figures measured at every size, each with a formula in ``FORMULAS``."""


def parse_sizes(text: str) -> tuple[int, ...]:
    """``--sizes 3,10,100`` as node counts, ascending.

    >>> parse_sizes("100, 3,10")
    (3, 10, 100)

    Raises:
        InputError: not a comma-separated list of distinct numbers in 2..5000.
    """
    sizes: list[int] = []
    for word in (w.strip() for w in text.split(",")):
        try:
            size = int(word)
        except ValueError:
            raise InputError(
                f"--sizes: {word!r} is not a number; give node counts such as 3,10,100"
            ) from None
        if not 2 <= size <= MAX_NODES:
            raise InputError(f"--sizes: {size} nodes is outside 2-{MAX_NODES}")
        if size in sizes:
            raise InputError(f"--sizes: {size} given twice")
        sizes.append(size)
    return tuple(sorted(sizes))


def _network_for(
    base: ipaddress.IPv4Address, count: int, unit_prefix: int
) -> ipaddress.IPv4Network:
    """The smallest network at ``base`` holding ``count`` blocks of ``/unit_prefix``."""
    bits = max(0, math.ceil(math.log2(max(count, 1))))
    return ipaddress.IPv4Network(f"{base}/{unit_prefix - bits}")


def synthetic_spec(topology: Topology, nodes: int, pods_per_node: int) -> ClusterSpec:
    """``nodes`` nodes with ``pods_per_node`` pods each, derived from ``topology``.

    Raises:
        InputError: ``nodes`` podCIDRs cannot fit next to the service CIDR.
    """
    mask = topology.node_cidr_mask_size
    cluster_cidr = topology.cluster_cidr
    if 2 ** (mask - cluster_cidr.prefixlen) < nodes:
        cluster_cidr = _network_for(CLUSTER_BASE, nodes, mask)
        if cluster_cidr.prefixlen < 8 or cluster_cidr.overlaps(topology.service_cidr):
            raise InputError(
                f"--sizes: {nodes} nodes of /{mask} podCIDRs do not fit next to the service"
                f" CIDR {topology.service_cidr}; use fewer nodes"
            )
    underlay = _network_for(UNDERLAY_BASE, nodes + FIRST_NODE_OFFSET + 1, 32)
    mtu = topology.nodes[0].mtu if topology.nodes else topology.underlay.mtu
    names = [f"node-{i}" for i in range(1, nodes + 1)]
    node_list = tuple(
        Node(
            name=name,
            ip=underlay.network_address + FIRST_NODE_OFFSET + i,
            pod_cidr=None,
            labels=frozen_map({"kubernetes.io/hostname": name}),
            taints=(),
            zone=None,
            mtu=mtu,
            is_control_plane=i == 0,
            subnet="lan",
        )
        for i, name in enumerate(names)
    )
    synthetic = replace(
        topology,
        name=f"{topology.name}-N{nodes}",
        source=SOURCE,
        base_dir=Path("."),
        nodes=node_list,
        cluster_cidr=cluster_cidr,
        underlay=Underlay((Subnet("lan", underlay, underlay.network_address + 1),), mtu),
        external_clients=(SYNTHETIC_CLIENT,) if topology.external_clients else (),
        cluster_dns=False,
        manifests=(),
    )
    container = Container("app", (ContainerPort(SYNTHETIC_PORT, Protocol.TCP, "http"),))
    pods = tuple(
        Pod(
            namespace="default",
            name=f"pod-{n}-{j}",
            template=PodTemplate(
                labels=frozen_map({"app": "synthetic"}),
                containers=(container,),
                node_name=name,
            ),
            source=SOURCE,
        )
        for n, name in enumerate(names, start=1)
        for j in range(pods_per_node)
    )
    default = Namespace("default", frozen_map({"kubernetes.io/metadata.name": "default"}))
    return ClusterSpec(
        topology=synthetic,
        namespaces=(default,),
        pods=pods,
        workloads=(),
        services=(),
        endpoint_slices=(),
        network_policies=(),
        warnings=(),
    )


def measure(design: str, spec: ClusterSpec, pods_per_node: int) -> tuple[ScalingPoint, Sizes]:
    """Build ``spec`` and measure every figure of :data:`SCALING_METRICS`."""
    state = realize(spec)
    dataplane = build_dataplane(state)
    nodes = list(state.nodes)
    tables = [node_tables(dataplane, n, pods_per_node, with_iptables=False) for n in nodes]
    first = tables[0]
    domains = broadcast_domains(dataplane)
    has_router = any(ns.kind is NamespaceKind.ROUTER for ns in dataplane.namespaces.values())
    measured = {
        "routes_main": first.routes_main,
        "routes_local": first.routes_local,
        "pod_routes": first.pod_routes,
        "neighbors": first.neighbors,
        "fdb": first.fdb,
        "fdb_vtep": first.fdb_vtep,
        "cni_rules": first.cni_rules,
        "total_pod_routes": sum(t.pod_routes for t in tables),
        "total_neighbors": sum(t.neighbors for t in tables),
        "total_fdb": sum(t.fdb for t in tables),
        "pod_domain": domains.pod_domain,
        "underlay_domain": domains.underlay_domain,
        "pod_mtu": pod_mtu(dataplane),
    }
    sizes = Sizes(
        nodes=len(nodes),
        pods_per_node=pods_per_node,
        pods=len(nodes) * pods_per_node,
        routers=int(has_router),
        mtu=spec.topology.nodes[0].mtu,
        has_bridge=has_bridge(dataplane, nodes[0]),
    )
    mode = spec.topology.pod_network.mode
    bounds = tuple((metric, f.value(sizes)) for metric, f in ALL_TO_ALL[mode].items())
    point = ScalingPoint(design, len(nodes), pods_per_node, tuple(measured.items()), bounds)
    return point, sizes


def check_point(
    mode: PodNetworkMode, point: ScalingPoint, sizes: Sizes
) -> tuple[FormulaCheck, ...]:
    """Every measured figure of ``point`` against its formula."""
    checks = []
    for metric, value in point.measured:
        formula = FORMULAS[mode][metric]
        checks.append(
            FormulaCheck(
                design=point.design,
                metric=metric,
                formula=formula.text,
                nodes=point.nodes,
                pods_per_node=point.pods_per_node,
                expected=formula.value(sizes),
                measured=value,
            )
        )
    return tuple(checks)


def scaling_report(
    bases: Sequence[tuple[str, Topology, int]], sizes: Sequence[int]
) -> ScalingReport:
    """Measure each (design name, topology, pods per node) at every size and check it."""
    points: list[ScalingPoint] = []
    checks: list[FormulaCheck] = []
    for name, topology, pods_per_node in bases:
        for size in sizes:
            point, at = measure(name, synthetic_spec(topology, size, pods_per_node), pods_per_node)
            points.append(point)
            checks.extend(check_point(topology.pod_network.mode, point, at))
    return ScalingReport(tuple(sizes), tuple(points), tuple(checks))
