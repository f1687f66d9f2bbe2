"""``netsim cni``: run as a CNI IPAM plugin (host-local semantics)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def cni() -> None:
    """Act as a CNI IPAM plugin: CNI_* environment, network config on stdin (see docs/cni.md)."""
    from netsim.cni.plugin import run

    run()


def register(app: typer.Typer) -> None:
    """Add the command to the application."""
    app.command("cni")(cni)
