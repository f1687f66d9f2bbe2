"""dataplane_graph: counts per mode, the node view, broadcast domains; its renderers."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from typing import Any

import networkx as nx
import pytest

from netsim.dataplane.graph import broadcast_domains, dataplane_graph, node_view
from netsim.errors import UnsupportedError
from netsim.report.graph import render_dot, render_json, render_mermaid, render_svg
from tests.dataplane.clusters import example

# The examples: 3 nodes with 2 pods each (node-1: curl, web; node-2 and node-3:
# coredns, web), 1 router, 1 client, switches lan (3 nodes + router) and
# external (client + router); 5 ClusterIP service ports (kubernetes 443,
# kube-dns 53/UDP 53/TCP 9153, web 80) and 1 NodePort (30080).
NAMESPACES = 3 + 6 + 1 + 1 + 2
DEVICES_L3 = (
    3 * 4 + 6 + 2 + 1 + (1 + 4) + (1 + 2)
)  # node eth0/cni0/2 veths, pods, router, client, switches
SERVICES = 5 + 1
PROXIES = 3


@pytest.mark.parametrize(
    ("mode", "devices", "relations"),
    [
        pytest.param(
            "l3",
            DEVICES_L3,
            {
                "contains": DEVICES_L3 + PROXIES,
                "veth": 12,
                "bridge-port": 24,
                "link": 12,
                "implements": 18,
                "forwards-to": 1,
            },
            id="l3",
        ),
        pytest.param(
            "l2",
            DEVICES_L3,
            {
                "contains": DEVICES_L3 + PROXIES,
                "veth": 12,
                "bridge-port": 24 + 6,
                "link": 12,
                "implements": 18,
                "forwards-to": 1,
            },
            id="l2",
        ),
        pytest.param(
            "vxlan",
            DEVICES_L3 + 3,
            {
                "contains": DEVICES_L3 + 3 + PROXIES,
                "veth": 12,
                "bridge-port": 24,
                "link": 12,
                "vxlan": 6,
                "implements": 18,
                "forwards-to": 1,
            },
            id="vxlan",
        ),
    ],
)
def test_counts_per_mode(mode: str, devices: int, relations: dict[str, int]) -> None:
    graph = dataplane_graph(example(mode))
    types = Counter(attrs["type"] for _, attrs in graph.nodes(data=True))
    assert types == {
        "namespace": NAMESPACES,
        "device": devices,
        "kube-proxy": PROXIES,
        "service": SERVICES,
    }
    assert Counter(key for _, _, key in graph.edges(keys=True)) == relations
    assert graph.graph == {"name": f"demo-{mode}", "mode": mode}


def test_vxlan_tunnel_edges() -> None:
    graph = dataplane_graph(example("vxlan"))
    edge = graph.edges["node:node-1/flannel.1", "node:node-2/flannel.1", "vxlan"]
    assert edge == {"relation": "vxlan", "vni": 1, "port": 8472, "dst": "192.168.56.12"}


def test_node_attributes() -> None:
    graph = dataplane_graph(example("l3"))
    assert graph.nodes["node:node-1/eth0"] == {
        "type": "device",
        "kind": "ethernet",
        "netns": "node:node-1",
        "name": "eth0",
        "node": "node-1",
        "mac": "0e:18:52:a5:3c:9f",
        "mtu": 1500,
        "addresses": ("192.168.56.11/24",),
    }
    assert graph.nodes["service:shop/web:80/TCP"]["addresses"] == ("10.96.93.253/32",)
    assert graph.nodes["pod:client/curl"]["node"] == "node-1"
    assert graph.nodes["router"]["node"] is None


def test_node_view() -> None:
    graph = dataplane_graph(example("vxlan"))
    view = node_view(graph, "node-1")
    own = 3 + (5 + 2) + PROXIES // 3  # namespaces: node-1, curl, web; devices; kube-proxy
    far = 1 + 2 + SERVICES  # switch port, remote VTEPs, services
    assert view.number_of_nodes() == own + far
    assert Counter(key for _, _, key in view.edges(keys=True)) == {
        "contains": 7 + 1,
        "veth": 4,
        "bridge-port": 4,
        "link": 2,
        "vxlan": 4,
        "implements": SERVICES,
        "forwards-to": 1,
    }
    assert list(view.nodes) == [n for n in graph.nodes if n in view]
    with pytest.raises(KeyError):
        node_view(graph, "node-9")


def test_broadcast_domains_per_mode() -> None:
    assert [len(d) for d in broadcast_domains(example("l2"))] == [24, 5]
    assert [len(d) for d in broadcast_domains(example("l3"))] == [9, 5, 5, 5, 5]
    assert [len(d) for d in broadcast_domains(example("vxlan"))] == [9, 5, 5, 5, 5, 1, 1, 1]


# --- renderers (netsim.report.graph) on a small hand-made graph --------------------------------


def small_graph() -> Any:
    graph = nx.MultiDiGraph(name="tiny", mode="l3")
    graph.add_node(
        "node:n1",
        type="namespace",
        kind="node",
        netns="node:n1",
        name="n1",
        node="n1",
        addresses=("192.168.1.11/24",),
        mtu=None,
    )
    graph.add_node(
        "node:n1/eth0",
        type="device",
        kind="ethernet",
        netns="node:n1",
        name="eth0",
        node="n1",
        mac="02:00:00:00:00:01",
        mtu=1500,
        addresses=("192.168.1.11/24",),
    )
    graph.add_node(
        "switch:lan",
        type="namespace",
        kind="switch",
        netns="switch:lan",
        name="lan",
        node=None,
        addresses=(),
        mtu=None,
    )
    graph.add_node(
        "switch:lan/swp1",
        type="device",
        kind="ethernet",
        netns="switch:lan",
        name="swp1",
        node=None,
        mac="02:00:00:00:00:02",
        mtu=1500,
        addresses=(),
    )
    graph.add_node(
        "service:d/web:80/TCP",
        type="service",
        kind="cluster-ip",
        netns=None,
        name='d/web:80/TCP "x"',
        node=None,
        addresses=("10.96.0.5/32",),
        mtu=None,
        port=80,
        protocol="TCP",
    )
    graph.add_edge("node:n1", "node:n1/eth0", key="contains", relation="contains")
    graph.add_edge("switch:lan", "switch:lan/swp1", key="contains", relation="contains")
    for a, b in (("node:n1/eth0", "switch:lan/swp1"), ("switch:lan/swp1", "node:n1/eth0")):
        graph.add_edge(a, b, key="link", relation="link", segment="lan")
    graph.add_edge("node:n1/eth0", "service:d/web:80/TCP", key="implements", relation="implements")
    return graph


def test_render_dot() -> None:
    assert render_dot(small_graph()) == (
        'digraph "tiny" {\n'
        "  graph [rankdir=LR, fontname=Helvetica, fontsize=10];\n"
        "  node [fontname=Helvetica, fontsize=10];\n"
        "  edge [fontname=Helvetica, fontsize=9];\n"
        "  subgraph cluster_0 {\n"
        '    label="node n1";\n'
        '    "node:n1/eth0" [label="eth0\\n192.168.1.11/24\\nmtu 1500", shape=box];\n'
        "  }\n"
        "  subgraph cluster_1 {\n"
        '    label="switch lan";\n'
        '    "switch:lan/swp1" [label="swp1\\nmtu 1500", shape=box];\n'
        "  }\n"
        '  "service:d/web:80/TCP" [label="d/web:80/TCP \\"x\\"\\n10.96.0.5/32", shape=ellipse];\n'
        '  "node:n1/eth0" -> "switch:lan/swp1" [label="lan", dir=both];\n'
        '  "node:n1/eth0" -> "service:d/web:80/TCP" [label="implements"];\n'
        "}\n"
    )


def test_render_mermaid() -> None:
    assert render_mermaid(small_graph()) == (
        "flowchart LR\n"
        '  subgraph ns0["node n1"]\n'
        '    n1["eth0<br/>192.168.1.11/24<br/>mtu 1500"]\n'
        "  end\n"
        '  subgraph ns1["switch lan"]\n'
        '    n3["swp1<br/>mtu 1500"]\n'
        "  end\n"
        '  n4["d/web:80/TCP #quot;x#quot;<br/>10.96.0.5/32"]\n'
        '  n1 <-->|"lan"| n3\n'
        '  n1 -->|"implements"| n4\n'
    )


def test_render_json() -> None:
    data = json.loads(render_json(small_graph()))
    assert data["graph"] == {"name": "tiny", "mode": "l3"}
    assert data["nodes"][1] == {
        "id": "node:n1/eth0",
        "type": "device",
        "kind": "ethernet",
        "netns": "node:n1",
        "name": "eth0",
        "node": "n1",
        "mac": "02:00:00:00:00:01",
        "mtu": 1500,
        "addresses": ["192.168.1.11/24"],
    }
    assert data["edges"][1] == {
        "source": "node:n1/eth0",
        "target": "switch:lan/swp1",
        "relation": "link",
        "segment": "lan",
    }
    assert [(e["source"], e["relation"]) for e in data["edges"]] == [
        ("node:n1", "contains"),
        ("node:n1/eth0", "link"),
        ("node:n1/eth0", "implements"),
        ("switch:lan", "contains"),
        ("switch:lan/swp1", "link"),
    ]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_render_svg() -> None:
    svg = render_svg(small_graph())
    assert svg.startswith("<?xml") and "swp1" in svg


def test_render_svg_without_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UnsupportedError, match=r"SVG output needs Graphviz's dot"):
        render_svg(small_graph())


def test_public_api_is_pinned() -> None:
    from netsim.dataplane import graph
    from netsim.report import graph as report_graph

    assert graph.__all__ == ["BIDIRECTIONAL", "broadcast_domains", "dataplane_graph", "node_view"]
    assert report_graph.__all__ == ["render_dot", "render_json", "render_mermaid", "render_svg"]
