"""``netsim compare`` as terminal text and as Markdown.

Both render the tables of :func:`netsim.report.compare_tables.report_tables`:
text as aligned columns (a table wider than ``width`` is printed one
``header: value`` block per row), Markdown as pipe tables under ``##``
headings. Empty tables print their note only. Pure functions, exact output.
"""

from __future__ import annotations

from collections.abc import Sequence

from netsim.compare.model import Comparison
from netsim.report.compare_tables import ReportTable, report_tables

__all__ = ["render_compare_markdown", "render_compare_text"]

TEXT_WIDTH = 120  # the default terminal width of the text summary
SUMMARY_TABLES = ("designs", "tables", "broadcast", "underlay", "differences", "refused", "checks")


def _heading(comparison: Comparison) -> str:
    return f"netsim compare: {comparison.title}"


def _columns(table: ReportTable) -> list[str]:
    widths = [
        max(len(cell) for cell in column) for column in zip(table.header, *table.rows, strict=True)
    ]
    lines = []
    for row in (table.header, *table.rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return lines


def _blocks(table: ReportTable) -> list[str]:
    width = max(len(h) for h in table.header)
    lines = []
    for row in table.rows:
        for index, (header, cell) in enumerate(zip(table.header, row, strict=True)):
            lines.append(f"{'- ' if index == 0 else '  '}{header.ljust(width)}  {cell}".rstrip())
    return lines


def _text_table(table: ReportTable, width: int) -> list[str]:
    lines = [table.title, "-" * len(table.title)]
    if table.rows:
        columns = _columns(table)
        body = columns if max(len(line) for line in columns) <= width else _blocks(table)
        lines += body
    if table.note:
        lines.append(f"({table.note})")
    return [*lines, ""]


def render_compare_text(
    comparison: Comparison, *, width: int = TEXT_WIDTH, full: bool = False
) -> str:
    """The terminal summary (``full``: every table, as Markdown has them).

    The summary leaves out the per-flow, scaling and per-node tables; it
    names how many flows and checks there are.
    """
    lines = [_heading(comparison), ""]
    for table in report_tables(comparison):
        if not full and table.anchor not in SUMMARY_TABLES:
            continue
        if table.anchor == "refused" and not table.rows:
            continue
        lines += _text_table(table, width)
    if not full:
        flows = sum(len(f.outcomes) for d in comparison.designs for f in d.flows)
        lines.append(
            f"{flows} flow outcomes traced; --format md or html for every path, the scaling"
            " tables and the charts"
        )
    return "\n".join(lines).rstrip("\n") + "\n"


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|") or " "


def _markdown_table(table: ReportTable) -> list[str]:
    lines = [f"## {table.title}", ""]
    if table.rows:
        lines.append("| " + " | ".join(_escape(h) for h in table.header) + " |")
        lines.append("|" + "|".join("---" for _ in table.header) + "|")
        lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in table.rows]
        lines.append("")
    if table.note:
        lines += [f"_{table.note}_", ""]
    return lines


def render_compare_markdown(comparison: Comparison, *, skip: Sequence[str] = ()) -> str:
    """The whole report as Markdown (tables whose anchor is in ``skip`` left out)."""
    lines = [f"# {_heading(comparison)}", ""]
    for table in report_tables(comparison):
        if table.anchor in skip or (table.anchor == "refused" and not table.rows):
            continue
        lines += _markdown_table(table)
    return "\n".join(lines).rstrip("\n") + "\n"
