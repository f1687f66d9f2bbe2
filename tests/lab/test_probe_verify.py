"""Probes and verify in the kernel: verdicts, SNAT, policy, agreement on the examples."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netsim.cli import app
from netsim.lab.lifecycle import lab_down, lab_up
from netsim.lab.names import LabState, lab_prefix
from netsim.lab.probe import ProbeRequest, run_probes
from netsim.lab.random_cluster import write_random_cluster
from netsim.trace import L4Protocol
from tests.conftest import TOPOLOGIES
from tests.dataplane.clusters import example

pytestmark = pytest.mark.kernel


@pytest.fixture
def l3_lab(kernel_lab: tuple[str, Path]) -> Iterator[LabState]:
    name, state_dir = kernel_lab
    try:
        yield lab_up(example("l3"), name=name, topology="l3", mode=None, state_dir=state_dir)
    finally:
        lab_down(state_dir, name)


def test_probe_verdicts(l3_lab: LabState) -> None:
    dataplane = example("l3")
    state = dataplane.state
    web = state.services["shop/web"].cluster_ip
    coredns = sorted(k for k in state.pods if k.startswith("kube-system/coredns"))[0]
    assert web is not None
    requests = [
        ProbeRequest("pod:client/curl", web, 80, L4Protocol.TCP, 3),
        ProbeRequest("pod:client/curl", state.pods[coredns].ip or web, 9999, L4Protocol.TCP),
        ProbeRequest(f"pod:{coredns}", web, 80, L4Protocol.TCP, timeout=0.3),
        ProbeRequest("client:laptop", IPv4Address("192.168.56.12"), 30080, L4Protocol.TCP, 3),
        ProbeRequest("pod:client/curl", IPv4Address("10.96.0.10"), 53, L4Protocol.UDP),
    ]
    connected, refused, denied, nodeport, udp = run_probes(l3_lab, requests)
    assert {a.verdict for a in connected.attempts} == {"connected"}
    assert all(a.peer == state.pods["client/curl"].ip for a in connected.attempts)
    assert all(a.pod is not None and a.pod.startswith("shop/web-") for a in connected.attempts)
    assert [a.verdict for a in refused.attempts] == ["refused"]
    assert [a.verdict for a in denied.attempts] == ["timed-out"]
    node_addresses = {IPv4Address("192.168.56.12"), IPv4Address("10.244.1.1")}
    assert all(a.peer in node_addresses for a in nodeport.attempts)  # SNAT seen by the server
    assert udp.attempts[0].pod is not None and udp.attempts[0].pod.startswith("kube-system/coredns")


def test_cli_up_status_probe_down(kernel_lab: tuple[str, Path], tmp_path: Path) -> None:
    name, state_dir = kernel_lab
    runner = CliRunner()
    base = ["--state-dir", str(state_dir)]
    result = runner.invoke(app, ["lab", "up", str(TOPOLOGIES / "l3.yaml"), "--name", name, *base])
    assert result.exit_code == 0, result.output
    assert f"lab {name}: 13 namespaces" in result.stdout
    result = runner.invoke(app, ["lab", "status", *base])
    assert f"lab {name}: " in result.stdout and "listeners 6/6 running" in result.stdout
    pcap = tmp_path / "pcap"
    probe = ["lab", "probe", "--from", "ext:laptop", "--to", "node:node-1:30080", "--count", "2"]
    result = runner.invoke(
        app, [*probe, "--pcap", str(pcap), "--pcap-at", "node:node-1/eth0", *base]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1: ")
    (written,) = pcap.iterdir()
    assert written.stat().st_size > 24  # more than the pcap header
    result = runner.invoke(
        app, ["lab", "probe", "--from", "client/curl", "--to", "shop/web-x:1", *base]
    )
    assert "no pod 'shop/web-x'" in str(result.exception)
    result = runner.invoke(app, ["lab", "down", *base])
    assert result.stdout == f"lab {name}: removed 13 namespaces\n"
    status = runner.invoke(app, ["lab", "status", *base]).stdout
    # other labs (another test run on this machine) may exist; none of ours may
    assert lab_prefix(name) not in status
    assert status == "no labs\n" or status.startswith("stray namespaces")


def _verify(args: list[str], state_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["lab", "verify", *args, "--state-dir", str(state_dir)])
    return result.exit_code, result.stdout


@pytest.mark.parametrize("mode", ["l2", "l3", "vxlan"])
def test_verify_agrees_on_the_examples(mode: str, kernel_lab: tuple[str, Path]) -> None:
    name, state_dir = kernel_lab
    code, out = _verify([str(TOPOLOGIES / f"{mode}.yaml"), "--name", name], state_dir)
    assert code == 0, out
    assert out.endswith(" 0 disagree\n")


def test_verify_all_flows_json(kernel_lab: tuple[str, Path]) -> None:
    import json

    name, state_dir = kernel_lab
    args = [str(TOPOLOGIES / "l3.yaml"), "--mode", "vxlan", "--all", "--format", "json"]
    code, out = _verify([*args, "--name", name], state_dir)
    data = json.loads(out)
    assert code == 0 and data["disagree"] == 0 and data["agree"] > 100
    # every denial the kernel showed was located by the rule counters, where the trace said
    located = [f for f in data["flows"] if f["dropped_at"] is not None]
    assert len(located) >= 10
    for flow in located:
        places = {o["denied_at"] for o in flow["simulation"] if o["denied_at"]}
        assert flow["dropped_at"] and set(flow["dropped_at"]) <= places, flow


SERVICES_MODES = ["l2", "l3", "vxlan"]


@pytest.mark.parametrize("mode", SERVICES_MODES)
def test_verify_services_example(mode: str, kernel_lab: tuple[str, Path]) -> None:
    name, state_dir = kernel_lab
    code, out = _verify(
        [str(TOPOLOGIES / "services.yaml"), "--mode", mode, "--name", name], state_dir
    )
    assert code == 0, out


RANDOM_CASES = [
    pytest.param(seed, mode, id=f"seed{seed}-{mode}")
    for seed in (1, 2, 3)
    for mode in ("l2", "l3", "vxlan")
]


@pytest.mark.parametrize(("seed", "mode"), RANDOM_CASES)
def test_verify_random_clusters(
    seed: int, mode: str, kernel_lab: tuple[str, Path], tmp_path: Path
) -> None:
    name, state_dir = kernel_lab
    topology = write_random_cluster(tmp_path / "cluster", seed, mode)
    code, out = _verify([str(topology), "--name", name], state_dir)
    assert code == 0, out


@pytest.mark.parametrize("addresses", [["primary"], ["192.168.56.0/24", "127.0.0.0/8"]])
def test_nodeport_addresses_agree_with_the_kernel(
    addresses: list[str], kernel_lab: tuple[str, Path], tmp_path: Path
) -> None:
    """kube_proxy.node_port_addresses: the NodePort answers on the node IP, not on cni0's."""
    from netsim.control.realize import realize
    from netsim.dataplane.build import build_dataplane
    from netsim.lab.flows import FlowSpec
    from netsim.lab.verify import expect_flows, verify_flows
    from netsim.model.spec import load_cluster
    from netsim.trace import Disposition

    name, state_dir = kernel_lab
    shutil.copytree(TOPOLOGIES / "demo", tmp_path / "demo")
    text = (TOPOLOGIES / "l3.yaml").read_text()
    topology = tmp_path / "l3.yaml"
    topology.write_text(
        text.replace("manifests:", f"kube_proxy:\n  node_port_addresses: {addresses}\nmanifests:")
    )
    dataplane = build_dataplane(realize(load_cluster(topology)))
    flows = [
        FlowSpec("client/curl", "node:node-2:30080"),
        FlowSpec("client/curl", "10.244.1.1:30080"),  # node-2's cni0
        FlowSpec("ext:laptop", "node:node-1:30080"),
    ]
    expected = expect_flows(dataplane, flows)
    assert Disposition.DELIVERED in {o.disposition for o in expected[0].outcomes}
    assert {o.disposition for o in expected[1].outcomes} == {Disposition.PORT_NOT_LISTENING}
    try:
        lab = lab_up(dataplane, name=name, topology=str(topology), mode=None, state_dir=state_dir)
        checks = verify_flows(lab, expected)
    finally:
        lab_down(state_dir, name)
    assert [c.problems for c in checks] == [(), (), ()]


@pytest.mark.parametrize(
    ("mode", "detector"),
    [
        pytest.param(
            "l3", "detect_local: BridgeInterface\n  pod_bridge_interface: cni0", id="l3-bridge"
        ),
        pytest.param(
            "vxlan",
            "detect_local: InterfaceNamePrefix\n  pod_interface_name_prefix: veth",
            id="vxlan-prefix",
        ),
    ],
)
def test_verify_local_traffic_detectors(
    mode: str, detector: str, kernel_lab: tuple[str, Path], tmp_path: Path
) -> None:
    """kube-proxy's -i detectors: pods reach the node through cni0, never through a veth+ match."""
    name, state_dir = kernel_lab
    shutil.copytree(TOPOLOGIES / "demo", tmp_path / "demo")
    topology = tmp_path / f"{mode}.yaml"
    text = (TOPOLOGIES / f"{mode}.yaml").read_text()
    topology.write_text(text.replace("manifests:", f"kube_proxy:\n  {detector}\nmanifests:"))
    code, out = _verify([str(topology), "--name", name], state_dir)
    assert code == 0, out
    assert out.endswith(" 0 disagree\n")
