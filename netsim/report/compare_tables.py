"""The tables of a ``netsim compare`` report as strings, shared by the text, Markdown, HTML.

:func:`report_tables` turns a :class:`~netsim.compare.model.Comparison` into
titled tables of cells (every number formatted once, here), in report order:
designs, per-node tables, broadcast domains, underlay needs, each standard
flow, reachability differences, refused designs, scaling per design, and the
formula checks. Pure: no I/O, no measuring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from netsim.compare.formulas import ALL_TO_ALL, FORMULAS
from netsim.compare.model import Comparison, DesignReport, PathSummary, ScalingReport
from netsim.model.topology import PodNetworkMode

__all__ = ["METRIC_LABELS", "ReportTable", "report_tables", "yes_no"]

METRIC_LABELS = {
    "routes_main": "routes (main table)",
    "routes_local": "routes (local table)",
    "pod_routes": "pod-network routes",
    "neighbors": "neighbours (configured)",
    "fdb": "FDB entries (unicast)",
    "fdb_vtep": "VTEP FDB entries",
    "cni_rules": "CNI iptables rules",
    "iptables_rules": "iptables rules (kube-proxy + CNI)",
    "total_pod_routes": "pod-network routes, cluster",
    "total_neighbors": "neighbours, cluster",
    "total_fdb": "FDB entries, cluster",
    "pod_domain": "broadcast domain of a pod",
    "underlay_domain": "underlay broadcast domain",
    "pod_mtu": "pod MTU",
    "overhead_bytes": "overhead bytes per packet",
    "ttl_same_node": "TTL decrements, same node",
    "ttl_cross_node": "TTL decrements, across nodes",
}


@dataclass(frozen=True, slots=True)
class ReportTable:
    """A titled table of cells; ``anchor`` is a stable id (HTML anchors, tests)."""

    anchor: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def yes_no(value: bool) -> str:
    """``yes`` or ``no``.

    >>> yes_no(True), yes_no(False)
    ('yes', 'no')
    """
    return "yes" if value else "no"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _designs(designs: Sequence[DesignReport]) -> ReportTable:
    names = tuple(d.name for d in designs)
    rows: list[tuple[str, ...]] = [
        ("topology file", *(d.source for d in designs)),
        ("mode", *(d.mode + (f" ({d.routing})" if d.routing else "") for d in designs)),
        ("nodes", *(str(d.nodes) for d in designs)),
        ("pods with a network namespace", *(str(d.pods) for d in designs)),
        ("underlay MTU", *(str(d.underlay_mtu) for d in designs)),
        ("pod MTU", *(str(d.pod_mtu) for d in designs)),
        ("overhead bytes per packet", *(str(d.overhead_bytes) for d in designs)),
    ]
    for index, (length, _) in enumerate(designs[0].efficiency if designs else ()):
        label = (
            f"efficiency, L = {length} B"
            if index < len(designs[0].efficiency) - 1
            else "efficiency, L = pod MTU"
        )
        rows.append((label, *(_percent(d.efficiency[index][1]) for d in designs)))
    return ReportTable(
        "designs",
        "Designs",
        ("", *names),
        tuple(rows),
        "efficiency = L / (L + overhead) for an inner IP packet of L bytes",
    )


def _tables(designs: Sequence[DesignReport]) -> ReportTable:
    metrics = (
        "routes_main",
        "routes_local",
        "pod_routes",
        "neighbors",
        "fdb",
        "fdb_vtep",
        "iptables_rules",
        "cni_rules",
    )
    rows = [
        (
            METRIC_LABELS[m],
            *(str(max((getattr(t, m) for t in d.tables), default=0)) for d in designs),
        )
        for m in metrics
    ]
    return ReportTable(
        "tables",
        "Per-node tables (configured at build, largest node)",
        ("", *(d.name for d in designs)),
        tuple(rows),
        "learned neighbours and MACs are not stored at build; see the all-to-all bounds",
    )


def _node_detail(designs: Sequence[DesignReport]) -> ReportTable:
    rows = tuple(
        (
            d.name,
            t.node,
            str(t.pods),
            str(t.routes_main),
            str(t.routes_local),
            str(t.pod_routes),
            str(t.neighbors),
            str(t.fdb),
            str(t.fdb_vtep),
            str(t.iptables_rules),
        )
        for d in designs
        for t in d.tables
    )
    header = (
        "design",
        "node",
        "pods",
        "main",
        "local",
        "pod routes",
        "neigh",
        "FDB",
        "VTEP",
        "iptables",
    )
    return ReportTable("nodes", "Tables of every node", header, rows)


def _broadcast(designs: Sequence[DesignReport]) -> ReportTable:
    rows = [
        ("broadcast domain of a pod", *(str(d.broadcast.pod_domain) for d in designs)),
        ("underlay broadcast domain", *(str(d.broadcast.underlay_domain) for d in designs)),
        ("L2 domains with hosts", *(str(d.broadcast.domains) for d in designs)),
        ("pods on the underlay segment", *(yes_no(d.broadcast.pods_on_underlay) for d in designs)),
    ]
    return ReportTable(
        "broadcast",
        "Broadcast domains (addressed devices an ARP request reaches)",
        ("", *(d.name for d in designs)),
        tuple(rows),
    )


def _underlay(designs: Sequence[DesignReport]) -> ReportTable:
    rows = [
        (
            "nodes share one L2 segment",
            *(yes_no(d.underlay.needs_l2_adjacency) for d in designs),
        ),
        (
            "switch learns pod MACs",
            *(yes_no(d.underlay.pods_share_underlay_segment) for d in designs),
        ),
        (
            "pod addresses on the wire",
            *(yes_no(d.underlay.pod_addresses_on_wire) for d in designs),
        ),
        ("router routes to podCIDRs", *(str(d.underlay.router_pod_routes) for d in designs)),
        ("encapsulation", *(d.underlay.encapsulation or "none" for d in designs)),
    ]
    return ReportTable(
        "underlay", "What the underlay must provide", ("", *(d.name for d in designs)), tuple(rows)
    )


def _reply(outcome: PathSummary) -> str:
    if outcome.reply is None:
        return ""
    symmetric = "symmetric" if outcome.is_symmetric else "asymmetric"
    return f"{outcome.reply.disposition}, {outcome.reply.hops} hops, {symmetric}"


def _flows(designs: Sequence[DesignReport]) -> list[ReportTable]:
    keys: dict[str, str] = {}
    for design in designs:
        for flow in design.flows:
            keys.setdefault(flow.key, flow.title)
    tables = []
    for key, title in keys.items():
        rows = []
        subtitle = ""
        for design in designs:
            for flow in design.flows:
                if flow.key != key:
                    continue
                subtitle = subtitle or f"{flow.source} -> {flow.destination}"
                for o in flow.outcomes:
                    rows.append(
                        (
                            design.name,
                            o.target,
                            f"{o.probability:.4f}",
                            o.disposition,
                            str(o.hops),
                            str(o.ttl_decrements),
                            "; ".join(o.encapsulations) or "-",
                            "; ".join(o.nat_points) or "-",
                            "; ".join(o.policy_points) or "-",
                            _reply(o) or "-",
                        )
                    )
        header = (
            "design",
            "outcome",
            "p",
            "disposition",
            "hops",
            "TTL -",
            "encapsulation",
            "NAT",
            "policy",
            "reply",
        )
        tables.append(
            ReportTable(f"flow-{key}", f"Flow: {title} ({subtitle})", header, tuple(rows))
        )
    return tables


def _differences(comparison: Comparison) -> ReportTable:
    names = tuple(d.name for d in comparison.designs)
    rows = tuple((d.kind, d.flow, *(v for _, v in d.verdicts)) for d in comparison.differences)
    return ReportTable(
        "differences",
        "Flows whose reachability differs",
        ("kind", "flow", *names),
        rows,
        "trace: an outcome of the standard flows; policy: a NetworkPolicy matrix cell"
        if rows
        else "none: every flow has the same verdict in every design",
    )


def _refused(comparison: Comparison) -> ReportTable:
    return ReportTable(
        "refused",
        "Designs this cluster cannot run",
        ("design", "reason"),
        tuple((r.name, r.reason) for r in comparison.refused),
    )


SCALING_COLUMNS = (
    "routes_main",
    "pod_routes",
    "neighbors",
    "fdb",
    "fdb_vtep",
    "total_pod_routes",
    "total_neighbors",
    "total_fdb",
    "pod_domain",
    "underlay_domain",
    "routes_local",
    "cni_rules",
    "pod_mtu",
)
SCALING_SHORT = {
    "routes_main": "routes",
    "pod_routes": "pod routes",
    "neighbors": "neigh",
    "fdb": "FDB",
    "fdb_vtep": "VTEP FDB",
    "total_pod_routes": "Σ pod routes",
    "total_neighbors": "Σ neigh",
    "total_fdb": "Σ FDB",
    "pod_domain": "pod bcast",
    "underlay_domain": "underlay bcast",
    "routes_local": "local",
    "cni_rules": "CNI rules",
    "pod_mtu": "pod MTU",
}


def _scaling(scaling: ScalingReport, designs: Sequence[DesignReport]) -> list[ReportTable]:
    failed = {(c.design, c.nodes, c.metric): c for c in scaling.checks if not c.is_ok}
    tables = []
    for design in designs:
        mode = PodNetworkMode(design.mode)
        points = [p for p in scaling.points if p.design == design.name]
        if not points:
            continue
        rows: list[tuple[str, ...]] = []
        for point in points:
            cells = []
            for metric in SCALING_COLUMNS:
                value = point.value(metric)
                check = failed.get((design.name, point.nodes, metric))
                cells.append(f"{value} (expected {check.expected})" if check else str(value))
            rows.append((str(point.nodes), *cells))
        rows.append(("formula", *(FORMULAS[mode][m].text for m in SCALING_COLUMNS)))
        p = points[0].pods_per_node
        tables.append(
            ReportTable(
                f"scaling-{design.name}",
                f"Scaling: {design.name}, p = {p} pods per node",
                ("N", *(SCALING_SHORT[m] for m in SCALING_COLUMNS)),
                tuple(rows),
            )
        )
    return tables


def _bounds(designs: Sequence[DesignReport]) -> ReportTable:
    modes = list(dict.fromkeys(PodNetworkMode(d.mode) for d in designs))
    rows = tuple(
        (
            mode.value,
            FORMULAS[mode]["neighbors"].text,
            ALL_TO_ALL[mode]["neighbors"].text,
            FORMULAS[mode]["fdb"].text,
            ALL_TO_ALL[mode]["fdb"].text,
        )
        for mode in modes
    )
    return ReportTable(
        "bounds",
        "Configured entries and all-to-all upper bounds",
        ("mode", "neighbours", "neighbours, all-to-all", "FDB", "FDB, all-to-all"),
        rows,
        "all-to-all: once every pair has talked (learned entries included); stated, not measured",
    )


def _checks(comparison: Comparison) -> ReportTable:
    checks = [*(c for d in comparison.designs for c in d.checks)]
    if comparison.scaling is not None:
        checks += comparison.scaling.checks
    failed = [c for c in checks if not c.is_ok]
    rows = tuple(
        (
            c.design,
            c.scope,
            METRIC_LABELS.get(c.metric, c.metric),
            str(c.nodes),
            str(c.pods_per_node),
            c.formula,
            str(c.expected),
            str(c.measured),
        )
        for c in failed
    )
    where = (
        "the cluster itself and synthetic clusters of N = "
        + ", ".join(str(n) for n in comparison.scaling.sizes)
        + " nodes"
        if comparison.scaling is not None
        else "the cluster itself; no synthetic clusters"
    )
    note = (
        f"{len(checks) - len(failed)} of {len(checks)} figures agree with their formulas ({where})"
    )
    return ReportTable(
        "checks",
        "Formula checks",
        ("design", "measured on", "figure", "N", "p", "formula", "expected", "measured"),
        rows,
        note,
    )


def report_tables(comparison: Comparison) -> tuple[ReportTable, ...]:
    """Every table of the report, in order (empty ones kept: renderers may skip them)."""
    designs = comparison.designs
    tables = [
        _designs(designs),
        _tables(designs),
        _broadcast(designs),
        _underlay(designs),
        *_flows(designs),
        _differences(comparison),
        _refused(comparison),
        _bounds(designs),
    ]
    if comparison.scaling is not None:
        tables += _scaling(comparison.scaling, designs)
    tables += [_node_detail(designs), _checks(comparison)]
    return tuple(tables)
