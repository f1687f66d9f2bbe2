"""Reading YAML files: the one place netsim calls the YAML parser.

Errors come out as :class:`~netsim.errors.InputError` subclasses naming the
file and the line, never as YAML tracebacks. Documents are parsed with the
safe loader (plain data only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from netsim.errors import InputError

__all__ = ["load_yaml_documents", "parse_yaml_documents"]


def parse_yaml_documents(text: str, source: str, error: type[InputError]) -> list[Any]:
    """Parse every document of a YAML stream, dropping empty ones.

    >>> parse_yaml_documents("a: 1\\n---\\n---\\nb: 2\\n", "x.yaml", InputError)
    [{'a': 1}, {'b': 2}]
    >>> try:
    ...     parse_yaml_documents("a: [1", "x.yaml", InputError)
    ... except InputError as exc:
    ...     print(exc)
    x.yaml: line 1: malformed YAML: expected ',' or ']', but got '<stream end>'
    """
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}" if mark is not None else None
        problem = exc.problem or exc.context or "cannot parse"
        raise error(f"malformed YAML: {problem}", source=source, obj=line) from None
    except yaml.YAMLError as exc:
        raise error(f"malformed YAML: {exc}", source=source) from None
    return [doc for doc in documents if doc is not None]


def load_yaml_documents(path: Path, source: str, error: type[InputError]) -> list[Any]:
    """Read and parse a YAML file; ``source`` is the name used in messages."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read file: {exc}", source=source) from None
    return parse_yaml_documents(text, source, error)
