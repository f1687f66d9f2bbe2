"""The README's two set-up commands: the main job runs, and CI runs the test command."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shell_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)]


def test_exactly_two_set_up_commands() -> None:
    blocks = shell_blocks()
    assert len(blocks) == 2
    install, check = blocks
    assert install.startswith("python3 -m pip install . && ")
    assert check == "bash scripts/check"
    assert "exec bash scripts/check" in (REPO / ".ci" / "run").read_text()


def test_main_job_prints_a_real_trace() -> None:
    install, _ = shell_blocks()
    argv = shlex.split(install.split("&&", 1)[1])
    assert argv[:3] == ["python3", "-m", "netsim"]
    done = subprocess.run(
        [sys.executable, *argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    outcomes = [line for line in done.stdout.splitlines() if line.startswith("outcome ")]
    assert len(outcomes) == 3
    assert sum("DELIVERED to shop/web-" in line for line in outcomes) == 1
    assert sum("DENIED_BY_NETWORKPOLICY" in line for line in outcomes) == 2
    assert "VXLAN encapsulate" in done.stdout
