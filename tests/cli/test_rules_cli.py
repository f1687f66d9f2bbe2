"""netsim rules: output forms and errors through the command line."""

from __future__ import annotations

from typer.testing import CliRunner

from netsim.cli import app
from tests.conftest import TOPOLOGIES, WriteCluster

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


def test_diff_ignores_the_order_of_nodeport_address_rules(write_cluster: WriteCluster) -> None:
    """kube-proxy writes the ``-d <node address>`` tail rules in Go map order; one lost is a diff."""
    service = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: default}\n"
        "spec: {type: NodePort, selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}\n"
    )
    kube_proxy = {"node_port_addresses": ["192.168.56.0/24", "10.244.0.0/16"]}
    topology = write_cluster(service, kube_proxy=kube_proxy)
    saved = RUNNER.invoke(app, ["rules", str(topology), "--node", "node-1"])
    assert saved.exit_code == 0, saved.output
    lines = saved.stdout.splitlines()
    tail = [i for i, line in enumerate(lines) if "must be the last rule" in line]
    assert len(tail) == 2  # the node IP and cni0's gateway
    swapped = list(lines)
    swapped[tail[0]], swapped[tail[1]] = lines[tail[1]], lines[tail[0]]
    dump = topology.parent / "node-1.txt"
    dump.write_text("\n".join(swapped) + "\n")
    same = RUNNER.invoke(app, ["rules", str(topology), "--node", "node-1", "--diff", str(dump)])
    assert same.exit_code == 0, same.output
    dump.write_text("\n".join(line for i, line in enumerate(lines) if i != tail[0]) + "\n")
    lost = RUNNER.invoke(app, ["rules", str(topology), "--node", "node-1", "--diff", str(dump)])
    assert lost.exit_code == 1 and "missing" in lost.stdout, lost.output
