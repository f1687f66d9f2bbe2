"""Reading YAML files: the one place netsim calls the YAML parser.

Errors come out as :class:`~netsim.errors.InputError` subclasses naming the
file and the line, never as YAML tracebacks. Documents are parsed with the
safe loader (plain data only).

Where PyYAML was built with libyaml, a fast path parses first: libyaml's C
parser composes the nodes, plain scalars are resolved once per distinct value
(a memo over the safe resolver), and mappings, sequences and strings are
turned into Python values directly (other scalars by the safe constructor).
It gives the same values as the safe loader. Anything it does not handle
plainly (a stream libyaml refuses, a merge key ``<<``, an unhashable or
recursive key, a tag outside YAML's own) makes the stream be parsed again by
the pure-Python safe loader, whose marks and wording every error message keeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from netsim.errors import InputError

__all__ = ["load_yaml_documents", "parse_yaml_documents"]

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_RESOLVED_LIMIT = 200_000  # distinct plain scalars remembered before the memo starts over
_resolved: dict[tuple[str, bool], str] = {}


class _FastPathError(Exception):
    """The fast path leaves this stream to the pure-Python loader."""


if hasattr(yaml, "CSafeLoader"):

    class _FastLoader(yaml.CSafeLoader):
        """libyaml's parser with the safe resolver memoised for plain scalars."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is yaml.ScalarNode and implicit[0]:
                key = (value, implicit[1])
                tag = _resolved.get(key)
                if tag is None:
                    if len(_resolved) >= _RESOLVED_LIMIT:
                        _resolved.clear()
                    tag = _resolved[key] = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
                return tag
            return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    _FAST_LOADER: type[yaml.CSafeLoader] | None = _FastLoader
else:  # pragma: no cover - PyYAML without libyaml
    _FAST_LOADER = None


def _value(loader: Any, node: yaml.Node) -> Any:
    """The Python value of ``node``: what the safe constructor makes of it."""
    kind = type(node)
    if kind is yaml.ScalarNode:
        if node.tag == _STR:
            return node.value
        if not node.tag.startswith("tag:yaml.org,2002:"):
            raise _FastPathError
        return loader.construct_object(node, deep=True)
    if kind is yaml.MappingNode and node.tag == _MAP:
        mapping = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                raise _FastPathError
            key = _value(loader, key_node)
            try:
                mapping[key] = _value(loader, value_node)
            except TypeError:  # an unhashable key
                raise _FastPathError from None
        return mapping
    if kind is yaml.SequenceNode and node.tag == _SEQ:
        return [_value(loader, item) for item in node.value]
    raise _FastPathError


def _fast_documents(text: str) -> list[Any] | None:
    """Every document of ``text`` by the fast path, or None when it leaves the stream."""
    if _FAST_LOADER is None:  # pragma: no cover - PyYAML without libyaml
        return None
    loader = _FAST_LOADER(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            documents.append(None if node is None else _value(loader, node))
        return documents
    except (_FastPathError, yaml.YAMLError, RecursionError):
        return None
    finally:
        loader.dispose()


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
    fast = _fast_documents(text)
    if fast is not None:
        return [doc for doc in fast if doc is not None]
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
