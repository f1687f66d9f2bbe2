"""The committed example traces under traces/ are what traces/regen.py writes today."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from tests.conftest import REPO

pytest.importorskip("netsim.netfilter.evaluate", reason="the netfilter evaluator is not there yet")


def _regen() -> ModuleType:
    """traces/regen.py, imported by path (traces/ is not a package)."""
    if "traces_regen" in sys.modules:
        return sys.modules["traces_regen"]
    spec = importlib.util.spec_from_file_location("traces_regen", REPO / "traces" / "regen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def test_committed_traces_are_fresh() -> None:
    stale = _regen().stale_files()
    assert stale == [], (
        f"stale example traces: {', '.join(f'traces/{p}' for p in stale)};"
        " run python traces/regen.py and review the diff"
    )


def test_readme_names_every_scenario() -> None:
    readme = (REPO / "traces" / "README.md").read_text()
    missing = [s.stem for s in _regen().SCENARIOS if f"`{s.stem}`" not in readme]
    assert missing == [], f"traces/README.md does not describe: {', '.join(missing)}"
