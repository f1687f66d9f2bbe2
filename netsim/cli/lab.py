"""``netsim lab``: build the cluster from real namespaces, probe it, verify the simulation."""

from __future__ import annotations

import json
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from netsim.cli.common import print_warnings
from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import Dataplane
from netsim.errors import LabError
from netsim.lab.flows import FlowSpec, all_flows, example_flows
from netsim.lab.lifecycle import lab_down, lab_status, lab_up
from netsim.lab.names import DEFAULT_STATE_DIR, LabState, load_state_file, new_lab_name
from netsim.lab.probe import DEFAULT_TIMEOUT, MAX_REPEATS, ProbeRequest, capture, run_probes
from netsim.lab.verify import checks_json, expect_flows, render_checks_text, verify_flows
from netsim.model.spec import load_cluster
from netsim.model.topology import PodNetworkMode
from netsim.trace import L4Protocol, make_flow

__all__ = ["VerifyFormat", "load_dataplane", "register"]

lab_app = typer.Typer(help="Build the cluster from real network namespaces and check the model.")

StateDir = Annotated[
    Path, typer.Option("--state-dir", help="Where lab state files live.", file_okay=False)
]
Mode = Annotated[
    PodNetworkMode | None,
    typer.Option("--mode", help="Override the topology's pod-network mode (l2, l3, vxlan)."),
]


class VerifyFormat(StrEnum):
    """Output formats of ``netsim lab verify``."""

    TEXT = "text"
    JSON = "json"


def load_dataplane(topology: Path, mode: PodNetworkMode | None) -> Dataplane:
    """Load, realize (in ``mode`` if given) and build a topology's dataplane."""
    spec = load_cluster(topology)
    if mode is not None:
        pod_network = replace(spec.topology.pod_network, mode=mode)
        spec = replace(spec, topology=replace(spec.topology, pod_network=pod_network))
    state = realize(spec)
    print_warnings(state.warnings)
    return build_dataplane(state)


def _only_lab(state_dir: Path, name: str | None) -> LabState:
    if name is None:
        names = [s.name for s in lab_status(state_dir) if s.name is not None]
        if len(names) != 1:
            known = ", ".join(names) or "none"
            raise LabError(f"name the lab with --name (labs in {state_dir}: {known})")
        name = names[0]
    state = load_state_file(state_dir, name)
    if state is None:
        raise LabError(f"no lab {name!r} in {state_dir}; start one with 'netsim lab up'")
    return state


def up(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).")],
    mode: Mode = None,
    name: Annotated[str | None, typer.Option("--name", help="Lab name (default: random).")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Build the cluster from real network namespaces (removes a stale lab of the name)."""
    dataplane = load_dataplane(topology, mode)
    name = name or new_lab_name()
    mode_text = None if mode is None else mode.value
    state = lab_up(
        dataplane, name=name, topology=str(topology), mode=mode_text, state_dir=state_dir
    )
    typer.echo(
        f"lab {state.name}: {len(state.namespaces)} namespaces ({state.prefix}*),"
        f" {len(state.listeners)} listeners"
    )


def down(
    name: Annotated[str | None, typer.Option("--name", help="Lab name.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Remove every lab.")] = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Remove a lab: its listeners, namespaces and state file (also after a crash)."""
    if every:
        names = [s.name for s in lab_status(state_dir) if s.name is not None]
    else:
        names = [name if name is not None else _only_lab(state_dir, None).name]
    for lab in names:
        deleted = lab_down(state_dir, lab)
        typer.echo(f"lab {lab}: removed {len(deleted)} namespaces")


def status(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """List the labs and what exists of them."""
    labs = lab_status(state_dir)
    if not labs:
        typer.echo("no labs")
    for lab in labs:
        if lab.name is None:
            typer.echo(f"stray namespaces (no state file): {', '.join(lab.namespaces)}")
            continue
        mode = f" mode {lab.mode}" if lab.mode else ""
        missing = f", {len(lab.missing)} recorded but gone" if lab.missing else ""
        typer.echo(
            f"lab {lab.name}: {lab.topology}{mode}: {len(lab.namespaces)} namespaces{missing},"
            f" listeners {lab.listeners_alive}/{lab.listeners} running"
        )


def probe(
    source: Annotated[
        str, typer.Option("--from", help="ext:NAME | ext:IP | NAMESPACE/POD | node:NODE")
    ],
    destination: Annotated[
        str,
        typer.Option(
            "--to", help="node:NODE:PORT | svc:NAMESPACE/NAME:PORT | NAMESPACE/POD:PORT | IP:PORT"
        ),
    ],
    protocol: Annotated[L4Protocol, typer.Option("--protocol", help="tcp or udp.")] = (
        L4Protocol.TCP
    ),
    count: Annotated[int, typer.Option("--count", min=1, max=MAX_REPEATS, help="Attempts.")] = 1,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.05, max=5.0, help="Seconds per attempt.")
    ] = DEFAULT_TIMEOUT,
    pcap: Annotated[
        Path | None, typer.Option("--pcap", help="Capture into this directory.", file_okay=False)
    ] = None,
    pcap_at: Annotated[
        list[str] | None,
        typer.Option("--pcap-at", help="NETNS_ID/IFNAME to capture at (repeatable)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Lab name.")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Send real traffic through a running lab and say what the kernel did."""
    if protocol is L4Protocol.SCTP:
        raise LabError("the lab probes tcp and udp only")
    lab = _only_lab(state_dir, name)
    mode = None if lab.mode is None else PodNetworkMode(lab.mode)
    dataplane = load_dataplane(Path(lab.topology), mode)
    flow = make_flow(dataplane, source, destination, protocol=protocol)
    request = ProbeRequest(
        flow.source_netns, flow.header.dst, flow.header.dport, protocol, count, timeout
    )
    if pcap is not None:
        points = pcap_at or [f"{flow.source_netns}/eth0"]
        with capture(lab, points, pcap) as paths:
            (result,) = run_probes(lab, [request])
        for path in paths:
            typer.echo(f"netsim: wrote {path}", err=True)
    else:
        (result,) = run_probes(lab, [request])
    for number, a in enumerate(result.attempts, 1):
        if a.verdict == "connected":
            typer.echo(
                f"{number}: connected from port {a.sport}: {a.pod} answered,"
                f" saw source {a.peer}:{a.peer_port}"
            )
        else:
            typer.echo(f"{number}: {a.verdict}" + (f" ({a.error})" if a.error else ""))


def _flows(dataplane: Dataplane, every: bool) -> list[FlowSpec]:
    return all_flows(dataplane.state) if every else example_flows(dataplane.state)


def verify(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).")],
    mode: Mode = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every pod pair, service port and NodePort.")
    ] = False,
    output_format: Annotated[
        VerifyFormat, typer.Option("--format", "-f", help="text or json.")
    ] = VerifyFormat.TEXT,
    name: Annotated[str | None, typer.Option("--name", help="Lab name (default: random).")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Probe the kernel and trace the simulation on the same flows; exit 1 on disagreement."""
    dataplane = load_dataplane(topology, mode)
    expectations = expect_flows(dataplane, _flows(dataplane, every))
    name = name or new_lab_name()
    mode_text = None if mode is None else mode.value
    try:
        lab = lab_up(
            dataplane, name=name, topology=str(topology), mode=mode_text, state_dir=state_dir
        )
        checks = verify_flows(lab, expectations)
    finally:
        lab_down(state_dir, name)
    if output_format is VerifyFormat.JSON:
        typer.echo(json.dumps(checks_json(checks), indent=2))
    else:
        typer.echo(render_checks_text(checks), nl=False)
    if not all(c.agrees for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``lab`` command group to the application."""
    lab_app.command("up")(up)
    lab_app.command("down")(down)
    lab_app.command("status")(status)
    lab_app.command("probe")(probe)
    lab_app.command("verify")(verify)
    app.add_typer(lab_app, name="lab")
