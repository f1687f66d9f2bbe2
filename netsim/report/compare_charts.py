"""The charts of the ``netsim compare`` HTML report, drawn with matplotlib as inline SVG.

Each chart is an SVG document as text, ready to embed in HTML: the XML
prolog, DOCTYPE and metadata block are removed, ids are salted with a fixed
string (``svg.hashsalt``) and no date is written, so the same comparison
always gives the same bytes. Text stays text (``svg.fonttype: none``).
matplotlib is imported inside :func:`compare_charts`, by the commands that
draw (the Agg backend, no pyplot state).

Charts: the per-node tables of the user's cluster per design (bars),
efficiency against packet length per design (the formula ``L / (L +
overhead)`` drawn, the report's lengths marked), and with scaling, per-node
routes, neighbours and FDB entries and the broadcast domain of a pod against
``N`` (log axes; dashed: the all-to-all bound).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from netsim.compare.formulas import efficiency
from netsim.compare.model import Comparison, ScalingPoint

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Chart", "compare_charts"]

SVG_SALT: Final = "netsim-compare"  # fixed ids: reproducible SVG
COLOURS: Final = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
MARKERS: Final = ("o", "s", "^", "D", "v", "P")
FIGURE_SIZE: Final = (6.4, 3.4)  # inches
_STRIP = (
    re.compile(r"<\?xml[^>]*\?>\s*"),
    re.compile(r"<!DOCTYPE[^>]*>\s*"),
    re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL),
)


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart: its anchor (``chart-routes``), title, caption and inline SVG text."""

    anchor: str
    title: str
    caption: str
    svg: str


def _svg_text(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "netsim"})
    text = buffer.getvalue()
    for pattern in _STRIP:
        text = pattern.sub("", text)
    return text.strip() + "\n"


def _style(index: int) -> dict[str, Any]:
    return {"color": COLOURS[index % len(COLOURS)], "marker": MARKERS[index % len(MARKERS)]}


def _per_design(points: Sequence[ScalingPoint]) -> dict[str, list[ScalingPoint]]:
    grouped: dict[str, list[ScalingPoint]] = {}
    for point in points:
        grouped.setdefault(point.design, []).append(point)
    return grouped


def _scaling_axes(axes: Axes, title: str, ylabel: str) -> None:
    axes.set_xscale("log")
    axes.set_yscale("symlog", linthresh=1.0)
    axes.set_ylim(bottom=0)
    axes.set_xlabel("nodes N")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, which="major", linewidth=0.4, alpha=0.5)
    axes.legend(fontsize=7, loc="upper left")


def compare_charts(comparison: Comparison) -> tuple[Chart, ...]:
    """Every chart of the report (the scaling ones only when scaling was measured)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    charts: list[Chart] = []
    rc_params = {"svg.hashsalt": SVG_SALT, "svg.fonttype": "none", "font.size": 8}
    with matplotlib.rc_context(rc_params):  # type: ignore[arg-type]

        def draw(anchor: str, title: str, caption: str, plot: Any) -> None:
            figure = Figure(figsize=FIGURE_SIZE)
            axes = figure.subplots()
            plot(axes)
            figure.tight_layout()
            charts.append(Chart(anchor, title, caption, _svg_text(figure)))

        designs = comparison.designs

        def tables(axes: Axes) -> None:
            metrics = ("routes_main", "neighbors", "fdb", "cni_rules")
            labels = ("routes (main)", "neighbours", "FDB (unicast)", "CNI rules")
            width = 0.8 / max(len(designs), 1)
            for index, design in enumerate(designs):
                values = [max((getattr(t, m) for t in design.tables), default=0) for m in metrics]
                xs = [i + index * width for i in range(len(metrics))]
                axes.bar(xs, values, width, label=design.name, color=_style(index)["color"])
            axes.set_xticks([i + 0.4 - width / 2 for i in range(len(metrics))], labels=labels)
            axes.set_ylabel("entries on the largest node")
            axes.set_title("Per-node tables of this cluster")
            axes.legend(fontsize=7)

        draw(
            "chart-tables",
            "Per-node tables of this cluster",
            "Configured entries on the node with the most pods, per design.",
            tables,
        )

        def efficiencies(axes: Axes) -> None:
            top = max((d.underlay_mtu for d in designs), default=1500)
            lengths = list(range(40, top + 1, 20))
            for index, design in enumerate(designs):
                style = _style(index)
                axes.plot(
                    lengths,
                    [100 * efficiency(n, design.overhead_bytes) for n in lengths],
                    color=style["color"],
                    label=f"{design.name} (+{design.overhead_bytes} B)",
                )
                axes.plot(
                    [n for n, _ in design.efficiency],
                    [100 * e for _, e in design.efficiency],
                    linestyle="none",
                    **style,
                )
            axes.set_xlabel("inner IP packet length L (bytes)")
            axes.set_ylabel("efficiency L / (L + overhead), %")
            axes.set_title("Bytes on the underlay that are the pod's packet")
            axes.set_ylim(0, 105)
            axes.grid(True, linewidth=0.4, alpha=0.5)
            axes.legend(fontsize=7, loc="lower right")

        draw(
            "chart-efficiency",
            "Efficiency against packet length",
            "L / (L + overhead): the per-packet cost of encapsulation; markers at L = 60, 576"
            " and the pod MTU.",
            efficiencies,
        )
        if comparison.scaling is not None:
            grouped = _per_design(comparison.scaling.points)
            for anchor, metric, title, ylabel, bound in (
                ("chart-routes", "routes_main", "Routes per node", "routes (main table)", False),
                ("chart-neighbors", "neighbors", "Neighbours per node", "neighbour entries", True),
                ("chart-fdb", "fdb", "FDB entries per node", "unicast FDB entries", True),
                (
                    "chart-broadcast",
                    "pod_domain",
                    "Broadcast domain of a pod",
                    "addressed devices in the domain",
                    False,
                ),
            ):

                def scaling_plot(
                    axes: Axes,
                    metric: str = metric,
                    title: str = title,
                    ylabel: str = ylabel,
                    bound: bool = bound,
                ) -> None:
                    for index, (name, points) in enumerate(grouped.items()):
                        style = _style(index)
                        xs = [p.nodes for p in points]
                        axes.plot(xs, [p.value(metric) for p in points], label=name, **style)
                        if bound:
                            axes.plot(
                                xs,
                                [dict(p.bounds)[metric] for p in points],
                                linestyle="--",
                                color=style["color"],
                                label=f"{name}, all-to-all",
                            )
                    _scaling_axes(axes, title, ylabel)

                sizes = ", ".join(map(str, comparison.scaling.sizes))
                caption = f"Measured on synthetic clusters of N = {sizes} nodes"
                if bound:
                    caption += "; dashed: the all-to-all upper bound (learned entries included)"
                draw(anchor, title, caption + ".", scaling_plot)
    return tuple(charts)
