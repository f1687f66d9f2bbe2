"""NetworkPolicy enforced in traces of topologies/l3.yaml (and vxlan where the answer differs)."""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass, field, replace
from functools import cache

import pytest
import typer
from typer.testing import CliRunner

from netsim.cli import trace as trace_cli
from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import Dataplane
from netsim.model.objects import LabelSelector, NetworkPolicy
from netsim.model.spec import load_cluster
from netsim.policy import NetworkPolicyJudge, PolicyDecision, policy_judge
from netsim.trace import Disposition, Header, TraceIndex, make_flow, prepare, trace_flow
from netsim.trace.model import Nat, Netfilter, Policy, Trace
from tests.conftest import REPO, TOPOLOGIES
from tests.trace import assert_well_formed


@cache
def cluster(mode: str) -> tuple[ClusterState, Dataplane, TraceIndex, NetworkPolicyJudge]:
    state = realize(load_cluster(TOPOLOGIES / f"{mode}.yaml"))
    dp = build_dataplane(state)
    return state, dp, prepare(dp), policy_judge(state, dp)


def pod(state: ClusterState, namespace: str, prefix: str, node: str | None = None) -> str:
    return sorted(
        k
        for k, p in state.pods.items()
        if p.namespace == namespace
        and p.name.startswith(prefix)
        and not p.is_host_network
        and (node is None or p.node == node)
    )[0]


def run(
    mode: str, source: str, destination: str, *, reply: bool = False, judge: object = None
) -> tuple[Trace, ...]:
    _, dp, index, real = cluster(mode)
    flow = make_flow(dp, source, destination)
    traces = trace_flow(index, flow, reply=reply, judge=judge or real)  # type: ignore[arg-type]
    assert_well_formed(traces)
    return traces


def policies(trace: Trace) -> list[Policy]:
    return [s for s in trace.steps if isinstance(s, Policy)]


def target_pod(trace: Trace) -> str:
    return next(hop.netns for hop in trace.hops if hop.netns.startswith("pod:shop/"))


def test_curl_to_web_service_is_allowed_by_web_ingress() -> None:
    traces = run("l3", "client/curl", "svc:shop/web:80")
    assert [t.disposition for t in traces] == [Disposition.DELIVERED] * 3
    for trace in traces:
        egress, ingress = policies(trace)
        assert (egress.pod, egress.direction, egress.is_allowed) == ("client/curl", "egress", True)
        assert egress.detail.startswith("not isolated for egress")
        assert ingress.direction == "ingress" and ingress.is_allowed
        assert ingress.detail == (
            "shop/web-ingress ingress[0] peer 0 port 0: allows pod client/curl (10.244.0.2)"
            " on 8080/TCP"
        )


def test_egress_is_judged_on_the_node_after_dnat_before_forward() -> None:
    seen: list[tuple[str, Header]] = []
    _, _, _, real = cluster("l3")

    @dataclass
    class Recording:
        calls: list[tuple[str, Header]] = field(default_factory=lambda: seen)

        def egress(self, pod_key: str, packet: Header) -> PolicyDecision:
            self.calls.append(("egress", packet))
            return real.egress(pod_key, packet)

        def ingress(self, pod_key: str, packet: Header) -> PolicyDecision:
            self.calls.append(("ingress", packet))
            return real.ingress(pod_key, packet)

    (trace,) = run("l3", "client/curl", "svc:shop/web:80", judge=Recording(), reply=True)[:1]
    egress = [packet for direction, packet in seen if direction == "egress"]
    assert {(str(p.dst), p.dport) for p in egress} == {
        ("10.244.0.3", 8080),
        ("10.244.1.3", 8080),
        ("10.244.2.3", 8080),
    }
    hop = next(h for h in trace.hops if any(isinstance(s, Policy) for s in h.steps))
    assert hop.netns == "node:node-1"
    kinds = [
        s.hook if isinstance(s, Netfilter) else s.kind.value
        for s in hop.steps
        if isinstance(s, Netfilter | Policy)
    ]
    assert kinds.index("PREROUTING") < kinds.index("policy") < kinds.index("FORWARD")


def test_replies_are_not_judged() -> None:
    for trace in run("l3", "client/curl", "svc:shop/web:80", reply=True):
        assert trace.reply is not None
        assert trace.reply.disposition is Disposition.DELIVERED
        assert policies(trace.reply) == []


def test_pod_of_another_namespace_is_denied() -> None:
    state, *_ = cluster("l3")
    coredns = pod(state, "kube-system", "coredns", node="node-2")
    traces = run("l3", coredns, "svc:shop/web:80")
    assert [t.disposition for t in traces] == [Disposition.DENIED_BY_NETWORKPOLICY] * 3
    for trace in traces:
        denied = policies(trace)[-1]
        assert (denied.direction, denied.is_allowed) == ("ingress", False)
        assert denied.detail.startswith(
            f"pod is isolated for ingress by policies shop/web-ingress; no rule allows pod"
            f" {coredns} (10.244.1.2) on 8080/TCP"
        )
        assert trace.hops[-1].netns == f"pod:{denied.pod}"


# ext:laptop -> NodePort on node-1 (eTP Cluster): node-1 masquerades to the egress device's
# address. The web pod on node-1 sees cni0 10.244.0.1: its own node, always allowed. A remote
# web pod sees the node IP 192.168.56.11 in l3 (inside the ipBlock 192.168.56.0/24: allowed),
# but flannel.1's 10.244.0.0 in vxlan: an address of another node, outside the ipBlock and
# matched by no selector: denied. In l2 the packet for a remote pod never gets that far:
# br_netfilter keeps it bridged and cni0 drops it (the pod's MAC is behind the ingress port).
@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("l2", {"node-1": "own node", "node-2": "dropped", "node-3": "dropped"}),
        ("l3", {"node-1": "own node", "node-2": "peer 1", "node-3": "peer 1"}),
        ("vxlan", {"node-1": "own node", "node-2": "denied", "node-3": "denied"}),
    ],
)
def test_laptop_nodeport_is_judged_after_masquerade(mode: str, expected: dict[str, str]) -> None:
    state, *_ = cluster(mode)
    got = {}
    by_ip = {pod.ip: pod for pod in state.pods.values()}
    for trace in run(mode, "ext:laptop", "node:node-1:30080"):
        dnat = next(s for s in trace.steps if isinstance(s, Nat) and s.nat == "DNAT")
        node = by_ip[dnat.after.dst].node
        assert node is not None
        if trace.disposition is Disposition.NEIGHBOR_UNREACHABLE:
            assert policies(trace) == []
            got[node] = "dropped"
            continue
        (ingress,) = policies(trace)
        if not ingress.is_allowed:
            assert trace.disposition is Disposition.DENIED_BY_NETWORKPOLICY
            assert "no rule allows node node-1 (10.244.0." in ingress.detail
            got[node] = "denied"
        elif "own node" in ingress.detail:
            assert ingress.detail == (
                "traffic from the pod's own node node-1 (10.244.0.1) is always allowed"
            )
            got[node] = "own node"
        else:
            assert ingress.detail == (
                "shop/web-ingress ingress[0] peer 1 port 0: allows node node-1 (192.168.56.11)"
                " on 8080/TCP"
            )
            got[node] = "peer 1"
    assert got == expected


def test_egress_denial_ends_the_trace_on_the_senders_node() -> None:
    _, _, _, real = cluster("l3")
    deny_out = NetworkPolicy("client", "deny-out", LabelSelector(), ("Egress",))
    judge = replace(real, policies=(*real.policies, deny_out))
    traces = run("l3", "client/curl", "svc:shop/web:80", judge=judge)
    for trace in traces:
        assert trace.disposition is Disposition.DENIED_BY_NETWORKPOLICY
        assert trace.hops[-1].netns == "node:node-1"
        (denied,) = policies(trace)
        assert denied.direction == "egress"
        assert "isolated for egress by policies client/deny-out" in denied.detail


def test_own_node_egress_is_allowed() -> None:
    _, _, _, real = cluster("l3")
    deny_out = NetworkPolicy("client", "deny-out", LabelSelector(), ("Egress",))
    judge = replace(real, policies=(*real.policies, deny_out))
    (trace,) = run("l3", "client/curl", "node:node-1:10250", judge=judge)
    (allowed,) = policies(trace)
    assert allowed.detail == (
        "traffic to the pod's own node node-1 (192.168.56.11) is always allowed"
    )


@pytest.fixture
def app() -> typer.Typer:
    local = typer.Typer(name="netsim", add_completion=False)
    trace_cli.register(local)

    @local.command("noop")
    def noop() -> None:
        """Keep typer from collapsing the group into one command."""

    return local


def test_cli_judges_by_default_and_no_policy_allows(app: typer.Typer) -> None:
    args = ["trace", str(TOPOLOGIES / "l3.yaml"), "--from", "client/curl", "--to", "10.244.1.3:9"]
    default = CliRunner().invoke(app, [*args, "--expect", "DENIED_BY_NETWORKPOLICY"])
    assert default.exit_code == 0, default.output
    assert "no rule allows pod client/curl (10.244.0.2) on" in default.output
    off = CliRunner().invoke(app, [*args, "--no-policy", "--expect", "PORT_NOT_LISTENING"])
    assert off.exit_code == 0, off.output


def test_python_example_of_networkpolicy_md_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    text = (REPO / "docs" / "networkpolicy.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "docs/networkpolicy.md", "exec"), {})
    assert out.getvalue() == "DELIVERED\n" * 3
