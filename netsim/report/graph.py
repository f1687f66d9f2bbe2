"""The dataplane graph as DOT, Mermaid, JSON and SVG (``netsim graph``).

Input is the graph :func:`netsim.dataplane.graph.dataplane_graph` derives;
the renderers only format it. DOT and Mermaid draw each namespace as a
cluster (subgraph) of its devices — its kube-proxy included for a node — and
every two-way relation (``veth``, ``bridge-port``, ``link``, ``vxlan``) as one
edge with arrows at both ends; ``contains`` edges are the clusters
themselves. JSON lists every graph node and every edge with all attributes
(schema in ``docs/dataplane.md``). SVG is Graphviz's ``dot -Tsvg`` of the DOT
text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

from netsim.dataplane.graph import BIDIRECTIONAL
from netsim.errors import UnsupportedError

__all__ = ["render_dot", "render_json", "render_mermaid", "render_svg"]

_SHAPES = {
    "ethernet": "box",
    "veth": "box",
    "bridge": "box3d",
    "vxlan": "hexagon",
    "kube-proxy": "component",
    "cluster-ip": "ellipse",
    "node-port": "octagon",
}


def _label(attrs: dict[str, Any]) -> list[str]:
    """A graph node's label lines: name, addresses, MTU."""
    lines = [str(attrs["name"])]
    lines += [str(a) for a in attrs.get("addresses", ())]
    if attrs.get("mtu") is not None:
        lines.append(f"mtu {attrs['mtu']}")
    return lines


def _edges(graph: Any) -> Iterator[tuple[str, str, str, dict[str, Any], bool]]:
    """Edges to draw: two-way relations once, ``contains`` not at all."""
    seen: set[tuple[str, str, str]] = set()
    for source, target, relation, attrs in graph.edges(keys=True, data=True):
        if relation == "contains":
            continue
        both = relation in BIDIRECTIONAL
        if both:
            if (target, source, relation) in seen:
                continue
            seen.add((source, target, relation))
        yield source, target, relation, attrs, both


def _edge_label(relation: str, attrs: dict[str, Any]) -> str:
    if relation == "vxlan":
        return f"vxlan vni {attrs['vni']} port {attrs['port']}"
    if relation == "link":
        return str(attrs["segment"])
    return relation


def _members(graph: Any) -> tuple[list[str], dict[str, list[str]]]:
    """Namespaces in graph order, the nodes each contains, and the free nodes."""
    namespaces = [n for n, a in graph.nodes(data=True) if a["type"] == "namespace"]
    members: dict[str, list[str]] = {ns: [] for ns in namespaces}
    members[""] = []
    for node, attrs in graph.nodes(data=True):
        if attrs["type"] == "namespace":
            continue
        netns = attrs.get("netns")
        members[netns if netns in members else ""].append(node)
    return namespaces, members


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(graph: Any) -> str:
    """Graphviz DOT text of the graph."""
    namespaces, members = _members(graph)
    lines = [
        f"digraph {_dot_quote(str(graph.graph.get('name', 'dataplane')))} {{",
        "  graph [rankdir=LR, fontname=Helvetica, fontsize=10];",
        "  node [fontname=Helvetica, fontsize=10];",
        "  edge [fontname=Helvetica, fontsize=9];",
    ]

    def node_line(node: str, indent: str) -> str:
        attrs = graph.nodes[node]
        label = "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in _label(attrs))
        shape = _SHAPES.get(str(attrs["kind"]), "box")
        return f'{indent}{_dot_quote(node)} [label="{label}", shape={shape}];'

    for index, ns in enumerate(namespaces):
        attrs = graph.nodes[ns]
        lines.append(f"  subgraph cluster_{index} {{")
        title = f"{attrs['kind']} {attrs['name']}"
        lines.append(f"    label={_dot_quote(title)};")
        lines += [node_line(member, "    ") for member in members[ns]]
        lines.append("  }")
    lines += [node_line(member, "  ") for member in members[""]]
    for source, target, relation, attrs, both in _edges(graph):
        options = [f"label={_dot_quote(_edge_label(relation, attrs))}"]
        if both:
            options.append("dir=both")
        lines.append(f"  {_dot_quote(source)} -> {_dot_quote(target)} [{', '.join(options)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def render_mermaid(graph: Any) -> str:
    """A Mermaid ``flowchart`` of the graph (ids ``n<i>`` and ``ns<i>``, in graph order)."""
    namespaces, members = _members(graph)
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = ["flowchart LR"]

    def node_line(node: str, indent: str) -> str:
        label = "<br/>".join(_mermaid_text(line) for line in _label(graph.nodes[node]))
        return f'{indent}{ids[node]}["{label}"]'

    for index, ns in enumerate(namespaces):
        attrs = graph.nodes[ns]
        title = _mermaid_text(f"{attrs['kind']} {attrs['name']}")
        lines.append(f'  subgraph ns{index}["{title}"]')
        lines += [node_line(member, "    ") for member in members[ns]]
        lines.append("  end")
    lines += [node_line(member, "  ") for member in members[""]]
    for source, target, relation, attrs, both in _edges(graph):
        arrow = "<-->" if both else "-->"
        label = _mermaid_text(_edge_label(relation, attrs))
        lines.append(f'  {ids[source]} {arrow}|"{label}"| {ids[target]}')
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def render_json(graph: Any) -> str:
    """The graph as JSON: ``{"graph": {...}, "nodes": [...], "edges": [...]}``."""
    data = {
        "graph": {k: _plain(v) for k, v in graph.graph.items()},
        "nodes": [
            {"id": node, **{k: _plain(v) for k, v in attrs.items()}}
            for node, attrs in graph.nodes(data=True)
        ],
        "edges": [
            {"source": s, "target": t, **{k: _plain(v) for k, v in attrs.items()}}
            for s, t, attrs in graph.edges(data=True)
        ],
    }
    return json.dumps(data, indent=2) + "\n"


def render_svg(graph: Any) -> str:
    """SVG drawn by Graphviz ``dot`` from :func:`render_dot`.

    Raises:
        UnsupportedError: ``dot`` is not installed or fails.
    """
    dot = shutil.which("dot")
    if dot is None:
        raise UnsupportedError(
            "SVG output needs Graphviz's dot on PATH (apt-get install graphviz);"
            " or use --format dot and render it elsewhere"
        )
    result = subprocess.run(
        [dot, "-Tsvg"], input=render_dot(graph), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise UnsupportedError(f"dot -Tsvg failed: {result.stderr.strip()}")
    return result.stdout
