"""The ``netsim`` command line (typer). One module per command group.

A command parses its options, calls the library and renders. A
:class:`~netsim.errors.NetsimError` becomes one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer

from netsim.cli import cni, compare, diff, graph, lab, lint, reach, rules, show, trace
from netsim.errors import NetsimError

__all__ = ["app", "main"]

app = typer.Typer(
    name="netsim",
    help="Kubernetes network model and packet-path tracer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
show.register(app)
trace.register(app)
reach.register(app)
compare.register(app)
lint.register(app)
diff.register(app)
graph.register(app)
rules.register(app)
cni.register(app)
lab.register(app)


def main() -> None:
    """Console-script entry point: usage errors exit 2 with click's message."""
    try:
        app()
    except NetsimError as exc:
        print(f"netsim: error: {exc}", file=sys.stderr)
        sys.exit(2)
