"""Reading YAML files: the one place netsim calls the YAML parsers.

Errors come out as :class:`~netsim.errors.InputError` subclasses naming the
file and the line, never as YAML tracebacks. Documents are read as PyYAML's
safe loader reads them (YAML 1.1, plain data only), whichever path parses.

Three paths, fastest first; each leaves the stream to the next when it
cannot promise the safe loader's values:

1. ``ryaml`` (serde_yaml on unsafe-libyaml, a Rust translation of the same
   libyaml 0.2.5 that PyYAML's C parser uses) builds the Python values in
   native code. Its parser is libyaml's, so structure, quoting and escapes
   come out the same; only plain scalars are resolved differently (YAML 1.2
   core schema: ``yes`` stays a string, ``0o17`` is 15, ``017`` a string,
   ``1e3`` a float). So before it runs, every whitespace-separated word of
   the text (and each piece of it between flow indicators and colons, where
   a plain scalar may start or end) that either reading could take for
   something other than a string is read both ways, once per distinct word;
   a single disagreement (``yes``, ``017``, ``1e3``, ``2024-01-02``,
   ``1:20``, ``<<``, an integer past 64 bits), a tag, an anchor or an alias
   anywhere, or any refusal by ryaml (duplicate keys, unhashable keys, a
   syntax error, nesting past its limit) leaves the stream to path 2. The
   check is conservative: a quoted ``"yes"`` makes the stream take path 2
   too, which only costs time.
2. Where PyYAML was built with libyaml: libyaml's C parser composes the
   nodes, plain scalars are resolved once per distinct value (a memo over
   the safe resolver), and mappings, sequences and strings are turned into
   Python values directly (other scalars by the safe constructor). It gives
   the same values as the safe loader. Anything it does not handle plainly
   (a stream libyaml refuses, a merge key ``<<``, an unhashable or recursive
   key, a tag outside YAML's own) goes to path 3.
3. The pure-Python safe loader, whose marks and wording every error message
   keeps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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

try:
    import ryaml

    # ryaml re-exports loads_all from its typed extension without `as`: mypy --strict's complaint
    _NATIVE_LOADS_ALL: Callable[[str], Any] | None = ryaml.loads_all  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - ryaml not installed: paths 2 and 3 only
    _NATIVE_LOADS_ALL = None

_WORDS_LIMIT = 200_000  # words known to read alike, remembered before the memo starts over
_words_alike: set[str] = set()
_pieces_alike: dict[str, bool] = {}
_FLOW_INDICATORS = re.compile(r"[,\[\]{}]")
# A word without these can only be a plain scalar read as a string by both (or a
# quoted scalar, or a key, or a comment): no flow indicator, no colon, and a first
# character no YAML 1.1 or serde_yaml resolver looks at other than the words below.
_STRING_WORD = re.compile(r"[^-+.0-9~<=!&*,\[\]{}:][^,\[\]{}:]*\Z")
# Booleans and nulls either reading knows: YAML 1.1 (PyYAML's resolver) and the
# YAML 1.2 core schema (serde_yaml). A test pins that ryaml reads every other
# word starting with a letter as a string.
_YES_NO = ("y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON")
_TRUE_FALSE = ("off", "Off", "OFF", "true", "True", "TRUE", "false", "False", "FALSE")
_WORDS_READ_AS_VALUES = frozenset((*_YES_NO, *_TRUE_FALSE, "null", "Null", "NULL"))
_INDICATOR_WORDS = frozenset(("-", "?", ":", "---", "..."))  # block and document indicators
_NODE_PROPERTIES = ("!", "&", "*")  # tags, anchors, aliases: path 2 keeps PyYAML's meaning


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


_PIECE_LOADER = yaml.SafeLoader("")  # resolves and constructs single plain scalars


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


def _reads_alike(piece: str) -> bool:
    """Whether ``piece`` as a plain scalar means the same to PyYAML and to ryaml."""
    known = _pieces_alike.get(piece)
    if known is not None:
        return known
    try:
        tag = _PIECE_LOADER.resolve(yaml.ScalarNode, piece, (True, False))  # type: ignore[no-untyped-call]
        pyyaml = (
            piece if tag == _STR else _PIECE_LOADER.construct_object(yaml.ScalarNode(tag, piece))
        )
    except Exception:  # `<<`, `=`, `2024-13-01`: the safe loader merges or refuses them
        pyyaml = _FastPathError
    finally:
        _PIECE_LOADER.constructed_objects.clear()
    native: Any = _FastPathError
    if _NATIVE_LOADS_ALL is not None:
        try:
            documents = _NATIVE_LOADS_ALL(f"- {piece}\n")
            if documents and len(documents) == 1 and len(documents[0]) == 1:
                native = documents[0][0]
        except (KeyboardInterrupt, SystemExit):  # pragma: no cover
            raise
        except BaseException:  # refusals and Rust panics alike
            native = _FastPathError
    alike = (
        pyyaml is not _FastPathError
        and type(pyyaml) is type(native)
        and not isinstance(native, list | dict)
        and repr(pyyaml) == repr(native)
    )
    if len(_pieces_alike) >= _RESOLVED_LIMIT:
        _pieces_alike.clear()
    _pieces_alike[piece] = alike
    return alike


def _word_reads_alike(word: str) -> bool:
    """Whether every plain scalar that may lie in ``word`` reads alike both ways.

    A plain scalar holds no white space unless it is a string to both
    readings (or a YAML 1.1 timestamp, whose date alone already disagrees),
    so the scalars worth checking sit inside single words: between flow
    indicators, and starting or ending at a colon (``key:``, ``{a:1}``).
    """
    if word in _INDICATOR_WORDS:
        return True
    if _STRING_WORD.match(word) and word not in _WORDS_READ_AS_VALUES:
        return True
    for part in _FLOW_INDICATORS.split(word):
        if part.endswith(":"):  # a colon closing a word or a flow item is an indicator
            part = part[:-1]
        segments = part.split(":")
        for start in range(len(segments)):
            if segments[start].startswith(_NODE_PROPERTIES):
                return False
            for end in range(start + 1, len(segments) + 1):
                piece = ":".join(segments[start:end])
                if not piece or piece.startswith("#"):
                    continue
                if piece[0] not in "-+.0123456789~<=" and piece not in _WORDS_READ_AS_VALUES:
                    continue
                if not _reads_alike(piece):
                    return False
    return True


def _native_documents(text: str) -> list[Any] | None:
    """Every document of ``text`` by ryaml, or None when the stream is left to path 2."""
    if _NATIVE_LOADS_ALL is None:  # pragma: no cover - ryaml not installed
        return None
    unknown = set(text.split())
    unknown -= _words_alike
    for word in unknown:
        if not _word_reads_alike(word):
            return None
    if len(_words_alike) + len(unknown) > _WORDS_LIMIT:
        _words_alike.clear()
    _words_alike.update(unknown)
    try:
        documents = _NATIVE_LOADS_ALL(text)
    except (KeyboardInterrupt, SystemExit):  # pragma: no cover
        raise
    except BaseException:  # refusals and Rust panics alike: path 2 decides
        return None
    return [] if documents is None else list(documents)


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
    except (_FastPathError, yaml.YAMLError, RecursionError, ValueError):
        return None
    finally:
        loader.dispose()


def _unconstructible(text: str) -> tuple[int, str] | None:
    """The line and wording of the first scalar the safe constructor refuses (a bad date).

    >>> _unconstructible("a: 1\\nb: 2024-13-01\\n")
    (2, "invalid timestamp '2024-13-01': month must be in 1..12")
    """
    constructor = yaml.constructor.SafeConstructor()
    pending = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    while pending:
        node = pending.pop(0)
        if isinstance(node, yaml.ScalarNode):
            try:
                constructor.construct_object(node, deep=True)
            except ValueError as exc:
                kind = node.tag.rpartition(":")[2]
                return node.start_mark.line + 1, f"invalid {kind} {node.value!r}: {exc}"
        elif isinstance(node, yaml.SequenceNode):
            pending[:0] = node.value
        elif isinstance(node, yaml.MappingNode):
            pending[:0] = [part for pair in node.value for part in pair]
    return None


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
    fast = _native_documents(text)
    if fast is None:
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
    except ValueError as exc:  # a scalar of a valid form but impossible value (2024-13-01)
        found = _unconstructible(text)
        where, problem = found if found is not None else (None, str(exc))
        line = None if where is None else f"line {where}"
        raise error(f"malformed YAML: {problem}", source=source, obj=line) from None
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
