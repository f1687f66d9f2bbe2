"""Realize and build the dataplane of a synthetic cluster: ``build_dataplane(realize(spec))``.

    python benchmarks/bench_build.py [--quick] [--nodes 1000]

Issue 9's target: at full scale (5,000 nodes, 150,000 pods, 10,000 Services)
at most 5 s (median) and 1 GiB of tracemalloc peak, for each pod-network mode
(``l2``, ``l3`` host-gw, ``vxlan``). The spec is built once, outside the
timing, as the generator's in-memory value. Node and pod namespaces are frozen
on first access (``netsim.dataplane.lazy``); the result also reports the time
to freeze one node's namespaces (``first_node_s``) and, with ``--all``, every
namespace (``all_namespaces_s``). Never run by the unit tests.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synthetic import FULL, QUICK, synthetic_spec
from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.model.topology import PodNetworkMode
from netsim.naming import node_netns_id

ROUNDS = 3
TARGET_S = 5.0
TARGET_MIB = 1024.0


def bench_realize_build(
    mode: PodNetworkMode, sizes: dict[str, int], rounds: int = ROUNDS, *, every: bool = False
) -> dict[str, Any]:
    """Time ``build_dataplane(realize(spec))`` ``rounds`` times (GC off while timing, as
    ``benchmarks/run.py`` does) and once under tracemalloc."""
    spec = synthetic_spec(**sizes, mode=mode)
    times, realize_times, build_times = [], [], []
    state, dataplane = None, None
    for _ in range(rounds):
        del state, dataplane  # the previous round's cluster is freed outside the timing
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        state = realize(spec)
        middle = time.perf_counter()
        dataplane = build_dataplane(state)
        end = time.perf_counter()
        gc.enable()
        times.append(end - start)
        realize_times.append(middle - start)
        build_times.append(end - middle)
    assert state is not None and dataplane is not None  # rounds >= 1
    start = time.perf_counter()
    dataplane.namespaces[node_netns_id(next(iter(state.nodes)))]
    first_node = time.perf_counter() - start
    all_namespaces = None
    if every:
        start = time.perf_counter()
        for _ in dataplane.namespaces.values():
            pass
        all_namespaces = time.perf_counter() - start
    del state, dataplane
    gc.collect()
    tracemalloc.start()
    build_dataplane(realize(spec))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    median = statistics.median(times)
    peak_mib = peak / 2**20
    return {
        "name": f"realize + build_dataplane ({mode.value})",
        "size": ", ".join(f"{v} {k}" for k, v in sizes.items()),
        "median_s": median,
        "worst_s": max(times),
        "realize_median_s": statistics.median(realize_times),
        "build_median_s": statistics.median(build_times),
        "first_node_s": first_node,
        "all_namespaces_s": all_namespaces,
        "peak_mib": peak_mib,
        "target": TARGET_S,
        "target_mib": TARGET_MIB,
        "met": median <= TARGET_S and peak_mib <= TARGET_MIB,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes")
    parser.add_argument("--nodes", type=int, help="scale FULL to this many nodes")
    parser.add_argument("--all", action="store_true", help="also time freezing every namespace")
    parser.add_argument("--mode", choices=[m.value for m in PodNetworkMode], action="append")
    parser.add_argument("--json", type=Path, help="where to write the results")
    args = parser.parse_args()
    sizes = dict(QUICK if args.quick else FULL)
    if args.nodes:
        scale = args.nodes / FULL["nodes"]
        sizes = {k: max(1, round(v * scale)) for k, v in FULL.items()}
        sizes["namespaces"] = FULL["namespaces"]
    modes = [PodNetworkMode(m) for m in args.mode] if args.mode else list(PodNetworkMode)
    results = [bench_realize_build(mode, sizes, every=args.all) for mode in modes]
    for result in results:
        status = "ok " if result["met"] else "MISS"
        print(f"{status} {json.dumps(result)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
