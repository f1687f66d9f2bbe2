"""The public API of netsim.compare is small and pinned."""

from __future__ import annotations

import netsim.compare


def test_public_api() -> None:
    assert netsim.compare.__all__ == [
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
    assert all(hasattr(netsim.compare, name) for name in netsim.compare.__all__)
