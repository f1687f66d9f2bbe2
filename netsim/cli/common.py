"""Helpers shared by command modules: loading a cluster and reporting warnings."""

from __future__ import annotations

import sys
from pathlib import Path

from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.model.spec import load_cluster

__all__ = ["load_state", "print_warnings"]


def load_state(topology: Path) -> ClusterState:
    """Load, validate and realize a topology file; warnings go to stderr."""
    state = realize(load_cluster(topology))
    print_warnings(state.warnings)
    return state


def print_warnings(warnings: tuple[str, ...]) -> None:
    """One line per warning on stderr."""
    for warning in warnings:
        print(f"netsim: warning: {warning}", file=sys.stderr)
