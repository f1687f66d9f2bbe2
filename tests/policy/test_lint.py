"""``netsim lint``: each finding kind on a small cluster, the demo topologies, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from netsim.cli import lint as lint_cli
from netsim.control.realize import realize
from netsim.model.spec import load_cluster
from netsim.policy.lint import LintFinding, LintKind, lint_policies
from netsim.report.lint import lint_rows, render_lint_text
from tests.conftest import TOPOLOGIES, WriteCluster

LAPTOP = [{"name": "laptop", "ip": "203.0.113.10"}]

APP = """
apiVersion: v1
kind: Namespace
metadata: {name: app, labels: {team: app}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: app}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - name: api
          image: api:1
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: app, labels: {app: db}}
spec:
  containers:
    - name: db
      image: db:1
      ports: [{name: sql, containerPort: 5432}]
"""

NODEPORT = """
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: app}
spec:
  type: NodePort
  externalTrafficPolicy: ETP
  selector: {app: api}
  ports: [{port: 80, targetPort: http}]
"""

FROM_LAPTOP = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-laptop, namespace: app}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
    - from:
        - podSelector: {matchLabels: {app: db}}
        - ipBlock: {cidr: 203.0.113.0/24}
"""

DENY_EGRESS = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: app}
spec:
  podSelector: {}
  policyTypes: [Egress]
"""

ALLOW_DNS = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: app}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
          podSelector: {matchLabels: {k8s-app: kube-dns}}
      ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
"""


def lint_of(write_cluster: WriteCluster, manifests: str, **changes: object) -> list[LintFinding]:
    return list(lint_policies(realize(load_cluster(write_cluster(APP + manifests, **changes)))))


def where(findings: list[LintFinding]) -> list[tuple[str, str, LintKind]]:
    return [(f.policy, f.path, f.kind) for f in findings]


@pytest.mark.parametrize(
    ("etp", "expected"),
    [
        ("Cluster", [("app/from-laptop", "ingress[0].from[1]", LintKind.MASQUERADED_IP_BLOCK)]),
        ("Local", []),
    ],
    ids=["cluster-masquerades", "local-keeps-client"],
)
def test_ip_block_for_a_masqueraded_client(
    write_cluster: WriteCluster, etp: str, expected: list[tuple[str, str, LintKind]]
) -> None:
    found = lint_of(
        write_cluster, NODEPORT.replace("ETP", etp) + FROM_LAPTOP, external_clients=LAPTOP
    )
    assert where(found) == expected
    if found:
        assert "laptop (203.0.113.10)" in found[0].message
        assert "app/api" in found[0].message
        assert "externalTrafficPolicy: Local" in found[0].hint


def test_ip_block_not_covering_a_client_is_fine(write_cluster: WriteCluster) -> None:
    found = lint_of(write_cluster, NODEPORT.replace("ETP", "Cluster") + FROM_LAPTOP)
    assert found == []  # no external client in the topology


def test_egress_default_deny_blocking_dns(write_cluster: WriteCluster) -> None:
    found = lint_of(write_cluster, DENY_EGRESS)
    assert where(found) == [("app/deny-egress", "egress", LintKind.DNS_BLOCKED)]
    assert "kube-system/kube-dns (10.96.0.10) on 53/TCP, 53/UDP" in found[0].message
    assert "app/api-" in found[0].message and "app/db" in found[0].message


def test_dns_allowed_by_another_policy(write_cluster: WriteCluster) -> None:
    assert lint_of(write_cluster, DENY_EGRESS + ALLOW_DNS) == []


def test_no_dns_finding_without_cluster_dns(write_cluster: WriteCluster) -> None:
    assert lint_of(write_cluster, DENY_EGRESS, cluster_dns=False) == []


SELECTORS = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: typos, namespace: app}
spec:
  podSelector: {matchLabels: {app: apii}}
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {team: nobody}}
        - podSelector: {matchLabels: {app: nothing}}
        - namespaceSelector: {matchLabels: {team: app}}
          podSelector: {matchLabels: {app: db}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-typo, namespace: app}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Egress]
  egress:
    - to:
        - namespaceSelector: {}
          podSelector: {matchLabels: {k8s-app: kube-dns}}
    - to:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
          podSelector: {matchLabels: {k8s-app: dns}}
"""


def test_selectors_matching_nothing(write_cluster: WriteCluster) -> None:
    assert where(lint_of(write_cluster, SELECTORS)) == [
        ("app/egress-typo", "egress[1].to[0].podSelector", LintKind.NO_MATCHING_POD),
        ("app/typos", "podSelector", LintKind.NO_MATCHING_POD),
        ("app/typos", "ingress[0].from[0].namespaceSelector", LintKind.NO_MATCHING_NAMESPACE),
        ("app/typos", "ingress[0].from[1].podSelector", LintKind.NO_MATCHING_POD),
    ]


NAMED_PORTS = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ports, namespace: app}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress, Egress]
  ingress:
    - ports: [{port: http}, {port: metrics}, {protocol: UDP, port: http}]
  egress:
    - to: [{podSelector: {matchLabels: {app: db}}}]
      ports: [{port: sql}, {port: http}]
    - to: [{namespaceSelector: {}}]
      ports: [{protocol: UDP, port: dns}]
"""


def test_named_ports_nobody_declares(write_cluster: WriteCluster) -> None:
    found = [f for f in lint_of(write_cluster, NAMED_PORTS) if f.kind is not LintKind.DNS_BLOCKED]
    assert where(found) == [
        ("app/ports", "ingress[0].ports[1]", LintKind.UNKNOWN_NAMED_PORT),
        ("app/ports", "ingress[0].ports[2]", LintKind.UNKNOWN_NAMED_PORT),
        ("app/ports", "egress[0].ports[1]", LintKind.UNKNOWN_NAMED_PORT),
    ]
    assert found[0].message == (
        "named port 'metrics' (TCP): no pod the policy selects declares a container port"
        " of that name and protocol"
    )


def test_linting_some_policies_judges_them_against_all(write_cluster: WriteCluster) -> None:
    state = realize(load_cluster(write_cluster(APP + SELECTORS + NAMED_PORTS + DENY_EGRESS)))
    every = lint_policies(state)
    keys = sorted({f.policy for f in every})
    assert keys == ["app/deny-egress", "app/egress-typo", "app/ports", "app/typos"]
    for key in keys:
        assert lint_policies(state, {key}) == tuple(f for f in every if f.policy == key)
    assert lint_policies(state, set()) == ()
    allowed = realize(load_cluster(write_cluster(APP + DENY_EGRESS + ALLOW_DNS)))
    assert lint_policies(allowed, {"app/deny-egress"}) == ()  # ALLOW_DNS still counts


@pytest.mark.parametrize(
    "topology",
    ["l2.yaml", "l3.yaml", "vxlan.yaml", "services.yaml"],
    ids=["l2", "l3", "vxlan", "services"],
)
def test_demo_topologies_are_clean(topology: str) -> None:
    # The demo's ipBlock 192.168.56.0/24 admits the nodes (the masqueraded
    # NodePort traffic), not the laptop; no policy isolates egress.
    assert lint_policies(realize(load_cluster(TOPOLOGIES / topology))) == ()


def test_render_text_and_rows() -> None:
    finding = LintFinding("a/p", "egress", LintKind.DNS_BLOCKED, "blocks DNS", "allow 53")
    assert render_lint_text([finding]) == "a/p egress: dns-blocked: blocks DNS (fix: allow 53)\n"
    assert lint_rows([finding]) == [
        {
            "policy": "a/p",
            "path": "egress",
            "kind": "dns-blocked",
            "message": "blocks DNS",
            "hint": "allow 53",
        }
    ]


def app() -> typer.Typer:
    application = typer.Typer()
    lint_cli.register(application)
    application.command("noop")(lambda: None)  # keep lint a named subcommand
    return application


def test_cli_exit_codes_and_formats(write_cluster: WriteCluster) -> None:
    runner = CliRunner()
    clean = runner.invoke(app(), ["lint", str(TOPOLOGIES / "l3.yaml")])
    assert (clean.exit_code, clean.stdout) == (0, "no findings\n")
    path: Path = write_cluster(APP + DENY_EGRESS)
    text = runner.invoke(app(), ["lint", str(path)])
    assert text.exit_code == 1
    assert text.stdout.startswith("app/deny-egress egress: dns-blocked: isolates app/")
    assert len(text.stdout.splitlines()) == 1
    as_json = runner.invoke(app(), ["lint", str(path), "--format", "json"])
    assert as_json.exit_code == 1
    assert [(r["policy"], r["path"], r["kind"]) for r in json.loads(as_json.stdout)] == [
        ("app/deny-egress", "egress", "dns-blocked")
    ]


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


def test_doc_examples(tmp_path: Path) -> None:
    doc = (TOPOLOGIES.parent / "docs" / "lint.md").read_text()
    assert CLIENT_EGRESS_DENY.removeprefix("---\n") in doc
    (tmp_path / "demo").mkdir()
    shutil.copy(TOPOLOGIES / "l3.yaml", tmp_path / "l3.yaml")
    shop = (TOPOLOGIES / "demo" / "shop.yaml").read_text()
    (tmp_path / "demo" / "shop.yaml").write_text(shop + CLIENT_EGRESS_DENY)
    runner = CliRunner()
    clean = runner.invoke(app(), ["lint", str(TOPOLOGIES / "l3.yaml")])
    assert "`netsim lint topologies/l3.yaml`\nprints `no findings` and exits 0" in doc
    assert (clean.exit_code, clean.stdout) == (0, "no findings\n")
    found = runner.invoke(app(), ["lint", str(tmp_path / "l3.yaml")])
    assert found.exit_code == 1
    assert f"```\n{found.stdout}```" in doc


def test_trace_warns_about_lint_findings_of_the_policies_it_met(tmp_path: Path) -> None:
    """netsim trace prints lint findings of policies selecting a judged pod, on stderr."""
    import shutil as _shutil

    from typer.testing import CliRunner

    from netsim.cli import app

    _shutil.copy(TOPOLOGIES / "l3.yaml", tmp_path / "l3.yaml")
    _shutil.copytree(TOPOLOGIES / "demo", tmp_path / "demo")
    extra = (
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: from-laptop, namespace: shop}\n"
        "spec:\n  podSelector: {matchLabels: {app: web}}\n"
        "  ingress: [{from: [{ipBlock: {cidr: 203.0.113.0/24}}]}]\n"
    )
    with (tmp_path / "demo" / "shop.yaml").open("a") as handle:
        handle.write(extra)
    args = ["trace", str(tmp_path / "l3.yaml"), "--from", "ext:laptop", "--to", "node:node-1:30080"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "netsim: warning: lint: shop/from-laptop ingress[0].from[0]: masqueraded-ip-block"
        in result.stderr
    )
    quiet = CliRunner().invoke(app, [*args, "--no-policy"])
    assert "lint:" not in quiet.stderr
