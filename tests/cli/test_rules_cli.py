"""netsim rules: output forms and errors through the command line."""

from __future__ import annotations

from typer.testing import CliRunner

from netsim.cli import app
from tests.conftest import TOPOLOGIES

RUNNER = CliRunner()


def test_restore_form_is_kube_proxys_payload() -> None:
    result = RUNNER.invoke(
        app, ["rules", str(TOPOLOGIES / "vxlan.yaml"), "--node", "node-1", "-f", "restore"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    assert "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000" in lines
    assert any(
        line.startswith(
            "-A KUBE-NODEPORTS -m comment --comment shop/web:http -m tcp -p tcp --dport 30080 -j KUBE-EXT-"
        )
        for line in lines
    )


def test_save_form_is_normalized() -> None:
    result = RUNNER.invoke(app, ["rules", str(TOPOLOGIES / "l3.yaml"), "--node", "node-2"])
    assert result.exit_code == 0, result.output
    assert "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000" in result.stdout
    assert "--probability 0.33333333349" in result.stdout  # 3 web endpoints


def test_unknown_node_is_an_error() -> None:
    result = RUNNER.invoke(app, ["rules", str(TOPOLOGIES / "l3.yaml"), "--node", "node-9"])
    assert result.exit_code != 0
    assert "no node 'node-9' in the topology (nodes: node-1, node-2, node-3)" in str(
        result.exception
    )
