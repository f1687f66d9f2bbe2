"""Benchmark: ``netsim`` commands as a user runs them, whole, each in a fresh interpreter.

* **``netsim trace`` on a bundled example** (``topologies/vxlan.yaml``, from
  ``ext:laptop`` to ``node:node-1:30080``, every outcome, as the README's
  first command): ``python -m netsim trace ...`` from process start to exit,
  the median and worst of ``RUNS`` runs. One untimed run comes first so that
  Python has cached the modules' bytecode, as installing the package does
  (``PYTHONDONTWRITEBYTECODE`` is cleared for it). Held to 1 s.
* **``netsim trace`` and ``netsim lint`` on the synthetic cluster** of
  ``sizes``, written as YAML files (``benchmarks/synthetic_files.py``, as the
  loading benchmark does): one run each, informational. The trace goes from
  the external client to the NodePort of the first Service that has one, on
  the middle node: load, realize, build, ``prepare``, the NetworkPolicy
  judge, every outcome traced, and the lint warnings about the policies met.
  The NodePort is found by realizing the files in this process first.

Run ``python3 -m benchmarks.bench_command`` for a JSON list on stdout.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.synthetic import FULL
from benchmarks.synthetic_files import write_cluster_files
from netsim.control.realize import realize
from netsim.model.spec import load_cluster
from netsim.model.topology import PodNetworkMode

TARGET_EXAMPLE_S = 1.0  # the scale issue: `netsim trace` on a bundled example, cold
RUNS = 5
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ["trace", "topologies/vxlan.yaml", "--from", "ext:laptop", "--to", "node:node-1:30080"]


def _run(arguments: list[str], ok: tuple[int, ...] = (0,)) -> float:
    """Seconds ``python -m netsim ARGUMENTS`` takes, start to exit (its output discarded)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "netsim", *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - began
    if done.returncode not in ok:
        raise RuntimeError(f"netsim {' '.join(arguments)}: exit {done.returncode}: {done.stderr}")
    return seconds


def bench_example(runs: int = RUNS) -> dict[str, Any]:
    """``netsim trace`` on the bundled VXLAN example, as a whole command."""
    _run(EXAMPLE)  # caches bytecode, as installing does
    times = [_run(EXAMPLE) for _ in range(runs)]
    return {
        "name": "netsim trace on a bundled example, whole command",
        "size": "topologies/vxlan.yaml, ext:laptop -> node:node-1:30080, every outcome",
        "median_s": statistics.median(times),
        "worst_s": max(times),
        "runs_s": times,
        "target": TARGET_EXAMPLE_S,
    }


def bench_cluster_commands(sizes: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """``netsim trace`` and ``netsim lint`` on the synthetic cluster as files (informational)."""
    sizes = dict(FULL if sizes is None else sizes)
    size = ", ".join(f"{v} {k}" for k, v in sizes.items())
    with tempfile.TemporaryDirectory(prefix="netsim-commands-") as tmp:
        topology, _ = write_cluster_files(Path(tmp), **sizes, mode=PodNetworkMode.VXLAN)
        state = realize(load_cluster(topology))
        node_port = next(
            sp.node_port for s in state.services.values() for sp in s.ports if sp.node_port
        )
        nodes = list(state.nodes)
        destination = f"node:{nodes[len(nodes) // 2]}:{node_port}"
        del state
        trace = ["trace", str(topology), "--from", "ext:client", "--to", destination]
        traced = _run(trace)
        linted = _run(["lint", str(topology)], ok=(0, 1))
    return [
        {
            "name": "netsim trace on the synthetic cluster's files, whole command (informational)",
            "size": f"{size}; ext:client -> {destination}, every outcome",
            "median_s": traced,
            "worst_s": traced,
            "target": None,
        },
        {
            "name": "netsim lint on the synthetic cluster's files, whole command (informational)",
            "size": size,
            "median_s": linted,
            "worst_s": linted,
            "target": None,
        },
    ]


if __name__ == "__main__":
    print(json.dumps([bench_example(), *bench_cluster_commands()]))
