"""Golden files: compare output with a reviewed file; ``NETSIM_REGEN=1 pytest`` rewrites them."""

from __future__ import annotations

import os
from pathlib import Path


def assert_golden(path: Path, actual: str) -> None:
    """Assert ``actual`` equals the file, or rewrite the file when NETSIM_REGEN=1."""
    if os.environ.get("NETSIM_REGEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert path.exists(), f"{path} is missing; run NETSIM_REGEN=1 pytest to create it"
    expected = path.read_text()
    assert actual == expected, f"{path} differs; review and run NETSIM_REGEN=1 pytest"
