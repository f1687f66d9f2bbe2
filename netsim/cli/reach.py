"""``netsim reach TOPOLOGY``: who can reach whom, per port and protocol (NetworkPolicy)."""

from __future__ import annotations

import json
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from netsim.cli.common import load_state
from netsim.errors import InputError
from netsim.model.objects import Protocol
from netsim.policy.reach import cells, reachability, select_endpoints
from netsim.report.reach import (
    reach_rows,
    render_reach_csv,
    render_reach_markdown,
    render_reach_table,
)

__all__ = ["ReachFormat", "register"]


class ReachFormat(StrEnum):
    """Output formats of ``netsim reach``."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MD = "md"


def reach(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).")],
    source: Annotated[
        str | None,
        typer.Option("--from", help="NAMESPACE/POD | NAMESPACE/* | node:NODE | ext:NAME"),
    ] = None,
    destination: Annotated[
        str | None, typer.Option("--to", help="NAMESPACE/POD | NAMESPACE/*")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Check this port instead of each pod's declared ports."),
    ] = None,
    protocol: Annotated[
        str | None, typer.Option("--protocol", help="tcp, udp or sctp (default: all declared).")
    ] = None,
    output_format: Annotated[
        ReachFormat, typer.Option("--format", "-f", help="table, json, csv or md.")
    ] = ReachFormat.TABLE,
    explain: Annotated[
        bool, typer.Option("--explain", help="Add the deciding rule of each side per cell.")
    ] = False,
    png: Annotated[
        Path | None, typer.Option("--png", help="Also draw the matrix as a heatmap PNG.")
    ] = None,
    svg: Annotated[
        Path | None, typer.Option("--svg", help="Also draw the matrix as a heatmap SVG.")
    ] = None,
) -> None:
    """Print the NetworkPolicy verdict of every (source, destination pod, port)."""
    protocols = None if protocol is None else (_protocol(protocol),)
    if port is not None and not 1 <= port <= 65535:
        raise InputError(f"--port {port}: must be 1-65535")
    state = load_state(topology)
    matrix = reachability(state, ports=None if port is None else (port,), protocols=protocols)
    sources = None if source is None else select_endpoints(matrix, source)
    destinations = (
        None if destination is None else select_endpoints(matrix, destination, destinations=True)
    )
    selected = list(cells(matrix, sources, destinations))
    for image, suffix in ((png, ".png"), (svg, ".svg")):
        if image is not None:
            if image.suffix.lower() != suffix:
                raise InputError(f"{image}: the file name must end in {suffix}")
            from netsim.report.heatmap import write_reach_heatmap  # lazy: loads matplotlib

            write_reach_heatmap(
                selected, image, f"{state.topology.name}: NetworkPolicy reachability"
            )
            typer.echo(f"netsim: wrote {image}", err=True)
    if output_format is ReachFormat.JSON:
        typer.echo(json.dumps(reach_rows(selected), indent=2))
    elif output_format is ReachFormat.CSV:
        typer.echo(render_reach_csv(selected), nl=False)
    elif output_format is ReachFormat.MD:
        typer.echo(render_reach_markdown(selected, explain=explain), nl=False)
    else:
        width = shutil.get_terminal_size((120, 40)).columns
        typer.echo(render_reach_table(selected, explain=explain, width=width), nl=False)


def _protocol(text: str) -> Protocol:
    try:
        return Protocol(text.upper())
    except ValueError:
        raise InputError(f"--protocol {text!r}: not a protocol; use tcp, udp or sctp") from None


def register(app: typer.Typer) -> None:
    """Add the command to the application."""
    app.command("reach")(reach)
