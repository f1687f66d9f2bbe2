"""The reachability matrix as a heatmap image (PNG or SVG, drawn with matplotlib).

One row per source, one column per destination pod; a cell's colour is the
share of the checked ports (and protocols) the NetworkPolicies allow between
the two, from red (none) through yellow to green (all). White cells were not
checked (a pod is never judged against itself). Pure in, file out: the image
is written with matplotlib's non-interactive Agg backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from netsim.policy.reach import ReachCell

__all__ = ["heatmap_grid", "write_reach_heatmap"]


def heatmap_grid(
    cells: Sequence[ReachCell],
) -> tuple[list[str], list[str], list[list[float | None]]]:
    """Sources, destinations and the share of allowed ports per pair (None: not checked).

    >>> heatmap_grid([])
    ([], [], [])
    """
    sources = list(dict.fromkeys(c.source for c in cells))
    destinations = list(dict.fromkeys(c.destination for c in cells))
    allowed: dict[tuple[str, str], list[int]] = {}
    for cell in cells:
        tally = allowed.setdefault((cell.source, cell.destination), [0, 0])
        tally[0] += cell.is_allowed
        tally[1] += 1
    grid: list[list[float | None]] = [
        [
            (allowed[(s, d)][0] / allowed[(s, d)][1]) if (s, d) in allowed else None
            for d in destinations
        ]
        for s in sources
    ]
    return sources, destinations, grid


def write_reach_heatmap(cells: Sequence[ReachCell], path: Path, title: str) -> None:
    """Draw the heatmap into ``path``; the suffix (.png or .svg) picks the format."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sources, destinations, grid = heatmap_grid(cells)
    values = np.array(
        [[np.nan if v is None else v for v in row] for row in grid] or [[np.nan]], dtype=float
    )
    height = max(3.0, 0.3 * len(sources) + 2.0)
    width = max(4.0, 0.3 * len(destinations) + 3.5)
    figure, axes = plt.subplots(figsize=(width, height))
    colours = plt.get_cmap("RdYlGn").with_extremes(bad="white")
    image = axes.imshow(values, cmap=colours, vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(destinations)), labels=destinations, rotation=90, fontsize=7)
    axes.set_yticks(range(len(sources)), labels=sources, fontsize=7)
    axes.set_xlabel("destination pod")
    axes.set_ylabel("source")
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, label="share of checked ports allowed")
    figure.tight_layout()
    figure.savefig(path, format=path.suffix.lstrip(".").lower())
    plt.close(figure)
