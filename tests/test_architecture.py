"""Imports go one way through the pipeline stages; only some modules may use typer, scapy, yaml."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "netsim"

# Each stage may import itself and the stages listed for it (and what those may import).
ALLOWED: dict[str, set[str]] = {
    "__main__": {"cli"},
    "errors": set(),
    "naming": set(),
    "model": {"errors", "naming"},
    "control": {"model", "errors", "naming"},
    "cni": {"control", "errors"},
    "dataplane": {"control", "model", "errors", "naming"},
    "netfilter": {"control", "model", "errors", "naming"},
    "policy": {"control", "model", "errors", "naming", "dataplane", "netfilter"},
    "trace": {"policy", "dataplane", "netfilter", "control", "model", "errors", "naming"},
    "capture": {"trace", "dataplane", "netfilter", "control", "model", "errors", "naming"},
    "compare": {
        "trace",
        "policy",
        "dataplane",
        "netfilter",
        "control",
        "model",
        "errors",
        "naming",
    },
    "report": {
        "compare",
        "trace",
        "policy",
        "dataplane",
        "netfilter",
        "control",
        "model",
        "errors",
        "naming",
    },
    "lab": {
        "trace",
        "policy",
        "dataplane",
        "netfilter",
        "control",
        "model",
        "errors",
        "naming",
        "report",
    },
    "cli": {
        "compare",
        "report",
        "capture",
        "trace",
        "policy",
        "dataplane",
        "netfilter",
        "control",
        "model",
        "errors",
        "naming",
        "cni",
        "lab",
    },
}
THIRD_PARTY = {"typer": {"cli"}, "click": {"cli"}, "scapy": {"capture", "lab"}, "yaml": {"model"}}


def stage_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(PACKAGE)) for p in SOURCES])
def test_imports_go_one_way(path: Path) -> None:
    stage = stage_of(path)
    assert stage in ALLOWED, f"{path}: stage {stage!r} is not in the architecture map"
    for module in imported_modules(path):
        top, _, rest = module.partition(".")
        if top == "netsim" and rest:
            target = rest.split(".")[0]
            assert target == stage or target in ALLOWED[stage], (
                f"{path.relative_to(PACKAGE)} imports netsim.{rest}: {stage} may not import {target}"
            )
        if top in THIRD_PARTY:
            assert stage in THIRD_PARTY[top], f"{path.relative_to(PACKAGE)} imports {top}"


def test_the_map_covers_every_stage() -> None:
    stages = {stage_of(p) for p in SOURCES}
    assert stages <= set(ALLOWED)
    assert {"model", "control", "errors"} <= stages
