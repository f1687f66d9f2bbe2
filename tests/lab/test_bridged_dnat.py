"""br_netfilter's bridged DNAT in the kernel: the TTL a pod sees is the one the trace predicts.

A packet DNATed in a bridge's PREROUTING whose new destination is routed out
of that bridge itself stays bridged: it is not routed, so its TTL is not
decremented. The trace models it; a capture at the pod shows the kernel does
the same, and that a DNAT to a pod on another node is routed (TTL less one
per router).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.utils import rdpcap

from netsim.dataplane.devices import Dataplane
from netsim.lab.lifecycle import lab_down, lab_up
from netsim.lab.probe import FAIL, ProbeRequest, capture, run_probes
from netsim.trace import L4Protocol, Trace, make_flow, prepare, trace_flow
from netsim.trace.model import Received
from tests.dataplane.clusters import example

pytestmark = pytest.mark.kernel


def _predicted_ttls(dataplane: Dataplane, source: str, destination: str) -> dict[IPv4Address, int]:
    """The TTL each endpoint pod receives the first packet with, by pod IP (delivered only)."""
    traces: list[Trace] = list(
        trace_flow(prepare(dataplane), make_flow(dataplane, source, destination))
    )
    predicted = {}
    for trace in traces:
        if trace.delivered_to is None:
            continue
        received = trace.hops[-1].steps[0]
        assert isinstance(received, Received)
        predicted[trace.delivered_to.ip] = received.header.ttl
    return predicted


def _seen_ttls(paths: list[Path], port: int) -> dict[IPv4Address, set[int]]:
    seen: dict[IPv4Address, set[int]] = {}
    for path in paths:
        for packet in rdpcap(str(path)):
            syn = IP in packet and TCP in packet and packet[TCP].flags == "S"
            if syn and packet[TCP].dport == port:
                seen.setdefault(IPv4Address(packet[IP].dst), set()).add(packet[IP].ttl)
    return seen


@pytest.mark.parametrize(
    ("mode", "source", "destination", "to_ip", "port"),
    [
        # pod -> ClusterIP: the local endpoint is bridged (64), remote ones routed
        ("vxlan", "client/curl", "svc:shop/web:80", "10.96.93.253", 80),
        # l2, laptop -> NodePort: only the endpoint behind node-1's cni0 is reachable
        ("l2", "ext:laptop", "node:node-1:30080", "192.168.56.11", 30080),
    ],
)
def test_ttl_at_the_pod_matches_the_trace(
    kernel_lab: tuple[str, Path],
    tmp_path: Path,
    mode: str,
    source: str,
    destination: str,
    to_ip: str,
    port: int,
) -> None:
    name, state_dir = kernel_lab
    dataplane = example(mode)
    predicted = _predicted_ttls(dataplane, source, destination)
    pods = {
        str(pod.ip): key for key, pod in dataplane.state.pods.items() if key.startswith("shop/web")
    }
    points = [f"pod:{pods[str(ip)]}/eth0" for ip in predicted]
    source_netns = make_flow(dataplane, source, destination).source_netns
    lab = lab_up(dataplane, name=name, topology=mode, mode=None, state_dir=state_dir)
    try:
        targets = tuple(pods[str(ip)] for ip in predicted) + ((FAIL,) if mode == "l2" else ())
        request = ProbeRequest(
            source_netns, IPv4Address(to_ip), port, L4Protocol.TCP, 40, 0.5, targets
        )
        with capture(lab, points, tmp_path / "pcap") as paths:
            (result,) = run_probes(lab, [request])
        answered = {a.pod for a in result.attempts if a.pod is not None}
        assert answered == {pods[str(ip)] for ip in predicted}  # 40 tries reach each one
        seen = _seen_ttls(paths, 8080)
    finally:
        lab_down(state_dir, name)
    assert seen == {ip: {ttl} for ip, ttl in predicted.items()}
    assert 64 in predicted.values() or mode == "l2"
