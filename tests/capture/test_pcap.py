"""Captures of traces: ``trace_packets`` byte by byte, ``write_pcapng`` decoded by the real tshark."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from dataclasses import replace
from functools import cache
from ipaddress import IPv4Address
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import netsim.capture
from netsim.capture import (
    CAPTURE_START,
    FRAME_INTERVAL,
    VXLAN_FLAG_I,
    CapturedFrame,
    trace_packets,
    write_pcapng,
)
from netsim.cli import trace as trace_cli
from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import Dataplane
from netsim.model.spec import load_cluster
from netsim.trace import Disposition, L4Protocol, Trace, make_flow, prepare, trace_flow
from netsim.trace.model import Nat, Transmit
from tests.conftest import REPO, TOPOLOGIES

NODE_1_IP = IPv4Address("192.168.56.11")
LAPTOP_IP = IPv4Address("203.0.113.10")
VXLAN_VNI_1 = bytes.fromhex("0800000000000100")  # RFC 7348 header for VNI 1 (spec §8)
TSHARK_GOOD = "1"  # tshark's *.checksum.status: 0 bad, 1 good, 2 unverified
TSHARK_BAD_SEVERITIES = {"6291456", "8388608"}  # _ws.expert.severity: warning, error
FIELDS = (
    "frame.comment",
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "ip.flags.df",
    "udp.dstport",
    "vxlan.vni",
    "vxlan.flags",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags.str",
    "ip.checksum.status",
    "udp.checksum.status",
    "tcp.checksum.status",
    "udp.checksum",
    "_ws.malformed",
    "_ws.expert.severity",
)
COMMENT = re.compile(r"^outcome \d+/\d+ p=\d\.\d{4}( reply)? \| hop \d+ \S+ \| \S+ -> \S.*$")


@cache
def dataplane(mode: str, vxlan_port: int | None = None) -> Dataplane:
    spec = load_cluster(TOPOLOGIES / f"{mode}.yaml")
    if vxlan_port is not None:
        network = spec.topology.pod_network
        vxlan = replace(network.vxlan, port=vxlan_port)
        topology = replace(spec.topology, pod_network=replace(network, vxlan=vxlan))
        spec = replace(spec, topology=topology)
    return build_dataplane(realize(spec))


def traces_of(
    mode: str, source: str, destination: str, *, reply: bool = False, **kwargs: object
) -> tuple[Dataplane, tuple[Trace, ...]]:
    dp = dataplane(mode)
    flow = make_flow(dp, source, destination, **kwargs)  # type: ignore[arg-type]
    return dp, tuple(trace_flow(prepare(dp), flow, reply=reply))


def tshark(path: Path) -> list[dict[str, list[str]]]:
    """Decode ``path`` with tshark: per frame, each field's values (one per protocol layer)."""
    if shutil.which("tshark") is None:
        reason = "tshark is not installed (apt-get install tshark); CI installs it"
        print(reason)
        pytest.skip(reason)
    command = ["tshark", "-r", str(path), "-d", "udp.port==8472,vxlan"]
    for proto in ("ip", "udp", "tcp"):
        command += ["-o", f"{proto}.check_checksum:TRUE"]
    command += ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=;"]
    for name in FIELDS:
        command += ["-e", name]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    rows = []
    for line in result.stdout.splitlines():
        values = line.split("\t")
        row = {name: (v.split(";") if v else []) for name, v in zip(FIELDS, values, strict=True)}
        row["frame.comment"] = [values[0]]  # one comment per frame, kept whole
        rows.append(row)
    return rows


def assert_clean(rows: list[dict[str, list[str]]]) -> None:
    """No malformed frame, no expert warning or error, every IP/UDP/TCP checksum verified good."""
    for number, row in enumerate(rows, 1):
        assert not row["_ws.malformed"], number
        assert not TSHARK_BAD_SEVERITIES & set(row["_ws.expert.severity"]), number
        for name in ("ip.checksum.status", "udp.checksum.status", "tcp.checksum.status"):
            assert set(row[name]) <= {TSHARK_GOOD}, (number, name, row[name])
        assert row["ip.checksum.status"], number
        assert COMMENT.match(row["frame.comment"][0]), row["frame.comment"]


def innermost(row: dict[str, list[str]]) -> tuple[str, str, str]:
    """The innermost IPv4 source, destination and TCP destination port of a frame."""
    return row["ip.src"][-1], row["ip.dst"][-1], row["tcp.dstport"][-1]


def by_outcome(rows: list[dict[str, list[str]]], count: int) -> list[list[dict[str, list[str]]]]:
    return [
        [r for r in rows if r["frame.comment"][0].startswith(f"outcome {n}/{count} ")]
        for n in range(1, count + 1)
    ]


def transmits(trace: Trace) -> int:
    return sum(isinstance(step, Transmit) for step in trace.steps)


def nat_of(trace: Trace, kind: str) -> Nat:
    (nat,) = [s for s in trace.steps if isinstance(s, Nat) and s.nat == kind]
    return nat


# -- tshark: the examples ------------------------------------------------------


def test_vxlan_nodeport_decodes(tmp_path: Path) -> None:
    dp, traces = traces_of("vxlan", "ext:laptop", "node:node-1:30080")
    path = tmp_path / "nodeport.pcapng"
    count = write_pcapng(traces, path, dp)
    rows = tshark(path)
    assert len(rows) == count == sum(transmits(t) for t in traces)
    assert_clean(rows)
    node_1 = {
        str(a.ip) for i in dp.namespaces["node:node-1"].interfaces.values() for a in i.addresses
    }
    tunnelled = 0
    for trace, frames in zip(traces, by_outcome(rows, len(traces)), strict=True):
        assert trace.disposition is Disposition.DELIVERED and trace.delivered_to is not None
        pod_ip = str(trace.delivered_to.ip)
        masquerade = str(nat_of(trace, "MASQUERADE").after.src)
        assert masquerade in node_1
        seen = [innermost(r) for r in frames]
        before = (str(LAPTOP_IP), str(NODE_1_IP), "30080")
        after = (masquerade, pod_ip, "8080")
        dnat = seen.index(after)
        assert dnat > 0
        assert seen == [before] * dnat + [after] * (len(seen) - dnat)
        for row in frames:
            if row["udp.dstport"]:
                tunnelled += 1
                assert row["udp.dstport"] == ["8472"]
                assert row["vxlan.vni"] == ["1"]
                assert row["vxlan.flags"] == ["0x0800"]
                assert row["ip.src"][0] == str(NODE_1_IP) and len(row["ip.src"]) == 2
                assert row["ip.ttl"][0] == "64" and row["ip.flags.df"] == ["0", "1"]
                assert row["udp.checksum"][0] != "0x0000"
                assert row["tcp.flags.str"] == ["··········S·"]
    assert tunnelled == 4  # two remote outcomes: node-1's eth0 and the switch port each


def test_vxlan_reply_undoes_the_nat(tmp_path: Path) -> None:
    dp, traces = traces_of("vxlan", "ext:laptop", "node:node-1:30080", reply=True)
    path = tmp_path / "reply.pcapng"
    write_pcapng(traces, path, dp)
    rows = tshark(path)
    assert_clean(rows)
    replies = [r for r in rows if " reply | " in r["frame.comment"][0]]
    assert len(replies) == sum(transmits(t.reply) for t in traces if t.reply is not None)
    last = replies[-1]
    assert (last["ip.src"], last["ip.dst"], last["tcp.srcport"]) == (
        [str(NODE_1_IP)],
        [str(LAPTOP_IP)],
        ["30080"],
    )
    assert {r["tcp.flags.str"][-1] for r in replies} == {"·······A··S·"}


def test_l3_cluster_ip_decodes(tmp_path: Path) -> None:
    dp, traces = traces_of("l3", "client/curl", "svc:shop/web:80")
    cluster_ip = str(next(s for s in dp.state.services.values() if s.key == "shop/web").cluster_ip)
    path = tmp_path / "clusterip.pcapng"
    write_pcapng(traces, path, dp)
    rows = tshark(path)
    assert_clean(rows)
    assert not any(r["udp.dstport"] for r in rows)  # routed: nothing is encapsulated
    for trace, frames in zip(traces, by_outcome(rows, len(traces)), strict=True):
        assert trace.delivered_to is not None
        client = str(trace.flow.header.src)
        seen = [innermost(r) for r in frames]
        after = (client, str(trace.delivered_to.ip), "8080")
        dnat = seen.index(after)
        assert seen == [(client, cluster_ip, "80")] * dnat + [after] * (len(seen) - dnat)
        assert dnat == 1  # DNAT in node-1's PREROUTING: only the pod's own frame has the ClusterIP
        assert str(nat_of(trace, "DNAT").before.dst) == cluster_ip


@pytest.mark.parametrize("protocol", [L4Protocol.UDP, L4Protocol.SCTP], ids=["udp", "sctp"])
def test_other_protocols_decode(tmp_path: Path, protocol: L4Protocol) -> None:
    dp, traces = traces_of("vxlan", "client/curl", "10.244.1.3:8080", protocol=protocol)
    path = tmp_path / f"{protocol.value}.pcapng"
    write_pcapng(traces, path, dp)
    rows = tshark(path)
    assert rows
    assert_clean(rows)
    if protocol is L4Protocol.SCTP:
        frames = trace_packets(traces, dp)
        assert all(f.frame[-20] == 1 for f in frames)  # the last chunk is an INIT (type 1)


def test_iana_port_decodes(tmp_path: Path) -> None:
    dp = dataplane("vxlan", 4789)
    traces = trace_flow(prepare(dp), make_flow(dp, "client/curl", "10.244.1.3:8080"))
    path = tmp_path / "iana.pcapng"
    write_pcapng(traces, path, dp)
    rows = tshark(path)
    assert_clean(rows)
    tunnelled = [r for r in rows if r["udp.dstport"]]
    assert [r["udp.dstport"] for r in tunnelled] == [["4789"], ["4789"]]
    assert all(r["vxlan.vni"] == ["1"] for r in tunnelled)


# -- trace_packets, without files ----------------------------------------------


def test_vxlan_header_bytes() -> None:
    dp, traces = traces_of("vxlan", "ext:laptop", "node:node-1:30080")
    underlay = [f for f in trace_packets(traces, dp) if "| VXLAN vni 1:" in f.comment]
    assert len(underlay) == 4
    for captured in underlay:
        frame = captured.frame
        assert frame[12:14] == b"\x08\x00"  # outer IPv4
        assert frame[14 + 6] & 0x40 == 0  # DF clear
        assert frame[14 + 8] == 64  # outer TTL
        assert frame[14 + 9] == 17  # UDP
        assert int.from_bytes(frame[36:38]) == 8472
        assert frame[40:42] != b"\x00\x00"  # the UDP checksum is computed
        assert frame[14 + 20 + 8 : 14 + 20 + 8 + 8] == VXLAN_VNI_1
        assert frame[42] == VXLAN_FLAG_I
        assert frame[50 + 12 : 50 + 14] == b"\x08\x00"  # inner Ethernet carries IPv4
        assert len(frame) == 50 + 14 + 60  # outer + inner Ethernet + the 60-byte SYN


def test_frames_follow_the_transmit_steps() -> None:
    dp, traces = traces_of("vxlan", "ext:laptop", "node:node-1:30080", reply=True)
    frames = trace_packets(traces, dp)
    expected = sum(transmits(t) + (transmits(t.reply) if t.reply else 0) for t in traces)
    assert len(frames) == expected
    assert all(isinstance(f, CapturedFrame) for f in frames)
    assert [f.timestamp for f in frames] == [
        CAPTURE_START + FRAME_INTERVAL * n for n in range(len(frames))
    ]
    frame, comment, _ = frames[0]
    assert comment == (
        "outcome 1/3 p=0.3333 | hop 1 client:laptop | eth0 -> switch:external-203.0.113.0/24"
    )
    laptop_eth0 = dp.namespaces["client:laptop"].interfaces["eth0"].mac
    assert frame[6:12] == bytes.fromhex(laptop_eth0.replace(":", ""))
    # the switch forwards the frame unchanged: same bytes on the next wire
    assert frames[1].frame == frame
    assert frames[1].comment.startswith("outcome 1/3 p=0.3333 | hop 2 switch:external-")


def test_without_dataplane_uses_the_naming_macs() -> None:
    dp, traces = traces_of("vxlan", "client/curl", "10.244.0.3:8080")
    with_dp = trace_packets(traces, dp)
    without = trace_packets(traces)
    assert [f.comment for f in without] == [f.comment for f in with_dp]
    assert all(len(f.frame) == len(g.frame) for f, g in zip(without, with_dp, strict=True))


# -- the command ---------------------------------------------------------------


def test_cli_pcap_option(tmp_path: Path) -> None:
    app = typer.Typer(name="netsim", add_completion=False)
    trace_cli.register(app)

    @app.command("noop")
    def noop() -> None:
        """Keep typer from collapsing the group into one command."""

    path = tmp_path / "out.pcapng"
    topology = str(TOPOLOGIES / "l3.yaml")
    args = ["trace", topology, "--from", "client/curl", "--to", "svc:shop/web:80"]
    result = CliRunner().invoke(app, [*args, "--pcap", str(path)])
    assert result.exit_code == 0, result.output
    assert "netsim: wrote 10 frames to" in result.output
    assert path.read_bytes()[:4] == bytes.fromhex("0a0d0d0a")  # pcapng Section Header Block


# -- the public API and the docs -------------------------------------------------


def test_public_api() -> None:
    assert netsim.capture.__all__ == [
        "CAPTURE_START",
        "FRAME_INTERVAL",
        "VXLAN_FLAG_I",
        "CapturedFrame",
        "trace_packets",
        "write_pcapng",
    ]


def test_python_example_of_capture_md_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = (REPO / "docs" / "capture.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    block = block.replace('"topologies/', f'"{TOPOLOGIES}/')
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "docs/capture.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "74 outcome 1/3 p=0.3333 | hop 1 client:laptop | eth0 -> switch:external-203.0.113.0/24"
    )
    assert len(lines) == 21  # 5 frames to the local pod, 8 to each remote one
    assert (tmp_path / "nodeport.pcapng").stat().st_size > 0
