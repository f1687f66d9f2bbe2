"""Go's ``encoding/json`` as the plugin shows it: syntax errors, parsing and indented output.

Models, byte for byte, what the reference ``host-local`` (built with Go's
``encoding/json``) does with the JSON text around it:

* **Scanning.** :func:`parse_json` first runs Go's ``checkValid`` (the state
  machine of ``scanner.go``, reproduced state for state) and raises
  :class:`JsonSyntaxError` with Go's message for the first syntax error
  (``invalid character 'x' looking for beginning of value``, ``unexpected
  end of JSON input``, ``exceeded max depth`` past :data:`GO_MAX_JSON_DEPTH`).
* **Parsing.** A valid document is parsed keeping every object as its
  ordered (key, value) pairs (:class:`JsonObject`), duplicates included, so
  that the decoder can apply Go's case-insensitive, last-one-wins keys;
  numbers keep only their kind.
* **Encoding.** :func:`encode_json` is ``json.MarshalIndent`` with four
  spaces (or ``json.Marshal``), with Go's HTML-safe escapes (``\\u003c``,
  ``\\u0026``, ``\\u2028``) and lone surrogates written as ``\\ufffd``.

Not modelled: decoding into Go types (see :mod:`netsim.cni.unmarshal`), Go's
handling of invalid UTF-8 inside strings (the decoder here replaces maximal
invalid sequences with U+FFFD, Go each byte), number values (the plugin's
config has no numeric fields), floats and struct tags on the encoding side.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeAlias

from netsim.cni.gostrconv import go_quote

__all__ = [
    "GO_MAX_JSON_DEPTH",
    "Json",
    "JsonObject",
    "JsonSyntaxError",
    "encode_json",
    "parse_json",
]

GO_MAX_JSON_DEPTH = 10000  # encoding/json maxNestingDepth


def _go_quote_char(byte: int) -> str:
    """encoding/json's ``quoteChar`` for a byte of the input."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    return "'" + go_quote(chr(byte))[1:-1] + "'"


# ---------------------------------------------------------------------------------------------
# The syntax scanner (scanner.go), reproduced state for state

_OBJECT_KEY, _OBJECT_VALUE, _ARRAY_VALUE = range(3)
_SPACE_BYTES = frozenset(b" \t\r\n")
_HEX_BYTES = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")
_PLAIN_STRING_RUN = re.compile(rb'[^"\\\x00-\x1f]+')
_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}

_Step: TypeAlias = Callable[[int], None]


class JsonSyntaxError(Exception):
    """A JSON syntax error, worded as Go's ``json.SyntaxError``."""


class _GoScanner:
    """``encoding/json`` ``checkValid``: the first syntax error, in Go's words."""

    def __init__(self) -> None:
        self.stack: list[int] = []
        self.end_top = False
        self.max_depth = 0
        self.step: _Step = self.begin_value
        self.literal = b""
        self.literal_at = 0
        self.hex_left = 0

    def fail(self, byte: int, context: str) -> None:
        raise JsonSyntaxError(f"invalid character {_go_quote_char(byte)} {context}")

    def push(self, byte: int, state: int) -> None:
        self.stack.append(state)
        self.max_depth = max(self.max_depth, len(self.stack))
        if len(self.stack) > GO_MAX_JSON_DEPTH:
            self.fail(byte, "exceeded max depth")

    def pop(self) -> None:
        self.stack.pop()
        if not self.stack:
            self.step = self.end_top_state
            self.end_top = True
        else:
            self.step = self.end_value

    def begin_value_or_empty(self, c: int) -> None:
        if c in _SPACE_BYTES:
            return
        if c == ord("]"):
            self.end_value(c)
            return
        self.begin_value(c)

    def begin_value(self, c: int) -> None:
        if c in _SPACE_BYTES:
            return
        if c == ord("{"):
            self.step = self.begin_string_or_empty
            self.push(c, _OBJECT_KEY)
        elif c == ord("["):
            self.step = self.begin_value_or_empty
            self.push(c, _ARRAY_VALUE)
        elif c == ord('"'):
            self.step = self.in_string
        elif c == ord("-"):
            self.step = self.negative
        elif c == ord("0"):
            self.step = self.zero
        elif ord("1") <= c <= ord("9"):
            self.step = self.number
        elif c in _LITERALS:
            self.literal, self.literal_at = _LITERALS[c], 1
            self.step = self.in_literal
        else:
            self.fail(c, "looking for beginning of value")

    def begin_string_or_empty(self, c: int) -> None:
        if c in _SPACE_BYTES:
            return
        if c == ord("}"):
            self.stack[-1] = _OBJECT_VALUE
            self.end_value(c)
            return
        self.begin_string(c)

    def begin_string(self, c: int) -> None:
        if c in _SPACE_BYTES:
            return
        if c == ord('"'):
            self.step = self.in_string
            return
        self.fail(c, "looking for beginning of object key string")

    def end_value(self, c: int) -> None:
        if not self.stack:
            self.step = self.end_top_state
            self.end_top = True
            self.end_top_state(c)
            return
        if c in _SPACE_BYTES:
            self.step = self.end_value
            return
        state = self.stack[-1]
        if state == _OBJECT_KEY:
            if c == ord(":"):
                self.stack[-1] = _OBJECT_VALUE
                self.step = self.begin_value
                return
            self.fail(c, "after object key")
        elif state == _OBJECT_VALUE:
            if c == ord(","):
                self.stack[-1] = _OBJECT_KEY
                self.step = self.begin_string
                return
            if c == ord("}"):
                self.pop()
                return
            self.fail(c, "after object key:value pair")
        else:
            if c == ord(","):
                self.step = self.begin_value
                return
            if c == ord("]"):
                self.pop()
                return
            self.fail(c, "after array element")

    def end_top_state(self, c: int) -> None:
        if c not in _SPACE_BYTES:
            self.fail(c, "after top-level value")

    def in_string(self, c: int) -> None:
        if c == ord('"'):
            self.step = self.end_value
        elif c == ord("\\"):
            self.step = self.in_string_escape
        elif c < 0x20:
            self.fail(c, "in string literal")

    def in_string_escape(self, c: int) -> None:
        if c in b'bfnrt\\/"':
            self.step = self.in_string
        elif c == ord("u"):
            self.hex_left = 4
            self.step = self.in_string_escape_u
        else:
            self.fail(c, "in string escape code")

    def in_string_escape_u(self, c: int) -> None:
        if c not in _HEX_BYTES:
            self.fail(c, "in \\u hexadecimal character escape")
        self.hex_left -= 1
        if self.hex_left == 0:
            self.step = self.in_string

    def negative(self, c: int) -> None:
        if c == ord("0"):
            self.step = self.zero
        elif ord("1") <= c <= ord("9"):
            self.step = self.number
        else:
            self.fail(c, "in numeric literal")

    def number(self, c: int) -> None:
        if c not in _DIGITS:
            self.zero(c)

    def zero(self, c: int) -> None:
        if c == ord("."):
            self.step = self.dot
        elif c in b"eE":
            self.step = self.exponent
        else:
            self.end_value(c)

    def dot(self, c: int) -> None:
        if c in _DIGITS:
            self.step = self.dot_digits
            return
        self.fail(c, "after decimal point in numeric literal")

    def dot_digits(self, c: int) -> None:
        if c in _DIGITS:
            return
        if c in b"eE":
            self.step = self.exponent
            return
        self.end_value(c)

    def exponent(self, c: int) -> None:
        if c in b"+-":
            self.step = self.exponent_sign
            return
        self.exponent_sign(c)

    def exponent_sign(self, c: int) -> None:
        if c in _DIGITS:
            self.step = self.exponent_digits
            return
        self.fail(c, "in exponent of numeric literal")

    def exponent_digits(self, c: int) -> None:
        if c not in _DIGITS:
            self.end_value(c)

    def in_literal(self, c: int) -> None:
        expected = self.literal[self.literal_at]
        if c != expected:
            word = self.literal.decode()
            self.fail(c, f"in literal {word} (expecting {_go_quote_char(expected)})")
        self.literal_at += 1
        if self.literal_at == len(self.literal):
            self.step = self.end_value


def _check_json_syntax(data: bytes) -> int:
    """Go's ``checkValid``; returns the maximum nesting depth.

    Raises:
        JsonSyntaxError: the first syntax error, in Go's words.
    """
    scanner = _GoScanner()
    i, size = 0, len(data)
    while i < size:
        if scanner.step == scanner.in_string:
            run = _PLAIN_STRING_RUN.match(data, i)
            if run is not None:
                i = run.end()
                continue
        scanner.step(data[i])
        i += 1
    if not scanner.end_top:
        scanner.step(ord(" "))
        if not scanner.end_top:
            raise JsonSyntaxError("unexpected end of JSON input")
    return scanner.max_depth


# ---------------------------------------------------------------------------------------------
# Parsing a checked document


class JsonObject(list[tuple[str, object]]):
    """A JSON object as its (key, value) pairs, duplicates and order kept."""


class _Number:
    """A JSON number (only its kind matters here)."""


_NUMBER = _Number()


def parse_json(data: bytes) -> object:
    """Check ``data`` as Go does, then parse it keeping every object's pairs."""
    depth = _check_json_syntax(data)
    text = data.decode("utf-8", "replace")
    with _recursion_limit(depth + 200):
        return json.loads(
            text,
            object_pairs_hook=JsonObject,
            parse_int=lambda _: _NUMBER,
            parse_float=lambda _: _NUMBER,
        )


@contextmanager
def _recursion_limit(needed: int) -> Iterator[None]:
    """Let Python's JSON parser go as deep as Go's (10,000 levels) for odd inputs."""
    old = sys.getrecursionlimit()
    if needed > old:
        sys.setrecursionlimit(needed)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


# ---------------------------------------------------------------------------------------------
# Encoding (HTML-safe escapes, MarshalIndent)

_JSON_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')
_JSON_NAMED = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _json_string(text: str) -> str:
    def escape(match: re.Match[str]) -> str:
        ch = match.group()
        if ch in _JSON_NAMED:
            return _JSON_NAMED[ch]
        if "\ud800" <= ch <= "\udfff":
            return "\\ufffd"
        return f"\\u{ord(ch):04x}"

    return '"' + _JSON_ESCAPE.sub(escape, text) + '"'


Json: TypeAlias = "dict[str, Json] | list[Json] | str | int | None"


def encode_json(value: Json, indent: str | None = "    ", level: int = 0) -> str:
    """Go's ``json.MarshalIndent(v, "", indent)``, or ``json.Marshal`` if indent is None."""
    if isinstance(value, str):
        return _json_string(value)
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        items = [
            f"{_json_string(k)}:{_sep(indent)}" + encode_json(v, indent, level + 1)
            for k, v in value.items()
        ]
        return _join(items, "{", "}", indent, level)
    return _join([encode_json(v, indent, level + 1) for v in value], "[", "]", indent, level)


def _sep(indent: str | None) -> str:
    return "" if indent is None else " "


def _join(items: list[str], opening: str, closing: str, indent: str | None, level: int) -> str:
    if not items:
        return opening + closing
    if indent is None:
        return opening + ",".join(items) + closing
    inner = "\n" + indent * (level + 1)
    return opening + inner + ("," + inner).join(items) + "\n" + indent * level + closing
