"""Lab fixtures: a unique lab name, a private state directory, a kernel check that skips with why."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from netsim.lab.lifecycle import lab_down
from netsim.lab.names import lab_prefix


@pytest.fixture
def kernel_lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(lab name, state dir); skips, printing why, where namespaces cannot be created.

    Whatever the test made under the name is removed afterwards.
    """
    name = f"t{secrets.token_hex(3)}"
    check = f"{lab_prefix(name)}check"
    made = subprocess.run(["ip", "netns", "add", check], capture_output=True, text=True)
    if made.returncode != 0:
        reason = f"cannot create network namespaces: {made.stderr.strip()}"
        print(f"skipping: {reason}")
        pytest.skip(reason)
    subprocess.run(["ip", "netns", "delete", check], capture_output=True, check=False)
    state_dir = tmp_path / "state"
    try:
        yield name, state_dir
    finally:
        lab_down(state_dir, name)
