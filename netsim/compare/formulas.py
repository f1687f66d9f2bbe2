"""Closed forms of every figure ``netsim compare`` measures, for what netsim builds.

The variables (docs/compare.md, "Formulas"):

* ``N`` nodes, all on one underlay segment (the synthetic clusters);
* ``p`` pods with a network namespace on the measured node, ``P`` in the cluster;
* ``c`` = 1 when the node has ``cni0`` (always in ``l2``; in ``l3`` and
  ``vxlan`` the bridge plugin creates it with the node's first pod), else 0;
* ``r`` = 1 when the underlay segment has a router port (a router exists when
  the topology has external clients or several subnets), else 0;
* ``M`` the underlay MTU of the node.

The *configured* forms count what the dataplane holds after the build
(``PERMANENT`` neighbours, permanent FDB entries, routes) and are checked
exactly against every measurement; the *all-to-all* forms bound what a node
holds once every pair has talked (learned neighbours and MACs), which the
dataplane does not store (the tracer resolves learned entries) and which is
therefore stated, charted, and not measured. Spec §9 states the same
trade-off for real CNIs; these forms are netsim's own build of it (flannel's
bridge layout in every mode, ``host-gw`` or BIRD routes in ``l3``, flannel's
vxlan backend).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from netsim.model.topology import PodNetworkMode

__all__ = [
    "ALL_TO_ALL",
    "FLANNEL_MASQ_RULES",
    "FORMULAS",
    "VXLAN_OVERHEAD_BYTES",
    "Formula",
    "Sizes",
    "efficiency",
    "expected",
]

# Outer Ethernet 14 + outer IPv4 20 + UDP 8 + VXLAN 8 (RFC 7348), spec §8.
VXLAN_OVERHEAD_BYTES: Final = 50
# flanneld --ip-masq: 7 nat rules (the POSTROUTING jump + 6 in FLANNEL-POSTRTG) and
# 3 filter rules (the FORWARD jump + 2 in FLANNEL-FWD), spec §5.
FLANNEL_MASQ_RULES: Final = 10
LOOPBACK_LOCAL_ROUTES: Final = 3  # local 127.0.0.1, local 127.0.0.0/8, broadcast 127.255.255.255


@dataclass(frozen=True, slots=True)
class Sizes:
    """The variables a formula is evaluated at."""

    nodes: int  # N
    pods_per_node: int  # p, on the measured node
    pods: int  # P, in the cluster
    routers: int  # r
    mtu: int  # M
    has_bridge: bool  # c

    @property
    def c(self) -> int:
        """``c`` as a number."""
        return int(self.has_bridge)


@dataclass(frozen=True, slots=True)
class Formula:
    """A figure's closed form: its text (as docs/compare.md prints it) and its value."""

    text: str
    value: Callable[[Sizes], int]


def _f(text: str, value: Callable[[Sizes], int]) -> Formula:
    return Formula(text, value)


_PER_NODE_L2: dict[str, Formula] = {
    "routes_main": _f("3", lambda s: 3),
    "pod_routes": _f("1", lambda s: 1),
    "routes_local": _f("3 + 2 + 2", lambda s: LOOPBACK_LOCAL_ROUTES + 4),
    "neighbors": _f("0", lambda s: 0),
    "fdb": _f("p + 2", lambda s: s.pods_per_node + 2),
    "fdb_vtep": _f("0", lambda s: 0),
    "cni_rules": _f("10", lambda s: FLANNEL_MASQ_RULES),
    "pod_domain": _f("N + P + r", lambda s: s.nodes + s.pods + s.routers),
    "underlay_domain": _f("N + P + r", lambda s: s.nodes + s.pods + s.routers),
    "overhead_bytes": _f("0", lambda s: 0),
    "pod_mtu": _f("M", lambda s: s.mtu),
    "ttl_same_node": _f("0", lambda s: 0),
    "ttl_cross_node": _f("0", lambda s: 0),
}
_PER_NODE_L3: dict[str, Formula] = {
    "routes_main": _f("2 + (N-1) + c", lambda s: 2 + s.nodes - 1 + s.c),
    "pod_routes": _f("(N-1) + c", lambda s: s.nodes - 1 + s.c),
    "routes_local": _f("3 + 2 + 2c", lambda s: LOOPBACK_LOCAL_ROUTES + 2 + 2 * s.c),
    "neighbors": _f("0", lambda s: 0),
    "fdb": _f("p + c", lambda s: s.pods_per_node + s.c),
    "fdb_vtep": _f("0", lambda s: 0),
    "cni_rules": _f("10", lambda s: FLANNEL_MASQ_RULES),
    "pod_domain": _f("p + c", lambda s: s.pods_per_node + s.c),
    "underlay_domain": _f("N + r", lambda s: s.nodes + s.routers),
    "overhead_bytes": _f("0", lambda s: 0),
    "pod_mtu": _f("M", lambda s: s.mtu),
    "ttl_same_node": _f("0", lambda s: 0),
    "ttl_cross_node": _f("2", lambda s: 2),
}
_PER_NODE_VXLAN: dict[str, Formula] = {
    "routes_main": _f("2 + (N-1) + c", lambda s: 2 + s.nodes - 1 + s.c),
    "pod_routes": _f("(N-1) + c", lambda s: s.nodes - 1 + s.c),
    "routes_local": _f("3 + 2 + 1 + 2c", lambda s: LOOPBACK_LOCAL_ROUTES + 3 + 2 * s.c),
    "neighbors": _f("N-1", lambda s: s.nodes - 1),
    "fdb": _f("p + c + (N-1)", lambda s: s.pods_per_node + s.c + s.nodes - 1),
    "fdb_vtep": _f("N-1", lambda s: s.nodes - 1),
    "cni_rules": _f("10", lambda s: FLANNEL_MASQ_RULES),
    "pod_domain": _f("p + c", lambda s: s.pods_per_node + s.c),
    "underlay_domain": _f("N + r", lambda s: s.nodes + s.routers),
    "overhead_bytes": _f("50", lambda s: VXLAN_OVERHEAD_BYTES),
    "pod_mtu": _f("M - 50", lambda s: s.mtu - VXLAN_OVERHEAD_BYTES),
    "ttl_same_node": _f("0", lambda s: 0),
    "ttl_cross_node": _f("2", lambda s: 2),
}


def _with_totals(per_node: dict[str, Formula]) -> Mapping[str, Formula]:
    """Add the cluster-wide sums (every node alike: N times the per-node form)."""
    table = dict(per_node)
    for metric in ("pod_routes", "neighbors", "fdb"):
        form = per_node[metric]
        table[f"total_{metric}"] = Formula(
            {"0": "0", "1": "N"}.get(form.text, f"N * ({form.text})"),
            lambda s, form=form: s.nodes * form.value(s),  # type: ignore[misc]
        )
    return MappingProxyType(table)


FORMULAS: Final[Mapping[PodNetworkMode, Mapping[str, Formula]]] = MappingProxyType(
    {
        PodNetworkMode.L2: _with_totals(_PER_NODE_L2),
        PodNetworkMode.L3: _with_totals(_PER_NODE_L3),
        PodNetworkMode.VXLAN: _with_totals(_PER_NODE_VXLAN),
    }
)
"""Configured figures per mode: checked exactly against every measurement."""

ALL_TO_ALL: Final[Mapping[PodNetworkMode, Mapping[str, Formula]]] = MappingProxyType(
    {
        PodNetworkMode.L2: MappingProxyType(
            {
                "neighbors": _f("(N-1) + P + r", lambda s: s.nodes - 1 + s.pods + s.routers),
                "fdb": _f(
                    "p + 2 + (N-1) + P + r",
                    lambda s: s.pods_per_node + 2 + s.nodes - 1 + s.pods + s.routers,
                ),
            }
        ),
        PodNetworkMode.L3: MappingProxyType(
            {
                "neighbors": _f(
                    "(N-1) + r + p", lambda s: s.nodes - 1 + s.routers + s.pods_per_node
                ),
                "fdb": _f("2p + c", lambda s: 2 * s.pods_per_node + s.c),
            }
        ),
        PodNetworkMode.VXLAN: MappingProxyType(
            {
                "neighbors": _f(
                    "(N-1) + (N-1) + r + p",
                    lambda s: 2 * (s.nodes - 1) + s.routers + s.pods_per_node,
                ),
                "fdb": _f("2p + c + (N-1)", lambda s: 2 * s.pods_per_node + s.c + s.nodes - 1),
            }
        ),
    }
)
"""Upper bounds once every pair has talked (learned entries included): stated, not measured."""


def expected(mode: PodNetworkMode, metric: str, sizes: Sizes) -> tuple[str, int]:
    """The formula text and value of ``metric`` in ``mode`` at ``sizes``.

    >>> s = Sizes(nodes=100, pods_per_node=30, pods=3000, routers=1, mtu=1500, has_bridge=True)
    >>> expected(PodNetworkMode.VXLAN, "fdb", s)
    ('p + c + (N-1)', 130)
    >>> expected(PodNetworkMode.L3, "total_pod_routes", s)
    ('N * ((N-1) + c)', 10000)

    Raises:
        KeyError: no formula for ``metric``.
    """
    formula = FORMULAS[mode][metric]
    return formula.text, formula.value(sizes)


def efficiency(length: int, overhead: int) -> float:
    """The share of bytes on the underlay that are the pod's IP packet: ``L / (L + overhead)``.

    >>> round(efficiency(1450, 50), 4)
    0.9667
    >>> efficiency(60, 0)
    1.0
    """
    return length / (length + overhead)
