"""The lab's pure parts: names, state file, policy compilation, flow sets, agreement, the agent."""

from __future__ import annotations

import socket
import threading
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from netsim.errors import LabError
from netsim.lab import agent
from netsim.lab.flows import all_flows, example_flows
from netsim.lab.names import LabState, Listener, lab_prefix, load_state_file, write_state_file
from netsim.lab.probe import FAIL, Attempt
from netsim.lab.rules import node_payload, policy_payloads
from netsim.lab.verify import (
    Expectation,
    Outcome,
    check_flow,
    checks_json,
    expect_flows,
    render_checks_text,
)
from netsim.trace import Disposition
from tests.dataplane.clusters import example

A = IPv4Address


def test_names_and_state_file_round_trip(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="lab name 'Bad_Name'"):
        lab_prefix("Bad_Name")
    state = LabState("ci1", "t.yaml", "l3").with_namespace("node:n", "nsl-ci1-node-n")
    state = state.with_listener(Listener(7, "nsl-ci1-node-n", "a/b"))
    write_state_file(tmp_path, state)
    assert load_state_file(tmp_path, "ci1") == state
    assert load_state_file(tmp_path, "other") is None
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(LabError, match="not a netsim lab state file"):
        load_state_file(tmp_path, "bad")


def test_node_payload_holds_kube_proxy_and_flannel() -> None:
    payload = node_payload(example("vxlan"), "node-1")
    assert "-A KUBE-SERVICES" in payload and "FLANNEL-POSTRTG" in payload


def test_policy_payloads_compile_the_demo_policy() -> None:
    payloads = policy_payloads(example("l3"))
    assert sorted(k.split("-")[0] for k in payloads) == ["pod:shop/web"] * 3
    text = next(iter(payloads.values()))
    assert '-s 192.168.56.0/24 -m comment --comment "shop/web-ingress ingress[0] from[1]"' in text
    assert "-p tcp -m tcp --dport 8080" in text  # the named port, resolved
    assert text.rstrip().endswith("COMMIT")


def test_policy_payloads_egress_except_and_named_ports(write_cluster) -> None:  # type: ignore[no-untyped-def]
    from netsim.cli.lab import load_dataplane

    manifests = """
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default, labels: {app: a}}
spec: {containers: [{name: c, image: x, ports: [{name: web, containerPort: 80}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: default}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
      ports: [{port: web}, {protocol: UDP, port: 53, endPort: 60}]
    - {}
"""
    payloads = policy_payloads(load_dataplane(write_cluster(manifests), None))
    (netns,) = payloads
    text = payloads[netns]
    assert netns.startswith("node:")
    assert "-I FORWARD 1" in text and "-d 10.1.0.0/16" in text
    assert "-p udp -m udp --dport 53:60" in text
    assert "-p tcp -m tcp --dport 80" in text and "all peers" in text


def test_flow_sets_cover_the_example_scenarios() -> None:
    state = example("l3").state
    flows = {(f.source, f.destination) for f in example_flows(state)}
    assert ("ext:laptop", "node:node-1:30080") in flows
    assert ("client/curl", "svc:shop/web:80") in flows
    web_node_1 = next(
        k for k, p in state.pods.items() if k.startswith("shop/web-") and p.node == "node-1"
    )
    assert (web_node_1, "svc:shop/web:80") in flows  # hairpin
    assert any(d.endswith(":9999") for _, d in flows)
    assert set(example_flows(state)) < set(all_flows(state))


def _expectation(*outcomes: Outcome, sticky: bool = False) -> Expectation:
    from netsim.lab.flows import FlowSpec

    return Expectation(
        FlowSpec("a/b", "svc:x/y:80"), "pod:a/b", A("10.96.0.1"), 80, outcomes, sticky
    )


def test_check_flow_agreement_rules() -> None:
    one = Outcome(Disposition.DELIVERED, "x/1", A("10.0.0.1"), 0.5)
    two = Outcome(Disposition.DELIVERED, "x/2", A("10.0.0.1"), 0.5)
    both = _expectation(one, two)
    assert both.targets == ("x/1", "x/2")
    ok = [Attempt("connected", "x/1", A("10.0.0.1")), Attempt("connected", "x/2", A("10.0.0.1"))]
    assert check_flow(both, ok).agrees
    problems = check_flow(both, ok[:1]).problems
    assert problems == ("never answered in 1 tries: x/2",)
    wrong = check_flow(both, [Attempt("connected", "x/1", A("10.9.9.9"))]).problems
    assert "kernel: x/1 saw source 10.9.9.9, simulation: 10.0.0.1" in wrong
    assert check_flow(_expectation(one, sticky=True), ok[:1]).agrees
    denied = _expectation(Outcome(Disposition.DENIED_BY_NETWORKPOLICY, None, None, 1.0))
    assert denied.targets == (FAIL,)
    assert check_flow(denied, [Attempt("timed-out")]).agrees
    assert check_flow(denied, [Attempt("refused")]).problems == ("kernel: refused",)
    assert check_flow(denied, [Attempt("connected", "q/r", A("1.1.1.1"))]).problems == (
        "kernel: q/r answered",
    )
    mixed = _expectation(one, Outcome(Disposition.DENIED_BY_NETWORKPOLICY, None, None, 0.5))
    assert check_flow(mixed, ok[:1]).problems == ("no attempt failed in 1 tries",)
    checks = [check_flow(both, ok), check_flow(denied, [Attempt("refused", error=None)])]
    text = render_checks_text(checks)
    assert text.endswith("2 flows, 1 agree, 1 disagree\n") and "DIFF a/b -> svc:x/y:80/tcp" in text
    assert checks_json(checks)["disagree"] == 1


def test_check_flow_compares_where_a_rule_denied() -> None:
    ingress = "pod:x/1: ingress of x/1"
    denied = _expectation(Outcome(Disposition.DENIED_BY_NETWORKPOLICY, None, None, 1.0, ingress))
    timed_out = [Attempt("timed-out")]
    assert check_flow(denied, timed_out, [ingress]).agrees
    assert check_flow(denied, timed_out, None).agrees  # not located: nothing to compare
    elsewhere = check_flow(denied, timed_out, ["node:n1: egress of a/b"])
    assert elsewhere.problems == (
        f"kernel: denied at node:n1: egress of a/b, simulation: {ingress}",
    )
    nowhere = check_flow(denied, timed_out, [])
    assert nowhere.problems == (
        f"kernel: no DROP or REJECT rule counted it, simulation: {ingress}",
    )
    text = render_checks_text([elsewhere])
    assert f"DENIED_BY_NETWORKPOLICY at {ingress}" in text
    assert "timed-out x1; dropped at node:n1: egress of a/b" in text
    flow = checks_json([elsewhere])["flows"][0]
    assert flow["dropped_at"] == ["node:n1: egress of a/b"]
    assert flow["simulation"][0]["denied_at"] == ingress


def test_expected_denials_name_their_place() -> None:
    from netsim.lab.flows import FlowSpec

    web = "shop/web-78dc94cfd5-cdv87"
    (denied,) = expect_flows(example("l3"), [FlowSpec("client/curl", f"{web}:9999")])
    assert [o.denied_at for o in denied.outcomes] == [f"pod:{web}: ingress of {web}"]
    (delivered,) = expect_flows(example("l3"), [FlowSpec("client/curl", f"{web}:8080")])
    assert [o.denied_at for o in delivered.outcomes] == [None]


def test_expect_flows_reports_unknown_endpoints() -> None:
    from netsim.lab.flows import FlowSpec

    (bad,) = expect_flows(example("l3"), [FlowSpec("nobody/x", "svc:shop/web:80")])
    assert bad.error is not None and "no pod 'nobody/x'" in bad.error
    assert check_flow(bad, []).problems[0].startswith("simulation: ")


def test_agent_attempt_verdicts_on_loopback() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def answer() -> None:
            conn, peer = server.accept()
            with conn:
                conn.sendall(b'{"pod": "a/b", "peer": "%s:%d"}\n' % (peer[0].encode(), peer[1]))

        thread = threading.Thread(target=answer)
        thread.start()
        result = agent.attempt("127.0.0.1", port, "tcp", 2.0)
        thread.join()
    assert result["verdict"] == "connected" and result["pod"] == "a/b"
    assert agent.attempt("127.0.0.1", port, "tcp", 1.0)["verdict"] == "refused"
    assert agent.attempt("127.0.0.1", port, "udp", 0.2)["verdict"] == "refused"
    (run,) = agent.probe(
        [
            {
                "id": 1,
                "dst": "127.0.0.1",
                "port": port,
                "protocol": "tcp",
                "count": 5,
                "timeout": 1,
                "targets": ["fail"],
            }
        ]
    )
    assert len(run["attempts"]) == 1
