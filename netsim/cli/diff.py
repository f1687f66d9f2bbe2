"""``netsim diff A B``: flows whose NetworkPolicy verdict changes between two cluster states."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from netsim.cli.common import load_state
from netsim.policy.diff import policy_diff
from netsim.report.policy_diff import diff_rows, render_diff_text

__all__ = ["DiffFormat", "register"]

CHANGES_EXIT_CODE = 1  # like diff(1): 1 when the inputs differ; input errors stay exit 2


class DiffFormat(StrEnum):
    """Output formats of ``netsim diff``."""

    TEXT = "text"
    JSON = "json"


def diff(
    before: Annotated[Path, typer.Argument(help="Topology file before the change (A).")],
    after: Annotated[Path, typer.Argument(help="Topology file after the change (B).")],
    output_format: Annotated[
        DiffFormat, typer.Option("--format", "-f", help="text or json.")
    ] = DiffFormat.TEXT,
) -> None:
    """List every flow whose verdict differs from A to B; exit 1 when there are any."""
    found = policy_diff(load_state(before), load_state(after))
    if output_format is DiffFormat.JSON:
        typer.echo(json.dumps(diff_rows(found), indent=2))
        if found.only_in_a or found.only_in_b:
            print(
                f"netsim: {len(found.only_in_a)} endpoints only in A,"
                f" {len(found.only_in_b)} only in B: not compared",
                file=sys.stderr,
            )
    else:
        typer.echo(render_diff_text(found), nl=False)
    if found.changes:
        raise typer.Exit(CHANGES_EXIT_CODE)


def register(app: typer.Typer) -> None:
    """Add the command to the application."""
    app.command("diff")(diff)
