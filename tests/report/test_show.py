"""netsim show: exact table text and the JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netsim.cli import app
from netsim.control.realize import realize
from netsim.model.spec import load_cluster
from netsim.report.show import render_show_text, show_data
from tests.conftest import EXAMPLES, TOPOLOGIES
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_show_text_golden(path: Path) -> None:
    text = render_show_text(realize(load_cluster(path)), width=120)
    assert_golden(GOLDEN / f"show_{path.stem}.txt", text)


def test_show_json_schema() -> None:
    data = show_data(realize(load_cluster(TOPOLOGIES / "l3.yaml")))
    assert {"name", "ip", "pod_cidr"} <= set(data["nodes"][0])
    assert {"namespace", "name", "node", "ip"} <= set(data["pods"][0])
    web = next(s for s in data["services"] if s["name"] == "web")
    assert {"namespace", "name", "type", "cluster_ip", "ports", "endpoints"} <= set(web)
    assert web["ports"] == [
        {"name": "http", "port": 80, "target_port": "http", "node_port": 30080, "protocol": "TCP"}
    ]
    assert {e["port"] for e in web["endpoints"]} == {8080}
    assert {"ip", "port", "pod", "node", "ready"} <= set(web["endpoints"][0])
    pods = {p["namespace"] + "/" + p["name"]: p for p in data["pods"]}
    for endpoint in web["endpoints"]:
        assert pods[endpoint["pod"]]["ip"] == endpoint["ip"]
        assert pods[endpoint["pod"]]["node"] == endpoint["node"]


def test_show_cli_json_and_warnings(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["show", str(TOPOLOGIES / "vxlan.yaml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cluster"]["pod_network"] == "vxlan"
    assert len(data["nodes"]) == 3
