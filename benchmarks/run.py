"""Run every benchmark and write the results as JSON.

    python benchmarks/run.py --json results.json [--quick]

Each result: ``name``, ``size``, ``median_s``, ``worst_s``, ``peak_mib``
(tracemalloc peak of one extra run), ``target`` (the limit it is held to, in
seconds unless the name says otherwise) and ``met``. ``--quick`` runs reduced
sizes (for a smoke run; the targets apply to the full sizes). Benchmarks never
run in the unit tests.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_kubeproxy import bench_node_rules, bench_one_service_update
from benchmarks.bench_netfilter import bench_first_match
from benchmarks.bench_routing import bench_lpm
from benchmarks.synthetic import FULL, QUICK, synthetic_spec
from netsim.control.realize import realize
from netsim.model.topology import PodNetworkMode

ROUNDS = 3


def measure(
    name: str, size: str, target: float, work: Callable[[], Any], rounds: int = ROUNDS
) -> dict[str, Any]:
    """Time ``work`` ``rounds`` times (GC off while timing) and once under tracemalloc."""
    times = []
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
        gc.enable()
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    median = statistics.median(times)
    return {
        "name": name,
        "size": size,
        "median_s": median,
        "worst_s": max(times),
        "peak_mib": peak / 2**20,
        "target": target,
        "met": median <= target,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--quick", action="store_true", help="reduced sizes")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    size = ", ".join(f"{v} {k}" for k, v in sizes.items())
    results = []
    lpm = bench_lpm(n_routes=10_000)
    lpm["met"] = lpm["lookups_per_second"] >= lpm["target"]
    results.append(lpm)
    first_match = bench_first_match(n_services=10_000)
    first_match["met"] = first_match["median_s"] <= first_match["target"]
    results.append(first_match)
    spec = synthetic_spec(**sizes, mode=PodNetworkMode.VXLAN)
    results.append(measure("realize", size, 5.0, lambda: realize(spec)))
    state = realize(spec)
    for bench in (bench_node_rules, bench_one_service_update):
        result = bench(state)
        result["met"] = result["median_s"] <= result["target"]
        results.append(result)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    for result in results:
        status = "ok " if result["met"] else "MISS"
        print(f"{status} {result['name']}: {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
