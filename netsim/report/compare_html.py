"""``netsim compare --format html``: one self-contained page a person reads in a browser.

The page holds everything inline: the CSS in a ``<style>`` element and each
chart of :mod:`netsim.report.compare_charts` as an ``<svg>`` element inside
a ``<figure class="chart" id="chart-...">``. No script, no external URL, no
date: the same comparison gives the same bytes. The tables are those of
:func:`netsim.report.compare_tables.report_tables`, each under an ``<h2>``
with the table's anchor as id. Failed formula checks are shown in red at the
top of the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from netsim.compare.model import Comparison
from netsim.report.compare_charts import Chart
from netsim.report.compare_tables import ReportTable, report_tables

__all__ = ["render_compare_html"]

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em;
     border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; }
p.note { color: #555; font-size: 0.85em; font-style: italic; }
p.failed { color: #b00; font-weight: bold; }
p.ok { color: #060; }
nav a { margin-right: 1em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
figure.chart { margin: 0; flex: 1 1 30em; }
figure.chart svg { width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #444; }
"""
"""The page's style sheet (inline)."""


def _cell(text: str) -> str:
    is_number = text.replace(".", "", 1).replace("%", "").isdigit()
    css = ' class="num"' if is_number else ""
    return f"<td{css}>{escape(text)}</td>"


def _table(table: ReportTable) -> list[str]:
    lines = [f'<h2 id="{table.anchor}">{escape(table.title)}</h2>']
    if table.rows:
        lines.append("<table>")
        lines.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.header) + "</tr>")
        lines += ["<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows]
        lines.append("</table>")
    if table.note:
        lines.append(f'<p class="note">{escape(table.note)}</p>')
    return lines


def _charts(charts: Sequence[Chart]) -> list[str]:
    lines = ['<h2 id="charts">Charts</h2>', '<div class="charts">']
    for chart in charts:
        lines += [
            f'<figure class="chart" id="{chart.anchor}">',
            chart.svg.rstrip("\n"),
            f"<figcaption><b>{escape(chart.title)}.</b> {escape(chart.caption)}</figcaption>",
            "</figure>",
        ]
    return [*lines, "</div>"]


def render_compare_html(comparison: Comparison, charts: Sequence[Chart]) -> str:
    """The report page, with ``charts`` (from :func:`compare_charts`) embedded."""
    tables = [t for t in report_tables(comparison) if t.rows or t.note or t.anchor == "differences"]
    tables = [t for t in tables if not (t.anchor == "refused" and not t.rows)]
    title = f"netsim compare: {comparison.title}"
    failed = comparison.failed_checks
    status = (
        f'<p class="failed">{len(failed)} figures disagree with their formulas: see'
        ' <a href="#checks">Formula checks</a>.</p>'
        if failed
        else '<p class="ok">Every measured figure agrees with its formula'
        ' (<a href="#checks">Formula checks</a>).</p>'
    )
    nav = " ".join(f'<a href="#{t.anchor}">{escape(t.title)}</a>' for t in tables[:4])
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        status,
        f'<nav>{nav} <a href="#charts">Charts</a></nav>',
    ]
    for table in tables[:4]:
        lines += _table(table)
    lines += _charts(charts)
    for table in tables[4:]:
        lines += _table(table)
    lines += ["</body>", "</html>"]
    return "\n".join(lines) + "\n"
