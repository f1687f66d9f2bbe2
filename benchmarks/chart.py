"""Draw docs/performance-scaling.svg from the rows of ``run.py --scaling``.

    python benchmarks/chart.py scaling.json [docs/performance-scaling.svg]

One line per stage: seconds against the fraction of full scale (log-log,
so a straight line of slope 1 is linear growth), the x axis labelled with
nodes and pods. The SVG is deterministic (fixed ``svg.hashsalt``, no date).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "performance-scaling.svg"


def draw(rows: list[dict[str, Any]], out: Path) -> None:
    """Write the chart of ``rows`` (fraction, sizes, stage, seconds) to ``out`` as SVG."""
    plt.rcParams["svg.hashsalt"] = "netsim-scaling"
    plt.rcParams["svg.fonttype"] = "none"
    stages = list(dict.fromkeys(row["stage"] for row in rows))
    fractions = sorted({row["fraction"] for row in rows})
    fig, ax = plt.subplots(figsize=(8, 5))
    for stage in stages:
        points = sorted((r["fraction"], r["seconds"]) for r in rows if r["stage"] == stage)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=stage)
    ax.set_xscale("log")
    ax.set_yscale("log")
    by_fraction = {r["fraction"]: r for r in rows}
    ax.set_xticks(fractions)
    ax.set_xticklabels(
        [f"{by_fraction[f]['nodes']:,} nodes\n{by_fraction[f]['pods']:,} pods" for f in fractions],
        fontsize=7,
    )
    ax.minorticks_off()
    ax.set_xlabel("cluster size (Services = pods / 15, policies = nodes)")
    ax.set_ylabel("seconds (log)")
    ax.set_title("netsim: cost of each stage against cluster size")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    rows = json.loads(Path(argv[0]).read_text())
    rows = rows["scaling"] if isinstance(rows, dict) else rows
    draw(rows, Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
