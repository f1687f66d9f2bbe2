"""Traces as text (one line per step, grouped by hop) and as JSON-ready data.

Pure functions of the :class:`~netsim.trace.model.Trace` values; the JSON
schema is documented in ``docs/trace-format.md`` and its keys are stable.

Text: each outcome is headed by its number, probability and disposition;
each hop by ``[<node>] <netns id>`` (``[-]`` outside every node); each step
is ``<kind> <detail>`` with lines wrapped at ``width``. Netfilter steps list
the rules that matched, each as ``<table> <chain> <k>/<n>: <rule>`` (rule k
of n, 1-based; ``policy`` for a chain policy other than ACCEPT); rules that
did not match and ACCEPT policies are left to the JSON.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence
from enum import Enum
from ipaddress import IPv4Address
from typing import Any

from netsim.trace.model import (
    Flow,
    Header,
    Nat,
    Netfilter,
    Step,
    Trace,
)

__all__ = ["SCHEMA_VERSION", "render_trace_text", "trace_json"]

SCHEMA_VERSION = 1  # bumped when a key of trace_json changes meaning or goes away
KIND_WIDTH = 12  # the step kind column


def _wrap(text: str, indent: int, width: int, hang: int = 4) -> list[str]:
    """``text`` at ``indent`` spaces, wrapped at ``width`` with a hanging indent."""
    return textwrap.wrap(
        text,
        width=max(width, indent + 20),
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + hang),
        break_on_hyphens=False,
        break_long_words=True,
    ) or [" " * indent]


def _step_lines(step: Step, indent: int, width: int) -> list[str]:
    lines = _wrap(f"{step.kind.value:<{KIND_WIDTH}}{step.detail}", indent, width, KIND_WIDTH)
    if isinstance(step, Netfilter):
        for visit in step.visits:
            if not visit.matched or visit.action == "policy ACCEPT":
                continue
            where = "policy" if visit.position is None else f"{visit.position}/{visit.count}"
            text = f"{visit.table} {visit.chain} {where}: {visit.text}"
            lines += _wrap(text, indent + KIND_WIDTH, width)
    return lines


def _flow_line(flow: Flow) -> str:
    h = flow.header
    named = f"{flow.source_text} -> {flow.destination_text}: " if flow.source_text else ""
    return (
        f"{named}{h.protocol.value} {h.src}:{h.sport} -> {h.dst}:{h.dport} from {flow.source_netns}"
    )


def _trace_lines(trace: Trace, indent: int, width: int) -> list[str]:
    lines: list[str] = []
    for hop in trace.hops:
        lines += _wrap(f"[{hop.node or '-'}] {hop.netns}", indent, width)
        for step in hop.steps:
            lines += _step_lines(step, indent + 2, width)
    return lines


def _outcome_head(trace: Trace) -> str:
    head = f"p={trace.probability:.4f} {trace.disposition.value}"
    if trace.delivered_to is not None:
        to = trace.delivered_to
        head += f" to {to.pod or to.namespace} {to.ip}:{to.port}"
    if trace.asymmetric_return:
        head += " (asymmetric return)"
    return head


def render_trace_text(traces: Sequence[Trace], width: int = 100) -> str:
    """The outcomes of one flow as text (see module docstring).

    Args:
        traces: what :func:`netsim.trace.trace_flow` returned (one flow).
        width: wrap lines at this many columns.
    """
    if not traces:
        return ""
    lines = _wrap(f"flow {_flow_line(traces[0].flow)}", 0, width)
    for number, trace in enumerate(traces, 1):
        lines.append("")
        lines += _wrap(f"outcome {number}/{len(traces)}: {_outcome_head(trace)}", 0, width)
        lines += _trace_lines(trace, 2, width)
        if trace.reply is not None:
            reply = trace.reply
            lines += _wrap(f"reply: {_outcome_head(reply)}", 2, width)
            lines += _wrap(f"flow {_flow_line(reply.flow)}", 4, width)
            lines += _trace_lines(reply, 4, width)
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    """A step field as JSON data."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, IPv4Address):
        return str(value)
    if isinstance(value, Header):
        return _header(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _header(header: Header) -> dict[str, Any]:
    return {
        "src": str(header.src),
        "dst": str(header.dst),
        "protocol": header.protocol.value,
        "sport": header.sport,
        "dport": header.dport,
        "ttl": header.ttl,
        "length": header.length,
        "mark": header.mark,
    }


def _step(step: Step) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": step.kind.value, "detail": step.detail}
    for f in dataclasses.fields(step):
        if f.name in ("kind", "detail"):
            continue
        name = "field" if isinstance(step, Nat) and f.name == "field_name" else f.name
        data[name] = _plain(getattr(step, f.name))
    return data


def _flow(flow: Flow) -> dict[str, Any]:
    return {
        "from": flow.source_text,
        "to": flow.destination_text,
        "source_netns": flow.source_netns,
        **_header(flow.header),
    }


def _outcome(trace: Trace) -> dict[str, Any]:
    to = trace.delivered_to
    return {
        "probability": trace.probability,
        "disposition": trace.disposition.value,
        "delivered_to": (
            None
            if to is None
            else {"namespace": to.namespace, "pod": to.pod, "ip": str(to.ip), "port": to.port}
        ),
        "asymmetric_return": trace.asymmetric_return,
        "hops": [
            {"node": hop.node, "netns": hop.netns, "steps": [_step(s) for s in hop.steps]}
            for hop in trace.hops
        ],
        "reply": None
        if trace.reply is None
        else {"flow": _flow(trace.reply.flow), **_outcome(trace.reply)},
    }


def trace_json(traces: Sequence[Trace]) -> dict[str, Any]:
    """The outcomes of one flow as JSON-ready data (schema: ``docs/trace-format.md``)."""
    flow = traces[0].flow if traces else None
    return {
        "schema": SCHEMA_VERSION,
        "flow": None if flow is None else _flow(flow),
        "outcomes": [_outcome(t) for t in traces],
    }
