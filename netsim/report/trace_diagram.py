"""Traces as left-to-right diagrams: Graphviz DOT and Mermaid ``flowchart LR``.

Pure functions of the :class:`~netsim.trace.model.Trace` values, like the
text renderer. Each outcome of a flow is one subgraph headed by its number,
probability and disposition; inside it:

* one box per hop, ``[<node>] <netns id>`` (``[-]`` outside every node),
  listing in step order what happened there that a reader looks for: NAT
  (``DNAT dst 10.96.0.10:80 → 10.244.1.3:8080``), the netfilter verdicts
  (consecutive hooks on one line, ``netfilter: PREROUTING ACCEPT, FORWARD
  ACCEPT``; ``netfilter (bridged): ...`` for ``br_netfilter``'s hooks),
  NetworkPolicy points (``policy egress: allowed``) and VXLAN encapsulation
  and decapsulation;
* one edge per hop boundary, labelled with what the packet crossed:
  ``veth``, ``bridge <name>`` (when a bridge picked the egress port),
  ``underlay`` (any other wire: a NIC to a switch port, a router link) and
  ``VXLAN vni <n>`` while the packet is encapsulated, then ``<egress
  interface> → <ingress interface>``;
* a last node with the disposition (and the socket, when delivered; the drop's
  detail otherwise);
* the reply, when traced, as a nested subgraph of the same shape.

Not drawn: routes, ARP, TTL and the individual netfilter rules (the text and
JSON renderers of :mod:`netsim.report.trace` have them).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from netsim.trace.model import (
    Bridge,
    Decapsulate,
    Deliver,
    Disposition,
    Drop,
    Encapsulate,
    Hop,
    Nat,
    Netfilter,
    Policy,
    Received,
    RouteStep,
    Step,
    Trace,
    Transmit,
    Veth,
)

__all__ = ["render_trace_dot", "render_trace_mermaid"]

END_WRAP = 48  # columns of the drop detail in the disposition node


@dataclass(frozen=True, slots=True)
class _Box:
    """One hop: its id, its title and what is marked on it."""

    id: str
    title: str
    marks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Edge:
    """A crossing between two hops (or from the last hop to the disposition)."""

    tail: str
    head: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Chain:
    """One outcome (or reply) laid out: boxes, edges, the disposition node, a nested reply."""

    id: str
    heading: str
    boxes: tuple[_Box, ...]
    edges: tuple[_Edge, ...]
    end_id: str
    end_lines: tuple[str, ...]
    is_delivered: bool
    reply: _Chain | None


def _marks(hop: Hop) -> tuple[str, ...]:
    """What a hop's box lists, in step order (consecutive netfilter hooks on one line)."""
    marks: list[str] = []
    hooks: list[str] = []
    bridged = False

    def flush() -> None:
        if hooks:
            marks.append(("netfilter (bridged): " if bridged else "netfilter: ") + ", ".join(hooks))
            hooks.clear()

    for step in hop.steps:
        if isinstance(step, Netfilter):
            if step.bridged != bridged:
                flush()
                bridged = step.bridged
            hooks.append(f"{step.hook} {step.verdict}")
        elif isinstance(step, Nat):
            flush()
            marks.append(f"{step.nat} {step.field_name} {step.old} → {step.new}")
        elif isinstance(step, Policy):
            flush()
            verdict = "allowed" if step.is_allowed else "DENIED"
            marks.append(f"policy {step.direction}: {verdict}")
        elif isinstance(step, Encapsulate):
            flush()
            marks.append(f"VXLAN encapsulate vni {step.vni} on {step.device} to {step.remote}")
        elif isinstance(step, Decapsulate):
            flush()
            marks.append(f"VXLAN decapsulate vni {step.vni} on {step.device}")
    flush()
    return tuple(marks)


def _depth_after(steps: Sequence[Step], depth: int) -> int:
    """The encapsulation depth after ``steps``, starting at ``depth``."""
    for step in steps:
        if isinstance(step, Encapsulate):
            depth += 1
        elif isinstance(step, Decapsulate):
            depth -= 1
    return depth


def _crossing(hop: Hop, following: Hop, vnis: Sequence[int]) -> tuple[str, ...]:
    """The label of the edge from ``hop`` to ``following`` (``vnis``: the open tunnels)."""
    last_transmit = max(
        (k for k, step in enumerate(hop.steps) if isinstance(step, Transmit)), default=-1
    )
    tail = hop.steps[last_transmit + 1 :] if last_transmit >= 0 else ()
    what: list[str] = []
    out_if = ""
    if last_transmit >= 0:
        transmit = hop.steps[last_transmit]
        assert isinstance(transmit, Transmit)
        out_if = transmit.interface
    last_route = max(
        (k for k, step in enumerate(hop.steps) if isinstance(step, RouteStep)), default=-1
    )
    bridge = next(
        (s for s in reversed(hop.steps[last_route + 1 :]) if isinstance(s, Bridge) and s.port),
        None,
    )
    if bridge is not None:
        what.append(f"bridge {bridge.bridge}")
        out_if = bridge.port or out_if
    veth = next((s for s in reversed(tail) if isinstance(s, Veth)), None)
    if veth is not None:
        what.append("veth")
        out_if = veth.interface
    else:
        what.append("underlay")
    what += [f"VXLAN vni {vni}" for vni in vnis]
    first = following.steps[0] if following.steps else None
    in_if = first.interface if isinstance(first, Received) else "?"
    return (" + ".join(what), f"{out_if} → {in_if}")


def _end_lines(trace: Trace) -> tuple[str, ...]:
    """The disposition node: the disposition, then the socket or the drop's detail."""
    last = trace.steps[-1] if trace.steps else None
    if trace.delivered_to is not None:
        to = trace.delivered_to
        return (trace.disposition.value, f"{to.pod or to.namespace} {to.ip}:{to.port}")
    if isinstance(last, Drop | Deliver):
        return (trace.disposition.value, *textwrap.wrap(last.detail, END_WRAP))
    return (trace.disposition.value,)


def _heading(trace: Trace, number: int, count: int) -> str:
    return f"outcome {number}/{count}: p={trace.probability:.4f} {trace.disposition.value}"


def _chain(trace: Trace, chain_id: str, heading: str) -> _Chain:
    """Lay one outcome out as boxes and edges."""
    boxes: list[_Box] = []
    edges: list[_Edge] = []
    vnis: list[int] = []
    for number, hop in enumerate(trace.hops, 1):
        box_id = f"{chain_id}h{number}"
        boxes.append(_Box(box_id, f"[{hop.node or '-'}] {hop.netns}", _marks(hop)))
        for step in hop.steps:
            if isinstance(step, Encapsulate):
                vnis.append(step.vni)
            elif isinstance(step, Decapsulate) and vnis:
                vnis.pop()
        if number < len(trace.hops):
            label = _crossing(hop, trace.hops[number], vnis)
            edges.append(_Edge(box_id, f"{chain_id}h{number + 1}", label))
    end_id = f"{chain_id}end"
    if boxes:
        edges.append(_Edge(boxes[-1].id, end_id, ()))
    reply = None
    if trace.reply is not None:
        reply_heading = f"reply: p={trace.reply.probability:.4f} {trace.reply.disposition.value}"
        reply = _chain(trace.reply, f"{chain_id}r", reply_heading)
    return _Chain(
        chain_id,
        heading,
        tuple(boxes),
        tuple(edges),
        end_id,
        _end_lines(trace),
        trace.disposition is Disposition.DELIVERED,
        reply,
    )


def _chains(traces: Sequence[Trace]) -> list[_Chain]:
    return [
        _chain(trace, f"o{number}", _heading(trace, number, len(traces)))
        for number, trace in enumerate(traces, 1)
    ]


def _flow_title(traces: Sequence[Trace]) -> str:
    flow = traces[0].flow
    h = flow.header
    named = f"{flow.source_text} → {flow.destination_text}: " if flow.source_text else ""
    return f"flow {named}{h.protocol.value} {h.src}:{h.sport} → {h.dst}:{h.dport}"


def _dot_quote(text: str) -> str:
    """A DOT double-quoted string (lines joined by the caller's escapes).

    >>> _dot_quote('say "hi"')
    '"say \\\\"hi\\\\""'
    """
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(lines: Sequence[str], *, left: bool = False) -> str:
    """A DOT label of several lines, centred or (``left``) left-justified."""
    escaped = [_dot_quote(line)[1:-1] for line in lines]
    if left:
        return '"' + "".join(f"{line}\\l" for line in escaped) + '"'
    return '"' + "\\n".join(escaped) + '"'


def _dot_chain(chain: _Chain, indent: str) -> list[str]:
    inner = indent + "  "
    lines = [
        f"{indent}subgraph cluster_{chain.id} {{",
        f"{inner}label={_dot_quote(chain.heading)};",
    ]
    for box in chain.boxes:
        lines.append(f"{inner}{box.id} [label={_dot_label((box.title, *box.marks), left=True)}];")
    shape = 'shape=box, style="rounded,bold", color=darkgreen'
    if not chain.is_delivered:
        shape = "shape=octagon, style=bold, color=red"
    lines.append(f"{inner}{chain.end_id} [label={_dot_label(chain.end_lines)}, {shape}];")
    for edge in chain.edges:
        label = f" [label={_dot_label(edge.lines)}]" if edge.lines else ""
        lines.append(f"{inner}{edge.tail} -> {edge.head}{label};")
    if chain.reply is not None:
        lines += _dot_chain(chain.reply, inner)
    lines.append(f"{indent}}}")
    return lines


def render_trace_dot(traces: Sequence[Trace]) -> str:
    """The outcomes of one flow as a Graphviz DOT digraph (see module docstring).

    Args:
        traces: what :func:`netsim.trace.trace_flow` returned (one flow).

    Returns:
        The DOT source, ending in a newline (``dot -Tsvg`` draws it).

    >>> print(render_trace_dot(()), end="")
    digraph trace {
      rankdir=LR;
    }
    """
    lines = ["digraph trace {", "  rankdir=LR;"]
    if traces:
        lines += [
            f"  label={_dot_quote(_flow_title(traces))};",
            "  labelloc=t;",
            '  node [shape=box, fontname="monospace", fontsize=10];',
            '  edge [fontname="monospace", fontsize=9];',
        ]
        for chain in _chains(traces):
            lines += _dot_chain(chain, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(lines: Sequence[str]) -> str:
    """Mermaid label text: entity-escaped, lines joined by ``<br/>``.

    >>> _mermaid_text(['a "b"', "x -> y"])
    'a #quot;b#quot;<br/>x -#gt; y'
    """
    escaped = [
        line.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
        for line in lines
    ]
    return "<br/>".join(escaped)


def _mermaid_chain(chain: _Chain, indent: str) -> list[str]:
    inner = indent + "  "
    lines = [
        f'{indent}subgraph {chain.id}["{_mermaid_text((chain.heading,))}"]',
        f"{inner}direction LR",
    ]
    for box in chain.boxes:
        lines.append(f'{inner}{box.id}["{_mermaid_text((box.title, *box.marks))}"]')
    end_text = _mermaid_text(chain.end_lines)
    if chain.is_delivered:
        lines.append(f'{inner}{chain.end_id}(["{end_text}"]):::delivered')
    else:
        lines.append(f'{inner}{chain.end_id}{{{{"{end_text}"}}}}:::dropped')
    for edge in chain.edges:
        label = f'|"{_mermaid_text(edge.lines)}"|' if edge.lines else ""
        lines.append(f"{inner}{edge.tail} -->{label} {edge.head}")
    if chain.reply is not None:
        lines += _mermaid_chain(chain.reply, inner)
    lines.append(f"{indent}end")
    return lines


def render_trace_mermaid(traces: Sequence[Trace]) -> str:
    """The outcomes of one flow as a Mermaid ``flowchart LR`` (see module docstring).

    Args:
        traces: what :func:`netsim.trace.trace_flow` returned (one flow).

    Returns:
        The Mermaid source, ending in a newline.

    >>> print(render_trace_mermaid(()), end="")
    flowchart LR
    """
    lines = ["flowchart LR"]
    if traces:
        lines += [
            f"  %% {_flow_title(traces)}",
            "  classDef delivered stroke:#2a2,stroke-width:2px",
            "  classDef dropped stroke:#c22,stroke-width:2px",
        ]
        for chain in _chains(traces):
            lines += _mermaid_chain(chain, "  ")
    return "\n".join(lines) + "\n"
