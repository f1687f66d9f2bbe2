"""``netsim reach``: the class-based matrix against brute force, l3's verdicts, trace agreement, CLI."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import tempfile
from functools import cache
from pathlib import Path

import pytest
import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from netsim.cli import reach as reach_cli
from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.dataplane.build import build_dataplane
from netsim.errors import InputError
from netsim.model.objects import Protocol
from netsim.model.spec import load_cluster
from netsim.policy import policy_judge
from netsim.policy.reach import (
    NODE_SOURCE_ADDRESS,
    NOT_JUDGED,
    ReachCell,
    ReachMatrix,
    cells,
    query,
    reachability,
    select_endpoints,
)
from netsim.policy.semantics import Peer, PolicyDecision, evaluate
from netsim.trace import Disposition, L4Protocol, make_flow, prepare, trace_flow
from netsim.trace.model import Policy
from tests.conftest import BASE_TOPOLOGY, REPO, TOPOLOGIES

TCP, UDP = Protocol.TCP, Protocol.UDP


@cache
def l3() -> tuple[ClusterState, ReachMatrix]:
    state = realize(load_cluster(TOPOLOGIES / "l3.yaml"))
    return state, reachability(state)


def pods(state: ClusterState, namespace: str, prefix: str) -> list[str]:
    return sorted(
        k
        for k, p in state.pods.items()
        if p.namespace == namespace and p.name.startswith(prefix) and not p.is_host_network
    )


# -- brute force -------------------------------------------------------------------------


def brute_force(
    state: ClusterState,
    ports: tuple[int, ...] | None = None,
    protocols: tuple[Protocol, ...] | None = None,
) -> dict[tuple[str, str, int, Protocol], ReachCell]:
    """Every (source, destination, port) judged by evaluate() with every policy, pair by pair."""
    judge = policy_judge(state)
    policies = state.network_policies
    node_source = NODE_SOURCE_ADDRESS[state.topology.pod_network.mode.value]
    placed = [p for p in state.pods.values() if p.ip is not None and not p.is_host_network]
    sources: list[tuple[str, Peer, str | None]] = [
        (p.key, Peer(p.ip, judge.pods[p.key], f"pod {p.key}"), None)
        for p in placed
        if p.ip is not None
    ]
    sources += [
        (f"node:{n.name}", Peer(node_source(n), None, f"node {n.name}"), n.name)
        for n in state.nodes.values()
    ]
    sources += [
        (f"ext:{c.name}", Peer(c.ip, None, "not a pod"), None)
        for c in state.topology.external_clients
    ]
    found: dict[tuple[str, str, int, Protocol], ReachCell] = {}
    for dst in placed:
        assert dst.ip is not None
        view = judge.pods[dst.key]
        if ports is None:
            checked = {(cp.container_port, cp.protocol) for cp in view.container_ports}
            checked = {c for c in checked if protocols is None or c[1] in protocols}
        else:
            checked = {(n, p) for n in ports for p in protocols or (TCP,)}
        dst_peer = Peer(dst.ip, view, f"pod {dst.key}")
        for name, peer, node in sources:
            if name == dst.key:
                continue
            for number, protocol in checked:
                if node is None:
                    ingress = evaluate(policies, view, "ingress", peer, protocol, number)
                elif node == dst.node:
                    gateway = Peer(state.nodes[node].gateway, None, peer.what)
                    ingress = evaluate(
                        policies, view, "ingress", gateway, protocol, number, own_node=node
                    )
                else:
                    ingress = evaluate(policies, view, "ingress", peer, protocol, number)
                if peer.pod is None:
                    egress = PolicyDecision(True, NOT_JUDGED.format(name=name))
                else:
                    egress = evaluate(policies, peer.pod, "egress", dst_peer, protocol, number)
                found[name, dst.key, number, protocol] = ReachCell(
                    name, dst.key, number, protocol, egress, ingress
                )
    return found


LABELS = st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["a", "b"]), max_size=2)
SELECTOR = st.builds(lambda labels: {"matchLabels": labels}, LABELS)
IP_BLOCKS = st.sampled_from(
    [
        {"cidr": "10.244.0.0/24"},
        {"cidr": "10.244.0.0/16", "except": ["10.244.1.0/24"]},
        {"cidr": "192.168.56.0/24"},
        {"cidr": "0.0.0.0/0", "except": ["10.244.0.0/24", "192.168.56.11/32"]},
        {"cidr": "203.0.113.0/24"},
    ]
)
PEER = st.one_of(
    st.builds(lambda s: {"podSelector": s}, SELECTOR),
    st.builds(lambda s: {"namespaceSelector": s}, SELECTOR),
    st.builds(lambda a, b: {"podSelector": a, "namespaceSelector": b}, SELECTOR, SELECTOR),
    st.builds(lambda b: {"ipBlock": b}, IP_BLOCKS),
)
POLICY_PORT = st.sampled_from(
    [
        {"port": "http"},
        {"port": 80},
        {"protocol": "UDP", "port": "dns"},
        {"protocol": "UDP"},
        {"port": 50, "endPort": 90},
    ]
)


def rules(peers_key: str) -> st.SearchStrategy[dict[str, object]]:
    """An ingress (``from``) or egress (``to``) rule; a field may be missing or empty."""
    return st.builds(
        lambda peers, ports: {
            **({peers_key: peers} if peers is not None else {}),
            **({"ports": ports} if ports is not None else {}),
        },
        st.none() | st.lists(PEER, max_size=3),
        st.none() | st.lists(POLICY_PORT, max_size=2),
    )


CONTAINER_PORTS = st.lists(
    st.sampled_from(
        [
            {"name": "http", "containerPort": 80},
            {"name": "http", "containerPort": 8080},
            {"name": "dns", "containerPort": 53, "protocol": "UDP"},
        ]
    ),
    max_size=2,
    unique_by=lambda p: p["name"],
)
NAMESPACES = ("a", "b")


@st.composite
def clusters(draw: st.DrawFn) -> str:
    """A manifest set: two namespaces, up to 7 pods, up to 4 policies."""
    docs: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": draw(LABELS)}}
        for n in NAMESPACES
    ]
    for index in range(draw(st.integers(1, 7))):
        spec: dict[str, object] = {
            "containers": [{"name": "c", "ports": draw(CONTAINER_PORTS)}],
            "nodeName": draw(st.sampled_from(["node-1", "node-2"])),
        }
        if draw(st.integers(0, 9)) == 0:
            spec["hostNetwork"] = True
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"p{index}",
                    "namespace": draw(st.sampled_from(NAMESPACES)),
                    "labels": draw(LABELS),
                },
                "spec": spec,
            }
        )
    for index in range(draw(st.integers(0, 4))):
        spec = {"podSelector": draw(SELECTOR)}
        types = draw(st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
        spec["policyTypes"] = types
        if "Ingress" in types:
            spec["ingress"] = draw(st.lists(rules("from"), max_size=2))
        if "Egress" in types:
            spec["egress"] = draw(st.lists(rules("to"), max_size=2))
        docs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"np{index}", "namespace": draw(st.sampled_from(NAMESPACES))},
                "spec": spec,
            }
        )
    return yaml.safe_dump_all(docs)


def realize_manifests(manifests: str, mode: str) -> ClusterState:
    with tempfile.TemporaryDirectory() as tmp:
        topology = {
            **BASE_TOPOLOGY,
            "pod_network": {"mode": mode},
            "external_clients": [{"name": "laptop", "ip": "203.0.113.10"}],
        }
        path = Path(tmp) / "topology.yaml"
        path.write_text(yaml.safe_dump(topology))
        (Path(tmp) / "app.yaml").write_text(manifests)
        return realize(load_cluster(path))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.sampled_from(["l2", "l3", "vxlan"]))
def test_class_matrix_equals_brute_force(manifests: str, mode: str) -> None:
    state = realize_manifests(manifests, mode)
    matrix = reachability(state)
    expected = brute_force(state)
    got = {(c.source, c.destination, c.port, c.protocol): c for c in cells(matrix)}
    assert got == expected


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_port_filters_match_brute_force(manifests: str) -> None:
    state = realize_manifests(manifests, "l3")
    matrix = reachability(state, ports=(53, 80), protocols=(TCP, UDP))
    expected = brute_force(state, (53, 80), (TCP, UDP))
    assert {(c.source, c.destination, c.port, c.protocol): c for c in cells(matrix)} == expected
    by_protocol = reachability(state, protocols=(UDP,))
    assert {
        (c.source, c.destination, c.port, c.protocol): c for c in cells(by_protocol)
    } == brute_force(state, None, (UDP,))


def test_query_outside_the_built_ports_evaluates_on_the_spot() -> None:
    state, matrix = l3()
    web = pods(state, "shop", "web")[0]
    cell = query(matrix, "client/curl", web, 9999, TCP)
    assert not cell.is_allowed
    assert cell.ingress.isolated_by == ("shop/web-ingress",)


# -- topologies/l3.yaml ------------------------------------------------------------------


def test_curl_reaches_every_web_pod_via_web_ingress() -> None:
    state, matrix = l3()
    for web in pods(state, "shop", "web"):
        cell = query(matrix, "client/curl", web, 8080, TCP)
        assert cell.is_allowed
        assert (cell.ingress.policy, cell.ingress.rule, cell.ingress.peer, cell.ingress.port) == (
            "shop/web-ingress",
            "ingress[0]",
            0,
            0,
        )
        assert cell.ingress.reason == (
            "shop/web-ingress ingress[0] peer 0 port 0: allows pod client/curl (10.244.0.2)"
            " on 8080/TCP"
        )
        assert cell.egress.reason == (
            "not isolated for egress: no policy with policyTypes Egress selects client/curl"
        )


def test_coredns_to_web_is_denied_and_web_to_coredns_allowed() -> None:
    state, matrix = l3()
    for coredns in pods(state, "kube-system", "coredns"):
        for web in pods(state, "shop", "web"):
            denied = query(matrix, coredns, web, 8080, TCP)
            assert not denied.is_allowed
            assert denied.egress.is_allowed
            assert denied.ingress.isolated_by == ("shop/web-ingress",)
            for number, protocol in ((53, UDP), (53, TCP), (9153, TCP)):
                allowed = query(matrix, web, coredns, number, protocol)
                assert allowed.is_allowed
                assert allowed.ingress.reason.startswith("not isolated for ingress")


def test_nodes_reach_web_by_ip_block_or_own_node() -> None:
    state, matrix = l3()
    for web in pods(state, "shop", "web"):
        node = state.pods[web].node
        for name in state.nodes:
            cell = query(matrix, f"node:{name}", web, 8080, TCP)
            assert cell.is_allowed
            if name == node:
                assert cell.ingress.reason.startswith("traffic from the pod's own node")
            else:
                assert (cell.ingress.rule, cell.ingress.peer) == ("ingress[0]", 1)
        assert not query(matrix, "ext:laptop", web, 8080, TCP).is_allowed


def test_classes_are_fewer_than_endpoints() -> None:
    _, matrix = l3()
    assert (len(matrix.sources), len(matrix.destinations)) == (10, 6)
    assert (matrix.source_classes, matrix.destination_classes) == (4, 3)


@pytest.mark.parametrize("mode", ["l2", "l3", "vxlan"])
def test_reach_agrees_with_trace_to_the_pod_ip(mode: str) -> None:
    """Every (pod or node, pod, declared port): DELIVERED iff allowed, same explanations.

    External clients are left out: the demo topologies do not route pod IPs
    from outside (the trace ends NO_ROUTE before any policy).
    """
    state = realize(load_cluster(TOPOLOGIES / f"{mode}.yaml"))
    dataplane = build_dataplane(state)
    index = prepare(dataplane)
    judge = policy_judge(state, dataplane)
    matrix = reachability(state)
    checked = 0
    for cell in cells(matrix, [s for s in matrix.sources if s.kind != "external"]):
        destination = matrix.endpoints[cell.destination]
        flow = make_flow(
            dataplane,
            cell.source,
            f"{destination.ip}:{cell.port}",
            protocol=L4Protocol(cell.protocol.value.lower()),
        )
        for trace in trace_flow(index, flow, judge=judge):
            expected = (
                Disposition.DELIVERED if cell.is_allowed else Disposition.DENIED_BY_NETWORKPOLICY
            )
            assert trace.disposition is expected, (cell, trace.disposition)
            details = [s.detail for s in trace.steps if isinstance(s, Policy)]
            judged = [cell.egress] if matrix.endpoints[cell.source].kind == "pod" else []
            if cell.egress.is_allowed:
                judged.append(cell.ingress)
            assert details == [d.reason for d in judged]
            checked += 1
    assert checked == 72


# -- selection and errors ----------------------------------------------------------------


def test_select_endpoints_patterns() -> None:
    state, matrix = l3()
    assert [e.name for e in select_endpoints(matrix, "shop/*", destinations=True)] == sorted(
        pods(state, "shop", "web"), key=[e.name for e in matrix.destinations].index
    )
    assert [e.name for e in select_endpoints(matrix, "ext:laptop")] == ["ext:laptop"]
    with pytest.raises(InputError, match="destination 'ext:laptop' matches nothing"):
        select_endpoints(matrix, "ext:laptop", destinations=True)
    with pytest.raises(InputError, match="source 'nope/\\*' matches nothing"):
        select_endpoints(matrix, "nope/*")
    with pytest.raises(InputError, match="no source or destination 'x/y'"):
        query(matrix, "x/y", "client/curl", 80, TCP)


# -- CLI ---------------------------------------------------------------------------------


@pytest.fixture
def runner_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    reach_cli.register(app)

    @app.callback()
    def _root() -> None:  # keep "reach" as a sub-command
        pass

    return app


L3 = str(TOPOLOGIES / "l3.yaml")


def invoke(app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(app, ["reach", L3, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_json(runner_app: typer.Typer) -> None:
    rows = json.loads(invoke(runner_app, "--from", "client/curl", "--to", "shop/*", "-f", "json"))
    assert len(rows) == 3
    row = rows[0]
    assert set(row) == {"from", "to", "port", "protocol", "allowed", "egress", "ingress"}
    assert (row["from"], row["port"], row["protocol"], row["allowed"]) == (
        "client/curl",
        8080,
        "TCP",
        True,
    )
    assert {k: row["ingress"][k] for k in ("policy", "rule", "peer")} == {
        "policy": "shop/web-ingress",
        "rule": "ingress[0]",
        "peer": 0,
    }
    assert row["ingress"]["explanation"].startswith("shop/web-ingress ingress[0] peer 0 port 0")
    assert row["egress"]["policy"] is None


def test_cli_csv(runner_app: typer.Typer) -> None:
    out = invoke(runner_app, "--from", "kube-system/*", "--to", "shop/*", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 6
    assert {r["allowed"] for r in rows} == {"false"}
    assert {r["ingress_explanation"].split(";")[0] for r in rows} == {
        "pod is isolated for ingress by policies shop/web-ingress"
    }


def test_cli_markdown_with_explain(runner_app: typer.Typer) -> None:
    state, _ = l3()
    web = pods(state, "shop", "web")[0]
    out = invoke(runner_app, "--from", "ext:laptop", "--to", web, "-f", "md", "--explain")
    assert out == (
        "| from | to | port | verdict | egress | ingress |\n"
        "|---|---|---|---|---|---|\n"
        f"| ext:laptop | {web} | 8080/TCP | denied | not judged | isolated by shop/web-ingress |\n"
    )


def test_cli_table(runner_app: typer.Typer) -> None:
    state, _ = l3()
    coredns = pods(state, "kube-system", "coredns")[0]
    out = invoke(
        runner_app, "--from", "client/curl", "--to", coredns, "--port", "53", "--protocol", "udp"
    )
    assert out.splitlines()[0].rstrip() == "Reachability (direct pod IP traffic)"
    assert f"│ client/curl │ {coredns} │ 53/UDP │ allowed │" in out


def test_cli_table_explain(runner_app: typer.Typer) -> None:
    out = invoke(runner_app, "--from", "node:node-3", "--to", "shop/*", "--explain")
    assert out.count("shop/web-ingress ingress[0] peer 1") == 2
    assert out.count("own node") == 1
    assert out.count("not judged") == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "nope/*"), "source 'nope/\\*' matches nothing"),
        (("--to", "node:node-1"), "destination 'node:node-1' matches nothing"),
        (("--protocol", "icmp"), "--protocol 'icmp': not a protocol"),
        (("--port", "0"), "--port 0: must be 1-65535"),
    ],
    ids=["unknown-source", "node-destination", "bad-protocol", "bad-port"],
)
def test_cli_errors_are_input_errors(
    runner_app: typer.Typer, args: tuple[str, ...], message: str
) -> None:
    result = CliRunner().invoke(runner_app, ["reach", L3, *args])
    assert isinstance(result.exception, InputError)
    assert re.search(message, str(result.exception))
    assert "\n" not in str(result.exception)


# -- docs/reach.md -----------------------------------------------------------------------


def _blocks(language: str) -> list[str]:
    text = (REPO / "docs" / "reach.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def test_python_example_of_reach_md_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    (block,) = _blocks("python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "docs/reach.md", "exec"), {})
    assert out.getvalue() == (
        "True shop/web-ingress ingress[0] peer 0 port 0: allows pod client/curl (10.244.0.2)"
        " on 8080/TCP\n"
    )


def test_markdown_example_of_reach_md_is_the_cli_output(runner_app: typer.Typer) -> None:
    (block,) = _blocks("md")
    assert invoke(
        runner_app, "--from", "node:node-1", "--to", "shop/*", "--explain", "-f", "md"
    ) == (block)
