"""netsim reach --png/--svg: the heatmap grid and the written images."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from netsim.cli import app
from netsim.control.realize import realize
from netsim.model.spec import load_cluster
from netsim.policy.reach import cells, reachability
from netsim.report.heatmap import heatmap_grid
from tests.conftest import TOPOLOGIES


def test_grid_is_the_share_of_allowed_ports() -> None:
    state = realize(load_cluster(TOPOLOGIES / "l3.yaml"))
    selected = list(cells(reachability(state)))
    sources, destinations, grid = heatmap_grid(selected)
    web = [d for d in destinations if d.startswith("shop/web-")]
    assert len(web) == 3
    row = grid[sources.index("client/curl")]
    assert all(row[destinations.index(d)] == 1.0 for d in web)
    laptop = grid[sources.index("ext:laptop")]
    assert all(laptop[destinations.index(d)] == 0.0 for d in web)
    for d in web:  # a pod is never judged against itself
        assert grid[sources.index(d)][destinations.index(d)] is None


def test_cli_writes_png_and_svg(tmp_path: Path) -> None:
    png, svg = tmp_path / "reach.png", tmp_path / "reach.svg"
    args = ["reach", str(TOPOLOGIES / "l3.yaml"), "--png", str(png), "--svg", str(svg)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text()
    assert "<svg" in text
    assert "share of checked ports allowed" in text or "share" in text


def test_wrong_suffix_is_an_error(tmp_path: Path) -> None:
    args = ["reach", str(TOPOLOGIES / "l3.yaml"), "--png", str(tmp_path / "x.svg")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "must end in .png" in str(result.exception)
