"""Benchmark: the reachability matrix and one pair queried afterwards.

``reachability(state)`` on the realized synthetic cluster (timed by the
caller with ``measure``); then ``pair_index(matrix)`` once and
``is_allowed(index, source, destination, port, protocol)`` for
``n_queries`` random pairs (a random source of the matrix, a random
destination pod, one of its declared ports), with the garbage collector off.
The figure is seconds per query, the median and worst of ``ROUNDS`` rounds;
``query_median_s`` is the same pairs through :func:`query` (which also words
the explanation), for comparison.

Run ``python3 -m benchmarks.bench_reach`` for one JSON object on stdout.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import time
from typing import Any

from benchmarks.synthetic import synthetic_spec
from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.model.objects import Protocol
from netsim.policy.reach import ReachMatrix, is_allowed, pair_index, query, reachability

TARGET_QUERY_S = 1e-6  # the scale issue: one pair, after the matrix is built
SEED = 20240611  # any fixed seed: the same pairs on every run
ROUNDS = 5
N_QUERIES = 100_000


def _pairs(matrix: ReachMatrix, n: int, rng: random.Random) -> list[tuple[str, str, int, Protocol]]:
    sources = [e.name for e in matrix.sources]
    destinations = [e for e in matrix.destinations if e.ports]
    pairs = []
    for _ in range(n):
        destination = rng.choice(destinations)
        port, protocol = rng.choice(destination.ports)
        pairs.append((rng.choice(sources), destination.name, port, protocol))
    return pairs


def _round(index: Any, pairs: list[tuple[str, str, int, Protocol]]) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        for source, destination, port, protocol in pairs:
            is_allowed(index, source, destination, port, protocol)
        return (time.perf_counter() - start) / len(pairs)
    finally:
        gc.enable()


def bench_pair_query(
    state: ClusterState | None = None,
    matrix: ReachMatrix | None = None,
    n_queries: int = N_QUERIES,
) -> dict[str, Any]:
    """Time ``is_allowed`` for random pairs of the matrix of ``state``.

    Returns:
        ``name``, ``size``, ``median_s`` and ``worst_s`` (per query),
        ``index_s`` (``pair_index`` once), ``query_median_s`` (``query`` on
        the same pairs), ``queries``, ``target`` (seconds).
    """
    if matrix is None:
        matrix = reachability(realize(synthetic_spec()) if state is None else state)
    start = time.perf_counter()
    index = pair_index(matrix)
    index_s = time.perf_counter() - start
    pairs = _pairs(matrix, n_queries, random.Random(SEED))
    for source, destination, port, protocol in pairs[:1000]:
        assert is_allowed(index, source, destination, port, protocol) == (
            query(matrix, source, destination, port, protocol).is_allowed
        )
    times = [_round(index, pairs) for _ in range(ROUNDS)]
    slow = pairs[: n_queries // 10]
    gc.disable()
    try:
        start = time.perf_counter()
        for source, destination, port, protocol in slow:
            query(matrix, source, destination, port, protocol)
        query_s = (time.perf_counter() - start) / len(slow)
    finally:
        gc.enable()
    return {
        "name": "reach: one pair queried (is_allowed on pair_index)",
        "size": f"{len(matrix.sources)} sources, {len(matrix.destinations)} destinations",
        "median_s": statistics.median(times),
        "worst_s": max(times),
        "peak_mib": None,
        "index_s": index_s,
        "query_median_s": query_s,
        "queries": n_queries,
        "target": TARGET_QUERY_S,
    }


if __name__ == "__main__":
    print(json.dumps(bench_pair_query()))
