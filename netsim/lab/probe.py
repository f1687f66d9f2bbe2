"""Real traffic through a lab: probes run by the agent inside the source namespace.

:func:`run_probes` groups :class:`ProbeRequest` values by source namespace and
runs one prober per namespace (``python3 -m netsim.lab.agent probe``), the
namespaces in parallel; each request is at most ``count`` attempts of at
most ``timeout`` seconds, so a run is bounded. :func:`capture` runs
``tcpdump`` on chosen devices of the lab while probes run (``--pcap``).
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Final

from netsim.errors import LabError
from netsim.lab.lifecycle import agent_command, agent_environment
from netsim.lab.names import LabState
from netsim.trace.model import L4Protocol

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_REPEATS",
    "Attempt",
    "ProbeRequest",
    "ProbeResult",
    "capture",
    "run_probes",
]

DEFAULT_TIMEOUT: Final = 1.0  # seconds per attempt: a dropped packet costs this much
MAX_REPEATS: Final = 40  # attempts per flow to see every predicted backend
_SLACK: Final = 20.0  # seconds on top of the attempts' bound for a prober to start and finish
FAIL: Final = "fail"  # the target that stands for any attempt that did not connect


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """Probes of one flow: from ``source`` (a netns id) to ``dst``:``port``.

    ``targets`` are the outcomes expected (pod keys, or :data:`FAIL`): the
    prober stops once it has seen them all, or at the first other outcome.
    """

    source: str
    dst: IPv4Address
    port: int
    protocol: L4Protocol
    count: int = 1
    timeout: float = DEFAULT_TIMEOUT
    targets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt: the kernel's verdict and, when connected, who answered and whom it saw."""

    verdict: str  # connected, refused, timed-out, unreachable, error
    pod: str | None = None
    peer: IPv4Address | None = None
    peer_port: int | None = None
    sport: int | None = None
    error: str | None = None

    @property
    def outcome(self) -> str:
        """The pod that answered, or :data:`FAIL`."""
        return self.pod if self.verdict == "connected" and self.pod is not None else FAIL


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The attempts of one request."""

    request: ProbeRequest
    attempts: tuple[Attempt, ...]


def _attempt(data: Mapping[str, Any]) -> Attempt:
    peer, peer_port = None, None
    if data.get("peer"):
        host, _, port = str(data["peer"]).rpartition(":")
        peer, peer_port = IPv4Address(host), int(port)
    return Attempt(
        str(data["verdict"]),
        None if data.get("pod") is None else str(data["pod"]),
        peer,
        peer_port,
        None if data.get("sport") is None else int(data["sport"]),
        None if data.get("error") is None else str(data["error"]),
    )


def _run_group(
    lab: LabState, source: str, requests: Sequence[tuple[int, ProbeRequest]]
) -> list[tuple[int, ProbeResult]]:
    real = lab.namespaces.get(source)
    if real is None:
        raise LabError(f"the lab {lab.name} has no namespace for {source}")
    payload = [
        {
            "id": number,
            "dst": str(r.dst),
            "port": r.port,
            "protocol": r.protocol.value,
            "count": r.count,
            "timeout": r.timeout,
            "targets": list(r.targets),
        }
        for number, r in requests
    ]
    bound = max(r.count * r.timeout for _, r in requests) + _SLACK
    command = agent_command(real, "probe")
    try:
        done = subprocess.run(
            command,
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=bound,
            env=agent_environment(),
        )
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(command)}: no answer within {bound:.0f} s") from None
    if done.returncode != 0:
        raise LabError(f"{' '.join(command)}: {done.stderr.strip()}")
    results = json.loads(done.stdout)
    by_id = {int(r["id"]): r for r in results}
    return [
        (number, ProbeResult(request, tuple(_attempt(a) for a in by_id[number]["attempts"])))
        for number, request in requests
    ]


def run_probes(lab: LabState, requests: Sequence[ProbeRequest]) -> tuple[ProbeResult, ...]:
    """Run every request in ``lab``; the results in request order.

    Raises:
        LabError: a source namespace the lab does not have, or a prober failed.
    """
    groups: dict[str, list[tuple[int, ProbeRequest]]] = {}
    for number, request in enumerate(requests):
        groups.setdefault(request.source, []).append((number, request))
    if not groups:
        return ()
    with ThreadPoolExecutor(max_workers=min(8, len(groups))) as pool:
        done = pool.map(lambda item: _run_group(lab, item[0], item[1]), groups.items())
        found = dict(pair for group in done for pair in group)
    return tuple(found[number] for number in range(len(requests)))


@contextmanager
def capture(lab: LabState, points: Sequence[str], directory: Path) -> Iterator[list[Path]]:
    """Capture with ``tcpdump`` at ``points`` (``NETNS_ID/IFNAME``) into ``directory``.

    Yields the pcap paths; the captures stop (and are flushed) on exit.

    Raises:
        LabError: an unknown namespace, or tcpdump did not start.
    """
    directory.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    paths: list[Path] = []
    try:
        for point in points:
            netns, _, ifname = point.rpartition("/")
            real = lab.namespaces.get(netns)
            if real is None or not ifname:
                known = ", ".join(sorted(lab.namespaces))
                raise LabError(f"--pcap-at {point!r}: use NETNS_ID/IFNAME (namespaces: {known})")
            path = directory / f"{real}-{ifname}.pcap"
            command = [
                "ip",
                "netns",
                "exec",
                real,
                "tcpdump",
                "-p",  # no promiscuous mode: a promiscuous bridge hands frames to IP it would drop
                "-n",
                "-U",
                "--immediate-mode",
                "-i",
                ifname,
            ]
            process = subprocess.Popen(
                [*command, "-w", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            processes.append(process)
            assert process.stderr is not None
            ready, _, _ = select.select([process.stderr], [], [], 10.0)
            line = process.stderr.readline().decode() if ready else ""
            if "listening on" not in line:
                raise LabError(f"{' '.join(command)}: {line.strip() or 'did not start'}")
            paths.append(path)
        yield paths
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()
