"""Many plugin processes on one dataDir, and processes killed at the worst moment.

Nothing here waits a fixed time: each wait polls a condition the test can see
(a waiter in /proc/locks, the store lock being held).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import ip_interface
from pathlib import Path

import pytest

from tests.cni.conftest import NETSIM_PLUGIN, RunCNI, cni_env, render_config

PROCESSES = 60
DEADLINE_SECONDS = 60.0  # generous upper bound for a condition to become true


def net(data_dir: Path, ranges: list[list[dict[str, str]]]) -> dict[str, object]:
    return {
        "cniVersion": "1.0.0",
        "name": "testnet",
        "type": "bridge",
        "ipam": {"type": "host-local", "dataDir": str(data_dir), "ranges": ranges},
    }


def start(
    argv: tuple[str, ...], container_id: str, config: object, data_dir: Path, **env: str
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cni_env("ADD", container_id, env),
        cwd=data_dir,
    )
    assert process.stdin is not None
    process.stdin.write(render_config(config, data_dir))
    process.stdin.close()
    process.stdin = None  # written and closed: communicate() must not flush it
    return process


def finish(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    stdout, _ = process.communicate(timeout=DEADLINE_SECONDS)
    return process.returncode, stdout.decode()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def add_concurrently(
    argv_for: Callable[[int], tuple[str, ...]], data_dir: Path, count: int
) -> dict[str, str]:
    """Start ``count`` ADDs before waiting on any; return container ID -> address."""
    config = net(data_dir, [[{"subnet": "10.44.0.0/24"}]])
    processes = {f"ctr{i}": start(argv_for(i), f"ctr{i}", config, data_dir) for i in range(count)}
    results = {cid: finish(process) for cid, process in processes.items()}
    failed = {cid: result for cid, result in results.items() if result[0] != 0}
    assert not failed
    return {cid: json.loads(out)["ips"][0]["address"] for cid, (_, out) in results.items()}


def assert_store_matches(data_dir: Path, addresses: dict[str, str]) -> None:
    directory = data_dir / "testnet"
    files = {p.name for p in directory.iterdir()}
    assert files == {str(ip_interface(a).ip) for a in addresses.values()} | {
        "lock",
        "last_reserved_ip.0",
    }
    for cid, address in addresses.items():
        assert (directory / str(ip_interface(address).ip)).read_bytes() == f"{cid}\r\neth0".encode()
    last = (directory / "last_reserved_ip.0").read_text()
    assert last in {str(ip_interface(a).ip) for a in addresses.values()}


def test_concurrent_adds_get_distinct_addresses(tmp_path: Path) -> None:
    addresses = add_concurrently(lambda _: NETSIM_PLUGIN, tmp_path, PROCESSES)
    assert len(set(addresses.values())) == PROCESSES
    assert_store_matches(tmp_path, addresses)


def test_concurrent_adds_mixed_with_the_reference(
    tmp_path: Path, reference_plugin: tuple[str, ...]
) -> None:
    """netsim and the Go plugin share the dataDir and its lock without a clash."""
    addresses = add_concurrently(
        lambda i: reference_plugin if i % 2 else NETSIM_PLUGIN, tmp_path, PROCESSES
    )
    assert len(set(addresses.values())) == PROCESSES
    assert_store_matches(tmp_path, addresses)


@contextmanager
def holding_store_lock(data_dir: Path) -> Iterator[int]:
    """Hold the store's flock from the test (as another plugin process would)."""
    directory = data_dir / "testnet"
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "lock", os.O_CREAT | os.O_RDONLY, 0o750)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def waits_for_flock(pid: int) -> bool:
    """Whether ``pid`` is queued behind a flock (a ``->`` line of /proc/locks)."""
    lines = Path("/proc/locks").read_text().splitlines()
    return any("->" in line and "FLOCK" in line and f" {pid} " in line for line in lines)


def store_lock_is_held(data_dir: Path) -> bool:
    fd = os.open(data_dir / "testnet" / "lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def blocked_opening_fifo(pid: int) -> bool:
    """Whether ``pid`` sleeps in the kernel's FIFO open (True if the kernel hides it)."""
    try:
        wchan = Path(f"/proc/{pid}/wchan").read_text().strip()
    except OSError:
        return True
    return wchan in ("wait_for_partner", "fifo_open", "0", "")


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=DEADLINE_SECONDS)
    assert process.returncode == -signal.SIGKILL


def test_killed_while_waiting_for_the_lock_changes_nothing(
    tmp_path: Path, run_cni: RunCNI, store_files: Callable[[Path], dict[str, bytes]]
) -> None:
    if not Path("/proc/locks").exists():
        pytest.skip("/proc/locks is needed to see that the plugin waits for the lock")
    config = net(tmp_path, [[{"subnet": "10.45.0.0/29"}]])
    assert run_cni(NETSIM_PLUGIN, "ADD", "before", config, tmp_path)[0] == 0
    before = store_files(tmp_path)
    with holding_store_lock(tmp_path):
        victim = start(NETSIM_PLUGIN, "victim", config, tmp_path)
        wait_until(lambda: waits_for_flock(victim.pid), "the plugin waits for the store lock")
        kill(victim)
    assert store_files(tmp_path) == before
    code, out = run_cni(NETSIM_PLUGIN, "ADD", "after", config, tmp_path)
    assert (code, json.loads(out)["ips"][0]["address"]) == (0, "10.45.0.3/29")


def test_killed_while_holding_the_lock_loses_nothing(
    tmp_path: Path, run_cni: RunCNI, store_files: Callable[[Path], dict[str, bytes]]
) -> None:
    """Killed inside an ADD, after its IPv4 reservation and holding the lock for IPv6.

    The process is made to block deterministically under the lock: a FIFO planted
    in the store directory is opened (and waits for a writer) by the scan for the
    attachment's addresses, which set 1 does under the lock. Set 0 takes a
    requested IP, which needs no scan. The kernel drops the flock with the
    process; what the killed ADD reserved stays its own until the runtime's DEL
    (CNI runs a DEL after every failed ADD), and nothing else is touched.
    """
    config = net(tmp_path, [[{"subnet": "10.46.0.0/29"}], [{"subnet": "fd00:46::/125"}]])
    assert run_cni(NETSIM_PLUGIN, "ADD", "other", config, tmp_path)[0] == 0
    directory = tmp_path / "testnet"
    os.mkfifo(directory / "zz-fifo")
    victim = start(NETSIM_PLUGIN, "victim", config, tmp_path, CNI_ARGS="IP=10.46.0.5")
    wait_until(
        lambda: (
            blocked_opening_fifo(victim.pid)
            and (directory / "last_reserved_ip.0").read_bytes() == b"10.46.0.5"
            and store_lock_is_held(tmp_path)
        ),
        "the plugin holds the lock for set 1, set 0 reserved",
    )
    kill(victim)
    assert not store_lock_is_held(tmp_path)
    (directory / "zz-fifo").unlink()
    files = store_files(tmp_path)
    assert files["testnet/10.46.0.5"] == b"victim\r\neth0"
    assert files["testnet/10.46.0.2"] == b"other\r\neth0"
    assert files["testnet/fd00:46::2"] == b"other\r\neth0"
    assert files["testnet/last_reserved_ip.0"] == b"10.46.0.5"
    assert files["testnet/last_reserved_ip.1"] == b"fd00:46::2"
    assert run_cni(NETSIM_PLUGIN, "DEL", "victim", config, tmp_path) == (0, "")
    code, out = run_cni(NETSIM_PLUGIN, "ADD", "victim", config, tmp_path, CNI_ARGS="IP=10.46.0.5")
    assert code == 0
    assert [ip["address"] for ip in json.loads(out)["ips"]] == ["10.46.0.5/29", "fd00:46::3/125"]
    assert run_cni(NETSIM_PLUGIN, "CHECK", "other", config, tmp_path) == (0, "")
