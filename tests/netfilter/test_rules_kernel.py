"""netsim rules against the real iptables: the kernel accepts the rules and saves them as printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from netsim.cli import app
from netsim.control.kubeproxy import node_rules
from netsim.control.kubeproxy_restore import node_restore_text
from netsim.control.realize import realize
from netsim.model.spec import load_cluster
from netsim.netfilter.diff import diff_rulesets
from netsim.netfilter.node import kube_proxy_ruleset
from netsim.netfilter.parse import parse_iptables_save
from netsim.netfilter.render import render_iptables_save
from tests.conftest import EXAMPLES, WriteCluster
from tests.kernel import network_namespace, run_in, without_comments

pytestmark = pytest.mark.kernel


def saved_by_kernel(restore_text: str) -> str:
    with network_namespace() as ns:
        run_in(ns, "iptables-restore", stdin=restore_text)
        return without_comments(run_in(ns, "iptables-save"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_generated_rules_load_and_save_as_netsim_prints_them(path: Path) -> None:
    state = realize(load_cluster(path))
    for node in state.nodes:
        restore = node_restore_text(node_rules(state, node))
        saved = saved_by_kernel(restore)
        predicted = kube_proxy_ruleset(state, node)
        assert render_iptables_save(predicted) == saved
        assert diff_rulesets(predicted, parse_iptables_save(saved, "kernel")) == ()


@pytest.mark.parametrize(
    "kube_proxy",
    [
        pytest.param({"node_port_addresses": ["192.168.56.0/24"]}, id="nodeport-addresses"),
        pytest.param({"node_port_addresses": ["primary"]}, id="nodeport-addresses primary"),
        pytest.param({"localhost_nodeports": False}, id="no localhost nodeports"),
    ],
)
def test_kube_proxy_options_load_and_save_as_netsim_prints_them(
    kube_proxy: dict[str, object], write_cluster: WriteCluster
) -> None:
    """Without localhost NodePorts the payload has no KUBE-FIREWALL, yet INPUT jumps to it."""
    service = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: default}\n"
        "spec: {type: NodePort, selector: {app: a}, ports: [{port: 80, nodePort: 30080}]}\n"
    )
    state = realize(load_cluster(write_cluster(service, kube_proxy=kube_proxy)))
    restore = node_restore_text(node_rules(state, "node-1"))
    saved = saved_by_kernel(restore)
    predicted = kube_proxy_ruleset(state, "node-1")
    assert render_iptables_save(predicted) == saved
    assert ":KUBE-FIREWALL - [0:0]" in saved and "-A INPUT -j KUBE-FIREWALL" in saved


def test_restore_test_mode_accepts_the_save_form() -> None:
    state = realize(load_cluster(EXAMPLES[0]))
    text = render_iptables_save(kube_proxy_ruleset(state, "node-1"))
    with network_namespace() as ns:
        run_in(ns, "iptables-restore", "--test", stdin=text)


def test_diff_reports_removed_and_altered_rules(tmp_path: Path) -> None:
    topology = next(p for p in EXAMPLES if p.stem == "l3")
    state = realize(load_cluster(topology))
    saved = saved_by_kernel(node_restore_text(node_rules(state, "node-1")))
    lines = saved.splitlines()
    dnat = next(
        i for i, line in enumerate(lines) if "DNAT --to-destination" in line and "shop/web" in line
    )
    removed = next(
        i
        for i, line in enumerate(lines)
        if "shop/web:http cluster IP" in line and "KUBE-SERVICES" in line
    )
    altered = lines[dnat].rsplit(":", 1)[0] + ":9999"
    broken = [altered if i == dnat else line for i, line in enumerate(lines) if i != removed]
    broken.insert(
        len(broken) - 1,
        '-A KUBE-SERVICES -d 10.96.0.99/32 -p tcp -m comment --comment "shop/extra:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ',
    )
    dump = tmp_path / "node-1.txt"
    dump.write_text("\n".join(broken) + "\n")
    differences = diff_rulesets(
        kube_proxy_ruleset(state, "node-1"), parse_iptables_save(dump.read_text(), "dump")
    )
    kinds = sorted((d.kind, d.group) for d in differences)
    assert ("missing", "shop/web:http") in kinds
    assert ("extra", "shop/extra:http") in kinds
    assert any(
        d.kind == "changed" and d.actual is not None and d.actual.endswith(":9999")
        for d in differences
    )
    runner = CliRunner()
    result = runner.invoke(app, ["rules", str(topology), "--node", "node-1", "--diff", str(dump)])
    assert result.exit_code == 1
    assert "[nat] shop/web:http" in result.stdout
    clean = tmp_path / "clean.txt"
    clean.write_text(saved)
    result = runner.invoke(app, ["rules", str(topology), "--node", "node-1", "--diff", str(clean)])
    assert result.exit_code == 0, result.stdout
    assert result.stdout == f"node-1: no differences between netsim and {clean}\n"


def test_diff_ignores_counters_service_order_and_other_owners(tmp_path: Path) -> None:
    state = realize(load_cluster(EXAMPLES[0]))
    saved = saved_by_kernel(node_restore_text(node_rules(state, "node-1")))
    lines = saved.splitlines()
    services = [
        i
        for i, line in enumerate(lines)
        if line.startswith("-A KUBE-SERVICES ") and "NOTE" not in line
    ]
    first, last = services[0], services[-1]
    lines[first], lines[last] = lines[last], lines[first]
    nat = lines.index("*nat")
    lines.insert(nat + 1, ":FLANNEL-POSTRTG - [0:0]")
    lines.insert(len(lines) - 1, "-A FLANNEL-POSTRTG -s 10.244.0.0/16 -j RETURN")
    lines = [line.replace("[0:0]", "[7:420]") for line in lines]
    dump = "\n".join(lines) + "\n"
    assert diff_rulesets(kube_proxy_ruleset(state, "node-1"), parse_iptables_save(dump, "d")) == ()
