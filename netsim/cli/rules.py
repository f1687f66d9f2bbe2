"""``netsim rules TOPOLOGY --node NODE``: the iptables rules kube-proxy installs on a node."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from netsim.cli.common import load_state
from netsim.errors import InputError

__all__ = ["register"]


class RulesFormat(StrEnum):
    """Output forms of ``netsim rules``."""

    SAVE = "save"
    RESTORE = "restore"


def rules(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).")],
    node: Annotated[str, typer.Option("--node", "-n", help="The node whose rules to print.")],
    output_format: Annotated[
        RulesFormat,
        typer.Option(
            "--format",
            "-f",
            help="save: as iptables-save prints the loaded rules; restore: kube-proxy's payload.",
        ),
    ] = RulesFormat.SAVE,
    diff: Annotated[
        Path | None,
        typer.Option("--diff", help="An iptables-save dump from a real node to compare with."),
    ] = None,
) -> None:
    """Print the node's kube-proxy ruleset, or compare it with a real node's dump."""
    from netsim.control.kubeproxy import node_rules
    from netsim.netfilter.diff import diff_rulesets
    from netsim.netfilter.node import kube_proxy_ruleset
    from netsim.netfilter.parse import parse_iptables_save
    from netsim.netfilter.render import render_iptables_save
    from netsim.report.rules import render_diff

    state = load_state(topology)
    if node not in state.nodes:
        raise InputError(
            f"no node {node!r} in the topology (nodes: {', '.join(state.nodes)})", field="--node"
        )
    if diff is not None:
        try:
            text = diff.read_text()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", source=str(diff)) from None
        actual = parse_iptables_save(text, str(diff))
        differences = diff_rulesets(kube_proxy_ruleset(state, node), actual)
        typer.echo(render_diff(differences, node, str(diff)), nl=False)
        raise typer.Exit(1 if differences else 0)
    if output_format is RulesFormat.RESTORE:
        typer.echo(node_rules(state, node).restore_text(), nl=False)
    else:
        typer.echo(render_iptables_save(kube_proxy_ruleset(state, node)), nl=False)


def register(app: typer.Typer) -> None:
    """Add the command to the application."""
    app.command("rules")(rules)
