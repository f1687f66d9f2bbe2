"""lab up / status / down in the kernel: everything made is removed, also after a failure."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from netsim.errors import LabError
from netsim.lab import lifecycle
from netsim.lab.build import build_namespaces
from netsim.lab.kernel import list_namespaces, run
from netsim.lab.lifecycle import lab_down, lab_status, lab_up
from netsim.lab.names import lab_prefix, state_path
from tests.dataplane.clusters import example

pytestmark = pytest.mark.kernel


def _leftovers(name: str) -> list[str]:
    return [n for n in list_namespaces() if n.startswith(lab_prefix(name))]


def test_up_status_down(kernel_lab: tuple[str, Path]) -> None:
    name, state_dir = kernel_lab
    dataplane = example("l3")
    state = lab_up(
        dataplane, name=name, topology="topologies/l3.yaml", mode=None, state_dir=state_dir
    )
    assert set(state.namespaces) == set(dataplane.namespaces)
    assert sorted(_leftovers(name)) == sorted(state.namespaces.values())
    saved = json.loads(state_path(state_dir, name).read_text())
    assert saved["namespaces"] == dict(state.namespaces)
    (status,) = [s for s in lab_status(state_dir) if s.name == name]
    assert status.listeners == status.listeners_alive == len(state.listeners) == 6
    assert status.missing == ()
    node = state.namespaces["node:node-1"]
    assert "KUBE-SERVICES" in run(["ip", "netns", "exec", node, "iptables-save"])
    pids = [s.pid for s in state.listeners]
    deleted = lab_down(state_dir, name)
    assert sorted(deleted) == sorted(state.namespaces.values())
    assert _leftovers(name) == []
    assert not state_path(state_dir, name).exists()
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)
    assert [s for s in lab_status(state_dir) if s.name == name] == []


def test_a_failing_step_leaves_nothing(
    kernel_lab: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, state_dir = kernel_lab

    def broken(*args: object) -> None:
        raise LabError("injected: iptables-restore failed")

    monkeypatch.setattr(lifecycle, "_load_rules", broken)
    with pytest.raises(LabError, match="injected"):
        lab_up(example("vxlan"), name=name, topology="t", mode=None, state_dir=state_dir)
    assert _leftovers(name) == []
    assert not state_path(state_dir, name).exists()


def test_a_failing_kernel_command_is_named(kernel_lab: tuple[str, Path]) -> None:
    name, state_dir = kernel_lab
    dataplane = example("l3")
    real = {
        n: f"{lab_prefix(name)}x" for n in list(dataplane.namespaces)[:2]
    }  # the same name twice
    with pytest.raises(LabError, match=r"ip netns add .*: Cannot create namespace file"):
        build_namespaces(dataplane, real)
    lab_down(state_dir, name)
    assert _leftovers(name) == []


def test_down_after_a_crash_removes_unrecorded_namespaces(kernel_lab: tuple[str, Path]) -> None:
    name, state_dir = kernel_lab
    stray = f"{lab_prefix(name)}stray"
    run(["ip", "netns", "add", stray])
    (stray_status,) = [s for s in lab_status(state_dir) if s.name is None and stray in s.namespaces]
    assert stray in stray_status.namespaces
    assert lab_down(state_dir, name) == [stray]
    assert _leftovers(name) == []


def test_up_replaces_a_stale_lab_of_the_same_name(kernel_lab: tuple[str, Path]) -> None:
    name, state_dir = kernel_lab
    stale = f"{lab_prefix(name)}stale"
    run(["ip", "netns", "add", stale])
    state = lab_up(example("l2"), name=name, topology="t", mode="l2", state_dir=state_dir)
    assert stale not in list_namespaces()
    assert state.mode == "l2"
