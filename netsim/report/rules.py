"""Text of ``netsim rules --diff``: differences grouped by service."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from netsim.netfilter.diff import RuleDifference

__all__ = ["render_diff"]


def render_diff(differences: Sequence[RuleDifference], node: str, dump: str) -> str:
    """One block per service (or chain), each difference as a ``-``/``+`` pair.

    >>> render_diff([], "node-1", "real.txt")
    'node-1: no differences between netsim and real.txt\\n'
    """
    if not differences:
        return f"{node}: no differences between netsim and {dump}\n"
    lines = [
        f"{node}: {len(differences)} differences between netsim (-) and {dump} (+)",
    ]
    ordered = sorted(differences, key=lambda d: (d.table, d.group))
    for (table, group), items in groupby(ordered, key=lambda d: (d.table, d.group)):
        lines.append(f"[{table}] {group}")
        for item in items:
            lines.append(f"  {item.kind}:")
            if item.expected is not None:
                lines.append(f"  - {item.expected}")
            if item.actual is not None:
                lines.append(f"  + {item.actual}")
    return "\n".join(lines) + "\n"
