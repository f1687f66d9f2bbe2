"""``netsim trace TOPOLOGY --from X --to Y``: what happens to one packet, hop by hop."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from netsim.cli.common import load_state
from netsim.control.state import ClusterState
from netsim.dataplane.build import build_dataplane
from netsim.model.selectors import selector_matches
from netsim.policy import policy_judge
from netsim.policy.lint import lint_policies
from netsim.report.trace import render_trace_text, trace_json
from netsim.report.trace_diagram import render_trace_dot, render_trace_mermaid
from netsim.trace import (
    DEFAULT_SPORT,
    AllowAll,
    Disposition,
    L4Protocol,
    PolicyJudge,
    make_flow,
    prepare,
    trace_flow,
)
from netsim.trace.model import Policy, Trace

__all__ = ["TraceFormat", "register"]


class TraceFormat(StrEnum):
    """Output formats of ``netsim trace``."""

    TEXT = "text"
    JSON = "json"
    DOT = "dot"
    MERMAID = "mermaid"


def trace(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).")],
    source: Annotated[
        str,
        typer.Option("--from", help="ext:NAME | ext:IP | NAMESPACE/POD | node:NODE"),
    ],
    destination: Annotated[
        str,
        typer.Option(
            "--to",
            help="node:NODE:PORT | svc:NAMESPACE/NAME:PORT | NAMESPACE/POD:PORT | IP:PORT",
        ),
    ],
    protocol: Annotated[
        L4Protocol, typer.Option("--protocol", help="tcp, udp or sctp.")
    ] = L4Protocol.TCP,
    sport: Annotated[int, typer.Option("--sport", help="Source port.")] = DEFAULT_SPORT,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Follow one load-balancing pick (default: every one)."),
    ] = None,
    reply: Annotated[
        bool, typer.Option("--reply", help="Also trace the reply of delivered packets.")
    ] = False,
    output_format: Annotated[
        TraceFormat, typer.Option("--format", "-f", help="text, json, dot or mermaid.")
    ] = TraceFormat.TEXT,
    expect: Annotated[
        Disposition | None,
        typer.Option("--expect", help="Exit 1 when any outcome ends otherwise."),
    ] = None,
    connections: Annotated[
        int,
        typer.Option(
            "--connections",
            min=1,
            max=1000,
            help="Trace N successive connections from the same client (source ports"
            " SPORT, SPORT+1, ...) keeping conntrack and recent state, so sessionAffinity"
            " shows; each follows one pick (--seed, default 1).",
        ),
    ] = 1,
    pcap: Annotated[
        Path | None,
        typer.Option(
            "--pcap",
            help="Also write the frame on the wire at every hop to FILE (pcapng).",
            dir_okay=False,
        ),
    ] = None,
    no_policy: Annotated[
        bool,
        typer.Option(
            "--no-policy", help="Do not evaluate NetworkPolicies (allow every connection)."
        ),
    ] = False,
) -> None:
    """Trace a packet from --from to --to through every device, route and rule."""
    state = load_state(topology)
    dataplane = build_dataplane(state)
    index = prepare(dataplane)
    judge: PolicyJudge = AllowAll() if no_policy else policy_judge(state, dataplane)
    if connections == 1:
        flow = make_flow(dataplane, source, destination, protocol=protocol, sport=sport)
        runs = [trace_flow(index, flow, seed=seed, reply=reply, judge=judge)]
    else:
        runs = []
        session = None
        for number in range(connections):
            flow = make_flow(
                dataplane, source, destination, protocol=protocol, sport=sport + number
            )
            run = trace_flow(
                index,
                flow,
                seed=(1 if seed is None else seed) + number,
                session=session,
                reply=reply,
                judge=judge,
            )
            session = run[-1].session
            runs.append(run)
    traces = tuple(trace for run in runs for trace in run)
    if not no_policy:
        for warning in policy_warnings(state, traces):
            typer.echo(f"netsim: warning: {warning}", err=True)
    if pcap is not None:
        from netsim.capture import write_pcapng  # lazy: only --pcap loads Scapy

        count = write_pcapng(traces, pcap, dataplane)
        typer.echo(f"netsim: wrote {count} frames to {pcap}", err=True)
    for number, run in enumerate(runs):
        if len(runs) > 1 and output_format is TraceFormat.TEXT:
            typer.echo(f"connection {number + 1}/{len(runs)}")
        if output_format is TraceFormat.JSON and len(runs) > 1:
            if number == 0:
                data = {"connections": [trace_json(r) for r in runs]}
                typer.echo(json.dumps(data, indent=2))
        elif output_format is TraceFormat.JSON:
            typer.echo(json.dumps(trace_json(run), indent=2))
        elif output_format is TraceFormat.DOT:
            typer.echo(render_trace_dot(run), nl=False)
        elif output_format is TraceFormat.MERMAID:
            typer.echo(render_trace_mermaid(run), nl=False)
        else:
            width = shutil.get_terminal_size((100, 40)).columns
            typer.echo(render_trace_text(run, width=width), nl=False)
    if expect is not None:
        wrong = [t for t in traces if t.disposition is not expect]
        if wrong:
            got = ", ".join(sorted({t.disposition.value for t in wrong}))
            typer.echo(f"netsim: expected {expect.value}, got {got}", err=True)
            raise typer.Exit(1)


def policy_warnings(state: ClusterState, traces: Sequence[Trace]) -> list[str]:
    """Lint findings of the NetworkPolicies selecting a pod these traces judged."""
    judged = [
        state.pods[step.pod].pod
        for trace in traces
        for hop in trace.hops
        for step in hop.steps
        if isinstance(step, Policy) and step.pod in state.pods
    ]
    relevant = {
        policy.key
        for policy in state.network_policies
        if any(
            pod.namespace == policy.namespace and selector_matches(policy.pod_selector, pod.labels)
            for pod in judged
        )
    }
    if not relevant:
        return []
    return [
        f"lint: {finding.policy} {finding.path}: {finding.kind}: {finding.message}"
        f" (fix: {finding.hint})"
        for finding in lint_policies(state, relevant)
    ]


def register(app: typer.Typer) -> None:
    """Add the command to the application."""
    app.command("trace")(trace)
