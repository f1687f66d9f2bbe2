"""The ``netsim`` command line (typer). One module per command group.

A command parses its options, calls the library and renders. A
:class:`~netsim.errors.NetsimError` becomes one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer

from netsim.cli import cni, show
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
cni.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app(standalone_mode=False)
    except NetsimError as exc:
        print(f"netsim: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("netsim: aborted", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
