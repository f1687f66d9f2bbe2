"""``netsim compare``: the pod-network designs of one cluster, measured side by side.

Load and realize the designs (:mod:`netsim.compare.designs`), then
:func:`compare` them: table sizes, MTU and overhead, broadcast domains and
underlay needs (:mod:`netsim.compare.metrics`), the standard flows traced
(:mod:`netsim.compare.flows`), what differs in reachability, and how every
figure scales, checked against its closed form (:mod:`netsim.compare.formulas`,
:mod:`netsim.compare.scaling`). See docs/compare.md.
"""

from __future__ import annotations

from netsim.compare.analysis import analyze_design, compare, reach_differences
from netsim.compare.designs import (
    Design,
    designs_from_files,
    designs_in_modes,
    parse_modes,
    spec_in_mode,
)
from netsim.compare.model import Comparison, DesignReport, FormulaCheck
from netsim.compare.scaling import DEFAULT_SIZES, parse_sizes

__all__ = [
    "DEFAULT_SIZES",
    "Comparison",
    "Design",
    "DesignReport",
    "FormulaCheck",
    "analyze_design",
    "compare",
    "designs_from_files",
    "designs_in_modes",
    "parse_modes",
    "parse_sizes",
    "reach_differences",
    "spec_in_mode",
]
