"""Kernel against simulation: ``netsim lab verify``.

For each flow (:mod:`netsim.lab.flows`) the simulation side traces it as
``netsim trace`` does (NetworkPolicy evaluated, every load-balancing outcome
enumerated) and keeps, per outcome, the disposition, the pod delivered to and
the source address the server would see (the header at delivery). The kernel
side probes it (:mod:`netsim.lab.probe`) until every predicted outcome was
seen or :data:`~netsim.lab.probe.MAX_REPEATS` attempts.

A flow agrees when every attempt is explained by a predicted outcome — a
connection answered by a predicted pod that saw the predicted source address,
or a failure whose verdict fits a predicted non-delivered disposition
(:data:`VERDICTS`) — and every predicted pod answered at least once (not
required when the Service pins clients to one endpoint, ``sessionAffinity``).

Where the simulation denies a flow with a rule (NetworkPolicy, kube-proxy's
REJECT or DROP) and the kernel failed it, the flow is probed once more, alone,
between two readings of every DROP and REJECT counter (:mod:`netsim.lab.drops`):
the rules that counted the packet must sit where the simulation denied it
(the namespace, and for NetworkPolicy which direction of which pod).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Final

from netsim.dataplane.devices import Dataplane
from netsim.lab.drops import drop_counters, drop_place, dropped_between, rule_namespaces
from netsim.lab.flows import FlowSpec
from netsim.lab.names import LabState
from netsim.lab.probe import (
    DEFAULT_TIMEOUT,
    FAIL,
    MAX_REPEATS,
    Attempt,
    ProbeRequest,
    ProbeResult,
    run_probes,
)
from netsim.policy import policy_judge
from netsim.trace import Disposition, Trace, make_flow, prepare, trace_flow
from netsim.trace.model import (
    Decapsulate,
    Header,
    Nat,
    Netfilter,
    Policy,
    Received,
    Transmit,
    Ttl,
)

__all__ = [
    "VERDICTS",
    "Expectation",
    "FlowCheck",
    "Outcome",
    "check_flow",
    "checks_json",
    "expect_flows",
    "render_checks_text",
    "verify_flows",
]

# Where a refusal is predicted, wait past the first retransmission: the kernel
# rate-limits ICMP errors per destination host (net.ipv4.icmp_ratelimit, 1 s,
# a burst of 6), and many probes from one pod run at once, so the port
# unreachable answering the first SYN can be suppressed; the retransmitted
# SYN, 1 s later, gets it.
REFUSED_TIMEOUT: Final = 2.5
LOCATE_TIMEOUT: Final = 0.3  # a locating probe only needs its packet to meet the rule
LOCATE_TRIES: Final = 12  # single probes until one fails, where some outcomes deliver
DENIED_BY_RULE: Final = frozenset(
    {
        Disposition.DENIED_BY_NETWORKPOLICY,
        Disposition.REJECTED_NO_ENDPOINTS,
        Disposition.DROPPED_NO_LOCAL_ENDPOINT,
        Disposition.DROPPED_BY_NETFILTER,
    }
)  # the dispositions a DROP or REJECT rule stands for: their place is checked
_ANY_FAILURE: Final = frozenset({"timed-out", "unreachable", "refused"})
VERDICTS: Final[Mapping[Disposition, frozenset[str]]] = {
    Disposition.DENIED_BY_NETWORKPOLICY: frozenset({"timed-out"}),  # the lab's rules DROP
    Disposition.DROPPED_NO_LOCAL_ENDPOINT: frozenset({"timed-out"}),  # kube-proxy's DROP
    Disposition.DROPPED_BY_NETFILTER: frozenset({"timed-out"}),
    Disposition.REJECTED_NO_ENDPOINTS: frozenset({"refused"}),  # REJECT icmp-port-unreachable
    Disposition.PORT_NOT_LISTENING: frozenset({"refused"}),  # TCP reset, ICMP port unreachable
    Disposition.NO_ROUTE: frozenset({"unreachable", "timed-out"}),
    Disposition.NEIGHBOR_UNREACHABLE: frozenset({"unreachable", "timed-out"}),
    Disposition.MTU_EXCEEDED: _ANY_FAILURE,
    Disposition.TTL_EXCEEDED: _ANY_FAILURE,
    Disposition.LOOP: _ANY_FAILURE,
    Disposition.EXITS_CLUSTER: _ANY_FAILURE,
}  # the kernel verdicts each non-delivered disposition may show as


@dataclass(frozen=True, slots=True)
class Outcome:
    """One simulated outcome: how it ends, which pod answers, whom the server sees.

    ``denied_at``: for a disposition of :data:`DENIED_BY_RULE`, where (as
    :func:`~netsim.lab.drops.drop_place` words it).
    """

    disposition: Disposition
    pod: str | None
    seen_source: IPv4Address | None
    probability: float
    denied_at: str | None = None


@dataclass(frozen=True, slots=True)
class Expectation:
    """The simulation's answer for one flow (``error``: the flow could not be made)."""

    flow: FlowSpec
    source_netns: str
    dst: IPv4Address | None
    port: int
    outcomes: tuple[Outcome, ...]
    is_sticky: bool = False  # sessionAffinity: one endpoint per client
    error: str | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        """The probe outcomes to wait for: predicted pods, and FAIL when some outcome fails."""
        pods = sorted({o.pod for o in self.outcomes if o.pod is not None})
        fails = any(o.disposition is not Disposition.DELIVERED for o in self.outcomes)
        return (*pods, *((FAIL,) if fails else ()))


@dataclass(frozen=True, slots=True)
class FlowCheck:
    """One flow's verdict: both sides and what disagrees (empty: agreement).

    ``dropped_at``: where the kernel's rules stopped a locating probe (None:
    not located).
    """

    expectation: Expectation
    attempts: tuple[Attempt, ...]
    problems: tuple[str, ...]
    dropped_at: tuple[str, ...] | None = None

    @property
    def agrees(self) -> bool:
        """No problem found."""
        return not self.problems


def _seen_header(trace: Trace) -> Header | None:
    """The packet as the accepting socket gets it (the last header of the trace)."""
    found: Header | None = None
    for step in trace.steps:
        if isinstance(step, Received | Transmit):
            found = step.header
        elif isinstance(step, Nat | Ttl):
            found = step.after
        elif isinstance(step, Decapsulate):
            found = step.inner
    return found


def _denied_at(trace: Trace) -> str | None:
    """Where a trace of :data:`DENIED_BY_RULE` ends: its namespace, and the policy's pod."""
    if trace.disposition not in DENIED_BY_RULE:
        return None
    netns = trace.hops[-1].netns
    if trace.disposition is Disposition.DENIED_BY_NETWORKPOLICY:
        policy = [s for s in trace.steps if isinstance(s, Policy)][-1]
        return f"{netns}: {policy.direction} of {policy.pod}"
    return netns


def _is_sticky(trace: Trace) -> bool:
    return any(
        "--rcheck" in visit.text
        for step in trace.steps
        if isinstance(step, Netfilter)
        for visit in step.visits
    )


def expect_flows(dataplane: Dataplane, flows: Sequence[FlowSpec]) -> tuple[Expectation, ...]:
    """The simulation side of every flow (a flow that cannot be made carries its error)."""
    from netsim.errors import NetsimError

    index = prepare(dataplane)
    judge = policy_judge(dataplane.state, dataplane)
    found: list[Expectation] = []
    for spec in flows:
        try:
            flow = make_flow(dataplane, spec.source, spec.destination, protocol=spec.protocol)
        except NetsimError as error:
            found.append(Expectation(spec, "", None, 0, (), error=str(error)))
            continue
        traces = trace_flow(index, flow, judge=judge)
        outcomes = []
        for trace in traces:
            seen = _seen_header(trace) if trace.disposition is Disposition.DELIVERED else None
            pod = trace.delivered_to.pod if trace.delivered_to is not None else None
            source = seen.src if seen is not None else None
            outcomes.append(
                Outcome(trace.disposition, pod, source, trace.probability, _denied_at(trace))
            )
        found.append(
            Expectation(
                spec,
                flow.source_netns,
                flow.header.dst,
                flow.header.dport,
                tuple(outcomes),
                is_sticky=any(_is_sticky(t) for t in traces),
            )
        )
    return tuple(found)


def check_flow(
    expectation: Expectation,
    attempts: Sequence[Attempt],
    dropped_at: Sequence[str] | None = None,
) -> FlowCheck:
    """Compare one flow's probes, and where a locating probe was dropped, with its expectation."""
    problems: list[str] = []
    if expectation.error is not None:
        return FlowCheck(expectation, tuple(attempts), (f"simulation: {expectation.error}",))
    delivered = [o for o in expectation.outcomes if o.disposition is Disposition.DELIVERED]
    failing = [o for o in expectation.outcomes if o.disposition is not Disposition.DELIVERED]
    allowed = frozenset().union(*(VERDICTS.get(o.disposition, _ANY_FAILURE) for o in failing))
    for a in attempts:
        if a.verdict == "connected":
            sources = {o.seen_source for o in delivered if o.pod == a.pod}
            if not sources:
                problems.append(f"kernel: {a.pod or 'an unknown socket'} answered")
            elif a.peer not in sources:
                shown = ", ".join(sorted(str(s) for s in sources))
                problems.append(f"kernel: {a.pod} saw source {a.peer}, simulation: {shown}")
        elif a.verdict not in allowed:
            problems.append(f"kernel: {a.verdict}" + (f" ({a.error})" if a.error else ""))
    seen = {a.outcome for a in attempts}
    pods = sorted({o.pod for o in delivered if o.pod is not None})
    if not expectation.is_sticky:
        missing = [pod for pod in pods if pod not in seen]
        if missing:
            problems.append(f"never answered in {len(attempts)} tries: {', '.join(missing)}")
    elif pods and not seen & set(pods):
        problems.append("no predicted pod answered")
    if failing and delivered and FAIL not in seen and not expectation.is_sticky:
        problems.append(f"no attempt failed in {len(attempts)} tries")
    places = {o.denied_at for o in failing if o.denied_at is not None}
    if dropped_at is not None and places:
        shown = " or ".join(sorted(places))
        if not dropped_at:
            problems.append(f"kernel: no DROP or REJECT rule counted it, simulation: {shown}")
        for place in dropped_at:
            if place not in places:
                problems.append(f"kernel: denied at {place}, simulation: {shown}")
    located = None if dropped_at is None else tuple(dropped_at)
    return FlowCheck(expectation, tuple(attempts), tuple(dict.fromkeys(problems)), located)


def verify_flows(lab: LabState, expectations: Sequence[Expectation]) -> tuple[FlowCheck, ...]:
    """Probe every flow in ``lab`` and check it against its expectation."""
    runnable = [e for e in expectations if e.error is None and e.dst is not None]
    requests = []
    for e in runnable:
        assert e.dst is not None
        targets = e.targets
        count = 1 if targets == (FAIL,) or (len(targets) <= 1 and e.is_sticky) else MAX_REPEATS
        if len(targets) == 1 and targets != (FAIL,):
            count = 3  # one predicted pod: a few tries show a stray answer too
        refused = any(
            "refused" in VERDICTS.get(o.disposition, _ANY_FAILURE)
            for o in e.outcomes
            if o.disposition is not Disposition.DELIVERED
        )
        timeout = REFUSED_TIMEOUT if refused else DEFAULT_TIMEOUT
        requests.append(
            ProbeRequest(e.source_netns, e.dst, e.port, e.flow.protocol, count, timeout, targets)
        )
    results: dict[int, ProbeResult] = {
        id(e): r for e, r in zip(runnable, run_probes(lab, requests), strict=True)
    }
    located: dict[int, tuple[str, ...] | None] = {}
    namespaces: tuple[str, ...] | None = None
    for e in runnable:
        attempts = results[id(e)].attempts
        if any(o.denied_at for o in e.outcomes) and any(a.outcome == FAIL for a in attempts):
            if namespaces is None:
                namespaces = rule_namespaces(lab)
            located[id(e)] = _locate(lab, e, namespaces)
    return tuple(
        check_flow(e, results[id(e)].attempts if id(e) in results else (), located.get(id(e)))
        for e in expectations
    )


def _locate(lab: LabState, e: Expectation, namespaces: Sequence[str]) -> tuple[str, ...] | None:
    """Where the kernel's rules stop ``e``: single probes, alone, until one fails.

    None when none failed in :data:`LOCATE_TRIES` (a flow that mostly delivers).
    """
    assert e.dst is not None
    request = ProbeRequest(e.source_netns, e.dst, e.port, e.flow.protocol, 1, LOCATE_TIMEOUT)
    for _ in range(LOCATE_TRIES):
        before = drop_counters(lab, namespaces)
        (result,) = run_probes(lab, [request])
        after = drop_counters(lab, namespaces)
        if any(a.outcome == FAIL for a in result.attempts):
            return tuple(sorted({drop_place(r) for r in dropped_between(before, after)}))
    return None


def _simulated(e: Expectation) -> str:
    if e.error is not None:
        return f"error: {e.error}"
    parts = []
    for o in e.outcomes:
        if o.disposition is Disposition.DELIVERED:
            parts.append(f"{o.pod} sees {o.seen_source}")
        elif o.denied_at is not None:
            parts.append(f"{o.disposition.value} at {o.denied_at}")
        else:
            parts.append(o.disposition.value)
    return "; ".join(dict.fromkeys(parts))


def _kernel(attempts: Sequence[Attempt], dropped_at: Sequence[str] | None) -> str:
    counts: dict[str, int] = {}
    for a in attempts:
        text = f"{a.pod} sees {a.peer}" if a.verdict == "connected" else a.verdict
        counts[text] = counts.get(text, 0) + 1
    text = "; ".join(f"{text} x{n}" for text, n in counts.items()) or "not probed"
    if dropped_at is not None:
        text += f"; dropped at {' and '.join(dropped_at) or 'no rule'}"
    return text


def render_checks_text(checks: Sequence[FlowCheck]) -> str:
    """One line per flow (``ok`` or ``DIFF``), both sides for disagreements, and a summary."""
    lines = []
    for c in checks:
        mark = "ok  " if c.agrees else "DIFF"
        lines.append(f"{mark} {c.expectation.flow.text}: {_simulated(c.expectation)}")
        if not c.agrees:
            lines.append(f"       simulation: {_simulated(c.expectation)}")
            lines.append(f"       kernel:     {_kernel(c.attempts, c.dropped_at)}")
            lines += [f"       - {p}" for p in c.problems]
    bad = sum(1 for c in checks if not c.agrees)
    lines.append(f"{len(checks)} flows, {len(checks) - bad} agree, {bad} disagree")
    return "\n".join(lines) + "\n"


def checks_json(checks: Sequence[FlowCheck]) -> dict[str, Any]:
    """The checks as JSON-ready data."""
    return {
        "flows": [
            {
                "from": c.expectation.flow.source,
                "to": c.expectation.flow.destination,
                "protocol": c.expectation.flow.protocol.value,
                "agrees": c.agrees,
                "simulation": [
                    {
                        "disposition": o.disposition.value,
                        "pod": o.pod,
                        "seen_source": None if o.seen_source is None else str(o.seen_source),
                        "probability": o.probability,
                        "denied_at": o.denied_at,
                    }
                    for o in c.expectation.outcomes
                ],
                "kernel": [
                    {
                        "verdict": a.verdict,
                        "pod": a.pod,
                        "seen_source": None if a.peer is None else str(a.peer),
                        "sport": a.sport,
                    }
                    for a in c.attempts
                ],
                "dropped_at": None if c.dropped_at is None else list(c.dropped_at),
                "problems": list(c.problems),
            }
            for c in checks
        ],
        "agree": sum(1 for c in checks if c.agrees),
        "disagree": sum(1 for c in checks if not c.agrees),
    }
