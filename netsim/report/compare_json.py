"""``netsim compare --format json``: the comparison as JSON-ready data with a stable schema.

The schema (``"schema": "netsim.compare/v1"``, documented in docs/compare.md)
mirrors :class:`~netsim.compare.model.Comparison`: keys are the dataclass
field names, tuples become lists, verdicts and measurements become objects
keyed by design and metric, and every formula netsim checks is listed under
``formulas`` per mode. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from netsim.compare.formulas import ALL_TO_ALL, FORMULAS
from netsim.compare.model import Comparison, DesignReport, FormulaCheck, PathSummary
from netsim.model.topology import PodNetworkMode

__all__ = ["SCHEMA", "compare_json"]

SCHEMA = "netsim.compare/v1"


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively (what ``json.loads`` gives back).

    >>> _plain({"a": (1, (2, 3))})
    {'a': [1, [2, 3]]}
    """
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _path(summary: PathSummary) -> dict[str, Any]:
    data: dict[str, Any] = _plain(asdict(summary))
    data["reply"] = _path(summary.reply) if summary.reply is not None else None
    return data


def _check(check: FormulaCheck) -> dict[str, Any]:
    return {**asdict(check), "ok": check.is_ok}


def _design(design: DesignReport) -> dict[str, Any]:
    return {
        "name": design.name,
        "source": design.source,
        "mode": design.mode,
        "routing": design.routing,
        "nodes": design.nodes,
        "pods": design.pods,
        "underlay_mtu": design.underlay_mtu,
        "pod_mtu": design.pod_mtu,
        "overhead_bytes": design.overhead_bytes,
        "efficiency": [{"length": n, "efficiency": round(e, 6)} for n, e in design.efficiency],
        "tables": [asdict(t) for t in design.tables],
        "broadcast": asdict(design.broadcast),
        "underlay": asdict(design.underlay),
        "flows": [
            {
                "key": f.key,
                "title": f.title,
                "source": f.source,
                "destination": f.destination,
                "outcomes": [_path(o) for o in f.outcomes],
            }
            for f in design.flows
        ],
        "checks": [_check(c) for c in design.checks],
    }


def compare_json(comparison: Comparison) -> dict[str, Any]:
    """The whole comparison as JSON-ready data (``json.dumps(..., indent=2)`` it)."""
    modes = list(dict.fromkeys(PodNetworkMode(d.mode) for d in comparison.designs))
    scaling = comparison.scaling
    return {
        "schema": SCHEMA,
        "title": comparison.title,
        "designs": [_design(d) for d in comparison.designs],
        "refused": [asdict(r) for r in comparison.refused],
        "differences": [
            {"kind": d.kind, "flow": d.flow, "verdicts": dict(d.verdicts)}
            for d in comparison.differences
        ],
        "scaling": (
            None
            if scaling is None
            else {
                "sizes": list(scaling.sizes),
                "points": [
                    {
                        "design": p.design,
                        "nodes": p.nodes,
                        "pods_per_node": p.pods_per_node,
                        "measured": dict(p.measured),
                    }
                    for p in scaling.points
                ],
                "checks": [_check(c) for c in scaling.checks],
            }
        ),
        "formulas": {
            mode.value: {
                "configured": {metric: f.text for metric, f in FORMULAS[mode].items()},
                "all_to_all": {metric: f.text for metric, f in ALL_TO_ALL[mode].items()},
            }
            for mode in modes
        },
        "failed_checks": len(comparison.failed_checks),
    }
