"""Text and JSON renderers of traces: exact strings at a fixed width, a stable schema."""

from __future__ import annotations

import json

from netsim.report.trace import render_trace_text, trace_json
from netsim.trace import make_flow, prepare, trace_flow
from netsim.trace.hooks import NoNetfilter
from tests.trace.test_engine import dataplane

NO_ROUTE_TEXT = """\
flow ext:laptop -> 10.244.1.3:80: tcp 203.0.113.10:40000 -> 10.244.1.3:80 from
    client:laptop

outcome 1/1: p=1.0000 NO_ROUTE
  [-] client:laptop
    route       10.244.1.3 -> output: default via 203.0.113.1 dev eth0
    arp         ARP who-has 203.0.113.1: is-at 76:d7:a9:90:75:44 (from
                router/eth1)
    transmit    203.0.113.10:40000 -> 10.244.1.3:80 tcp ttl 64 on eth0 to
                76:d7:a9:90:75:44
  [-] switch:external-203.0.113.0/24
    received    203.0.113.10:40000 -> 10.244.1.3:80 tcp ttl 64 on swp1
    bridge      br0: learned: 76:d7:a9:90:75:44 behind port swp2
    transmit    203.0.113.10:40000 -> 10.244.1.3:80 tcp ttl 64 on swp2 to
                76:d7:a9:90:75:44
  [-] router
    received    203.0.113.10:40000 -> 10.244.1.3:80 tcp ttl 64 on eth1
    route       10.244.1.3: no route
    drop        NO_ROUTE: no route to 10.244.1.3 in router
"""


def test_text_of_a_dropped_trace_at_width_80() -> None:
    dp = dataplane("l3")
    traces = trace_flow(
        prepare(dp, netfilter=NoNetfilter()), make_flow(dp, "ext:laptop", "10.244.1.3:80")
    )
    assert render_trace_text(traces, width=80) == NO_ROUTE_TEXT


def test_text_lines_respect_the_width() -> None:
    dp = dataplane("vxlan")
    index = prepare(dp, netfilter=NoNetfilter())
    traces = trace_flow(index, make_flow(dp, "client/curl", "10.244.2.3:8080"), reply=True)
    text = render_trace_text(traces, width=72)
    assert all(len(line) <= 72 for line in text.splitlines())
    assert "  reply: p=1.0000 DELIVERED to pod:client/curl 10.244.0.2:40000" in text
    assert "encapsulate VXLAN encapsulate (FDB " in text


def test_json_schema() -> None:
    dp = dataplane("vxlan")
    index = prepare(dp, netfilter=NoNetfilter())
    traces = trace_flow(index, make_flow(dp, "client/curl", "10.244.2.3:8080"), reply=True)
    data = trace_json(traces)
    json.dumps(data)  # plain data only
    assert data["schema"] == 1
    assert data["flow"] == {
        "from": "client/curl",
        "to": "10.244.2.3:8080",
        "source_netns": "pod:client/curl",
        "src": "10.244.0.2",
        "dst": "10.244.2.3",
        "protocol": "tcp",
        "sport": 40000,
        "dport": 8080,
        "ttl": 64,
        "length": 60,
        "mark": 0,
    }
    (outcome,) = data["outcomes"]
    assert set(outcome) == {
        "probability",
        "disposition",
        "delivered_to",
        "asymmetric_return",
        "hops",
        "reply",
    }
    assert outcome["delivered_to"] == {
        "namespace": "pod:shop/web-78dc94cfd5-cdv87",
        "pod": "shop/web-78dc94cfd5-cdv87",
        "ip": "10.244.2.3",
        "port": 8080,
    }
    assert [h["netns"] for h in outcome["hops"]][:2] == ["pod:client/curl", "node:node-1"]
    steps = [s for h in outcome["hops"] for s in h["steps"]]
    assert all(list(s)[:2] == ["kind", "detail"] for s in steps)
    encap = next(s for s in steps if s["kind"] == "encapsulate")
    assert encap["vni"] == 1 and encap["outer"]["dport"] == 8472
    assert outcome["reply"]["disposition"] == "DELIVERED"
    assert outcome["reply"]["flow"]["src"] == "10.244.2.3"
    assert outcome["reply"]["reply"] is None


def test_empty() -> None:
    assert render_trace_text(()) == ""
    assert trace_json(()) == {"schema": 1, "flow": None, "outcomes": []}
