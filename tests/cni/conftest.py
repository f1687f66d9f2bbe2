"""Running CNI plugins (netsim's and the reference host-local) as the runtime does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

REFERENCE_PLUGIN = Path("/usr/lib/cni/host-local")  # Debian containernetworking-plugins
NETSIM_PLUGIN = (sys.executable, "-m", "netsim.cni")
BASE_ENV = {"CNI_PATH": "/usr/lib/cni", "CNI_NETNS": "/var/run/netns/none", "CNI_IFNAME": "eth0"}
DATA_DIR_MARK = "@D"  # replaced by each plugin's own dataDir in configs

RunCNI = Callable[..., tuple[int, str]]


def cni_env(command: str, container_id: str, env: Mapping[str, str | None]) -> dict[str, str]:
    """The plugin's environment: PATH and friends, the CNI base, the call's overrides."""
    merged: dict[str, str | None] = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **BASE_ENV,
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        **env,
    }
    return {key: value for key, value in merged.items() if value is not None}


def render_config(config: object, data_dir: Path) -> bytes:
    """The config as stdin bytes, ``@D`` standing for the dataDir."""
    text = config if isinstance(config, str) else json.dumps(config)
    return text.replace(DATA_DIR_MARK, str(data_dir)).encode("utf-8", "surrogateescape")


@pytest.fixture
def reference_plugin() -> tuple[str, ...]:
    """The reference host-local binary, or a skip saying why."""
    if not os.access(REFERENCE_PLUGIN, os.X_OK):
        pytest.skip(
            f"{REFERENCE_PLUGIN} not found: install Debian's containernetworking-plugins"
            " (scripts/check does) to compare netsim with the reference host-local"
        )
    return (str(REFERENCE_PLUGIN),)


@pytest.fixture
def netsim_plugin() -> tuple[str, ...]:
    """``python -m netsim.cni`` with this interpreter."""
    return NETSIM_PLUGIN


@pytest.fixture
def run_cni() -> RunCNI:
    """Run one plugin call: ``run_cni(argv, command, container_id, config, data_dir, **env)``."""

    def run(
        argv: Sequence[str],
        command: str,
        container_id: str,
        config: object,
        data_dir: Path,
        **env: str | None,
    ) -> tuple[int, str]:
        done = subprocess.run(
            list(argv),
            input=render_config(config, data_dir),
            env=cni_env(command, container_id, env),
            capture_output=True,
            cwd=data_dir,
            check=False,
            timeout=60,
        )
        return done.returncode, done.stdout.decode("utf-8", "replace")

    return run


def read_store(data_dir: Path) -> dict[str, bytes]:
    """Every file below ``data_dir`` with its content (FIFOs and the like excluded)."""
    files: dict[str, bytes] = {}
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(data_dir))] = path.read_bytes()
    return files


@pytest.fixture
def store_files() -> Callable[[Path], dict[str, bytes]]:
    """``store_files(data_dir)``: the files of a dataDir and their contents."""
    return read_store
