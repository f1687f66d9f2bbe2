"""``compare(designs)``: every figure of every design, what differs, and how it scales.

:func:`analyze_design` measures one built design (tables per node, MTUs,
broadcast domains, the standard flows traced with policy and replies, what
the underlay must provide) and checks the figures of the user's own cluster
against :data:`netsim.compare.formulas.FORMULAS`; :func:`reach_differences`
lists the flows whose verdict differs between designs (standard-flow
outcomes keyed by flow and pod, NetworkPolicy matrix cells keyed by names);
:func:`compare` puts it together with the scaling measurements.
"""

from __future__ import annotations

from collections.abc import Sequence

from netsim.compare.designs import Design
from netsim.compare.flows import standard_flows, trace_flows, wire_facts
from netsim.compare.formulas import FORMULAS, Sizes, efficiency
from netsim.compare.metrics import (
    broadcast_domains,
    has_bridge,
    node_tables,
    pod_counts,
    pod_mtu,
    underlay_mtu,
    underlay_needs,
)
from netsim.compare.model import (
    Comparison,
    DesignReport,
    FlowResult,
    FormulaCheck,
    NodeTables,
    ReachDifference,
    RefusedDesign,
)
from netsim.compare.scaling import scaling_report
from netsim.dataplane.devices import NamespaceKind
from netsim.model.topology import PodNetworkMode
from netsim.policy.reach import cells, reachability

__all__ = ["EFFICIENCY_LENGTHS", "analyze_design", "compare", "reach_differences"]

EFFICIENCY_LENGTHS = (60, 576)  # a TCP SYN (DEFAULT_LENGTH); RFC 791's datagram every host accepts
TABLE_METRICS = ("routes_main", "routes_local", "pod_routes", "neighbors", "fdb", "fdb_vtep")


def _check(
    design: Design, metric: str, sizes: Sizes, measured: int, scope: str = "cluster"
) -> FormulaCheck:
    formula = FORMULAS[design.mode][metric]
    return FormulaCheck(
        design=design.name,
        metric=metric,
        formula=formula.text,
        nodes=sizes.nodes,
        pods_per_node=sizes.pods_per_node,
        expected=formula.value(sizes),
        measured=measured,
        scope=scope,
    )


def _first_ttl(flows: Sequence[FlowResult], key: str) -> int | None:
    for flow in flows:
        if flow.key == key and flow.outcomes:
            return flow.outcomes[0].ttl_decrements
    return None


def _checks(
    design: Design,
    tables: Sequence[NodeTables],
    flows: Sequence[FlowResult],
    overhead: int,
    domain: int,
) -> tuple[FormulaCheck, ...]:
    """The user's cluster against the formulas: each node's tables, MTU, overhead, TTLs."""
    dataplane = design.dataplane
    nodes = len(tables)
    pods = sum(t.pods for t in tables)
    routers = int(any(ns.kind is NamespaceKind.ROUTER for ns in dataplane.namespaces.values()))
    mtu = underlay_mtu(design.state)
    checks = []
    for table in tables:
        sizes = Sizes(nodes, table.pods, pods, routers, mtu, has_bridge(dataplane, table.node))
        for metric in TABLE_METRICS:
            checks.append(_check(design, metric, sizes, getattr(table, metric), table.node))
        checks.append(_check(design, "cni_rules", sizes, table.cni_rules, table.node))
    busiest = max(tables, key=lambda t: t.pods)
    sizes = Sizes(nodes, busiest.pods, pods, routers, mtu, has_bridge(dataplane, busiest.node))
    checks.append(_check(design, "pod_mtu", sizes, pod_mtu(dataplane)))
    checks.append(_check(design, "overhead_bytes", sizes, overhead))
    if design.state.topology.underlay.is_single_segment:
        checks.append(_check(design, "pod_domain", sizes, domain))
    for key, metric in (
        ("pod-pod-same-node", "ttl_same_node"),
        ("pod-pod-cross-node", "ttl_cross_node"),
    ):
        ttl = _first_ttl(flows, key)
        if ttl is not None:
            checks.append(_check(design, metric, sizes, ttl))
    return tuple(checks)


def analyze_design(design: Design) -> DesignReport:
    """Every figure of one design of the user's cluster."""
    dataplane = design.dataplane
    counts = pod_counts(dataplane)
    tables = tuple(node_tables(dataplane, node, count) for node, count in counts.items())
    flows, traces = trace_flows(dataplane, standard_flows(design.state))
    facts = wire_facts(dataplane, traces)
    # no traced flow crossed a tunnel (too few pods): the MTU the mode cut instead
    mtu_cut = underlay_mtu(design.state) - pod_mtu(dataplane)
    overhead = facts.overhead_bytes if facts.encapsulation is not None else mtu_cut
    domains = broadcast_domains(dataplane)
    topology = design.state.topology
    return DesignReport(
        name=design.name,
        source=design.source,
        mode=design.mode.value,
        routing=(topology.pod_network.routing.value if design.mode is PodNetworkMode.L3 else None),
        nodes=len(tables),
        pods=sum(counts.values()),
        underlay_mtu=underlay_mtu(design.state),
        pod_mtu=pod_mtu(dataplane),
        overhead_bytes=overhead,
        efficiency=tuple(
            (length, efficiency(length, overhead))
            for length in (*EFFICIENCY_LENGTHS, pod_mtu(dataplane))
        ),
        tables=tables,
        broadcast=domains,
        underlay=underlay_needs(
            dataplane,
            domains,
            pod_addresses_on_wire=facts.pod_addresses_on_wire,
            encapsulation=facts.encapsulation,
        ),
        flows=flows,
        checks=_checks(design, tables, flows, overhead, domains.pod_domain),
    )


def _trace_verdicts(report: DesignReport) -> dict[str, str]:
    verdicts: dict[str, str] = {}
    for flow in report.flows:
        for outcome in flow.outcomes:
            key = f"{flow.key}: {flow.source} -> {flow.destination} => {outcome.target}"
            verdicts[key] = outcome.disposition
    return verdicts


def _policy_verdicts(design: Design) -> dict[str, str]:
    return {
        f"{c.source} -> {c.destination}:{c.port}/{c.protocol.value}": (
            "allowed" if c.is_allowed else "denied"
        )
        for c in cells(reachability(design.state))
    }


def _differing(
    kind: str, names: Sequence[str], tables: Sequence[dict[str, str]]
) -> list[ReachDifference]:
    keys = list(dict.fromkeys(k for table in tables for k in table))
    found = []
    for key in keys:
        present = [t.get(key, "absent") for t in tables]
        if len(set(present)) > 1 and sum(v != "absent" for v in present) > 1:
            found.append(ReachDifference(kind, key, tuple(zip(names, present, strict=True))))
    return found


def reach_differences(
    designs: Sequence[Design], reports: Sequence[DesignReport]
) -> tuple[ReachDifference, ...]:
    """Standard-flow outcomes and policy-matrix cells whose verdict differs between designs."""
    names = [d.name for d in designs]
    traced = _differing("trace", names, [_trace_verdicts(r) for r in reports])
    policy = _differing("policy", names, [_policy_verdicts(d) for d in designs])
    return (*traced, *policy)


def _pods_per_node(report: DesignReport) -> int:
    """``p`` for the synthetic clusters: the user's pods per node, rounded, at least 1."""
    return max(1, round(report.pods / max(report.nodes, 1)))


def compare(
    designs: Sequence[Design],
    refused: Sequence[RefusedDesign] = (),
    *,
    sizes: Sequence[int] = (),
    pods_per_node: int | None = None,
    title: str = "",
) -> Comparison:
    """Analyze each design, find what differs, and (with ``sizes``) measure scaling.

    The synthetic clusters run ``pods_per_node`` pods on each node (default:
    the user's pods per node, rounded, at least 1).
    """
    reports = tuple(analyze_design(d) for d in designs)
    scaling = None
    if sizes:
        bases = [
            (
                d.name,
                d.state.topology,
                _pods_per_node(r) if pods_per_node is None else pods_per_node,
            )
            for d, r in zip(designs, reports, strict=True)
        ]
        scaling = scaling_report(bases, sizes)
    return Comparison(
        title=title or ", ".join(d.name for d in designs),
        designs=reports,
        refused=tuple(refused),
        differences=reach_differences(designs, reports),
        scaling=scaling,
    )
