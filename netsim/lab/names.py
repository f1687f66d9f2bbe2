"""A lab's names and its state file.

Every network namespace a lab makes is named ``nsl-<lab>-<netns id>``, the
model's netns id (:mod:`netsim.naming`) with ``:`` and ``/`` turned into ``-``
(``node:node-1`` -> ``nsl-3f2a-node-node-1``). ``<lab>`` is ``--name`` or four
random hex digits, so one prefix marks everything the lab owns and nothing
else: ``netsim lab down`` deletes exactly the namespaces under it.

The state file (``<state dir>/<lab>.json``, default state dir ``/run/netsim``)
is written before the first namespace is made and rewritten after each one and
after each listener starts, so that ``down`` after a crash removes exactly
what exists. It records the topology (path and mode), the real name of every
namespace made (by netns id) and the listeners' process ids.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Final

from netsim.errors import LabError

__all__ = [
    "DEFAULT_STATE_DIR",
    "LAB_PREFIX",
    "LabState",
    "Listener",
    "lab_prefix",
    "load_state_file",
    "new_lab_name",
    "real_namespace_name",
    "state_path",
    "write_state_file",
]

LAB_PREFIX: Final = "nsl-"  # every namespace of every lab starts with it
DEFAULT_STATE_DIR: Final = Path("/run/netsim")  # tmpfs: a reboot forgets labs with their netns
_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
STATE_VERSION: Final = 1


def new_lab_name() -> str:
    """Four random hex digits.

    >>> len(new_lab_name())
    4
    """
    return secrets.token_hex(2)


def lab_prefix(name: str) -> str:
    """The prefix of every namespace of lab ``name``.

    >>> lab_prefix("ci1")
    'nsl-ci1-'

    Raises:
        LabError: the name is not 1-16 lowercase letters, digits or dashes.
    """
    if not _NAME.match(name):
        raise LabError(
            f"lab name {name!r}: use 1-16 lowercase letters, digits and dashes (e.g. 'ci1')"
        )
    return f"{LAB_PREFIX}{name}-"


def real_namespace_name(prefix: str, netns_id: str) -> str:
    """The name in ``/run/netns`` of the model namespace ``netns_id``.

    >>> real_namespace_name("nsl-ci1-", "pod:shop/web-1")
    'nsl-ci1-pod-shop-web-1'
    """
    return prefix + netns_id.replace(":", "-").replace("/", "-")


@dataclass(frozen=True, slots=True)
class Listener:
    """A listener process the lab started: its pid, namespace and the pod it stands for."""

    pid: int
    namespace: str
    pod: str


@dataclass(frozen=True, slots=True)
class LabState:
    """What a lab has made (the state file's content).

    ``namespaces`` maps netns ids to the real names made so far, in creation order.
    """

    name: str
    topology: str
    mode: str | None
    namespaces: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    listeners: tuple[Listener, ...] = ()

    @property
    def prefix(self) -> str:
        """``nsl-<name>-``."""
        return lab_prefix(self.name)

    def with_namespace(self, netns_id: str, real: str) -> LabState:
        """This state with one more namespace."""
        return replace(self, namespaces=MappingProxyType({**self.namespaces, netns_id: real}))

    def with_listener(self, listener: Listener) -> LabState:
        """This state with one more listener."""
        return replace(self, listeners=(*self.listeners, listener))


def state_path(state_dir: Path, name: str) -> Path:
    """``<state dir>/<name>.json``."""
    return state_dir / f"{name}.json"


def write_state_file(state_dir: Path, state: LabState) -> None:
    """Write the state atomically (a rename), creating the directory.

    Raises:
        LabError: the directory cannot be written.
    """
    data = {
        "version": STATE_VERSION,
        "name": state.name,
        "prefix": state.prefix,
        "topology": state.topology,
        "mode": state.mode,
        "namespaces": dict(state.namespaces),
        "listeners": [
            {"pid": s.pid, "namespace": s.namespace, "pod": s.pod} for s in state.listeners
        ],
    }
    path = state_path(state_dir, state.name)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(temporary, path)
    except OSError as error:
        raise LabError(f"cannot write the lab state file {path}: {error.strerror}") from None


def load_state_file(state_dir: Path, name: str) -> LabState | None:
    """The state of lab ``name``, or None when it has no state file.

    Raises:
        LabError: the file exists but is not a lab state file.
    """
    path = state_path(state_dir, name)
    try:
        data = json.loads(path.read_text())
        return LabState(
            name=str(data["name"]),
            topology=str(data["topology"]),
            mode=None if data["mode"] is None else str(data["mode"]),
            namespaces=MappingProxyType({str(k): str(v) for k, v in data["namespaces"].items()}),
            listeners=tuple(
                Listener(int(s["pid"]), str(s["namespace"]), str(s["pod"]))
                for s in data["listeners"]
            ),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise LabError(f"{path}: not a netsim lab state file ({error}); delete it") from None
