"""The committed example reports under traces/compare/ are what traces/compare_regen.py writes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import REPO


def _regen() -> ModuleType:
    """traces/compare_regen.py, imported by path (traces/ is not a package)."""
    if "traces_compare_regen" in sys.modules:
        return sys.modules["traces_compare_regen"]
    path = REPO / "traces" / "compare_regen.py"
    spec = importlib.util.spec_from_file_location("traces_compare_regen", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def test_committed_reports_are_fresh() -> None:
    stale = _regen().stale_files()
    assert stale == [], (
        f"stale example reports: {', '.join(f'traces/compare/{p}' for p in stale)};"
        " run python traces/compare_regen.py and review the diff"
    )


def test_html_check_ignores_only_the_svg_bodies() -> None:
    normalized = _regen().normalized
    page = '<p>a</p><svg width="2"><path d="M 1 1"/></svg><p>b</p>'
    assert normalized("x.html", page) == '<p>a</p><svg width="2"></svg><p>b</p>'
    assert normalized("x.md", page) == page


def test_orphans_and_changes_are_stale(tmp_path: Path) -> None:
    directory = tmp_path
    (directory / "old.md").write_text("x")
    (directory / "a.md").write_text("old")
    (directory / "b.html").write_text('<svg a="1">one</svg>')
    fresh = {"a.md": "new", "b.html": '<svg a="1">two</svg>', "c.json": "{}"}
    assert _regen().stale_files(directory, fresh) == ["a.md", "c.json", "old.md"]
