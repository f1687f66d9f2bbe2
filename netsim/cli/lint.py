"""``netsim lint TOPOLOGY``: NetworkPolicy rules that can never match in this cluster."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from netsim.cli.common import load_state
from netsim.policy.lint import lint_policies
from netsim.report.lint import lint_rows, render_lint_text

__all__ = ["LintFormat", "register"]

FINDINGS_EXIT_CODE = 1  # like a linter: CI fails on findings; input errors stay exit 2


class LintFormat(StrEnum):
    """Output formats of ``netsim lint``."""

    TEXT = "text"
    JSON = "json"


def lint(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).")],
    output_format: Annotated[
        LintFormat, typer.Option("--format", "-f", help="text or json.")
    ] = LintFormat.TEXT,
) -> None:
    """Report NetworkPolicy rules that can never match; exit 1 when there are findings."""
    findings = lint_policies(load_state(topology))
    if output_format is LintFormat.JSON:
        typer.echo(json.dumps(lint_rows(findings), indent=2))
    else:
        typer.echo(render_lint_text(findings), nl=False)
    if findings:
        raise typer.Exit(FINDINGS_EXIT_CODE)


def register(app: typer.Typer) -> None:
    """Add the command to the application."""
    app.command("lint")(lint)
