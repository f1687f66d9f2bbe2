"""How fast this machine runs plain Python right now: one fixed workload, timed.

This project's machine is a virtual one whose speed drifts by 30 % or more
from one stretch of minutes to the next, with no load visible inside it
(``docs/performance.md``). ``benchmarks/run.py`` records this figure before
and after its benchmarks, so that two result files can be compared: a run
whose calibration took 30 % longer ran on a 30 % slower machine. It runs in a
fresh process: in the benchmarks' own, after they have held and freed
150,000-pod clusters, the same workload takes half as long again.

The workload is what the build does most: make small frozen records through
their slots, format names, and fill and read dictionaries. It takes about
0.055 s on this machine in a quiet minute. It is not a benchmark of netsim and has no target.

Run ``python3 -m benchmarks.calibrate`` for the median seconds of five runs.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass

RUNS = 5
_N = 40_000


@dataclass(frozen=True, slots=True)
class _Record:
    name: str
    index: int


def _workload() -> int:
    """Records, names and dictionaries: a fixed amount of plain Python."""
    records: dict[str, _Record] = {}
    for i in range(_N):
        name = f"pod-{i:05d}-{i % 7}"
        records[name] = _Record(name, i)
    total = 0
    for name, record in records.items():
        if name.endswith("-3"):
            total += record.index
    return total + len(sorted(records, reverse=True))


def calibrate(runs: int = RUNS) -> float:
    """The median seconds of ``runs`` runs of the fixed workload, the collector off."""
    times = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter()
            _workload()
            times.append(time.perf_counter() - start)
    finally:
        gc.enable()
    return statistics.median(times)


if __name__ == "__main__":
    print(f"{calibrate():.4f}")
