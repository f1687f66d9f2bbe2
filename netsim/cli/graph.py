"""``netsim graph TOPOLOGY``: the dataplane graph as DOT, Mermaid, JSON or SVG."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from netsim.cli.common import load_state
from netsim.control.state import ClusterState
from netsim.errors import InputError
from netsim.model.topology import PodNetworkMode

__all__ = ["MAX_GRAPH_EDGES", "GraphFormat", "check_node", "check_size", "register"]

# About 2 KiB each in networkx with their attributes: some 4 GiB of graph at the limit.
MAX_GRAPH_EDGES = 2_000_000


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


def check_size(state: ClusterState, topology: Path) -> None:
    """Refuse a cluster whose graph would not fit in memory.

    Two kinds of edges grow with the product of two sizes: every node's
    kube-proxy ``implements`` every service port and NodePort, and in
    ``vxlan`` every VTEP has a tunnel edge to every other. ``--node`` draws a
    part of the whole graph, so it is refused too.

    Raises:
        InputError: naming the topology file, the counts and what to use instead.
    """
    nodes = len(state.nodes)
    service_nodes = sum(
        1 + (port.node_port is not None)
        for service in state.services.values()
        if service.cluster_ip is not None
        for port in service.ports
    )
    tunnels = nodes * (nodes - 1) if state.topology.pod_network.mode is PodNetworkMode.VXLAN else 0
    edges = nodes * service_nodes + tunnels
    if edges > MAX_GRAPH_EDGES:
        raise InputError(
            f"the graph of this cluster would have over {edges:,} edges ({nodes:,} kube-proxies"
            f" each implementing {service_nodes:,} service ports and NodePorts"
            + (f", {tunnels:,} VXLAN tunnels" if tunnels else "")
            + f"), more than netsim graph draws ({MAX_GRAPH_EDGES:,}); for one node's devices and"
            " tables use netsim show --node NODE --tables, for a packet's path netsim trace",
            source=str(topology),
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
    check_size(state, topology)
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
