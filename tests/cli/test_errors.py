"""Bad input ends in one clear line naming file, object and field, exit code 2, no traceback."""

from __future__ import annotations

import re
import sys

import pytest

from netsim.cli import main
from tests.conftest import WriteCluster

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: %(replicas)d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          ports: [{name: http, containerPort: 8080}]
"""

SERVICE = """
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: %(target)s, nodePort: %(node_port)d}]
"""


def run_show(topology: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    old = sys.argv
    sys.argv = ["netsim", "show", topology]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.err


def app(replicas: int = 1, target: str = "http", node_port: int = 30080) -> str:
    values = {"replicas": replicas, "target": target, "node_port": node_port}
    return DEPLOY % values + SERVICE % values


CASES = [
    pytest.param(
        {"topology_text": "name: [oops\n"},
        r"topology\.yaml: line \d+: malformed YAML",
        id="malformed-yaml",
    ),
    pytest.param(
        {"manifests": "kind: Pod\nmetadata: {name: x\n"},
        r"app\.yaml: line \d+: malformed YAML",
        id="malformed-manifest-yaml",
    ),
    pytest.param(
        {"clustr_cidr": "10.0.0.0/8"},
        r"topology\.yaml: clustr_cidr: unknown field; did you mean 'cluster_cidr'\?",
        id="unknown-topology-field",
    ),
    pytest.param(
        {"manifests": app().replace("containers:", "contianers:")},
        r"app\.yaml: Deployment default/web: spec\.template\.spec\.contianers: unknown field;"
        r" did you mean 'containers'\?",
        id="unknown-manifest-field",
    ),
    pytest.param(
        {"cluster_cidr": "10.244.0.0/33"},
        r"topology\.yaml: cluster_cidr: '10\.244\.0\.0/33' is not a valid CIDR",
        id="invalid-cidr",
    ),
    pytest.param(
        {"cluster_cidr": "10.244.0.1/16"},
        r"cluster_cidr: '10\.244\.0\.1/16' has host bits set; did you mean 10\.244\.0\.0/16\?",
        id="host-bits",
    ),
    pytest.param(
        {"service_cidr": "10.244.128.0/20"},
        r"topology\.yaml: service_cidr: service_cidr 10\.244\.128\.0/20 overlaps"
        r" cluster_cidr 10\.244\.0\.0/16",
        id="service-overlaps-cluster",
    ),
    pytest.param(
        {
            "underlay": {"subnets": [{"name": "lan", "cidr": "10.244.56.0/24"}]},
            "nodes": [{"name": "node-1", "ip": "10.244.56.11"}],
        },
        r"topology\.yaml: underlay\.subnets: underlay subnet lan 10\.244\.56\.0/24 overlaps"
        r" cluster_cidr",
        id="underlay-overlaps-cluster",
    ),
    pytest.param(
        {"nodes": [{"name": "node-1", "ip": "192.168.56.11", "pod_cidr": "10.245.0.0/24"}]},
        r"topology\.yaml: node node-1: pod_cidr: 10\.245\.0\.0/24 is not inside cluster_cidr",
        id="node-cidr-outside",
    ),
    pytest.param(
        {
            "nodes": [
                {"name": "node-1", "ip": "192.168.56.11", "pod_cidr": "10.244.1.0/24"},
                {"name": "node-2", "ip": "192.168.56.12", "pod_cidr": "10.244.1.0/24"},
            ]
        },
        r"topology\.yaml: node node-2: pod_cidr: 10\.244\.1\.0/24 overlaps node node-1",
        id="node-cidrs-overlap",
    ),
    pytest.param(
        {"nodes": [{"name": "node-1", "ip": "192.168.57.11"}]},
        r"topology\.yaml: node node-1: ip: 192\.168\.57\.11 is in no underlay subnet",
        id="node-outside-underlay",
    ),
    pytest.param(
        {
            "cluster_cidr": "10.244.0.0/24",
            "node_cidr_mask_size": 25,
            "nodes": [{"name": f"node-{i}", "ip": f"192.168.56.{10 + i}"} for i in range(1, 4)],
        },
        r"topology\.yaml: node node-3: pod_cidr: CIDR allocation failed; there are no remaining"
        r" CIDRs left to allocate in the accepted range \(cluster_cidr 10\.244\.0\.0/24 holds 2",
        id="more-nodes-than-cluster-cidr",
    ),
    pytest.param(
        {"node_cidr_mask_size": 29, "manifests": app(replicas=12)},
        r"app\.yaml: Pod default/web-\w+-\w+: CNI ADD failed on node node-\d \(podCIDR"
        r" 10\.244\.0\.\d+/29\): failed to allocate for range 0: no IP addresses available in"
        r" range set: 10\.244\.0\.\d+-10\.244\.0\.\d+",
        id="pod-ips-exhausted",
    ),
    pytest.param(
        {
            "nodes": [
                {"name": "node-1", "ip": "192.168.56.11"},
                {"name": "node-1", "ip": "192.168.56.12"},
            ]
        },
        r"topology\.yaml: nodes: name: duplicate node name 'node-1'",
        id="duplicate-node",
    ),
    pytest.param(
        {"manifests": app() + "---\n" + app().split("---")[1]},
        r"app\.yaml: Service default/web: declared twice \(first in .*app\.yaml\)",
        id="duplicate-service",
    ),
    pytest.param(
        {"manifests": app(node_port=40000)},
        r"app\.yaml: Service default/web: spec\.ports\[0\]\.nodePort: 40000: provided port is"
        r" not in the valid range\. The range of valid ports is 30000-32767",
        id="nodeport-out-of-range",
    ),
    pytest.param(
        {"manifests": app(target="web")},
        r"app\.yaml: Service default/web: spec\.ports\[0\]\.targetPort: targetPort 'web' matches"
        r" no TCP container port of the 1 selected pods \(declared: http 8080/TCP\)",
        id="targetport-name-undeclared",
    ),
]


@pytest.mark.parametrize(("changes", "message"), CASES)
def test_bad_input_is_one_line_exit_2(
    write_cluster: WriteCluster,
    capsys: pytest.CaptureFixture[str],
    changes: dict[str, object],
    message: str,
) -> None:
    manifests = str(changes.pop("manifests", app()))
    path = write_cluster(manifests, **changes)
    code, err = run_show(str(path), capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert re.search(message, lines[0]), lines[0]
