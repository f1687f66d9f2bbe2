"""The trace engine: ``trace_flow(index, flow) -> tuple[Trace, ...]``.

:func:`trace_flow` runs the walk (:mod:`netsim.trace.walk`) once per outcome
and freezes each run into a :class:`~netsim.trace.model.Trace`:

* with ``seed=None`` every ``statistic`` branch is its own outcome: the walk
  is re-run with the choices made so far fixed and each untried branch taken
  in turn (a depth-first enumeration by re-execution, cheap for the few
  branches a Service has), the outcomes ordered by their choices;
* with a seed, one branch is followed, picked by ``random.Random(seed)``;
* with ``reply=True`` each DELIVERED outcome is followed by the reply from
  the accepting socket back to the sender, walked with the forward trace's
  conntrack in place; ``asymmetric_return`` is set when the reply does not
  pass a namespace that did DNAT.

Conntrack and ``recent`` state live per namespace during a walk; each trace
hands the state after it on as ``trace.session`` (a
:class:`~netsim.trace.hooks.TraceSession`, its clock one second later) for the
next ``trace_flow(..., session=...)``.
"""

from __future__ import annotations

import random
from dataclasses import replace
from types import MappingProxyType

from netsim.trace.hooks import TraceSession
from netsim.trace.index import TraceIndex
from netsim.trace.model import Disposition, Flow, Header, Hop, Trace
from netsim.trace.policy import ALLOW_ALL, PolicyJudge
from netsim.trace.walk import Walk, WalkEnded, run_walk

__all__ = ["trace_flow"]


def _freeze(walk: Walk, end: WalkEnded, flow: Flow, now: float) -> Trace:
    """The immutable trace of a finished walk; its session's clock reads ``now``."""
    hops = tuple(Hop(node, netns, tuple(steps)) for node, netns, steps in walk.hops)
    session = TraceSession(MappingProxyType(dict(walk.states)), now)
    return Trace(flow, walk.probability, end.disposition, hops, end.delivered, session=session)


def _walks(
    index: TraceIndex,
    flow: Flow,
    judge: PolicyJudge,
    session: TraceSession,
    seed: int | None,
    reply_to: str | None = None,
    expected_reply: Header | None = None,
) -> list[tuple[Walk, WalkEnded]]:
    """Every outcome (seed None: each statistic branch; else the seeded one)."""
    if seed is not None:
        return [
            run_walk(index, flow, judge, session, [], random.Random(seed), reply_to, expected_reply)
        ]
    results: list[tuple[tuple[int, ...], Walk, WalkEnded]] = []
    pending: list[list[int]] = [[]]
    while pending:
        prefix = pending.pop()
        fixed = len(prefix)
        walk, end = run_walk(index, flow, judge, session, prefix, None, reply_to, expected_reply)
        choices = walk.choices
        for position in range(fixed, len(walk.sizes)):
            for other in range(1, walk.sizes[position]):
                pending.append([*choices[:position], other])
        results.append((tuple(choices), walk, end))
    results.sort(key=lambda item: item[0])
    return [(walk, end) for _, walk, end in results]


def trace_flow(
    index: TraceIndex,
    flow: Flow,
    *,
    seed: int | None = None,
    session: TraceSession | None = None,
    judge: PolicyJudge = ALLOW_ALL,
    reply: bool = False,
) -> tuple[Trace, ...]:
    """Trace the first packet of ``flow`` hop by hop.

    Args:
        index: :func:`prepare` of the dataplane.
        flow: the packet and the namespace that sends it.
        seed: None enumerates every load-balancing branch (probabilities sum
            to 1); a number follows one branch, picked reproducibly.
        session: conntrack and ``recent`` state from earlier traces (each
            returned trace's ``session`` is the state after it).
        judge: the NetworkPolicy seam (default: everything allowed; the real
            one is :func:`netsim.policy.policy_judge`). Only the first packet
            is judged: reply walks never ask it (an allowed connection's
            replies pass, as NetworkPolicy is stateful).
        reply: also trace the reply of every DELIVERED outcome.

    Returns:
        The outcomes, in the order of the load-balancing choices.
    """
    session = session if session is not None else TraceSession()
    traces = []
    for walk, end in _walks(index, flow, judge, session, seed, None):
        trace = _freeze(walk, end, flow, session.now + 1.0)
        if reply and end.disposition is Disposition.DELIVERED and end.delivered is not None:
            trace = _with_reply(index, trace, walk, judge, seed)
        traces.append(trace)
    return tuple(traces)


def _with_reply(
    index: TraceIndex, forward: Trace, walk: Walk, judge: PolicyJudge, seed: int | None
) -> Trace:
    """Trace the reply of a delivered forward trace with its conntrack in place."""
    assert forward.delivered_to is not None and walk.delivered_header is not None
    assert forward.session is not None
    header = walk.delivered_header.reversed()
    flow = Flow(
        forward.delivered_to.namespace,
        header,
        source_text=forward.flow.destination_text,
        destination_text=forward.flow.source_text,
    )
    replies = _walks(
        index,
        flow,
        judge,
        forward.session,
        seed,
        forward.flow.source_netns,
        forward.flow.header.reversed(),
    )
    reply_walk, end = replies[0]
    reply = _freeze(reply_walk, end, flow, forward.session.now)
    visited = {hop.netns for hop in reply.hops}
    asymmetric = bool(walk.dnat_namespaces - visited)
    return replace(forward, reply=reply, asymmetric_return=asymmetric, session=reply.session)
