"""``netsim reach``: reachability cells as a table (rich), JSON-ready rows, CSV or Markdown.

Renderers are pure: they take :class:`~netsim.policy.reach.ReachCell` values
(already selected and expanded) and return text or data. The row keys are
stable and documented in ``docs/reach.md``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from netsim.policy.reach import ReachCell
from netsim.policy.semantics import PolicyDecision

__all__ = [
    "decided_by",
    "reach_rows",
    "render_reach_csv",
    "render_reach_markdown",
    "render_reach_table",
]

CSV_COLUMNS = (
    "from",
    "to",
    "port",
    "protocol",
    "allowed",
    "egress_policy",
    "egress_rule",
    "egress_peer",
    "egress_explanation",
    "ingress_policy",
    "ingress_rule",
    "ingress_peer",
    "ingress_explanation",
)


def decided_by(decision: PolicyDecision) -> str:
    """What decided one side, in a few words (the full sentence is ``decision.reason``).

    >>> decided_by(PolicyDecision(True, "...", "shop/web", "ingress[0]", 0, None))
    'shop/web ingress[0] peer 0'
    >>> decided_by(PolicyDecision(False, "...", isolated_by=("shop/a", "shop/b")))
    'isolated by shop/a, shop/b'
    >>> decided_by(PolicyDecision(True, "not isolated for egress: no policy ..."))
    'not isolated'
    """
    if decision.policy is not None:
        peer = "all peers" if decision.peer is None else f"peer {decision.peer}"
        return f"{decision.policy} {decision.rule} {peer}"
    if not decision.is_allowed:
        return f"isolated by {', '.join(decision.isolated_by)}"
    if decision.reason.startswith("not isolated"):
        return "not isolated"
    if "own node" in decision.reason:
        return "own node"
    return "not judged"


def _side(decision: PolicyDecision) -> dict[str, Any]:
    return {
        "allowed": decision.is_allowed,
        "policy": decision.policy,
        "rule": decision.rule,
        "peer": decision.peer,
        "port": decision.port,
        "isolated_by": list(decision.isolated_by),
        "explanation": decision.reason,
    }


def reach_rows(cells: Iterable[ReachCell]) -> list[dict[str, Any]]:
    """One JSON-ready row per cell (``netsim reach --format json``)."""
    return [
        {
            "from": cell.source,
            "to": cell.destination,
            "port": cell.port,
            "protocol": cell.protocol.value,
            "allowed": cell.is_allowed,
            "egress": _side(cell.egress),
            "ingress": _side(cell.ingress),
        }
        for cell in cells
    ]


def _verdict(cell: ReachCell) -> str:
    return "allowed" if cell.is_allowed else "denied"


def render_reach_table(
    cells: Iterable[ReachCell], *, explain: bool = False, width: int = 120
) -> str:
    """The cells as a rich table (no colour), one row per cell."""
    table = Table(title="Reachability (direct pod IP traffic)", title_justify="left")
    for column in ("FROM", "TO", "PORT", "VERDICT"):
        table.add_column(column)
    if explain:
        table.add_column("EGRESS")
        table.add_column("INGRESS")
    for cell in cells:
        row = [cell.source, cell.destination, f"{cell.port}/{cell.protocol.value}", _verdict(cell)]
        if explain:
            row += [decided_by(cell.egress), decided_by(cell.ingress)]
        table.add_row(*row)
    out = io.StringIO()
    Console(file=out, width=width, no_color=True, color_system=None).print(table)
    return out.getvalue()


def render_reach_csv(cells: Iterable[ReachCell]) -> str:
    """The cells as CSV with a header (:data:`CSV_COLUMNS`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for cell in cells:
        row: list[object] = [
            cell.source,
            cell.destination,
            cell.port,
            cell.protocol.value,
            str(cell.is_allowed).lower(),
        ]
        for decision in (cell.egress, cell.ingress):
            peer = "" if decision.peer is None else decision.peer
            row += [decision.policy or "", decision.rule or "", peer, decision.reason]
        writer.writerow(row)
    return out.getvalue()


def render_reach_markdown(cells: Iterable[ReachCell], *, explain: bool = False) -> str:
    """The cells as a Markdown table."""
    header = ["from", "to", "port", "verdict"] + (["egress", "ingress"] if explain else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cell in cells:
        row = [cell.source, cell.destination, f"{cell.port}/{cell.protocol.value}", _verdict(cell)]
        if explain:
            row += [decided_by(cell.egress), decided_by(cell.ingress)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
