"""Running kernel commands for the lab: ``ip``, ``bridge``, ``sysctl``, ``iptables-restore``.

Every command runs with a time limit and its failure is a
:class:`~netsim.errors.LabError` naming the command and what the tool said.
Namespaced commands always name their namespace (``ip -n NS``, ``ip netns exec
NS``), so nothing here changes the host's own network. Batches (``ip -batch``)
keep the number of processes small; a failing batch line is reported as the
command it was.

Not here: which namespaces exist (the state file, :mod:`netsim.lab.names`).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Sequence
from typing import Final

from netsim.errors import LabError

__all__ = [
    "COMMAND_TIMEOUT",
    "batch",
    "delete_namespace",
    "in_namespace",
    "list_namespaces",
    "run",
    "settle",
]

COMMAND_TIMEOUT: Final = 30.0  # seconds for any one command (a batch included)
SETTLE_TIMEOUT: Final = 5.0  # seconds for linkwatch to bring every device to its final state
_BATCH_LINE: Final = re.compile(r"Command failed -:(\d+)")


def run(argv: Sequence[str], *, stdin: str | None = None) -> str:
    """Run ``argv``; its stdout.

    Raises:
        LabError: the command is missing, timed out or exited non-zero (named,
            with its stderr).
    """
    text = " ".join(argv)
    try:
        done = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
        )
    except FileNotFoundError:
        raise LabError(f"{text}: {argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{text}: no answer within {COMMAND_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        message = done.stderr.strip() or f"exit status {done.returncode}"
        raise LabError(f"{text}: {message}")
    return done.stdout


def in_namespace(namespace: str, *argv: str, stdin: str | None = None) -> str:
    """Run ``argv`` inside the named network namespace (``ip netns exec``)."""
    return run(["ip", "netns", "exec", namespace, *argv], stdin=stdin)


def batch(tool: str, namespace: str, commands: Sequence[str]) -> None:
    """Run ``tool -n NAMESPACE -batch -`` over ``commands`` (``tool`` is ``ip`` or ``bridge``).

    Raises:
        LabError: naming the one command of the batch that failed.
    """
    if not commands:
        return
    try:
        run([tool, "-n", namespace, "-batch", "-"], stdin="".join(f"{c}\n" for c in commands))
    except LabError as error:
        found = _BATCH_LINE.search(str(error))
        if found is None:
            raise
        line = int(found.group(1))
        command = commands[line - 1] if 0 < line <= len(commands) else "?"
        raise LabError(f"{tool} -n {namespace} {command}: {error}") from None


def list_namespaces() -> list[str]:
    """Names of every network namespace in ``/run/netns`` (``ip netns list``)."""
    return [line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line.strip()]


def delete_namespace(namespace: str) -> bool:
    """Delete one namespace; False when it did not exist (never raises for that)."""
    done = subprocess.run(
        ["ip", "netns", "delete", namespace],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    return done.returncode == 0


def settle(namespaces: Sequence[str]) -> None:
    """Wait until linkwatch has moved every device to its final operstate (bounded)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        text = "".join(run(["ip", "-n", name, "link"]) for name in namespaces)
        if "NO-CARRIER" not in text and "state DOWN" not in text:
            return
        time.sleep(0.05)
