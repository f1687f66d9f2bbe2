"""How cost grows with size: every stage at several fractions of the full scale.

    python benchmarks/run.py --scaling --json scaling.json [--fractions 0.05,0.1,...]

For each fraction ``f`` the synthetic cluster has ``f`` times the full
scale's nodes, pods, Services and NetworkPolicies (100 namespaces always), and
each stage runs once with the garbage collector off:

* ``realize``: ``realize(spec)``;
* ``realize+build l2|l3|vxlan``: ``build_dataplane(realize(spec))`` per mode;
* ``kube-proxy rules``: ``node_rules`` of one node (chain-hash cache warm);
* ``reach``: the reachability matrix, ``reachability(state)``;
* ``trace``: the median of single-outcome traces ext -> NodePort -> pod
  (``benchmarks.bench_trace``, its build not included).

One row per (fraction, stage): the sizes and ``seconds``. ``benchmarks/chart.py``
draws the chart of docs/performance.md from the rows.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from benchmarks.bench_trace import bench_trace
from benchmarks.synthetic import FULL, synthetic_spec
from netsim.control.kubeproxy import node_rules
from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import Dataplane
from netsim.model.spec import ClusterSpec
from netsim.model.topology import PodNetworkMode
from netsim.policy.reach import reachability

FRACTIONS = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
STAGES = (
    "realize",
    "realize+build l2",
    "realize+build l3",
    "realize+build vxlan",
    "kube-proxy rules",
    "reach",
    "trace",
)


def scaled_sizes(fraction: float) -> dict[str, int]:
    """The full scale's sizes times ``fraction`` (namespaces stay 100).

    >>> scaled_sizes(0.1)
    {'nodes': 500, 'pods': 15000, 'services': 1000, 'policies': 500, 'namespaces': 100}
    """
    return {
        key: value if key == "namespaces" else max(1, round(value * fraction))
        for key, value in FULL.items()
    }


def _once(work: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = work()
        return time.perf_counter() - start, result
    finally:
        gc.enable()


def _realize_and_build(spec: ClusterSpec) -> Dataplane:
    return build_dataplane(realize(spec))


def run_scaling(
    fractions: Iterable[float] = FRACTIONS, log: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """Every stage at every fraction; one row per (fraction, stage)."""
    rows: list[dict[str, Any]] = []
    for fraction in fractions:
        sizes = scaled_sizes(fraction)

        def row(
            stage: str, seconds: float, sizes: dict[str, int] = sizes, fraction: float = fraction
        ) -> None:
            rows.append({"fraction": fraction, **sizes, "stage": stage, "seconds": seconds})
            log(f"{fraction:>5} {stage:<22} {seconds:10.6f} s")

        spec = synthetic_spec(**sizes, mode=PodNetworkMode.VXLAN)
        seconds, state = _once(partial(realize, spec))
        row("realize", seconds)
        for mode in (PodNetworkMode.L2, PodNetworkMode.L3, PodNetworkMode.VXLAN):
            moded = synthetic_spec(**sizes, mode=mode)
            seconds, _ = _once(partial(_realize_and_build, moded))
            row(f"realize+build {mode.value}", seconds)
        node = next(iter(state.nodes))
        node_rules(state, node)  # the chain-hash cache warm, as after kube-proxy's first sync
        seconds, _ = _once(partial(node_rules, state, node))
        row("kube-proxy rules", seconds)
        seconds, _ = _once(partial(reachability, state))
        row("reach", seconds)
        del state
        traced = bench_trace(sizes, n_traces=100)
        row("trace", traced["median_s"])
    return rows
