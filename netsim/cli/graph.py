"""``netsim graph TOPOLOGY``: the dataplane graph as DOT, Mermaid, JSON or SVG."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from netsim.cli.common import load_state
from netsim.control.state import ClusterState
from netsim.errors import InputError

__all__ = ["GraphFormat", "check_node", "register"]


class GraphFormat(StrEnum):
    """Output formats of ``netsim graph``."""

    DOT = "dot"
    MERMAID = "mermaid"
    JSON = "json"
    SVG = "svg"


def check_node(state: ClusterState, topology: Path, node: str | None) -> None:
    """Refuse a ``--node`` that names no node of the cluster.

    Raises:
        InputError: naming the topology file, the option and the nodes there are.
    """
    if node is not None and node not in state.nodes:
        raise InputError(
            f"{node!r} is not a node of the cluster (nodes: {', '.join(state.nodes)})",
            source=str(topology),
            field="--node",
        )


def graph(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).")],
    output_format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="dot, mermaid, json or svg.")
    ] = GraphFormat.DOT,
    node: Annotated[
        str | None,
        typer.Option("--node", help="Keep only this node's namespaces, devices and links."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Print the graph of namespaces, devices, links, tunnels and services."""
    # imported here: networkx takes a fifth of a second, which other commands need not pay
    from netsim.dataplane.build import build_dataplane
    from netsim.dataplane.graph import dataplane_graph, node_view
    from netsim.report.graph import render_dot, render_json, render_mermaid, render_svg

    renderers = {
        GraphFormat.DOT: render_dot,
        GraphFormat.MERMAID: render_mermaid,
        GraphFormat.JSON: render_json,
        GraphFormat.SVG: render_svg,
    }
    state = load_state(topology)
    check_node(state, topology, node)
    network = dataplane_graph(build_dataplane(state))
    if node is not None:
        network = node_view(network, node)
    text = renderers[output_format](network)
    if output is not None:
        output.write_text(text)
    else:
        typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    """Add the command to the application."""
    app.command("graph")(graph)
