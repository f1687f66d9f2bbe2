"""``netsim lint``: findings as one text line each, or JSON-ready rows.

Renderers are pure: they take :class:`~netsim.policy.lint.LintFinding` values
and return text or data. The row keys are stable and documented in
``docs/lint.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from netsim.policy.lint import LintFinding

__all__ = ["lint_rows", "render_lint_text"]


def lint_rows(findings: Iterable[LintFinding]) -> list[dict[str, str]]:
    """One dict per finding: ``policy``, ``path``, ``kind``, ``message``, ``hint``."""
    return [
        {
            "policy": f.policy,
            "path": f.path,
            "kind": f.kind.value,
            "message": f.message,
            "hint": f.hint,
        }
        for f in findings
    ]


def render_lint_text(findings: Iterable[LintFinding]) -> str:
    """``POLICY PATH: KIND: MESSAGE (fix: HINT)``, one line per finding.

    >>> from netsim.policy.lint import LintKind
    >>> f = LintFinding("a/p", "podSelector", LintKind.NO_MATCHING_POD, "matches nothing", "fix it")
    >>> render_lint_text([f])
    'a/p podSelector: no-matching-pod: matches nothing (fix: fix it)\\n'
    >>> render_lint_text([])
    'no findings\\n'
    """
    lines = [f"{f.policy} {f.path}: {f.kind.value}: {f.message} (fix: {f.hint})" for f in findings]
    return "\n".join(lines or ["no findings"]) + "\n"
