"""The HTML report in a real browser: headless Chromium lays out every chart and paints it.

A copy of the page gets a small script (the report itself has none) that
measures each chart's ``<svg>`` (``getBBox``, its box on the page, how many
paths and texts it holds) and writes the numbers into the DOM, which
``--dump-dom`` prints. A screenshot of the same page is then cut at each
chart's box and must not be blank. Skipped, with the reason printed, only
when Chromium is not installed (CI installs it).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from netsim.compare import Comparison
from netsim.report.compare_charts import compare_charts
from netsim.report.compare_html import render_compare_html
from tests.compare.test_report import CHARTS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT = 90  # seconds per browser run (a cold start on a shared machine)
WINDOW = (1300, 9000)  # tall enough to hold every chart without scrolling
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)
MEASURE = """<script>
const found = [];
for (const figure of document.querySelectorAll("figure.chart")) {
  const svg = figure.querySelector("svg");
  const box = svg.getBBox();
  const rect = svg.getBoundingClientRect();
  found.push({id: figure.id, width: box.width, height: box.height,
              left: rect.left, top: rect.top + window.scrollY,
              right: rect.right, bottom: rect.bottom + window.scrollY,
              paths: svg.querySelectorAll("path").length,
              texts: svg.querySelectorAll("text").length});
}
const out = document.createElement("pre");
out.id = "measured";
out.textContent = JSON.stringify(found);
document.body.appendChild(out);
</script>
"""

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def _chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def page(demo_comparison: Comparison, tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = render_compare_html(demo_comparison, compare_charts(demo_comparison))
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(report.replace("</body>", MEASURE + "</body>"))
    return path


@pytest.fixture(scope="module")
def measured(page: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    dom = _chromium(tmp_path_factory.mktemp("dom"), "--dump-dom", page.as_uri())
    match = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.DOTALL)
    assert match, "the measuring script did not run"
    result: list[dict[str, Any]] = json.loads(html.unescape(match.group(1)))
    return result


def test_every_chart_is_laid_out_and_drawn(measured: list[dict[str, Any]]) -> None:
    assert [m["id"] for m in measured] == list(CHARTS)
    for chart in measured:
        assert chart["width"] > 200 and chart["height"] > 100, chart
        assert chart["right"] - chart["left"] > 200 and chart["bottom"] - chart["top"] > 100
        assert chart["paths"] >= 10, chart  # axes, ticks, lines or bars
        assert chart["texts"] >= 5, chart  # title, labels, tick labels


def test_every_chart_is_painted(page: Path, measured: list[dict[str, Any]], tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "page.png"
    _chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        for chart in measured:
            assert chart["bottom"] <= WINDOW[1], "the window is too short for the page"
            box = (int(chart["left"]), int(chart["top"]), int(chart["right"]), int(chart["bottom"]))
            crop = rgb.crop(box)
            # an RGB image: each colour is an (r, g, b) tuple, never a float
            colours = cast(
                list[tuple[int, tuple[int, ...]]], crop.getcolors(maxcolors=1 << 16) or []
            )
            inked = sum(n for n, c in colours if sum(c) < 3 * 200)  # darker than light grey
            area = crop.width * crop.height
            assert len(colours) > 8, f"{chart['id']}: blank ({len(colours)} colours)"
            assert inked / area > 0.01, f"{chart['id']}: only {inked} dark pixels"
