"""``netsim show TOPOLOGY``: print the realized cluster."""

from __future__ import annotations

import json
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from netsim.cli.common import load_state
from netsim.cli.graph import check_node
from netsim.control.state import ClusterState
from netsim.dataplane.build import build_dataplane
from netsim.errors import InputError
from netsim.report.show import render_show_text, show_data
from netsim.report.tables import render_node_tables

__all__ = ["register"]


class ShowFormat(StrEnum):
    """Output formats of ``netsim show``."""

    TABLE = "table"
    JSON = "json"


def show(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).")],
    output_format: Annotated[
        ShowFormat, typer.Option("--format", "-f", help="table or json.")
    ] = ShowFormat.TABLE,
    node: Annotated[
        str | None,
        typer.Option(
            "--node", help="Print this node's root namespace as ip addr/route/neigh, bridge fdb."
        ),
    ] = None,
    tables: Annotated[
        bool,
        typer.Option(
            "--tables",
            help="Print namespaces as the tools do: the node's (every node's without"
            " --node) root namespace and each of its pods'.",
        ),
    ] = False,
) -> None:
    """Print nodes, pods and services of the realized cluster, or a node's kernel tables."""
    state = load_state(topology)
    if node is not None or tables:
        if output_format is ShowFormat.JSON:
            raise InputError(
                "--node and --tables print the kernel tables as text; drop --format json",
                field="--format",
            )
        typer.echo(_tables_text(state, topology, node, with_pods=tables), nl=False)
        return
    if output_format is ShowFormat.JSON:
        typer.echo(json.dumps(show_data(state), indent=2))
    else:
        width = shutil.get_terminal_size((120, 40)).columns
        typer.echo(render_show_text(state, width=width), nl=False)


def _tables_text(state: ClusterState, topology: Path, node: str | None, *, with_pods: bool) -> str:
    """``ip addr``/``ip route``/``ip neigh``/``bridge fdb`` of one node (or every node)."""
    check_node(state, topology, node)
    dataplane = build_dataplane(state)
    names = [node] if node is not None else list(state.nodes)
    return "\n".join(render_node_tables(dataplane, n, with_pods=with_pods) for n in names)


def register(app: typer.Typer) -> None:
    """Add the command to the application."""
    app.command("show")(show)
