"""Run every benchmark and write the results as JSON.

    python benchmarks/run.py --json results.json [--quick] [--only NAME,...]
    python benchmarks/run.py --scaling --json scaling.json [--fractions 0.02,0.1,1]

Each result: ``name``, ``size``, ``median_s``, ``worst_s``, ``peak_mib``
(tracemalloc peak of one extra run; None where not measured), ``target`` (the
limit it is held to, in seconds unless the name says otherwise), ``met``
(the time target and, where there is one, ``peak_target_mib`` as well), and
what the benchmark adds. ``--quick`` runs reduced sizes (for a smoke run; the
targets apply to the full sizes). ``--only`` runs some groups: routing,
netfilter, realize, build, kubeproxy, load, reach, trace, command (whole
``netsim`` commands; informational results have ``target`` and ``met`` null).
Each group runs in a
fresh interpreter (:func:`run_apart`); ``--one-process`` runs them all in this
one. ``--scaling`` runs
every stage at several fractions of the full scale instead
(:mod:`benchmarks.scaling`) and writes its rows; ``benchmarks/chart.py`` draws
them. The file's ``machine`` records the load average and the machine's speed
(:mod:`benchmarks.calibrate`) before and after. Benchmarks never run in the
unit tests.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import bench_command, bench_trace
from benchmarks.bench_kubeproxy import bench_node_rules, bench_one_service_update
from benchmarks.bench_load import bench_load
from benchmarks.bench_netfilter import bench_first_match
from benchmarks.bench_reach import bench_pair_query
from benchmarks.bench_routing import bench_lpm
from benchmarks.scaling import FRACTIONS, run_scaling
from benchmarks.synthetic import FULL, QUICK, synthetic_spec
from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.model.topology import PodNetworkMode
from netsim.policy.reach import reachability

ROUNDS = 3
MODES = (PodNetworkMode.L2, PodNetworkMode.L3, PodNetworkMode.VXLAN)
GROUPS = (
    "routing",
    "netfilter",
    "realize",
    "build",
    "kubeproxy",
    "load",
    "reach",
    "trace",
    "command",
)
TARGET_REALIZE_S = 5.0  # the scale issue
TARGET_BUILD_S, TARGET_BUILD_MIB = 5.0, 1024.0  # realize + build, per pod-network mode
TARGET_REACH_S, TARGET_REACH_MIB = 5.0, 500.0  # the whole matrix


def measure(
    name: str,
    size: str,
    target: float,
    work: Callable[[], Any],
    rounds: int = ROUNDS,
    peak_target_mib: float | None = None,
) -> dict[str, Any]:
    """Time ``work`` ``rounds`` times (GC off while timing; each result is freed after the
    clock stops, not inside the next timing) and once under tracemalloc.

    ``met`` holds when the median is within ``target`` and, given a
    ``peak_target_mib``, the peak within it too.
    """
    times = []
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
        del result
        gc.enable()
    gc.collect()
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    median = statistics.median(times)
    peak_mib = peak / 2**20
    return {
        "name": name,
        "size": size,
        "median_s": median,
        "worst_s": max(times),
        "peak_mib": peak_mib,
        "target": target,
        "peak_target_mib": peak_target_mib,
        "met": median <= target and (peak_target_mib is None or peak_mib <= peak_target_mib),
    }


def run_apart(
    group: str, quick: bool, modes: tuple[PodNetworkMode, ...] = MODES
) -> list[dict[str, Any]]:
    """One group's results, run in a fresh interpreter (``--one-process --only GROUP``;
    the build group once per pod-network mode, with ``--mode``).

    A group run after others inherits their heap: in one process, loading
    YAML after the builds took 2.24 s where a fresh process takes 1.8 s.
    Each group measures its own stage, as a user's command would run it.
    Each result gets ``calibration_s``: the machine's speed just before and
    just after its group ran (:mod:`benchmarks.calibrate`).
    """
    results: list[dict[str, Any]] = []
    for mode in modes if group == "build" else (None,):
        with tempfile.TemporaryDirectory(prefix="netsim-bench-") as tmp:
            out = Path(tmp) / "results.json"
            argv = [sys.executable, str(Path(__file__).resolve()), "--json", str(out)]
            argv += ["--only", group, "--one-process", *(["--quick"] if quick else [])]
            argv += ["--mode", mode.value] if mode is not None else []
            subprocess.run(argv, check=True)
            child = json.loads(out.read_text())
            speed = [child["machine"]["calibration_s"], child["machine"]["calibration_s_after"]]
            results += [{**result, "calibration_s": speed} for result in child["results"]]
    return results


def calibration() -> float:
    """The machine's speed now: :mod:`benchmarks.calibrate` in a fresh process (in this
    one, after the benchmarks, a heap that held 150,000-pod clusters slows it by half)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.calibrate"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


def _with_keys(result: dict[str, Any], met: bool | None) -> dict[str, Any]:
    result.setdefault("peak_mib", None)
    result["met"] = met
    return result


def run_all(
    sizes: dict[str, int],
    groups: set[str],
    log: Callable[[str], None],
    modes: tuple[PodNetworkMode, ...] = MODES,
) -> list[Any]:
    """The results of the chosen groups at ``sizes`` (the build group for ``modes``)."""
    size = ", ".join(f"{v} {k}" for k, v in sizes.items())
    results: list[dict[str, Any]] = []

    def done(result: dict[str, Any]) -> None:
        results.append(result)
        verdict = "info" if result["met"] is None else "ok  " if result["met"] else "MISS"
        log(f"{verdict} {result['name']}: {result['median_s']:.6g} s")

    if "routing" in groups:
        lpm: dict[str, Any] = bench_lpm(n_routes=10_000)
        done(_with_keys(lpm, lpm["lookups_per_second"] >= lpm["target"]))
    if "netfilter" in groups:
        first: dict[str, Any] = bench_first_match(n_services=10_000)
        done(_with_keys(first, first["median_s"] <= first["target"]))
    spec = synthetic_spec(**sizes, mode=PodNetworkMode.VXLAN)
    if "realize" in groups:
        done(measure("realize", size, TARGET_REALIZE_S, lambda: realize(spec)))
    if "build" in groups:
        for mode in modes:
            moded = synthetic_spec(**sizes, mode=mode)
            done(
                measure(
                    f"realize+build {mode.value}",
                    size,
                    TARGET_BUILD_S,
                    lambda moded=moded: build_dataplane(realize(moded)),  # type: ignore[misc]
                    peak_target_mib=TARGET_BUILD_MIB,
                )
            )
    state = realize(spec) if groups & {"kubeproxy", "reach"} else None
    if "kubeproxy" in groups:
        for bench in (bench_node_rules, bench_one_service_update):
            result = bench(state)
            done(_with_keys(result, result["median_s"] <= result["target"]))
    if "load" in groups:
        loaded = bench_load(sizes)
        done(_with_keys(loaded, loaded["objects_per_second"] >= loaded["target"]))
    if "reach" in groups:
        assert state is not None
        done(
            measure(
                "reachability matrix (reachability)",
                size,
                TARGET_REACH_S,
                partial(reachability, state),
                peak_target_mib=TARGET_REACH_MIB,
            )
        )
        pair = bench_pair_query(matrix=reachability(state))
        done(_with_keys(pair, pair["median_s"] <= pair["target"]))
    state = None  # free the cluster before the trace benchmark builds its own
    if "trace" in groups:
        traced = bench_trace.bench_trace(sizes)
        done(_with_keys(traced, bench_trace.met(traced)))
    if "command" in groups:
        example = bench_command.bench_example()
        done(_with_keys(example, example["median_s"] <= example["target"]))
        for informational in bench_command.bench_cluster_commands(sizes):
            done(_with_keys(informational, None))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--quick", action="store_true", help="reduced sizes")
    parser.add_argument("--only", help=f"comma-separated groups of {', '.join(GROUPS)}")
    parser.add_argument("--scaling", action="store_true", help="the stages at several sizes")
    parser.add_argument(
        "--mode",
        choices=[m.value for m in MODES],
        help="the build group for this pod-network mode only (default: all three)",
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="run every group in this process (by default each group has a fresh one)",
    )
    parser.add_argument(
        "--fractions",
        default=",".join(str(f) for f in FRACTIONS),
        help="with --scaling: fractions of the full scale",
    )
    args = parser.parse_args()

    def log(line: str) -> None:
        print(line, flush=True)

    machine = {
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "python": sys.version,
        "calibration_s": calibration(),  # the machine's speed now (benchmarks/calibrate.py)
    }
    if args.scaling:
        fractions = [float(f) for f in args.fractions.split(",")]
        rows = run_scaling(fractions, log)
        machine["calibration_s_after"] = calibration()
        args.json.write_text(json.dumps({"machine": machine, "scaling": rows}, indent=2) + "\n")
        return 0
    groups = set(GROUPS if args.only is None else args.only.split(","))
    unknown = groups - set(GROUPS)
    if unknown:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
    modes = MODES if args.mode is None else (PodNetworkMode(args.mode),)
    if args.one_process:
        results = run_all(QUICK if args.quick else FULL, groups, log, modes)
    else:
        results = [
            r for group in GROUPS if group in groups for r in run_apart(group, args.quick, modes)
        ]
    machine["load_average_after"] = os.getloadavg()
    machine["calibration_s_after"] = calibration()
    args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
