"""realize(): the simulated control plane end to end."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.errors import AllocationError, ManifestError
from netsim.model.spec import load_cluster
from tests.conftest import MODE_EXAMPLES, WriteCluster

IP = ipaddress.IPv4Address


def state_of(write_cluster: WriteCluster, manifests: str, **changes: object) -> ClusterState:
    return realize(load_cluster(write_cluster(manifests, **changes)))


@pytest.mark.parametrize("path", MODE_EXAMPLES, ids=[p.stem for p in MODE_EXAMPLES])
def test_examples_realize(path: Path) -> None:
    state = realize(load_cluster(path))
    web = state.services["shop/web"]
    assert web.ports[0].node_port == 30080
    endpoints = [e for s in state.slices_for(web) for e in s.endpoints]
    assert len(endpoints) == 3
    assert {s.ports[0].port for s in state.slices_for(web)} == {8080}
    assert {e.node_name for e in endpoints} == {"node-1", "node-2", "node-3"}
    assert state.services["default/kubernetes"].cluster_ip == IP("10.96.0.1")
    assert state.services["kube-system/kube-dns"].cluster_ip == IP("10.96.0.10")
    assert realize(load_cluster(path)) == state  # deterministic


def test_pod_ips_follow_host_local_order(write_cluster: WriteCluster) -> None:
    pods = "".join(
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\n"
        f"spec: {{nodeName: node-2, containers: [{{name: c}}]}}\n"
        for i in range(3)
    )
    state = state_of(write_cluster, pods, cluster_dns=False)
    assert [str(state.pods[f"default/p{i}"].ip) for i in range(3)] == [
        "10.244.1.2",
        "10.244.1.3",
        "10.244.1.4",
    ]
    assert state.nodes["node-2"].gateway == IP("10.244.1.1")
    assert state.pods["default/p0"].prefix_len == 24


def test_l2_pods_share_the_cluster_prefix(write_cluster: WriteCluster) -> None:
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {nodeName: node-2, containers: [{name: c}]}\n"
    state = state_of(write_cluster, pod, pod_network={"mode": "l2"}, cluster_dns=False)
    p = state.pods["default/p"]
    assert (str(p.ip), p.prefix_len) == ("10.244.1.2", 16)
    (rs,) = state.nodes["node-2"].ipam_ranges
    assert (str(rs[0].range_start), str(rs[0].range_end), str(rs[0].gateway)) == (
        "10.244.1.1",
        "10.244.1.254",
        "10.244.1.1",
    )


def test_system_objects(write_cluster: WriteCluster) -> None:
    state = state_of(write_cluster, "")
    assert {p.pod.name for p in state.pods.values() if p.is_host_network} >= {
        "kube-apiserver-node-1",
    }
    proxies = [p for p in state.pods.values() if p.name.startswith("kube-proxy-")]
    assert sorted(p.node for p in proxies) == ["node-1", "node-2"]  # type: ignore[type-var]
    assert all(p.ip == state.nodes[p.node].ip for p in proxies if p.node)
    dns = [p for p in state.pods.values() if p.name.startswith("coredns-")]
    assert len(dns) == 2 and all(p.ip is not None for p in dns)
    kubernetes = state.services["default/kubernetes"]
    (eps,) = state.slices_for(kubernetes)
    assert [str(e.address) for e in eps.endpoints] == ["192.168.56.11"]
    assert eps.ports[0].port == 6443
    no_dns = state_of(write_cluster, "", cluster_dns=False)
    assert "kube-system/kube-dns" not in no_dns.services


SNAPSHOT = """
apiVersion: v1
kind: Pod
metadata: {name: old, namespace: default}
spec: {nodeName: node-1, containers: [{name: c}]}
status: {podIP: %s}
---
apiVersion: v1
kind: Pod
metadata: {name: new, namespace: default}
spec: {nodeName: node-1, containers: [{name: c}]}
"""


def test_snapshot_pod_keeps_its_ip(write_cluster: WriteCluster) -> None:
    state = state_of(write_cluster, SNAPSHOT % "10.244.0.7", cluster_dns=False)
    assert state.pods["default/old"].ip == IP("10.244.0.7")
    # host-local continues after the last reserved (requested) address
    assert state.pods["default/new"].ip == IP("10.244.0.8")


def test_snapshot_pod_outside_its_node_range(write_cluster: WriteCluster) -> None:
    with pytest.raises(
        ManifestError,
        match=r"Pod default/old: status\.podIP: 10\.244\.1\.7 is outside node node-1's pod range"
        r" 10\.244\.0\.1-10\.244\.0\.254",
    ):
        state_of(write_cluster, SNAPSHOT % "10.244.1.7", cluster_dns=False)


def test_unknown_node_name(write_cluster: WriteCluster) -> None:
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {nodeName: node-9, containers: [{name: c}]}\n"
    with pytest.raises(
        ManifestError, match=r"Pod default/p: spec\.nodeName: node 'node-9' is not in the topology"
    ):
        state_of(write_cluster, pod)


SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {clusterIP: %s, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec: {type: NodePort, ports: [{port: 80, nodePort: %d}]}
"""


def test_explicit_cluster_ip_and_node_port(write_cluster: WriteCluster) -> None:
    state = state_of(write_cluster, SERVICES % ("10.96.5.5", 31000))
    assert state.services["default/a"].cluster_ip == IP("10.96.5.5")
    assert state.services["default/b"].ports[0].node_port == 31000


@pytest.mark.parametrize(
    ("cluster_ip", "node_port", "message"),
    [
        (
            "10.96.0.1",
            31000,
            r"Service default/a: spec\.clusterIP: 10\.96\.0\.1 is already allocated",
        ),
        ("10.111.255.255", 31000, r"10\.111\.255\.255 is not in the valid range"),
        (
            "10.112.0.5",
            31000,
            r"10\.112\.0\.5 is not in the valid range; it must be inside service_cidr 10\.96\.0\.0/12",
        ),
        (
            "10.96.5.5",
            29999,
            r"Service default/b: spec\.ports\[0\]\.nodePort: 29999: provided port is not in the valid range",
        ),
    ],
)
def test_service_allocation_errors(
    write_cluster: WriteCluster, cluster_ip: str, node_port: int, message: str
) -> None:
    with pytest.raises(AllocationError, match=message):
        state_of(write_cluster, SERVICES % (cluster_ip, node_port))


def test_duplicate_node_port(write_cluster: WriteCluster) -> None:
    text = (
        SERVICES % ("10.96.5.5", 31000)
        + "---"
        + SERVICES.split("---")[1].replace("name: b", "name: c") % 31000
    )
    with pytest.raises(
        AllocationError,
        match=r"Service default/c: spec\.ports\[0\]\.nodePort: 31000: provided port is already allocated",
    ):
        state_of(write_cluster, text)


def test_load_balancer_local_gets_health_check_port(write_cluster: WriteCluster) -> None:
    lb = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\n"
        "spec: {type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 80}]}\n"
    )
    svc = state_of(write_cluster, lb).services["default/lb"]
    assert svc.ports[0].node_port is not None
    assert svc.health_check_node_port is not None
    assert svc.health_check_node_port != svc.ports[0].node_port


ENDPOINTS = """
apiVersion: v1
kind: Pod
metadata: {name: a, labels: {app: x}}
spec: {nodeName: node-1, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, labels: {app: x}, deletionTimestamp: "2026-01-01T00:00:00Z"}
spec: {nodeName: node-2, containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, labels: {app: x}}
spec: {nodeName: node-2, containers: [{name: c}]}
status:
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Service
metadata: {name: x}
spec:
  selector: {app: x}
  ports: [{name: http, port: 80, targetPort: http}, {name: raw, port: 81, targetPort: 7000}]
"""


def test_endpoint_slices_resolve_named_ports_per_pod(write_cluster: WriteCluster) -> None:
    state = state_of(write_cluster, ENDPOINTS, cluster_dns=False)
    slices = state.slices_for(state.services["default/x"])
    by_ports = {tuple((p.name, p.port) for p in s.ports): s for s in slices}
    assert set(by_ports) == {
        (("http", 8080), ("raw", 7000)),
        (("http", 9090), ("raw", 7000)),
        (("raw", 7000),),
    }
    (a,) = by_ports[(("http", 8080), ("raw", 7000))].endpoints
    assert (a.ready, a.serving, a.terminating, a.node_name, a.target_pod) == (
        True,
        True,
        False,
        "node-1",
        "default/a",
    )
    (b,) = by_ports[(("http", 9090), ("raw", 7000))].endpoints
    assert (b.ready, b.serving, b.terminating) == (False, True, True)
    (c,) = by_ports[(("raw", 7000),)].endpoints
    assert (c.ready, c.serving, c.terminating) == (False, False, False)


def test_given_endpoint_slices_are_used_as_is(write_cluster: WriteCluster) -> None:
    text = """
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
endpoints: [{addresses: [172.16.0.5]}]
ports: [{name: http, port: 8443}]
"""
    state = state_of(write_cluster, text, cluster_dns=False)
    (s,) = state.slices_for(state.services["default/ext"])
    assert s.name == "ext-1" and str(s.endpoints[0].address) == "172.16.0.5"


def test_daemonset_and_pending_pods(write_cluster: WriteCluster) -> None:
    text = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: gpu}
spec: {nodeSelector: {gpu: "yes"}, containers: [{name: c}]}
"""
    state = state_of(write_cluster, text, cluster_dns=False)
    agents = sorted(p.node or "" for p in state.pods.values() if p.name.startswith("agent-"))
    assert agents == ["node-1", "node-2"]
    gpu = state.pods["default/gpu"]
    assert (gpu.node, gpu.ip, gpu.phase) == (None, None, "Pending")
    assert any(w.startswith("Pod default/gpu: Pending") for w in state.warnings)
