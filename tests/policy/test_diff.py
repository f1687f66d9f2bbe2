"""``netsim diff``: exact changed flows for policy edits of the l3 demo, renderers, CLI."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from benchmarks.synthetic import synthetic_spec
from netsim.cli import diff as diff_cli
from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.model.objects import Protocol
from netsim.model.spec import load_cluster
from netsim.model.topology import PodNetworkMode
from netsim.policy.diff import (
    PolicyChange,
    PolicyChangeKind,
    PolicyDiff,
    changed_directions,
    decision_text,
    policy_diff,
)
from netsim.policy.reach import query, reachability
from netsim.report.policy_diff import diff_rows, render_diff_text
from tests.conftest import TOPOLOGIES

SHOP = (TOPOLOGIES / "demo" / "shop.yaml").read_text()
IP_BLOCK_PEER = """        - ipBlock:
            cidr: 192.168.56.0/24
"""
CLIENT_EGRESS_DENY = """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: client
spec:
  podSelector: {}
  policyTypes: [Egress]
"""
WEB = ("shop/web-78dc94cfd5-gck7w", "shop/web-78dc94cfd5-cdv87", "shop/web-78dc94cfd5-jb6lq")
DNS = ("kube-system/coredns-545d9db46f-jxfff", "kube-system/coredns-545d9db46f-9t2bc")
WEB_INGRESS_IP_BLOCK = "shop/web-ingress ingress[0].from[1].ports[0]"

Row = tuple[str, str, str, bool, str, str, tuple[str, ...]]
Cluster = Callable[[str, str], Path]


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    """Copy topologies/l3.yaml and the demo manifests to ``tmp/NAME`` with ``shop`` as shop.yaml."""

    def write(name: str, shop: str) -> Path:
        (tmp_path / name / "demo").mkdir(parents=True)
        shutil.copy(TOPOLOGIES / "l3.yaml", tmp_path / name / "l3.yaml")
        (tmp_path / name / "demo" / "shop.yaml").write_text(shop)
        return tmp_path / name / "l3.yaml"

    return write


def rows(diff: PolicyDiff) -> list[Row]:
    """(from, to, port/proto, allowed in B, decided in A, decided in B, responsible)."""
    found = []
    for change in diff.changes:
        (direction,) = changed_directions(change.before, change.after)
        a = getattr(change.before, direction)
        b = getattr(change.after, direction)
        found.append(
            (
                change.source,
                change.destination,
                f"{change.port}/{change.protocol.value}",
                change.after.is_allowed,
                decision_text(a),
                decision_text(b),
                tuple(c.text for c in change.responsible),
            )
        )
    return found


def diff_of(cluster: Cluster, a: str, b: str) -> PolicyDiff:
    return policy_diff(
        realize(load_cluster(cluster("a", a))), realize(load_cluster(cluster("b", b)))
    )


def test_dropping_the_ip_block_peer_denies_other_nodes(cluster: Cluster) -> None:
    found = diff_of(cluster, SHOP, SHOP.replace(IP_BLOCK_PEER, ""))
    changed = ("shop/web-ingress (changed)",)
    denied = "isolated by shop/web-ingress"
    assert rows(found) == [
        ("node:node-1", WEB[0], "8080/TCP", False, WEB_INGRESS_IP_BLOCK, denied, changed),
        ("node:node-1", WEB[1], "8080/TCP", False, WEB_INGRESS_IP_BLOCK, denied, changed),
        ("node:node-2", WEB[1], "8080/TCP", False, WEB_INGRESS_IP_BLOCK, denied, changed),
        ("node:node-2", WEB[2], "8080/TCP", False, WEB_INGRESS_IP_BLOCK, denied, changed),
        ("node:node-3", WEB[0], "8080/TCP", False, WEB_INGRESS_IP_BLOCK, denied, changed),
        ("node:node-3", WEB[2], "8080/TCP", False, WEB_INGRESS_IP_BLOCK, denied, changed),
    ]  # each node's own web pod stays allowed ("own node")
    assert found.policies == (PolicyChange("shop/web-ingress", PolicyChangeKind.CHANGED),)


def curl_rows(allowed: bool, kind: str) -> list[Row]:
    before, after = "not isolated", "isolated by client/default-deny"
    if allowed:
        before, after = after, before
    targets = [(d, p) for d in DNS for p in ("53/TCP", "53/UDP", "9153/TCP")]
    targets += [(w, "8080/TCP") for w in WEB]
    responsible = (f"client/default-deny ({kind})",)
    return [("client/curl", d, p, allowed, before, after, responsible) for d, p in targets]


def test_adding_an_egress_default_deny(cluster: Cluster) -> None:
    found = diff_of(cluster, SHOP, SHOP + CLIENT_EGRESS_DENY)
    assert rows(found) == curl_rows(False, "added")


def test_removing_it_again(cluster: Cluster) -> None:
    found = diff_of(cluster, SHOP + CLIENT_EGRESS_DENY, SHOP)
    assert rows(found) == curl_rows(True, "removed")


def test_removing_the_web_policy_admits_the_laptop(cluster: Cluster) -> None:
    without = SHOP[: SHOP.index("---\napiVersion: networking.k8s.io/v1")]
    found = diff_of(cluster, SHOP, without)
    removed = ("shop/web-ingress (removed)",)
    denied = "isolated by shop/web-ingress"
    # Every pod but curl, and the laptop, were denied by it; nodes and curl were allowed.
    sources = [*DNS, *WEB, "ext:laptop"]
    assert rows(found) == [
        (source, web, "8080/TCP", True, denied, "not isolated", removed)
        for source in sources
        for web in WEB
        if source != web
    ]


def test_no_change(cluster: Cluster) -> None:
    found = diff_of(cluster, SHOP, SHOP)
    assert (found.changes, found.policies, found.only_in_a, found.only_in_b) == ((), (), (), ())
    assert render_diff_text(found) == "no verdict changes\n"


def app() -> typer.Typer:
    application = typer.Typer()
    diff_cli.register(application)
    application.command("noop")(lambda: None)  # keep diff a named subcommand
    return application


def test_cli_text_json_and_exit_codes(cluster: Cluster) -> None:
    a, b = cluster("a", SHOP), cluster("b", SHOP.replace(IP_BLOCK_PEER, ""))
    runner = CliRunner()
    same = runner.invoke(app(), ["diff", str(a), str(a)])
    assert (same.exit_code, same.stdout) == (0, "no verdict changes\n")
    text = runner.invoke(app(), ["diff", str(a), str(b)])
    assert text.exit_code == 1
    lines = text.stdout.splitlines()
    assert lines[0] == (
        f"node:node-1 -> {WEB[0]} 8080/TCP: allowed -> denied"
        f" | A: ingress {WEB_INGRESS_IP_BLOCK} | B: ingress isolated by shop/web-ingress"
        " | by shop/web-ingress (changed)"
    )
    assert lines[-1] == "6 flows change verdict"
    as_json = runner.invoke(app(), ["diff", str(a), str(b), "--format", "json"])
    assert as_json.exit_code == 1
    first = json.loads(as_json.stdout)[0]
    assert first["from"] == "node:node-1" and first["to"] == WEB[0]
    assert (first["port"], first["protocol"], first["directions"]) == (8080, "TCP", ["ingress"])
    assert first["a"]["allowed"] is True and first["b"]["allowed"] is False
    assert first["a"]["ingress"]["decided_by"] == WEB_INGRESS_IP_BLOCK
    assert first["b"]["ingress"]["isolated_by"] == ["shop/web-ingress"]
    assert first["policy_changes"] == [{"policy": "shop/web-ingress", "change": "changed"}]


def test_rows_match_the_text(cluster: Cluster) -> None:
    found = diff_of(cluster, SHOP, SHOP + CLIENT_EGRESS_DENY)
    assert len(diff_rows(found)) == len(found.changes) == 9


def test_doc_example(cluster: Cluster) -> None:
    doc = (TOPOLOGIES.parent / "docs" / "diff.md").read_text()
    a, b = cluster("a", SHOP), cluster("b", SHOP.replace(IP_BLOCK_PEER, ""))
    result = CliRunner().invoke(app(), ["diff", str(a), str(b)])
    assert result.exit_code == 1
    assert f"```\n{result.stdout}```" in doc


def _pair_by_pair(a: ClusterState, b: ClusterState) -> list[tuple[str, str, int, Protocol]]:
    """The definition: every shared source, destination pod and shared port, asked one by one."""
    ma, mb = reachability(a), reachability(b)
    in_b = {e.name for e in mb.sources}
    ports_b = {e.name: set(e.ports) for e in mb.destinations}
    return [
        (source.name, destination.name, number, protocol)
        for source in ma.sources
        if source.name in in_b
        for destination in ma.destinations
        if destination.name in ports_b and destination.name != source.name
        for number, protocol in destination.ports
        if (number, protocol) in ports_b[destination.name]
        and query(ma, source.name, destination.name, number, protocol).is_allowed
        != query(mb, source.name, destination.name, number, protocol).is_allowed
    ]


def _states_with_changes() -> list[tuple[str, ClusterState, ClusterState]]:
    small = realize(
        synthetic_spec(
            nodes=4, pods=60, services=6, policies=6, namespaces=3, mode=PodNetworkMode.L3
        )
    )
    found = [("synthetic", small, replace(small, network_policies=small.network_policies[::2]))]
    for name in ("l2.yaml", "vxlan.yaml"):
        state = realize(load_cluster(TOPOLOGIES / name))
        found.append((name, state, replace(state, network_policies=())))
    return found


@pytest.mark.parametrize(
    ("label", "a", "b"), _states_with_changes(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_changes_are_the_pairs_whose_verdict_differs(
    label: str, a: ClusterState, b: ClusterState
) -> None:
    for before, after in ((a, b), (b, a)):
        got = [
            (c.before.source, c.before.destination, c.before.port, c.before.protocol)
            for c in policy_diff(before, after).changes
        ]
        want = _pair_by_pair(before, after)
        assert want, "the change must change some verdicts"
        assert got == want
