"""``netsim compare TOPOLOGY... [--modes l2,l3,vxlan]``: pod-network designs side by side.

One file: the cluster realized in each mode (``--modes``, default all).
Several files: each in its own mode. The report goes to stdout or
``--output FILE``; exit 1 when a measured figure disagrees with its formula.
"""

from __future__ import annotations

import json
import shutil
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

from netsim.cli.common import print_warnings
from netsim.errors import InputError

if TYPE_CHECKING:
    from netsim.compare import Comparison

__all__ = [
    "DEFAULT_SIZES_TEXT",
    "MAX_PODS_PER_NODE",
    "CompareFormat",
    "register",
    "render_comparison",
    "run_comparison",
]

MAX_PODS_PER_NODE = 250  # a /24 podCIDR holds 253 pods (the gateway takes .1)
# netsim.compare.DEFAULT_SIZES, spelled out for the help text so that starting any
# command does not load the comparison (a test keeps the two equal)
DEFAULT_SIZES_TEXT: Final = "3,10,30,100,300,1000"


class CompareFormat(StrEnum):
    """Output formats of ``netsim compare``."""

    TEXT = "text"
    MD = "md"
    JSON = "json"
    HTML = "html"


def run_comparison(
    topologies: list[Path],
    modes: str | None,
    sizes: tuple[int, ...],
    pods_per_node: int | None = None,
) -> Comparison:
    """Load the designs as the command line names them and compare them.

    Raises:
        InputError: ``--modes`` with several files, an unknown mode, or no design can run.
    """
    from netsim.compare import compare, designs_from_files, designs_in_modes, parse_modes
    from netsim.model.spec import load_cluster
    from netsim.model.topology import PodNetworkMode

    if len(topologies) > 1:
        if modes is not None:
            raise InputError(
                "--modes applies to one topology file; with several files each is"
                " compared in its own mode"
            )
        designs, refused = designs_from_files(topologies)
        title = " vs ".join(str(p) for p in topologies)
    else:
        spec = load_cluster(topologies[0])
        print_warnings(spec.warnings)
        chosen = parse_modes(modes) if modes is not None else tuple(PodNetworkMode)
        designs, refused = designs_in_modes(spec, chosen)
        title = f"{spec.topology.name} ({topologies[0]}) in {', '.join(m.value for m in chosen)}"
    if not designs:
        reasons = "; ".join(f"{r.name}: {r.reason}" for r in refused)
        raise InputError(f"no design can run on this underlay ({reasons})")
    return compare(designs, refused, sizes=sizes, pods_per_node=pods_per_node, title=title)


def render_comparison(comparison: Comparison, output_format: CompareFormat, width: int) -> str:
    """The report in ``output_format`` (HTML draws the charts: loads matplotlib)."""
    from netsim.report.compare_json import compare_json
    from netsim.report.compare_text import render_compare_markdown, render_compare_text

    if output_format is CompareFormat.JSON:
        return json.dumps(compare_json(comparison), indent=2) + "\n"
    if output_format is CompareFormat.MD:
        return render_compare_markdown(comparison)
    if output_format is CompareFormat.HTML:
        from netsim.report.compare_charts import compare_charts  # lazy: loads matplotlib
        from netsim.report.compare_html import render_compare_html

        return render_compare_html(comparison, compare_charts(comparison))
    return render_compare_text(comparison, width=width)


def compare_command(
    topologies: Annotated[
        list[Path], typer.Argument(help="Topology file(s): one to compare modes, or several.")
    ],
    modes: Annotated[
        str | None,
        typer.Option("--modes", help="Comma-separated modes for one file (default: l2,l3,vxlan)."),
    ] = None,
    sizes: Annotated[
        str | None,
        typer.Option(
            "--sizes",
            help=f"Node counts of the synthetic scaling clusters (default: {DEFAULT_SIZES_TEXT}).",
        ),
    ] = None,
    pods_per_node: Annotated[
        int | None,
        typer.Option(
            "--pods-per-node",
            min=0,
            max=MAX_PODS_PER_NODE,
            help="Pods on each node of the synthetic clusters (default: this cluster's).",
        ),
    ] = None,
    no_scaling: Annotated[
        bool, typer.Option("--no-scaling", help="Skip the synthetic scaling clusters.")
    ] = False,
    output_format: Annotated[
        CompareFormat, typer.Option("--format", "-f", help="text, md, json or html.")
    ] = CompareFormat.TEXT,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to FILE.", dir_okay=False),
    ] = None,
) -> None:
    """Compare pod-network designs: overhead, MTU, paths, table sizes, scaling."""
    from netsim.compare import DEFAULT_SIZES, parse_sizes

    if no_scaling and sizes is not None:
        raise InputError("--sizes and --no-scaling contradict each other; give one")
    chosen = () if no_scaling else (parse_sizes(sizes) if sizes is not None else DEFAULT_SIZES)
    comparison = run_comparison(topologies, modes, chosen, pods_per_node)
    width = shutil.get_terminal_size((120, 40)).columns
    text = render_comparison(comparison, output_format, width)
    if output is not None:
        output.write_text(text)
        typer.echo(f"netsim: wrote {output}", err=True)
    else:
        typer.echo(text, nl=False)
    failed = comparison.failed_checks
    if failed:
        typer.echo(
            f"netsim: {len(failed)} measured figures disagree with their formulas"
            " (see Formula checks)",
            err=True,
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the command to the application."""
    app.command("compare")(compare_command)
