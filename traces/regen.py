"""Regenerate the example traces under ``traces/`` (golden files reviewed in the diff).

Usage::

    python traces/regen.py           # rewrite every traces/<topology>/<scenario>.{txt,json}
    python traces/regen.py --check   # exit 1 naming the files a fresh run would change

Each :class:`Scenario` names a topology (``topologies/<topology>.yaml``), a
``--from`` and a ``--to``; both may be functions of the realized
:class:`~netsim.control.state.ClusterState`, so pods are picked by name and
node rather than by their generated suffixes. A scenario is written as
``<scenario>.txt`` (``render_trace_text`` at width 100) and ``<scenario>.json``
(``trace_json``, indented by 2, keys in schema order, a final newline).

Every scenario is traced as ``netsim trace`` does by default, with the
topology's NetworkPolicies evaluated (:func:`netsim.policy.policy_judge`);
``policy=False`` traces it as ``netsim trace --no-policy`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import Dataplane
from netsim.model.spec import load_cluster
from netsim.model.topology import PodNetworkMode
from netsim.policy import policy_judge
from netsim.report.trace import render_trace_text, trace_json
from netsim.trace import AllowAll, PolicyJudge, TraceIndex, make_flow, prepare, trace_flow

__all__ = ["SCENARIOS", "Scenario", "generate", "main", "stale_files"]

ROOT = Path(__file__).resolve().parent.parent  # the repository
TRACES = ROOT / "traces"
TOPOLOGIES = ROOT / "topologies"
TEXT_WIDTH = 100  # the columns of the committed .txt files
REGEN_COMMAND = "python traces/regen.py"
OTHER_GENERATORS = ("compare",)  # traces/compare/ is written by traces/compare_regen.py

Endpoint = str | Callable[[ClusterState], str]  # a --from/--to value, or how to find it


@dataclass(frozen=True, slots=True)
class Scenario:
    """One example trace: ``--from source --to destination`` on ``topologies/<topology>.yaml``."""

    topology: str
    name: str
    source: Endpoint
    destination: Endpoint
    reply: bool = False
    policy: bool = True  # False: as ``netsim trace --no-policy`` (every connection allowed)

    @property
    def stem(self) -> str:
        """``<topology>/<scenario>``, the path of its files under ``traces/`` without suffix."""
        return f"{self.topology}/{self.name}"


def _pod(namespace: str, prefix: str, node: str | None = None) -> Callable[[ClusterState], str]:
    """The first pod (by name) of ``namespace`` whose name starts with ``prefix`` (on ``node``)."""

    def find(state: ClusterState) -> str:
        keys = sorted(
            key
            for key, pod in state.pods.items()
            if pod.namespace == namespace
            and pod.name.startswith(prefix)
            and (node is None or pod.node == node)
            and not pod.is_host_network
        )
        if not keys:
            where = f" on {node}" if node else ""
            raise LookupError(f"traces/regen.py: no pod {namespace}/{prefix}*{where}")
        return keys[0]

    return find


def _at_port(pod: Callable[[ClusterState], str], port: int) -> Callable[[ClusterState], str]:
    """``NAMESPACE/POD:PORT`` for the pod ``pod`` finds."""
    return lambda state: f"{pod(state)}:{port}"


def _node_port(service: str, node: str) -> Callable[[ClusterState], str]:
    """``node:NODE:PORT`` with the first nodePort allocated to ``service``."""

    def find(state: ClusterState) -> str:
        ports = [p.node_port for p in state.services[service].ports if p.node_port is not None]
        if not ports:
            raise LookupError(f"traces/regen.py: Service {service} has no nodePort")
        return f"node:{node}:{ports[0]}"

    return find


def _mode_scenarios(mode: str) -> list[Scenario]:
    """The demo application's scenarios (topologies/demo/shop.yaml) on one pod network mode."""
    curl = _pod("client", "curl")
    return [
        Scenario(mode, "laptop-nodeport", "ext:laptop", "node:node-1:30080"),
        Scenario(mode, "curl-clusterip", curl, "svc:shop/web:80"),
        Scenario(mode, "curl-clusterip-reply", curl, "svc:shop/web:80", reply=True),
        Scenario(mode, "hairpin", _pod("shop", "web-", node="node-1"), "svc:shop/web:80"),
        Scenario(
            mode,
            "port-not-listening",
            curl,
            _at_port(_pod("shop", "web-", node="node-2"), 9999),
            policy=False,  # shop/web-ingress would deny port 9999 before the socket check
        ),
        Scenario(
            mode,
            "denied-by-policy",
            _pod("kube-system", "coredns", node="node-2"),
            "svc:shop/web:80",
        ),
    ]


def _services_scenarios(topology: str) -> list[Scenario]:
    """The kube-proxy feature scenarios of topologies/services.yaml (one mode per ``topology``)."""
    return [
        Scenario(
            topology, "no-endpoints", _pod("feat", "dns-0", node="node-1"), "svc:feat/empty:80"
        ),
        Scenario(topology, "etp-local-no-endpoint", "ext:laptop", _node_port("feat/api", "node-1")),
        Scenario(
            topology, "etp-local-with-endpoint", "ext:laptop", _node_port("feat/api", "node-2")
        ),
    ]


MODE_VARIANTS = {
    "services-l2": ("services", "l2"),
    "services-vxlan": ("services", "vxlan"),
}  # traces/<key>/ holds topologies/<file>.yaml realized in another pod-network mode


SCENARIOS: tuple[Scenario, ...] = (
    *_mode_scenarios("l2"),
    *_mode_scenarios("l3"),
    *_mode_scenarios("vxlan"),
    *_services_scenarios("services"),
    *_services_scenarios("services-l2"),
    *_services_scenarios("services-vxlan"),
)


@cache
def _cluster(topology: str) -> tuple[ClusterState, Dataplane, TraceIndex, PolicyJudge]:
    file, mode = MODE_VARIANTS.get(topology, (topology, None))
    spec = load_cluster(TOPOLOGIES / f"{file}.yaml")
    if mode is not None:
        pod_network = replace(spec.topology.pod_network, mode=PodNetworkMode(mode))
        spec = replace(spec, topology=replace(spec.topology, pod_network=pod_network))
    state = realize(spec)
    dataplane = build_dataplane(state)
    return state, dataplane, prepare(dataplane), policy_judge(state, dataplane)


def _resolve(endpoint: Endpoint, state: ClusterState) -> str:
    return endpoint if isinstance(endpoint, str) else endpoint(state)


def _outputs(scenario: Scenario) -> Iterator[tuple[str, str]]:
    """The files of one scenario: (path under traces/, content)."""
    state, dataplane, index, judge = _cluster(scenario.topology)
    flow = make_flow(
        dataplane, _resolve(scenario.source, state), _resolve(scenario.destination, state)
    )
    judge = judge if scenario.policy else AllowAll()
    traces = trace_flow(index, flow, reply=scenario.reply, judge=judge)
    yield f"{scenario.stem}.txt", render_trace_text(traces, width=TEXT_WIDTH)
    yield f"{scenario.stem}.json", json.dumps(trace_json(traces), indent=2, sort_keys=False) + "\n"


def generate(scenarios: tuple[Scenario, ...] = SCENARIOS) -> dict[str, str]:
    """Every generated file: path relative to ``traces/`` -> content."""
    return {path: text for scenario in scenarios for path, text in _outputs(scenario)}


def stale_files(traces_dir: Path = TRACES, fresh: dict[str, str] | None = None) -> list[str]:
    """Files under ``traces_dir`` a fresh run would write, change or delete (sorted, relative)."""
    fresh = generate() if fresh is None else fresh
    stale = [
        path
        for path, text in fresh.items()
        if not (traces_dir / path).is_file() or (traces_dir / path).read_text() != text
    ]
    committed = {
        p.relative_to(traces_dir).as_posix()
        for suffix in ("*.txt", "*.json")
        for p in traces_dir.glob(f"*/{suffix}")
        if p.parent.name not in OTHER_GENERATORS
    }
    stale += [path for path in committed if path not in fresh]  # no scenario writes them
    return sorted(stale)


def write(traces_dir: Path = TRACES) -> list[str]:
    """Write every generated file and delete orphans; return what changed."""
    fresh = generate()
    changed = stale_files(traces_dir, fresh)
    for path in changed:
        target = traces_dir / path
        if path in fresh:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(fresh[path])
        else:
            target.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    """The command line: regenerate, or with ``--check`` report stale files and exit 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"traces/{path} is stale", file=sys.stderr)
        if stale:
            print(f"run {REGEN_COMMAND} and review the diff", file=sys.stderr)
            return 1
        print(f"traces/: {len(generate())} files up to date")
        return 0
    changed = write()
    for path in changed:
        print(f"{'wrote' if (TRACES / path).exists() else 'deleted'} traces/{path}")
    print(f"traces/: {len(changed)} files changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
