"""The renderers: text summary, Markdown, JSON schema, HTML page and its SVG charts."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from netsim.compare import Comparison
from netsim.compare.model import RefusedDesign
from netsim.report.compare_charts import compare_charts
from netsim.report.compare_html import render_compare_html
from netsim.report.compare_json import SCHEMA, compare_json
from netsim.report.compare_tables import report_tables
from netsim.report.compare_text import render_compare_markdown, render_compare_text

CHARTS = (
    "chart-tables",
    "chart-efficiency",
    "chart-routes",
    "chart-neighbors",
    "chart-fdb",
    "chart-broadcast",
)


def test_text_summary(demo_comparison: Comparison) -> None:
    text = render_compare_text(demo_comparison, width=200)
    lines = text.splitlines()
    assert lines[0] == "netsim compare: demo"
    assert re.search(r"^pod MTU {24}1500 +1500 +1450$", text, re.MULTILINE)
    assert re.search(r"^overhead bytes per packet {6}0 +0 +50$", text, re.MULTILINE)
    assert "neighbours (configured)            0   0   2" in lines
    assert "encapsulation               none  none  vxlan udp/8472" in lines
    assert any(
        line.startswith("trace   external-nodeport: ext:laptop -> node:node-1:30080 => shop/web-")
        and line.endswith("NEIGHBOR_UNREACHABLE  DELIVERED  DENIED_BY_NETWORKPOLICY")
        for line in lines
    )
    narrow = render_compare_text(demo_comparison, width=60).splitlines()
    assert "- kind   trace" in narrow and "  l3     DELIVERED" in narrow  # one block per row
    assert text.endswith(
        "24 flow outcomes traced; --format md or html for every path, the scaling tables and"
        " the charts\n"
    )
    assert "Scaling" not in text


def test_full_text_has_every_table(demo_comparison: Comparison) -> None:
    text = render_compare_text(demo_comparison, width=400, full=True)
    assert "Scaling: vxlan, p = 2 pods per node" in text
    assert "Flow: pod -> ClusterIP (client/curl -> svc:shop/web:80)" in text
    assert "flow outcomes traced" not in text


def test_markdown(demo_comparison: Comparison) -> None:
    md = render_compare_markdown(demo_comparison)
    assert md.startswith("# netsim compare: demo\n\n## Designs\n\n|   | l2 | l3 | vxlan |\n")
    assert "| pod MTU | 1500 | 1500 | 1450 |" in md
    assert "| formula | 2 + (N-1) + c | (N-1) + c | N-1 | p + c + (N-1) |" in md
    assert "| 40 | 3 | 1 | 0 | 4 | 0 | 40 | 0 | 160 | 121 | 121 |" in md  # l2 at N = 40
    assert (
        "agree with their formulas (the cluster itself and synthetic clusters of N = 3, 10, 40"
        in md
    )
    assert "## Designs this cluster cannot run" not in md
    skipped = render_compare_markdown(demo_comparison, skip=("designs",))
    assert "## Designs\n" not in skipped


def test_refusals_and_failures_are_shown(demo_comparison: Comparison) -> None:
    failing = replace(demo_comparison.designs[0].checks[0], measured=99)
    design = replace(demo_comparison.designs[0], checks=(failing,))
    comparison = replace(
        demo_comparison,
        designs=(design, *demo_comparison.designs[1:]),
        refused=(RefusedDesign("l2x", "l2 puts every pod | node in one domain"),),
    )
    md = render_compare_markdown(comparison)
    assert "| l2x | l2 puts every pod \\| node in one domain |" in md
    assert "| l2 | node-1 | routes (main table) | 3 | 2 | 3 | 3 | 99 |" in md
    text = render_compare_text(comparison)
    assert "Designs this cluster cannot run" in text
    html = render_compare_html(comparison, ())
    assert '<p class="failed">1 figures disagree with their formulas' in html


def test_json_schema(demo_comparison: Comparison) -> None:
    data = compare_json(demo_comparison)
    assert json.loads(json.dumps(data)) == data
    assert data["schema"] == SCHEMA
    assert list(data) == [
        "schema",
        "title",
        "designs",
        "refused",
        "differences",
        "scaling",
        "formulas",
        "failed_checks",
    ]
    vxlan = data["designs"][2]
    assert (vxlan["pod_mtu"], vxlan["overhead_bytes"]) == (1450, 50)
    assert vxlan["tables"][0]["neighbors"] == 2
    outcome = vxlan["flows"][1]["outcomes"][0]
    assert outcome["reply"]["reply"] is None and outcome["is_symmetric"] is True
    assert data["differences"][0]["verdicts"]["l3"] == "DELIVERED"
    assert data["scaling"]["points"][0]["measured"]["routes_main"] == 3
    assert data["formulas"]["vxlan"]["configured"]["fdb"] == "p + c + (N-1)"
    assert data["failed_checks"] == 0
    assert compare_json(replace(demo_comparison, scaling=None))["scaling"] is None


@pytest.fixture(scope="module")
def html(demo_comparison: Comparison) -> str:
    return render_compare_html(demo_comparison, compare_charts(demo_comparison))


def test_html_is_self_contained(html: str) -> None:
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html
    assert html.count("<svg") == len(CHARTS)
    for anchor in CHARTS:
        assert f'<figure class="chart" id="{anchor}">\n<svg' in html
    for table in report_tables(Comparison("x", (), (), (), None)):
        assert table.anchor  # every table has an anchor
    assert '<h2 id="differences">' in html and '<h2 id="checks">' in html
    assert '<p class="ok">Every measured figure agrees with its formula' in html


def test_charts_are_reproducible(demo_comparison: Comparison, html: str) -> None:
    again = render_compare_html(demo_comparison, compare_charts(demo_comparison))
    assert again == html
    assert "<?xml" not in html and "<metadata>" not in html
    assert "dc:date" not in html


def test_without_scaling_two_charts(demo_comparison: Comparison) -> None:
    charts = compare_charts(replace(demo_comparison, scaling=None))
    assert [c.anchor for c in charts] == list(CHARTS[:2])
