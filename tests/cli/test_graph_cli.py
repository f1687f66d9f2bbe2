"""``netsim graph`` and ``netsim show --node/--tables`` through typer's CliRunner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from netsim.cli import app as netsim_app
from netsim.cli import graph, show
from netsim.errors import InputError
from netsim.report.tables import render_node_tables
from tests.dataplane.clusters import TOPOLOGIES, example

VXLAN = str(TOPOLOGIES / "vxlan.yaml")


@pytest.fixture
def app() -> typer.Typer:
    """``netsim.cli.app``, with ``graph`` registered on a copy until the lead wires it in."""
    if any(command.name == "graph" for command in netsim_app.registered_commands):
        return netsim_app
    local = typer.Typer(name="netsim", no_args_is_help=True, add_completion=False)
    show.register(local)
    graph.register(local)
    return local


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_show_node_prints_the_root_namespace(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["show", VXLAN, "--node", "node-2"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render_node_tables(example("vxlan"), "node-2", with_pods=False)


def test_show_node_tables_adds_the_pods(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["show", VXLAN, "--node", "node-2", "--tables"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render_node_tables(example("vxlan"), "node-2")
    assert [line for line in result.stdout.splitlines() if line.startswith("# ")] == [
        "# node node-2",
        "# pod kube-system/coredns-545d9db46f-jxfff",
        "# pod shop/web-78dc94cfd5-gck7w",
    ]


def test_show_tables_prints_every_node(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["show", VXLAN, "--tables"])
    assert result.exit_code == 0, result.output
    headers = [line for line in result.stdout.splitlines() if line.startswith("# ")]
    assert [h for h in headers if h.startswith("# node")] == [
        "# node node-1",
        "# node node-2",
        "# node node-3",
    ]
    assert len(headers) == 3 + 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["show", VXLAN, "--node", "node-9"],
            r"vxlan\.yaml: --node: 'node-9' is not a node of the cluster \(nodes: node-1, node-2,"
            r" node-3\)",
            id="show-unknown-node",
        ),
        pytest.param(
            ["show", VXLAN, "--tables", "--format", "json"],
            r"--format: --node and --tables print the kernel tables as text; drop --format json",
            id="show-json-tables",
        ),
        pytest.param(
            ["graph", VXLAN, "--node", "node-9"],
            r"--node: 'node-9' is not a node of the cluster",
            id="graph-unknown-node",
        ),
    ],
)
def test_bad_options_are_input_errors(
    app: typer.Typer, runner: CliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(app, args)
    assert isinstance(result.exception, InputError)
    with pytest.raises(InputError, match=message):
        raise result.exception


def test_graph_dot_is_the_default(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["graph", VXLAN])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith('digraph "demo-vxlan" {\n')
    assert result.stdout.endswith("}\n")


def test_graph_mermaid_node_view(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["graph", VXLAN, "--format", "mermaid", "--node", "node-1"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart LR"
    assert sum(line.lstrip().startswith("subgraph") for line in lines) == 3


def test_graph_json_to_file(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "graph.json"
    result = runner.invoke(app, ["graph", VXLAN, "-f", "json", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    data = json.loads(out.read_text())
    assert data["graph"] == {"name": "demo-vxlan", "mode": "vxlan"}
    assert len(data["nodes"]) == 54
    assert len(data["edges"]) == 108


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_graph_svg(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["graph", VXLAN, "--format", "svg", "--node", "node-3"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<?xml")
    assert "</svg>" in result.stdout


def test_graph_bad_format(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["graph", VXLAN, "--format", "png"])
    assert result.exit_code == 2
    assert "png" in result.output


@pytest.mark.parametrize("node", [None, "node-1"])
def test_a_graph_too_large_to_draw_is_refused_with_its_size(
    app: typer.Typer, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, node: str | None
) -> None:
    monkeypatch.setattr(graph, "MAX_GRAPH_EDGES", 10)
    result = runner.invoke(app, ["graph", VXLAN, *(["--node", node] if node else [])])
    assert isinstance(result.exception, InputError)
    with pytest.raises(
        InputError,
        match=r"vxlan\.yaml: the graph of this cluster would have over 24 edges \(3 kube-proxies"
        r" each implementing 6 service ports and NodePorts, 6 VXLAN tunnels\), more than"
        r" netsim graph draws \(10\); for one node's devices and tables use netsim show",
    ):
        raise result.exception
