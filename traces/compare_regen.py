"""Regenerate the example ``netsim compare`` reports under ``traces/compare/``.

Usage::

    python traces/compare_regen.py           # rewrite traces/compare/*
    python traces/compare_regen.py --check   # exit 1 naming the files a fresh run would change

Each :class:`Example` is one ``netsim compare`` command line (topology files
relative to the repository, ``--modes``, ``--sizes``) and the formats it is
written in, as ``traces/compare/<name>.<md|json|html>``; the files are
exactly what ``netsim compare ... --format FORMAT --output FILE`` writes when
run from the repository root.

The check compares Markdown and JSON byte for byte. For HTML it compares the
page with each chart's ``<svg>`` body blanked (the tables, captions and
which charts exist), because the SVG bytes depend on the installed
matplotlib version; the charts are drawn by the same code and checked in a
browser by ``tests/compare/test_html_chromium.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from netsim.cli.compare import CompareFormat, render_comparison, run_comparison
from netsim.compare import DEFAULT_SIZES, Comparison

__all__ = ["EXAMPLES", "Example", "generate", "main", "normalized", "stale_files"]

ROOT = Path(__file__).resolve().parent.parent  # the repository
COMPARE_DIR = ROOT / "traces" / "compare"
REGEN_COMMAND = "python traces/compare_regen.py"
TEXT_WIDTH = 100  # the terminal width the text renderer is given (Markdown/JSON/HTML ignore it)
_SVG_BODY = re.compile(r"(<svg\b[^>]*>).*?(</svg>)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Example:
    """One example: ``netsim compare TOPOLOGIES [--modes M] [--sizes S]`` in ``formats``."""

    name: str
    topologies: tuple[str, ...]
    formats: tuple[CompareFormat, ...]
    modes: str | None = None
    sizes: tuple[int, ...] = DEFAULT_SIZES


EXAMPLES: tuple[Example, ...] = (
    Example(
        "vxlan-modes",
        ("topologies/vxlan.yaml",),
        (CompareFormat.MD, CompareFormat.JSON, CompareFormat.HTML),
    ),
    Example(
        "l2-l3-vxlan",
        ("topologies/l2.yaml", "topologies/l3.yaml", "topologies/vxlan.yaml"),
        (CompareFormat.MD,),
        sizes=(),
    ),
)


def _comparison(example: Example) -> Comparison:
    with contextlib.chdir(ROOT):  # the reports name the files as given, relative to the root
        return run_comparison([Path(p) for p in example.topologies], example.modes, example.sizes)


def generate(examples: tuple[Example, ...] = EXAMPLES) -> dict[str, str]:
    """Every generated file: path relative to ``traces/compare/`` -> content."""
    files = {}
    for example in examples:
        comparison = _comparison(example)
        for output_format in example.formats:
            text = render_comparison(comparison, output_format, TEXT_WIDTH)
            files[f"{example.name}.{output_format.value}"] = text
    return files


def normalized(path: str, text: str) -> str:
    """What the check compares: HTML with every ``<svg>`` body blanked, else the text.

    >>> normalized("a.html", '<svg width="1"><path d="M 0 0"/></svg>')
    '<svg width="1"></svg>'
    """
    return _SVG_BODY.sub(r"\1\2", text) if path.endswith(".html") else text


def stale_files(directory: Path = COMPARE_DIR, fresh: dict[str, str] | None = None) -> list[str]:
    """Files under ``directory`` a fresh run would write, change or delete (sorted)."""
    fresh = generate() if fresh is None else fresh
    stale = [
        path
        for path, text in fresh.items()
        if not (directory / path).is_file()
        or normalized(path, (directory / path).read_text()) != normalized(path, text)
    ]
    committed = {p.name for p in directory.glob("*.*")} if directory.is_dir() else set()
    stale += [path for path in committed if path not in fresh]  # no example writes them
    return sorted(stale)


def write(directory: Path = COMPARE_DIR) -> list[str]:
    """Write every file whose bytes change (charts included) and delete orphans."""
    fresh = generate()
    changed = sorted(
        {
            *stale_files(directory, fresh),
            *(
                p
                for p, t in fresh.items()
                if (directory / p).is_file() and (directory / p).read_text() != t
            ),
        }
    )
    directory.mkdir(parents=True, exist_ok=True)
    for path in changed:
        if path in fresh:
            (directory / path).write_text(fresh[path])
        else:
            (directory / path).unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    """The command line: regenerate, or with ``--check`` report stale files and exit 1."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"traces/compare/{path} is stale", file=sys.stderr)
        if stale:
            print(f"run {REGEN_COMMAND} and review the diff", file=sys.stderr)
            return 1
        print("traces/compare/: up to date")
        return 0
    changed = write()
    for path in changed:
        print(f"{'wrote' if (COMPARE_DIR / path).exists() else 'deleted'} traces/compare/{path}")
    print(f"traces/compare/: {len(changed)} files changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
