"""Helpers of the trace tests: the well-formedness invariants every trace must meet."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from netsim.trace.model import (
    Decapsulate,
    Deliver,
    Disposition,
    Drop,
    Encapsulate,
    Header,
    Nat,
    Received,
    Trace,
    Transmit,
    Ttl,
)


def _same(a: Header, b: Header) -> bool:
    """Equal but for the skb mark (metadata, not a header field)."""
    return replace(a, mark=0) == replace(b, mark=0)


def trace_problems(trace: Trace) -> list[str]:
    """Everything wrong with one trace (empty when well formed).

    * hops are contiguous: every hop after the first starts with a ``received``
      step carrying what the previous hop's last ``transmit`` sent;
    * the header only changes by a step that says so (nat, ttl, encapsulate,
      decapsulate): every received/transmit header is the running header;
    * TTL never increases (per encapsulation layer);
    * the disposition agrees with the last step;
    * a reply is well formed too.
    """
    problems: list[str] = []
    layers: list[Header] = [trace.flow.header]
    last_sent: Header | None = None
    for number, hop in enumerate(trace.hops):
        if not hop.steps:
            problems.append(f"hop {number} ({hop.netns}) has no steps")
            continue
        first = hop.steps[0]
        if number > 0:
            if not isinstance(first, Received):
                problems.append(f"hop {number} ({hop.netns}) starts with {first.kind}")
            elif last_sent is None or not _same(first.header, last_sent):
                problems.append(f"hop {number} ({hop.netns}) receives what was not sent")
        for step in hop.steps:
            current = layers[-1]
            if isinstance(step, Received | Transmit):
                if not _same(step.header, current):
                    problems.append(
                        f"{hop.netns}: {step.kind} {step.header.text} but the packet is"
                        f" {current.text}"
                    )
                if isinstance(step, Transmit):
                    last_sent = step.header
                layers[-1] = step.header
            elif isinstance(step, Nat):
                if not _same(step.before, current):
                    problems.append(f"{hop.netns}: nat from {step.before.text}, not {current.text}")
                layers[-1] = step.after
            elif isinstance(step, Ttl):
                if step.new >= step.old or step.after.ttl != step.new:
                    problems.append(f"{hop.netns}: ttl {step.old} -> {step.new}")
                if step.old != current.ttl:
                    problems.append(f"{hop.netns}: ttl step from {step.old}, packet {current.ttl}")
                layers[-1] = step.after
            elif isinstance(step, Encapsulate):
                layers.append(step.outer)
            elif isinstance(step, Decapsulate):
                if len(layers) < 2:
                    problems.append(f"{hop.netns}: decapsulate without encapsulation")
                else:
                    layers.pop()
                    if not _same(step.inner, layers[-1]):
                        problems.append(f"{hop.netns}: decapsulated another packet")
            if layers[-1].ttl > current.ttl and not isinstance(step, Encapsulate):
                problems.append(f"{hop.netns}: ttl rose from {current.ttl} to {layers[-1].ttl}")
    steps = trace.steps
    if not steps:
        problems.append("no steps")
    else:
        last = steps[-1]
        if trace.disposition is Disposition.DELIVERED:
            if not isinstance(last, Deliver) or last.to != trace.delivered_to:
                problems.append(f"DELIVERED but the last step is {last.kind}")
        elif not isinstance(last, Drop) or last.disposition is not trace.disposition:
            problems.append(f"{trace.disposition} but the last step is {last.detail}")
    if trace.reply is not None:
        problems += [f"reply: {p}" for p in trace_problems(trace.reply)]
    return problems


def assert_well_formed(traces: Sequence[Trace], *, enumerated: bool = True) -> None:
    """Every trace is well formed; enumerated outcomes' probabilities sum to 1."""
    assert traces, "no outcome"
    for trace in traces:
        assert trace_problems(trace) == [], trace_problems(trace)
    if enumerated:
        assert math.isclose(sum(t.probability for t in traces), 1.0, rel_tol=1e-9)
