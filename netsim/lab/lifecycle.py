"""``up``, ``down`` and ``status``: a lab's life.

:func:`lab_up` builds a whole :class:`~netsim.dataplane.devices.Dataplane` in
real namespaces (:mod:`netsim.lab.build`), loads each node's kube-proxy and
CNI rules and the compiled NetworkPolicy (:mod:`netsim.lab.rules`), and
starts one listener (:mod:`netsim.lab.agent`) per pod that declares ports (a
hostNetwork pod's in its node's namespace). The state file is written before
the first namespace exists and after each namespace and listener; when any
step fails, everything made so far is removed before the error propagates.

:func:`lab_down` kills the lab's listeners (checked by their command line, so
a reused pid is never killed) and deletes every namespace the state file
names and every namespace under the lab's prefix, then the state file; it
works on what is left after a crash. Nothing outside the prefix is touched.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import netsim
from netsim.control.state import PodState
from netsim.dataplane.devices import Dataplane, NamespaceKind
from netsim.errors import LabError
from netsim.lab.build import build_namespaces
from netsim.lab.kernel import delete_namespace, in_namespace, list_namespaces, run, settle
from netsim.lab.names import (
    LAB_PREFIX,
    LabState,
    Listener,
    lab_prefix,
    load_state_file,
    real_namespace_name,
    state_path,
    write_state_file,
)
from netsim.lab.rules import namespace_payload, node_payload, policy_payloads
from netsim.model.objects import Protocol
from netsim.naming import node_netns_id, pod_netns_id

__all__ = [
    "AGENT_MODULE",
    "LabStatus",
    "agent_command",
    "lab_down",
    "lab_status",
    "lab_up",
    "listener_ports",
]

AGENT_MODULE: Final = "netsim.lab.agent"
READY_TIMEOUT: Final = 15.0  # seconds for every listener to report "ready"
# Listeners started by this process, kept so that ``down`` reaps them (a lab
# made by ``netsim lab up`` outlives its process; another process kills by pid).
_CHILDREN: Final[dict[int, subprocess.Popen[bytes]]] = {}
_PACKAGE_ROOT: Final = str(Path(netsim.__file__).resolve().parent.parent)


def agent_command(namespace: str, *args: str) -> list[str]:
    """``ip netns exec NAMESPACE python3 -m netsim.lab.agent ARGS``."""
    return ["ip", "netns", "exec", namespace, sys.executable, "-m", AGENT_MODULE, *args]


def agent_environment() -> dict[str, str]:
    """The environment of an agent: this netsim importable whatever the working directory."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": _PACKAGE_ROOT + (os.pathsep + path if path else "")}


def listener_ports(pod: PodState) -> tuple[list[int], list[int]]:
    """The TCP and UDP containerPorts a pod declares (sorted, without repeats)."""
    ports = [p for c in pod.pod.template.containers for p in c.ports]
    tcp = sorted({p.container_port for p in ports if p.protocol is Protocol.TCP})
    udp = sorted({p.container_port for p in ports if p.protocol is Protocol.UDP})
    return tcp, udp


def _listeners(dataplane: Dataplane) -> Iterator[tuple[str, PodState]]:
    """(netns id, pod) of every pod that listens somewhere."""
    for pod in dataplane.state.pods.values():
        if pod.node is None or pod.ip is None:
            continue
        tcp, udp = listener_ports(pod)
        if not tcp and not udp:
            continue
        yield (node_netns_id(pod.node) if pod.is_host_network else pod_netns_id(pod.key)), pod


def _start_listeners(dataplane: Dataplane, state: LabState, state_dir: Path) -> LabState:
    started: list[tuple[subprocess.Popen[bytes], Listener]] = []
    for netns, pod in _listeners(dataplane):
        tcp, udp = listener_ports(pod)
        args = ["serve", "--pod", pod.key]
        args += [a for p in tcp for a in ("--tcp", str(p))]
        args += [a for p in udp for a in ("--udp", str(p))]
        real = state.namespaces[netns]
        process = subprocess.Popen(
            agent_command(real, *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=agent_environment(),
            start_new_session=True,
        )
        _CHILDREN[process.pid] = process
        listener = Listener(process.pid, real, pod.key)
        state = state.with_listener(listener)
        write_state_file(state_dir, state)
        started.append((process, listener))
    deadline = time.monotonic() + READY_TIMEOUT
    for process, listener in started:
        assert process.stdout is not None and process.stderr is not None
        ready, _, _ = select.select([process.stdout], [], [], max(0, deadline - time.monotonic()))
        line = process.stdout.readline().decode().strip() if ready else ""
        if line != "ready":
            process.kill()
            error = process.stderr.read().decode().strip().splitlines()
            said = error[-1] if error else f"no 'ready' within {READY_TIMEOUT:.0f} s"
            raise LabError(f"listener of {listener.pod} in {listener.namespace}: {said}")
        process.stdout.close()
        process.stderr.close()
    return state


def _load_rules(dataplane: Dataplane, state: LabState) -> None:
    for ns in dataplane.namespaces.values():
        real = state.namespaces[ns.id]
        if ns.kind is NamespaceKind.NODE:
            in_namespace(real, "iptables-restore", stdin=node_payload(dataplane, ns.owner))
        elif ns.iptables:
            in_namespace(real, "iptables-restore", stdin=namespace_payload(ns.iptables))
    for netns, payload in policy_payloads(dataplane).items():
        in_namespace(state.namespaces[netns], "iptables-restore", "--noflush", stdin=payload)


def lab_up(
    dataplane: Dataplane, *, name: str, topology: str, mode: str | None, state_dir: Path
) -> LabState:
    """Build the lab ``name`` from ``dataplane``; its state (also in the state file).

    A stale lab of the same name is removed first. On any failure everything
    made is removed and the error propagates.

    Raises:
        LabError: a kernel command failed, or a listener did not start.
    """
    prefix = lab_prefix(name)
    lab_down(state_dir, name)
    state = LabState(name, topology, mode)
    write_state_file(state_dir, state)
    real = {netns: real_namespace_name(prefix, netns) for netns in dataplane.namespaces}
    try:

        def made(netns: str, real_name: str) -> None:
            nonlocal state
            state = state.with_namespace(netns, real_name)
            write_state_file(state_dir, state)

        build_namespaces(dataplane, real, made)
        settle(list(real.values()))
        _load_rules(dataplane, state)
        state = _start_listeners(dataplane, state, state_dir)
    except BaseException:
        lab_down(state_dir, name)
        raise
    return state


def _is_our_agent(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return AGENT_MODULE.encode() in f.read()
    except OSError:
        return False


def _kill(pid: int) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.kill()
        child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
        return
    if not _is_our_agent(pid):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # our own child (started in this process): reap it


def _namespace_pids(namespace: str) -> list[int]:
    try:
        return [int(p) for p in run(["ip", "netns", "pids", namespace]).split()]
    except LabError:
        return []


def lab_down(state_dir: Path, name: str) -> list[str]:
    """Remove lab ``name``: listeners, namespaces (recorded and under its prefix), state file.

    Returns:
        The namespaces deleted.
    """
    prefix = lab_prefix(name)
    state = load_state_file(state_dir, name)
    names = list(state.namespaces.values()) if state is not None else []
    names += [n for n in list_namespaces() if n.startswith(prefix) and n not in names]
    for listener in state.listeners if state is not None else ():
        _kill(listener.pid)
    for namespace in names:
        for pid in _namespace_pids(namespace):
            _kill(pid)  # only our agents: also those started before a crash could record them
    deleted = [n for n in names if delete_namespace(n)]
    state_path(state_dir, name).unlink(missing_ok=True)
    return deleted


@dataclass(frozen=True, slots=True)
class LabStatus:
    """What exists of one lab (``name`` None: namespaces under no known lab's prefix)."""

    name: str | None
    topology: str | None
    mode: str | None
    namespaces: tuple[str, ...]
    missing: tuple[str, ...]  # recorded but gone
    listeners: int
    listeners_alive: int


def lab_status(state_dir: Path) -> tuple[LabStatus, ...]:
    """Every lab with a state file in ``state_dir``, then any stray ``nsl-`` namespaces."""
    existing = [n for n in list_namespaces() if n.startswith(LAB_PREFIX)]
    found: list[LabStatus] = []
    claimed: set[str] = set()
    for path in sorted(state_dir.glob("*.json")) if state_dir.is_dir() else ():
        state = load_state_file(state_dir, path.stem)
        if state is None:
            continue
        mine = [n for n in existing if n.startswith(state.prefix)]
        claimed.update(mine)
        recorded = list(state.namespaces.values())
        alive = sum(1 for s in state.listeners if _is_our_agent(s.pid))
        found.append(
            LabStatus(
                state.name,
                state.topology,
                state.mode,
                tuple(mine),
                tuple(n for n in recorded if n not in mine),
                len(state.listeners),
                alive,
            )
        )
    stray = tuple(n for n in existing if n not in claimed)
    if stray:
        found.append(LabStatus(None, None, None, stray, (), 0, 0))
    return tuple(found)
