"""Benchmark: loading a cluster from YAML files (``load_cluster``), in objects per second.

``write_cluster_files`` writes the synthetic cluster as a user keeps it (a
topology file and per-namespace manifests of Namespaces, Deployments,
Services and NetworkPolicies) to a temporary directory; each round times
``load_cluster(topology)`` with the garbage collector off. The rate is the
Kubernetes objects written divided by the median seconds (the topology's
nodes are read too, and not counted as objects). ``rounds_s`` lists every
round: the first is cold (the loader's memos of words and labels already
read, in ``netsim.model.files`` and ``netsim.model.manifest_fields``, are
empty), the others find them filled, as a process loading several clusters
would.

Run ``python3 -m benchmarks.bench_load`` for one JSON object on stdout.
"""

from __future__ import annotations

import gc
import json
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks.synthetic import FULL
from benchmarks.synthetic_files import write_cluster_files
from netsim.model.spec import load_cluster
from netsim.model.topology import PodNetworkMode

TARGET_OBJECTS_PER_SECOND = 20_000  # the scale issue
ROUNDS = 3


def bench_load(sizes: dict[str, int] | None = None, rounds: int = ROUNDS) -> dict[str, Any]:
    """Time ``load_cluster`` on the synthetic cluster of ``sizes`` written as files.

    Returns:
        ``name``, ``size``, ``median_s``, ``worst_s``, ``peak_mib``,
        ``objects``, ``objects_per_second``, ``bytes`` (of YAML), ``rounds_s``
        (each round, the cold one first) and ``target`` (objects per second).
    """
    sizes = dict(FULL if sizes is None else sizes)
    with tempfile.TemporaryDirectory(prefix="netsim-load-") as tmp:
        topology, objects = write_cluster_files(Path(tmp), **sizes, mode=PodNetworkMode.VXLAN)
        size_bytes = sum(p.stat().st_size for p in Path(tmp).rglob("*.yaml"))
        times = []
        for _ in range(rounds):
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                load_cluster(topology)
                times.append(time.perf_counter() - start)
            finally:
                gc.enable()
        tracemalloc.start()
        load_cluster(topology)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    median = statistics.median(times)
    return {
        "name": "load_cluster from YAML files (objects/s)",
        "size": f"{objects} objects, {sizes['nodes']} nodes, {size_bytes / 2**20:.1f} MiB of YAML",
        "median_s": median,
        "worst_s": max(times),
        "peak_mib": peak / 2**20,
        "objects": objects,
        "objects_per_second": objects / median,
        "bytes": size_bytes,
        "rounds_s": times,
        "target": TARGET_OBJECTS_PER_SECOND,
    }


if __name__ == "__main__":
    print(json.dumps(bench_load()))
