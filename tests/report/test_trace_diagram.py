"""Trace diagrams: exact DOT and Mermaid for a hand-built trace; real traces pass ``dot``."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from ipaddress import IPv4Address

import pytest

from netsim.report.trace_diagram import render_trace_dot, render_trace_mermaid
from netsim.trace.model import (
    Bridge,
    Decapsulate,
    Deliver,
    DeliveredTo,
    Disposition,
    Drop,
    Encapsulate,
    Flow,
    Header,
    Hop,
    L4Protocol,
    Nat,
    Netfilter,
    Policy,
    Received,
    Trace,
    Transmit,
    Veth,
)

IP = IPv4Address
SENT = Header(IP("10.244.0.2"), IP("10.96.0.10"), L4Protocol.TCP, 40000, 80)
DNATTED = replace(SENT, dst=IP("10.244.1.3"), dport=8080)
OUTER = Header(IP("192.168.56.11"), IP("192.168.56.12"), L4Protocol.UDP, 34653, 8472)
FLOW = Flow("pod:client/curl", SENT, "client/curl", "svc:shop/web:80")
WEB = DeliveredTo("pod:shop/web", "shop/web", IP("10.244.1.3"), 8080)


def _pod_hop() -> Hop:
    return Hop(
        "node-1",
        "pod:client/curl",
        (
            Policy("client/curl", "egress", True, "allowed"),
            Transmit("eth0", SENT, "aa:aa:aa:aa:aa:01", "tx"),
            Veth("eth0", "node:node-1", "veth1", "veth"),
        ),
    )


def _delivered() -> Trace:
    node1 = Hop(
        "node-1",
        "node:node-1",
        (
            Received("veth1", SENT, "rx"),
            Netfilter("PREROUTING", "ACCEPT", (), "NEW", False, "PREROUTING: ACCEPT"),
            Nat("DNAT", "dst", "10.96.0.10:80", "10.244.1.3:8080", "rule", SENT, DNATTED, "dnat"),
            Netfilter("FORWARD", "ACCEPT", (), "NEW", False, "FORWARD: ACCEPT"),
            Transmit("flannel.1", DNATTED, "aa:aa:aa:aa:aa:02", "tx"),
            Encapsulate("flannel.1", 1, IP("192.168.56.12"), DNATTED, OUTER, "encap"),
            Transmit("eth0", OUTER, "aa:aa:aa:aa:aa:03", "tx"),
        ),
    )
    switch = Hop(
        None,
        "switch:lan",
        (
            Received("swp1", OUTER, "rx"),
            Bridge("br0", "aa:aa:aa:aa:aa:03", "swp2", "learned", "fdb"),
            Transmit("swp2", OUTER, "aa:aa:aa:aa:aa:03", "tx"),
        ),
    )
    node2 = Hop(
        "node-2",
        "node:node-2",
        (
            Received("eth0", OUTER, "rx"),
            Decapsulate("flannel.1", 1, OUTER, DNATTED, "decap"),
            Transmit("cni0", DNATTED, "aa:aa:aa:aa:aa:04", "tx"),
            Bridge("cni0", "aa:aa:aa:aa:aa:04", "veth2", "learned", "fdb"),
            Veth("veth2", "pod:shop/web", "eth0", "veth"),
        ),
    )
    web = Hop(
        "node-2",
        "pod:shop/web",
        (
            Received("eth0", DNATTED, "rx"),
            Policy("shop/web", "ingress", True, "allowed"),
            Deliver(WEB, "delivered"),
        ),
    )
    return Trace(FLOW, 0.75, Disposition.DELIVERED, (_pod_hop(), node1, switch, node2, web), WEB)


def _rejected() -> Trace:
    node1 = Hop(
        "node-1",
        "node:node-1",
        (
            Received("veth1", SENT, "rx"),
            Netfilter("FORWARD", "REJECT", (), "NEW", False, "FORWARD: REJECT"),
            Drop(
                Disposition.REJECTED_NO_ENDPOINTS,
                'REJECTED_NO_ENDPOINTS: "shop/web has no endpoints"',
            ),
        ),
    )
    return Trace(FLOW, 0.25, Disposition.REJECTED_NO_ENDPOINTS, (_pod_hop(), node1))


TRACES = (_delivered(), _rejected())

DOT = r"""digraph trace {
  rankdir=LR;
  label="flow client/curl → svc:shop/web:80: tcp 10.244.0.2:40000 → 10.96.0.10:80";
  labelloc=t;
  node [shape=box, fontname="monospace", fontsize=10];
  edge [fontname="monospace", fontsize=9];
  subgraph cluster_o1 {
    label="outcome 1/2: p=0.7500 DELIVERED";
    o1h1 [label="[node-1] pod:client/curl\lpolicy egress: allowed\l"];
    o1h2 [label="[node-1] node:node-1\lnetfilter: PREROUTING ACCEPT\lDNAT dst 10.96.0.10:80 → 10.244.1.3:8080\lnetfilter: FORWARD ACCEPT\lVXLAN encapsulate vni 1 on flannel.1 to 192.168.56.12\l"];
    o1h3 [label="[-] switch:lan\l"];
    o1h4 [label="[node-2] node:node-2\lVXLAN decapsulate vni 1 on flannel.1\l"];
    o1h5 [label="[node-2] pod:shop/web\lpolicy ingress: allowed\l"];
    o1end [label="DELIVERED\nshop/web 10.244.1.3:8080", shape=box, style="rounded,bold", color=darkgreen];
    o1h1 -> o1h2 [label="veth\neth0 → veth1"];
    o1h2 -> o1h3 [label="underlay + VXLAN vni 1\neth0 → swp1"];
    o1h3 -> o1h4 [label="bridge br0 + underlay + VXLAN vni 1\nswp2 → eth0"];
    o1h4 -> o1h5 [label="bridge cni0 + veth\nveth2 → eth0"];
    o1h5 -> o1end;
  }
  subgraph cluster_o2 {
    label="outcome 2/2: p=0.2500 REJECTED_NO_ENDPOINTS";
    o2h1 [label="[node-1] pod:client/curl\lpolicy egress: allowed\l"];
    o2h2 [label="[node-1] node:node-1\lnetfilter: FORWARD REJECT\l"];
    o2end [label="REJECTED_NO_ENDPOINTS\nREJECTED_NO_ENDPOINTS: \"shop/web has no\nendpoints\"", shape=octagon, style=bold, color=red];
    o2h1 -> o2h2 [label="veth\neth0 → veth1"];
    o2h2 -> o2end;
  }
}
"""

MERMAID = """flowchart LR
  %% flow client/curl → svc:shop/web:80: tcp 10.244.0.2:40000 → 10.96.0.10:80
  classDef delivered stroke:#2a2,stroke-width:2px
  classDef dropped stroke:#c22,stroke-width:2px
  subgraph o1["outcome 1/2: p=0.7500 DELIVERED"]
    direction LR
    o1h1["[node-1] pod:client/curl<br/>policy egress: allowed"]
    o1h2["[node-1] node:node-1<br/>netfilter: PREROUTING ACCEPT<br/>DNAT dst 10.96.0.10:80 → 10.244.1.3:8080<br/>netfilter: FORWARD ACCEPT<br/>VXLAN encapsulate vni 1 on flannel.1 to 192.168.56.12"]
    o1h3["[-] switch:lan"]
    o1h4["[node-2] node:node-2<br/>VXLAN decapsulate vni 1 on flannel.1"]
    o1h5["[node-2] pod:shop/web<br/>policy ingress: allowed"]
    o1end(["DELIVERED<br/>shop/web 10.244.1.3:8080"]):::delivered
    o1h1 -->|"veth<br/>eth0 → veth1"| o1h2
    o1h2 -->|"underlay + VXLAN vni 1<br/>eth0 → swp1"| o1h3
    o1h3 -->|"bridge br0 + underlay + VXLAN vni 1<br/>swp2 → eth0"| o1h4
    o1h4 -->|"bridge cni0 + veth<br/>veth2 → eth0"| o1h5
    o1h5 --> o1end
  end
  subgraph o2["outcome 2/2: p=0.2500 REJECTED_NO_ENDPOINTS"]
    direction LR
    o2h1["[node-1] pod:client/curl<br/>policy egress: allowed"]
    o2h2["[node-1] node:node-1<br/>netfilter: FORWARD REJECT"]
    o2end{{"REJECTED_NO_ENDPOINTS<br/>REJECTED_NO_ENDPOINTS: #quot;shop/web has no<br/>endpoints#quot;"}}:::dropped
    o2h1 -->|"veth<br/>eth0 → veth1"| o2h2
    o2h2 --> o2end
  end
"""


def test_dot_of_a_hand_built_trace() -> None:
    assert render_trace_dot(TRACES) == DOT


def test_mermaid_of_a_hand_built_trace() -> None:
    assert render_trace_mermaid(TRACES) == MERMAID


def test_empty() -> None:
    assert render_trace_dot(()) == "digraph trace {\n  rankdir=LR;\n}\n"
    assert render_trace_mermaid(()) == "flowchart LR\n"


def test_reply_is_a_nested_subgraph() -> None:
    reply_flow = Flow("pod:shop/web", DNATTED.reversed(), "svc:shop/web:80", "client/curl")
    reply = Trace(
        reply_flow,
        1.0,
        Disposition.NO_ROUTE,
        (Hop("node-2", "pod:shop/web", (Drop(Disposition.NO_ROUTE, "no route"),)),),
    )
    trace = replace(TRACES[1], reply=reply)
    dot = render_trace_dot((trace,))
    assert '    subgraph cluster_o1r {\n      label="reply: p=1.0000 NO_ROUTE";\n' in dot
    assert "      o1rh1 -> o1rend;\n    }\n  }\n}\n" in dot
    mermaid = render_trace_mermaid((trace,))
    assert '    subgraph o1r["reply: p=1.0000 NO_ROUTE"]\n' in mermaid
    assert mermaid.endswith("      o1rh1 --> o1rend\n    end\n  end\n")


def _dot_accepts(source: str) -> None:
    """Run ``dot -Tsvg`` on ``source``; skip (saying why) when Graphviz is not installed."""
    binary = shutil.which("dot")
    if binary is None:
        print("Graphviz 'dot' is not on PATH: DOT syntax not checked")
        pytest.skip("Graphviz 'dot' is not on PATH")
    result = subprocess.run(
        [binary, "-Tsvg"], input=source, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert "<svg" in result.stdout


def test_dot_of_the_hand_built_trace_is_accepted_by_graphviz() -> None:
    _dot_accepts(DOT)


@pytest.mark.parametrize("mode", ["l2", "l3", "vxlan"])
def test_dot_of_real_traces_is_accepted_by_graphviz(mode: str) -> None:
    pytest.importorskip(
        "netsim.netfilter.evaluate", reason="the netfilter evaluator is not there yet"
    )
    from netsim.trace import make_flow, trace_flow
    from tests.trace.test_services import example

    dp, index = example(mode)
    traces = trace_flow(index, make_flow(dp, "client/curl", "svc:shop/web:80"), reply=True)
    _dot_accepts(render_trace_dot(traces))
    mermaid = render_trace_mermaid(traces)
    assert mermaid.count("subgraph ") == 6 and mermaid.count("\n  end\n") == 3
