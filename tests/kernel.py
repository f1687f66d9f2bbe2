"""Real-kernel test helpers: throw-away network namespaces under a unique prefix.

Only namespaces this module creates are touched; every one is deleted in a
``finally``, also when the test fails. Tests skip, printing why, where a
namespace cannot be created (not root, no netns support).
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PREFIX = "nsimk"  # every namespace these tests create starts with it


@contextmanager
def network_namespace() -> Iterator[str]:
    """A fresh, empty network namespace; yields its name."""
    name = f"{PREFIX}-{secrets.token_hex(4)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def run_in(namespace: str, *argv: str, stdin: str | None = None) -> str:
    """Run a command inside ``namespace``; its stdout (fails the test on error)."""
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv], input=stdin, capture_output=True, text=True
    )
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"
    return done.stdout


def without_comments(dump: str) -> str:
    """An iptables-save dump without its ``#`` header and footer lines."""
    return "".join(line + "\n" for line in dump.splitlines() if not line.startswith("#"))
