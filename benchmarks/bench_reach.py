"""Benchmark: the reachability matrix and one pair queried afterwards.

``reachability(state)`` on the realized synthetic cluster (timed by the
caller with ``measure``); then ``pair_index(matrix)`` once and
``is_allowed(index, source, destination, port, protocol)`` for
``n_queries`` random pairs (a random source of the matrix, a random
destination pod, one of its declared ports), with the garbage collector off.

Each of ``ROUNDS`` rounds runs every pair, timed in batches of ``BATCH``
consecutive pairs with ``perf_counter_ns`` (nothing subtracted). The figure,
``median_s``, is seconds per query: the median over every batch of every
round, so a batch during which another process held the CPU (the machine is
shared) does not move it; ``round_median_s`` and ``worst_s`` are whole rounds
(the median and the worst), preemptions included. ``noop_median_s`` is the
same loop calling a function that takes the same arguments and does
nothing: what Python's loop and call cost on this machine, with the pairs'
own memory traffic. ``query_median_s`` is the same pairs through
:func:`query` (which also words the explanation), for comparison.

Run ``python3 -m benchmarks.bench_reach`` for one JSON object on stdout.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import time
from collections.abc import Callable
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
BATCH = 1000  # pairs per timed batch: about a millisecond, well under a scheduler time slice


def _pairs(matrix: ReachMatrix, n: int, rng: random.Random) -> list[tuple[str, str, int, Protocol]]:
    sources = [e.name for e in matrix.sources]
    destinations = [e for e in matrix.destinations if e.ports]
    pairs = []
    for _ in range(n):
        destination = rng.choice(destinations)
        port, protocol = rng.choice(destination.ports)
        pairs.append((rng.choice(sources), destination.name, port, protocol))
    return pairs


def _no_op(index: Any, source: str, destination: str, port: int, protocol: Protocol) -> None:
    """The call the loop makes, doing nothing: the baseline of the loop itself."""


def _round(
    answer: Callable[[Any, str, str, int, Protocol], object],
    index: Any,
    pairs: list[tuple[str, str, int, Protocol]],
) -> list[int]:
    """Nanoseconds per batch of ``BATCH`` pairs (the last batch may be shorter)."""
    batches = [pairs[i : i + BATCH] for i in range(0, len(pairs), BATCH)]
    times = []
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for batch in batches:
            start = clock()
            for source, destination, port, protocol in batch:
                answer(index, source, destination, port, protocol)
            times.append(clock() - start)
    finally:
        gc.enable()
    return times


def _per_query(times: list[list[int]], pairs: list[tuple[str, str, int, Protocol]]) -> Any:
    """Seconds per query: the median over batches, and the median and worst over rounds."""
    sizes = [len(pairs[i : i + BATCH]) for i in range(0, len(pairs), BATCH)]
    batches = [ns / size / 1e9 for one in times for ns, size in zip(one, sizes, strict=True)]
    rounds = [sum(one) / len(pairs) / 1e9 for one in times]
    return statistics.median(batches), statistics.median(rounds), max(rounds)


def bench_pair_query(
    state: ClusterState | None = None,
    matrix: ReachMatrix | None = None,
    n_queries: int = N_QUERIES,
) -> dict[str, Any]:
    """Time ``is_allowed`` for random pairs of the matrix of ``state``.

    Returns:
        ``name``, ``size``, ``median_s`` (per query, median over batches),
        ``round_median_s`` and ``worst_s`` (per query, whole rounds),
        ``noop_median_s`` (the loop calling a no-op, median over batches),
        ``batch``, ``index_s`` (``pair_index`` once), ``query_median_s``
        (``query`` on the same pairs), ``queries``, ``target`` (seconds).
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
    times, baseline = [], []
    for _ in range(ROUNDS):  # interleaved, so both see the same load
        times.append(_round(is_allowed, index, pairs))
        baseline.append(_round(_no_op, index, pairs))
    median_s, round_median_s, worst_s = _per_query(times, pairs)
    noop_median_s, _, _ = _per_query(baseline, pairs)
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
        "median_s": median_s,
        "worst_s": worst_s,
        "round_median_s": round_median_s,
        "noop_median_s": noop_median_s,
        "batch": BATCH,
        "peak_mib": None,
        "index_s": index_s,
        "query_median_s": query_s,
        "queries": n_queries,
        "target": TARGET_QUERY_S,
    }


if __name__ == "__main__":
    print(json.dumps(bench_pair_query()))
