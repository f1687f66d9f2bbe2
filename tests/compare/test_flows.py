"""The standard flow set: picked by name, traced with policy and replies, summarised."""

from __future__ import annotations

from netsim.compare.designs import Design
from netsim.compare.flows import FlowSpec, standard_flows, trace_flows, wire_facts
from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.model.spec import load_cluster
from tests.conftest import WriteCluster

POD = """
apiVersion: v1
kind: Pod
metadata: {name: %(name)s, namespace: default, labels: {app: %(name)s}}
spec:
  nodeName: %(node)s
  containers:
    - name: c
      ports: [{containerPort: %(port)d}]
---
"""


def _design(designs: tuple[Design, ...], name: str) -> Design:
    return next(d for d in designs if d.name == name)


def test_the_demo_flows(demo_designs: tuple[Design, ...]) -> None:
    state = demo_designs[0].state
    web = {p.node: k for k, p in state.pods.items() if k.startswith("shop/web-")}
    remote = min(k for n, k in web.items() if n != "node-1")  # the first by name
    assert standard_flows(state) == (
        FlowSpec(
            "pod-pod-same-node", "pod -> pod, same node", "client/curl", f"{web['node-1']}:8080"
        ),
        FlowSpec("pod-pod-cross-node", "pod -> pod, across nodes", "client/curl", f"{remote}:8080"),
        FlowSpec("pod-clusterip", "pod -> ClusterIP", "client/curl", "svc:shop/web:80"),
        FlowSpec(
            "external-nodeport", "external -> NodePort -> pod", "ext:laptop", "node:node-1:30080"
        ),
    )


def test_the_same_flows_in_every_mode(demo_designs: tuple[Design, ...]) -> None:
    flows = {standard_flows(d.state) for d in demo_designs}
    assert len(flows) == 1


def test_vxlan_cross_node_path(demo_designs: tuple[Design, ...]) -> None:
    design = _design(demo_designs, "vxlan")
    flows = standard_flows(design.state)[1:2]
    results, traces = trace_flows(design.dataplane, flows)
    (outcome,) = results[0].outcomes
    assert outcome.disposition == "DELIVERED"
    node = design.state.pods[outcome.target].node
    assert node == "node-3"
    assert outcome.path == (
        "pod:client/curl",
        "node:node-1",
        "switch:lan",
        f"node:{node}",
        f"pod:{outcome.target}",
    )
    assert outcome.ttl_decrements == 2
    assert outcome.encapsulations == (
        "node-1: flannel.1 vni 1 192.168.56.11 -> 192.168.56.13:8472 udp (+50 B)",
    )
    assert outcome.nat_points == ()
    assert outcome.reply is not None and outcome.is_symmetric
    assert outcome.reply.path == outcome.path[::-1]
    facts = wire_facts(design.dataplane, traces)
    assert (facts.overhead_bytes, facts.encapsulation, facts.pod_addresses_on_wire) == (
        50,
        "vxlan udp/8472",
        False,
    )


def test_nodeport_masquerade_decides_the_policy(demo_designs: tuple[Design, ...]) -> None:
    """The demo's ipBlock admits NodePort traffic to remote pods only in l3."""
    delivered = {}
    for design in demo_designs:
        flows = [f for f in standard_flows(design.state) if f.key == "external-nodeport"]
        results, _ = trace_flows(design.dataplane, flows)
        delivered[design.name] = sum(o.disposition == "DELIVERED" for o in results[0].outcomes)
        denied = [o for o in results[0].outcomes if o.disposition != "DELIVERED"]
        assert all(o.reply is None and o.is_symmetric is None for o in denied)
        assert all(o.target.startswith("shop/web-") for o in results[0].outcomes)
    assert delivered == {"l2": 1, "l3": 3, "vxlan": 1}


def test_without_services_declared_ports_are_used(write_cluster: WriteCluster) -> None:
    manifests = "".join(
        POD % {"name": n, "node": node, "port": 80}
        for n, node in (("a", "node-1"), ("b", "node-1"), ("c", "node-2"))
    )
    state = realize(load_cluster(write_cluster(manifests, cluster_dns=False)))
    flows = standard_flows(state)
    assert [(f.key, f.source, f.destination) for f in flows] == [
        ("pod-pod-same-node", "default/a", "default/b:80"),
        ("pod-pod-cross-node", "default/a", "default/c:80"),
    ]
    results, traces = trace_flows(build_dataplane(state), flows)
    assert [r.outcomes[0].disposition for r in results] == ["DELIVERED", "DELIVERED"]
    assert len(traces) == 2


def test_an_empty_cluster_has_no_flows(write_cluster: WriteCluster) -> None:
    state = realize(load_cluster(write_cluster("", cluster_dns=False)))
    assert standard_flows(state) == ()
