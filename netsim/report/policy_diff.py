"""``netsim diff``: changed flows as one text line each, or JSON-ready rows.

Renderers are pure: they take a :class:`~netsim.policy.diff.PolicyDiff` and
return text or data. The row keys are stable and documented in
``docs/diff.md``.
"""

from __future__ import annotations

from typing import Any

from netsim.policy.diff import FlowChange, PolicyDiff, changed_directions, decision_text
from netsim.policy.reach import ReachCell
from netsim.policy.semantics import PolicyDecision

__all__ = ["diff_rows", "render_diff_text"]


def _verdict(allowed: bool) -> str:
    return "allowed" if allowed else "denied"


def _decided(cell: ReachCell, change: FlowChange) -> str:
    sides = []
    for direction in changed_directions(change.before, change.after):
        decision = cell.egress if direction == "egress" else cell.ingress
        sides.append(f"{direction} {decision_text(decision)}")
    return "; ".join(sides)


def _line(change: FlowChange) -> str:
    a, b = change.before, change.after
    responsible = ", ".join(c.text for c in change.responsible) or "no policy change"
    return (
        f"{a.source} -> {a.destination} {a.port}/{a.protocol.value}:"
        f" {_verdict(a.is_allowed)} -> {_verdict(b.is_allowed)}"
        f" | A: {_decided(a, change)} | B: {_decided(b, change)} | by {responsible}"
    )


def render_diff_text(diff: PolicyDiff) -> str:
    """One line per changed flow, then the counts; ``no verdict changes`` when none.

    A line is ``FROM -> TO PORT/PROTO: VERDICT_A -> VERDICT_B | A: DECIDED |
    B: DECIDED | by POLICY (added|removed|changed), ...`` where DECIDED is
    what decided each direction that denies on the denying side.
    """
    lines = [_line(change) for change in diff.changes]
    if not lines:
        lines.append("no verdict changes")
    else:
        lines.append(f"{len(diff.changes)} flows change verdict")
    if diff.only_in_a or diff.only_in_b:
        lines.append(
            f"not compared: {len(diff.only_in_a)} endpoints only in A,"
            f" {len(diff.only_in_b)} only in B"
        )
    return "\n".join(lines) + "\n"


def _decision_row(decision: PolicyDecision) -> dict[str, Any]:
    return {
        "allowed": decision.is_allowed,
        "decided_by": decision_text(decision),
        "policy": decision.policy,
        "rule": decision.rule,
        "peer": decision.peer,
        "port": decision.port,
        "isolated_by": list(decision.isolated_by),
        "explanation": decision.reason,
    }


def _cell_row(cell: ReachCell) -> dict[str, Any]:
    return {
        "allowed": cell.is_allowed,
        "egress": _decision_row(cell.egress),
        "ingress": _decision_row(cell.ingress),
    }


def diff_rows(diff: PolicyDiff) -> list[dict[str, Any]]:
    """One dict per changed flow.

    Keys: ``from``, ``to``, ``port``, ``protocol``, ``directions`` (the
    directions deciding the change), ``a`` and ``b`` (``allowed`` and per
    direction ``{allowed, decided_by, policy, rule, peer, port, isolated_by,
    explanation}``) and ``policy_changes`` (``[{policy, change}]``).
    """
    return [
        {
            "from": c.source,
            "to": c.destination,
            "port": c.port,
            "protocol": c.protocol.value,
            "directions": list(changed_directions(c.before, c.after)),
            "a": _cell_row(c.before),
            "b": _cell_row(c.after),
            "policy_changes": [{"policy": p.policy, "change": p.kind.value} for p in c.responsible],
        }
        for c in diff.changes
    ]
