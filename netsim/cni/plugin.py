"""``netsim cni``: a CNI IPAM plugin answering exactly as the reference ``host-local``.

Models the reference binary byte for byte (containernetworking/plugins 1.1.1
``host-local`` built with libcni's ``skel``, ``types`` and ``version``
packages, as Debian ships it):

* **skel**: the ``CNI_*`` environment (required variables per command, code 4
  ``required env variables [A,B] missing``), validation of the network name,
  container ID and interface name, the config-version checks (code 1
  ``incompatible CNI versions``; CHECK needs 0.4.0+), ``VERSION``, and unknown
  commands (``GC`` and ``STATUS`` are unknown to 1.1.1: code 4).
* **Go's encoding/json** where it shows: syntax-error messages of its
  scanner, case-insensitive keys (last one wins), type errors such as ``json:
  cannot unmarshal number into Go struct field Range.ipam.ranges.subnet of type
  string``, ``null`` handling, HTML-safe escaping (``\\u003c``) and
  ``MarshalIndent`` with four spaces.
* **host-local**: ``LoadIPAMConfig`` (ranges, legacy top-level range,
  ``runtimeConfig.ipRanges``, requested IPs from ``CNI_ARGS`` ``IP=``,
  ``args.cni.ips`` and ``runtimeConfig.ips``), ``resolvConf`` parsed into
  ``dns``, ``routes`` copied, results converted to the config's version
  (``0.1.0``/``0.2.0`` ``ip4``/``ip6``; ``0.3.x``/``0.4.0`` with
  ``"version"``; ``1.0.0``). The allocator itself is
  :mod:`netsim.control.hostlocal` with its :class:`~netsim.control.hostlocal.DiskStore`.

Where the reference panics (a ``null`` in ``runtimeConfig.ips`` or
``args.cni.ips``; a ``null`` route with a 0.1.0/0.2.0 config) netsim also
exits 2 with empty stdout and a ``panic:`` line on stderr. Not modelled: the
exact text of Go's panic traces, Go's handling of invalid UTF-8 sequences
(replaced here by the decoder's maximal-subpart rule), Go map iteration order
(when several requested IPs fall in one range set the reference picks one at
random; netsim takes the first given), and the reference's garbage results on
subnets starting with a zero byte (refused, see :mod:`netsim.control.hostlocal`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO, TypeAlias, assert_never

from netsim.control.hostlocal import (
    ERR_INTERNAL,
    GO_SPACE,
    Allocation,
    DiskStore,
    IPAddress,
    RangeSet,
    allocate,
    canonicalize_range_set,
    check,
    check_range_sets_disjoint,
    cidr_text,
    go_trim_space,
    parse_cidr,
    parse_ip,
    release,
)
from netsim.errors import IPAMError

__all__ = [
    "ABOUT",
    "IMPLEMENTED_SPEC_VERSION",
    "SUPPORTED_VERSIONS",
    "IPAMConfig",
    "Route",
    "go_quote",
    "load_ipam_config",
    "main",
    "run",
]

# libcni version.All as vendored by plugins 1.1.1 (VERSION output, reconcile list).
SUPPORTED_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0")
IMPLEMENTED_SPEC_VERSION = "1.0.0"  # types/100 ImplementedSpecVersion
ABOUT = "CNI host-local IPAM plugin (netsim)"  # skel prints it on stderr without CNI_COMMAND

# libcni types error codes (SPEC.md "Well-known Error Codes").
ERR_INCOMPATIBLE_CNI_VERSION = 1
ERR_UNKNOWN_CONTAINER = 3
ERR_INVALID_ENVIRONMENT_VARIABLES = 4
ERR_DECODING_FAILURE = 6
ERR_INVALID_NETWORK_CONFIG = 7

MAX_INTERFACE_NAME_LENGTH = 15  # libcni utils: IFNAMSIZ - 1
_VALID_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]*")  # libcni utils cniReg
GO_MAX_JSON_DEPTH = 10000  # encoding/json maxNestingDepth
GO_SCANNER_MAX_TOKEN = 64 * 1024  # bufio.MaxScanTokenSize, limits resolv.conf lines

# skel's environment table: variable, the commands that require it (CNI_COMMAND: all).
_ENV_VARS: tuple[tuple[str, frozenset[str]], ...] = (
    ("CNI_COMMAND", frozenset({"ADD", "CHECK", "DEL"})),
    ("CNI_CONTAINERID", frozenset({"ADD", "CHECK", "DEL"})),
    ("CNI_NETNS", frozenset({"ADD", "CHECK"})),
    ("CNI_IFNAME", frozenset({"ADD", "CHECK", "DEL"})),
    ("CNI_ARGS", frozenset()),
    ("CNI_PATH", frozenset({"ADD", "CHECK", "DEL"})),
)


class _GoPanicError(Exception):
    """Where the Go plugin dereferences a nil pointer: exit 2, nothing on stdout."""


_NIL_DEREFERENCE = "runtime error: invalid memory address or nil pointer dereference"


def _internal(message: str) -> IPAMError:
    return IPAMError(ERR_INTERNAL, message)


# ---------------------------------------------------------------------------------------------
# Go's strconv.Quote


def go_quote(text: str) -> str:
    """Quote as Go's ``strconv.Quote`` (``%q``): printable runes kept, others escaped.

    Lone surrogates (undecodable bytes under ``surrogateescape``) print as ``\\xNN``.

    >>> print(go_quote('FOO=é\\t\\x01"'))
    "FOO=é\\t\\x01\\""
    """
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_NAMED_ESCAPES:
            out.append(_GO_NAMED_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_NAMED_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _go_quote_list(items: Sequence[str]) -> str:
    """``%q`` of a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join(go_quote(item) for item in items) + "]"


def _go_quote_char(byte: int) -> str:
    """encoding/json's ``quoteChar`` for a byte of the input."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    return "'" + go_quote(chr(byte))[1:-1] + "'"


# ---------------------------------------------------------------------------------------------
# Go's encoding/json: the syntax scanner (scanner.go), reproduced state for state

_OBJECT_KEY, _OBJECT_VALUE, _ARRAY_VALUE = range(3)
_SPACE_BYTES = frozenset(b" \t\r\n")
_HEX_BYTES = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")
_PLAIN_STRING_RUN = re.compile(rb'[^"\\\x00-\x1f]+')
_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}

_Step: TypeAlias = Callable[[int], None]


class _SyntaxError(Exception):
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
        raise _SyntaxError(f"invalid character {_go_quote_char(byte)} {context}")

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
        _SyntaxError: the first syntax error, in Go's words.
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
            raise _SyntaxError("unexpected end of JSON input")
    return scanner.max_depth


# ---------------------------------------------------------------------------------------------
# Go's encoding/json: decoding into the plugin's Go types


class _JsonObject(list[tuple[str, object]]):
    """A JSON object as its (key, value) pairs, duplicates and order kept."""


class _Number:
    """A JSON number (only its kind matters here)."""


_NUMBER = _Number()
_SURROGATES = re.compile("[\ud800-\udfff]")


def _parse_json(data: bytes) -> object:
    """Check ``data`` as Go does, then parse it keeping every object's pairs."""
    depth = _check_json_syntax(data)
    text = data.decode("utf-8", "replace")
    with _recursion_limit(depth + 200):
        return json.loads(
            text,
            object_pairs_hook=_JsonObject,
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


def _go_string(text: str) -> str:
    """Go decodes an unpaired ``\\uD800`` escape as U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def _kind(value: object) -> str:
    if isinstance(value, _JsonObject):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


@dataclass(frozen=True, slots=True)
class _TypeError:
    """An ``*json.UnmarshalTypeError`` before its context is known."""

    kind: str
    go_type: str


@dataclass(frozen=True, slots=True)
class _Context:
    """``errorContext``: the innermost struct and the JSON field path."""

    struct: str | None = None
    fields: tuple[str, ...] = ()

    def text(self, error: _TypeError) -> str:
        if self.struct is None and not self.fields:
            return f"json: cannot unmarshal {error.kind} into Go value of type {error.go_type}"
        where = f"Go struct field {self.struct}.{'.'.join(self.fields)}"
        return f"json: cannot unmarshal {error.kind} into {where} of type {error.go_type}"


class _DecodeError(Exception):
    """An error that stops Go's decoder at once (from an Unmarshaler)."""

    def __init__(self, error: str | _TypeError) -> None:
        super().__init__(error)
        self.error = error


# Go types of the plugin's config structs, by kind.
@dataclass(frozen=True, slots=True)
class _String:
    go_type: str = "string"


@dataclass(frozen=True, slots=True)
class _NetIP:
    """``net.IP`` (a TextUnmarshaler); decodes to the validated text or None."""

    go_type: str = "net.IP"


@dataclass(frozen=True, slots=True)
class _PluginIP:
    """``*ip.IP`` of plugins/pkg/ip (``<ip>[/<prefix>]``)."""

    go_type: str = "*ip.IP"


@dataclass(frozen=True, slots=True)
class _IPNet:
    """CNI ``types.IPNet`` (a json.Unmarshaler); decodes to the validated CIDR text."""

    go_type: str = "types.IPNet"


@dataclass(frozen=True, slots=True)
class _RoutePointer:
    """``*types.Route`` with its ``UnmarshalJSON`` into the private ``route`` struct."""

    go_type: str = "*types.Route"


@dataclass(frozen=True, slots=True)
class _Struct:
    name: str
    go_type: str
    fields: Mapping[str, _Schema]
    pointer: bool = False


@dataclass(frozen=True, slots=True)
class _Slice:
    element: _Schema
    go_type: str


_Schema: TypeAlias = _String | _NetIP | _PluginIP | _IPNet | _RoutePointer | _Struct | _Slice

_NIL = object()  # a nil pointer
_EMPTY_IP = object()  # ip.IP{}: ToIP() is nil

_RANGE = _Struct(
    "Range",
    "allocator.Range",
    {"rangeStart": _NetIP(), "rangeEnd": _NetIP(), "subnet": _IPNet(), "gateway": _NetIP()},
)
_RANGE_SETS = _Slice(_Slice(_RANGE, "allocator.RangeSet"), "[]allocator.RangeSet")
_PLUGIN_IPS = _Slice(_PluginIP(), "[]*ip.IP")
_ROUTE_STRUCT = _Struct("route", "types.route", {"dst": _IPNet(), "gw": _NetIP()})
_NET = _Struct(
    "Net",
    "allocator.Net",
    {
        "name": _String(),
        "cniVersion": _String(),
        "ipam": _Struct(
            "IPAMConfig",
            "allocator.IPAMConfig",
            {
                "rangeStart": _NetIP(),
                "rangeEnd": _NetIP(),
                "subnet": _IPNet(),
                "gateway": _NetIP(),
                "Name": _String(),
                "type": _String(),
                "routes": _Slice(_RoutePointer(), "[]*types.Route"),
                "dataDir": _String(),
                "resolvConf": _String(),
                "ranges": _RANGE_SETS,
            },
            pointer=True,
        ),
        "runtimeConfig": _Struct(
            "",
            'struct { IPRanges []allocator.RangeSet "json:\\"ipRanges,omitempty\\"";'
            ' IPs []*ip.IP "json:\\"ips,omitempty\\"" }',
            {"ipRanges": _RANGE_SETS, "ips": _PLUGIN_IPS},
        ),
        "args": _Struct(
            "",
            'struct { A *allocator.IPAMArgs "json:\\"cni\\"" }',
            {"cni": _Struct("IPAMArgs", "allocator.IPAMArgs", {"ips": _PLUGIN_IPS}, True)},
            pointer=True,
        ),
    },
)
_NAME_ONLY = _Struct("", 'struct { Name string "json:\\"name\\"" }', {"name": _String()})
_VERSION_ONLY = _Struct(
    "", 'struct { CNIVersion string "json:\\"cniVersion\\"" }', {"cniVersion": _String()}
)


def _field_for(fields: Mapping[str, _Schema], key: str) -> str | None:
    """The struct field a JSON key fills: exact name, else Go's case folding."""
    if key in fields:
        return key
    folded = key.replace("\u017f", "s")  # Go folds ſ (U+017F) to s
    if not folded.isascii():
        return None
    folded = folded.lower()
    for name in fields:
        if name.lower() == folded:
            return name
    return None


class _Decoder:
    """One ``json.Unmarshal`` call: the first type error is kept, decoding goes on.

    Args:
        nested: an Unmarshaler's own Unmarshal call; its type errors are placed
            by the outer decoder (Go's ``addErrorContext`` overwrites them).
    """

    def __init__(self, nested: bool = False) -> None:
        self.saved: tuple[_TypeError, _Context] | None = None
        self.nested = nested

    def save(self, error: _TypeError, context: _Context) -> None:
        if self.saved is None:
            self.saved = (error, context)

    def _unmarshaler(self, call: Callable[[], object], context: _Context) -> object:
        """Run an Unmarshaler; its errors stop decoding, type errors placed here."""
        try:
            return call()
        except _DecodeError as exc:
            if isinstance(exc.error, _TypeError) and not self.nested:
                raise _DecodeError(context.text(exc.error)) from None
            raise

    def decode(self, value: object, schema: _Schema, current: object, context: _Context) -> object:
        if isinstance(value, str):
            value = _go_string(value)
        match schema:
            case _String():
                if isinstance(value, str):
                    return value
                if value is not None:
                    self.save(_TypeError(_kind(value), schema.go_type), context)
                return current
            case _NetIP():
                if value is None:
                    return None
                if not isinstance(value, str):
                    self.save(_TypeError(_kind(value), schema.go_type), context)
                    return current
                if value and parse_ip(value) is None:
                    raise _DecodeError(f"invalid IP address: {value}")
                return value or None
            case _PluginIP():
                if value is None:
                    return _NIL
                if not isinstance(value, str):
                    self.save(_TypeError(_kind(value), schema.go_type), context)
                    return current
                if not value:
                    return _EMPTY_IP
                ip = _parse_plugin_ip(value)
                if ip is None:
                    raise _DecodeError(f"invalid IP address {value}")
                return ip
            case _IPNet():
                return self._unmarshaler(lambda: _ip_net(value), context)
            case _RoutePointer():
                if value is None:
                    return None
                return self._unmarshaler(lambda: _route(value), context)
            case _Struct():
                return self._struct(value, schema, current, context)
            case _Slice():
                if value is None:
                    return []
                if not isinstance(value, list) or isinstance(value, _JsonObject):
                    self.save(_TypeError(_kind(value), schema.go_type), context)
                    return current
                old = current if isinstance(current, list) else []
                return [
                    self.decode(item, schema.element, old[i] if i < len(old) else None, context)
                    for i, item in enumerate(value)
                ]
            case _:
                assert_never(schema)

    def _struct(self, value: object, schema: _Struct, current: object, context: _Context) -> object:
        if value is None:
            return None if schema.pointer else current
        if not isinstance(value, _JsonObject):
            self.save(_TypeError(_kind(value), schema.go_type), context)
            return current
        target: dict[str, object] = current if isinstance(current, dict) else {}
        for key, item in value:
            name = _field_for(schema.fields, key)
            if name is None:
                continue
            inner = _Context(schema.name, (*context.fields, name))
            target[name] = self.decode(item, schema.fields[name], target.get(name), inner)
        return target


def _ip_net(value: object) -> str:
    """``types.IPNet.UnmarshalJSON``: Unmarshal into a string, then ``net.ParseCIDR``."""
    text = "" if value is None else value
    if not isinstance(text, str):
        raise _DecodeError(_TypeError(_kind(value), "string"))
    text = _go_string(text)
    if parse_cidr(text) is None:
        raise _DecodeError(f"invalid CIDR address: {text}")
    return text


def _route(value: object) -> Route:
    """``types.Route.UnmarshalJSON``: a separate Unmarshal into the ``route`` struct."""
    inner = _Decoder(nested=True)
    decoded = inner.decode(value, _ROUTE_STRUCT, None, _Context())
    if inner.saved is not None:
        raise _DecodeError(inner.saved[0])
    fields = decoded if isinstance(decoded, dict) else {}
    dst, gw = fields.get("dst"), fields.get("gw")
    return Route(dst=dst if isinstance(dst, str) else None, gw=gw if isinstance(gw, str) else None)


def _unmarshal(value: object, schema: _Struct) -> dict[str, object]:
    """``json.Unmarshal`` of an already checked document into ``schema``.

    Raises:
        _UnmarshalError: the error Go returns (a type error is the first one met).
    """
    decoder = _Decoder()
    try:
        decoded = decoder.decode(value, schema, {}, _Context())
    except _DecodeError as exc:
        error = exc.error
        raise _UnmarshalError(error if isinstance(error, str) else _Context().text(error)) from None
    if decoder.saved is not None:
        error, context = decoder.saved
        raise _UnmarshalError(context.text(error))
    return decoded if isinstance(decoded, dict) else {}


class _UnmarshalError(Exception):
    """The error ``json.Unmarshal`` returns, as text."""


def _parse_plugin_ip(text: str) -> IPAddress | None:
    """plugins/pkg/ip ``ParseIP``: ``<ip>`` or ``<ip>/<prefix>``, the address kept."""
    if "/" in text:
        cidr = parse_cidr(text)
        return None if cidr is None else cidr.ip
    return parse_ip(text)


# ---------------------------------------------------------------------------------------------
# Go's encoding/json: encoding (HTML-safe escapes, MarshalIndent)

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


_Json: TypeAlias = "dict[str, _Json] | list[_Json] | str | int | None"


def _encode_json(value: _Json, indent: str | None = "    ", level: int = 0) -> str:
    """Go's ``json.MarshalIndent(v, "", indent)``, or ``json.Marshal`` if indent is None."""
    if isinstance(value, str):
        return _json_string(value)
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        items = [
            f"{_json_string(k)}:{_sep(indent)}" + _encode_json(v, indent, level + 1)
            for k, v in value.items()
        ]
        return _join(items, "{", "}", indent, level)
    return _join([_encode_json(v, indent, level + 1) for v in value], "[", "]", indent, level)


def _sep(indent: str | None) -> str:
    return "" if indent is None else " "


def _join(items: list[str], opening: str, closing: str, indent: str | None, level: int) -> str:
    if not items:
        return opening + closing
    if indent is None:
        return opening + ",".join(items) + closing
    inner = "\n" + indent * (level + 1)
    return opening + inner + ("," + inner).join(items) + "\n" + indent * level + closing


def _error_json(error: IPAMError) -> str:
    """``types.Error.Print``: code, msg, details (omitted when empty); no cniVersion."""
    body: dict[str, _Json] = {"code": error.code, "msg": error.msg}
    if error.details:
        body["details"] = error.details
    return _encode_json(body)


# ---------------------------------------------------------------------------------------------
# libcni version handling


def _go_atoi(text: str) -> int:
    """``strconv.Atoi`` with its errors."""
    if re.fullmatch(r"[+-]?[0-9]+", text, flags=re.ASCII) is None:
        raise ValueError(f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"strconv.Atoi: parsing {go_quote(text)}: value out of range")
    return value


def _parse_version(version: str) -> tuple[int, int, int]:
    """libcni ``version.ParseVersion`` ("" is 0.1.0).

    >>> _parse_version("0.3.1"), _parse_version(""), _parse_version("1")
    ((0, 3, 1), (0, 1, 0), (1, 0, 0))
    """
    if not version:
        return (0, 1, 0)
    parts = version.split(".")
    if len(parts) >= 4:
        raise ValueError(f"invalid version {go_quote(version)}: too many parts")
    numbers = [0, 0, 0]
    for i, (part, label) in enumerate(zip(parts, ("major", "minor", "micro"), strict=False)):
        try:
            numbers[i] = _go_atoi(part)
        except ValueError as exc:
            raise ValueError(
                f"failed to convert {label} version part {go_quote(part)}: {exc}"
            ) from None
    return (numbers[0], numbers[1], numbers[2])


def _at_least(version: str, other: str) -> bool:
    """libcni ``version.GreaterThanOrEqualTo`` (raises ValueError on a bad version)."""
    return _parse_version(version) >= _parse_version(other)


def _config_version(data: object) -> str:
    """``ConfigDecoder.Decode``: the ``cniVersion`` of the config, "" read as 0.1.0."""
    try:
        decoded = _unmarshal(data, _VERSION_ONLY)
    except _UnmarshalError as exc:
        raise IPAMError(
            ERR_DECODING_FAILURE, f"decoding version from network config: {exc}"
        ) from None
    version = decoded.get("cniVersion")
    return version if isinstance(version, str) and version else "0.1.0"


def _reconcile(version: str) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise IPAMError(
            ERR_INCOMPATIBLE_CNI_VERSION,
            "incompatible CNI versions",
            f"config is {go_quote(version)}, plugin supports {_go_quote_list(SUPPORTED_VERSIONS)}",
        )


# ---------------------------------------------------------------------------------------------
# host-local's configuration


@dataclass(frozen=True, slots=True)
class Route:
    """A route of ``ipam.routes``, copied to the result as given.

    Attributes:
        dst: the destination CIDR text (host bits kept, as Go keeps them), or
            None if absent (Go then prints ``<nil>``).
        gw: the gateway address text, or None.
    """

    dst: str | None
    gw: str | None


@dataclass(frozen=True, slots=True)
class IPAMConfig:
    """What ``LoadIPAMConfig`` returns: the network and its ``ipam`` section, checked.

    Attributes:
        name: the network name (names the store directory).
        cni_version: the config's ``cniVersion`` as written ("" allowed).
        data_dir: ``ipam.dataDir`` ("" means ``/var/lib/cni/networks``).
        resolv_conf: ``ipam.resolvConf`` ("" means none).
        routes: ``ipam.routes``; None for a ``null`` entry.
        range_sets: the canonicalized range sets (runtime ``ipRanges`` first,
            then the legacy top-level range, then ``ranges``).
        requested: requested IPs in order (``IP=`` from CNI_ARGS, ``args.cni.ips``,
            ``runtimeConfig.ips``).
    """

    name: str
    cni_version: str
    data_dir: str
    resolv_conf: str
    routes: tuple[Route | None, ...]
    range_sets: tuple[RangeSet, ...]
    requested: tuple[IPAddress, ...]


def _load_env_args(args: str) -> IPAddress | None:
    """libcni ``types.LoadArgs`` into host-local's ``IPAMEnvArgs`` (IgnoreUnknown, IP)."""
    ignore_unknown = False
    requested: IPAddress | None = None
    unknown: list[str] = []
    for pair in args.split(";"):
        parts = pair.split("=")
        if len(parts) != 2:
            raise _internal(f"ARGS: invalid pair {go_quote(pair)}")
        key, value = parts
        if key == "IgnoreUnknown":
            lowered = value.lower()
            if lowered not in ("1", "true", "0", "false"):
                raise _internal(
                    f"ARGS: error parsing value of pair {go_quote(pair)}:"
                    f" boolean unmarshal error: invalid input {lowered}"
                )
            ignore_unknown = lowered in ("1", "true")
        elif key == "IP":
            requested = _parse_plugin_ip(value) if value else None
            if value and requested is None:
                raise _internal(
                    f"ARGS: error parsing value of pair {go_quote(pair)}:"
                    f" invalid IP address {value}"
                )
        elif key == "CommonArgs":
            raise _internal(
                "ARGS: cannot unmarshal into field 'CommonArgs' - type '*types.CommonArgs'"
                " does not implement encoding.TextUnmarshaler"
            )
        else:
            unknown.append(pair)
    if unknown and not ignore_unknown:
        raise _internal(f"ARGS: unknown args {_go_quote_list(unknown)}")
    return requested


def _requested_from(items: object, into: list[IPAddress | None]) -> None:
    for item in items if isinstance(items, list) else ():
        if item is _NIL:
            raise _GoPanicError(_NIL_DEREFERENCE)
        into.append(item if isinstance(item, IPAddress) else None)


def _raw_range_sets(value: object) -> list[list[dict[str, str]]]:
    sets: list[list[dict[str, str]]] = []
    for range_set in value if isinstance(value, list) else ():
        ranges = []
        for item in range_set if isinstance(range_set, list) else ():
            fields = item if isinstance(item, dict) else {}
            ranges.append({k: v for k, v in fields.items() if isinstance(v, str)})
        sets.append(ranges)
    return sets


def load_ipam_config(data: object, cni_args: str) -> IPAMConfig:
    """host-local's ``LoadIPAMConfig`` on a parsed (and name-checked) network config.

    Args:
        data: the config as :func:`_parse_json` returns it.
        cni_args: the ``CNI_ARGS`` environment variable.

    Returns:
        The checked configuration.

    Raises:
        IPAMError: code 999 with the reference's message.
    """
    try:
        net = _unmarshal(data, _NET)
    except _UnmarshalError as exc:
        raise _internal(str(exc)) from None
    ipam = net.get("ipam")
    if not isinstance(ipam, dict):
        raise _internal("IPAM config missing 'ipam' key")
    requested: list[IPAddress | None] = []
    if cni_args:
        env_ip = _load_env_args(cni_args)
        if env_ip is not None:
            requested.append(env_ip)
    args = _struct_value(net.get("args"))
    _requested_from(_struct_value(args.get("cni")).get("ips"), requested)
    runtime = _struct_value(net.get("runtimeConfig"))
    _requested_from(runtime.get("ips"), requested)
    if None in requested:
        raise _internal("cannot understand ip: IP <nil> not v4 nor v6")
    raw_sets = _raw_range_sets(ipam.get("ranges"))
    if "subnet" in ipam:
        legacy = {k: ipam.get(k) for k in ("subnet", "rangeStart", "rangeEnd", "gateway")}
        raw_sets.insert(0, [{k: v for k, v in legacy.items() if isinstance(v, str)}])
    raw_sets[:0] = _raw_range_sets(runtime.get("ipRanges"))
    if not raw_sets:
        raise _internal("no IP ranges specified")
    range_sets = tuple(canonicalize_range_set(raw, i) for i, raw in enumerate(raw_sets))
    version = net.get("cniVersion")
    version = version if isinstance(version, str) else ""
    families = [rs[0].range_start.version for rs in range_sets]
    if families.count(4) > 1 or families.count(6) > 1:
        try:
            supported = _at_least(version, "0.3.0")
        except ValueError:
            supported = False
        if not supported:
            raise _internal(
                f"CNI version {version} does not support more than 1 address per family"
            )
    check_range_sets_disjoint(range_sets)
    routes = ipam.get("routes")
    routes = routes if isinstance(routes, list) else []
    name = net.get("name")
    return IPAMConfig(
        name=name if isinstance(name, str) else "",
        cni_version=version,
        data_dir=_text(ipam.get("dataDir")),
        resolv_conf=_text(ipam.get("resolvConf")),
        routes=tuple(r if isinstance(r, Route) else None for r in routes),
        range_sets=range_sets,
        requested=tuple(ip for ip in requested if ip is not None),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _struct_value(value: object) -> dict[str, object]:
    """A decoded struct, or an empty one for a nil pointer."""
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------------------------------------
# resolv.conf and results


def _go_fields(line: str) -> list[str]:
    """``strings.Fields``: split on runs of Go white space."""
    return [field for field in re.split(f"[{GO_SPACE}]+", line) if field]


def _parse_resolv_conf(path: str) -> dict[str, _Json]:
    """host-local's ``parseResolvConf`` into the ``dns`` of the result."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except IsADirectoryError:
        raise _internal(f"read {path}: is a directory") from None
    except OSError as exc:
        text = os.strerror(exc.errno) if exc.errno else str(exc)
        raise _internal(f"open {path}: {text[:1].lower()}{text[1:]}") from None
    nameservers: list[_Json] = []
    domain = ""
    search: list[_Json] = []
    options: list[_Json] = []
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for raw in lines:
        if len(raw) >= GO_SCANNER_MAX_TOKEN:
            raise _internal("bufio.Scanner: token too long")
        line = go_trim_space(raw.removesuffix(b"\r").decode("utf-8", "surrogateescape"))
        if not line or line[0] in "#;":
            continue
        fields = _go_fields(line)
        if len(fields) < 2:
            continue
        if fields[0] == "nameserver":
            nameservers.append(fields[1])
        elif fields[0] == "domain":
            domain = fields[1]
        elif fields[0] == "search":
            search.extend(fields[1:])
        elif fields[0] == "options":
            options.extend(fields[1:])
    dns: dict[str, _Json] = {}
    if nameservers:
        dns["nameservers"] = nameservers
    if domain:
        dns["domain"] = domain
    if search:
        dns["search"] = search
    if options:
        dns["options"] = options
    return dns


def _route_json(route: Route | None) -> _Json:
    if route is None:
        return None
    cidr = parse_cidr(route.dst) if route.dst is not None else None
    body: dict[str, _Json] = {"dst": cidr_text(cidr) if cidr is not None else "<nil>"}
    gw = parse_ip(route.gw) if route.gw is not None else None
    if gw is not None:
        body["gw"] = str(gw)
    return body


def _result_json(
    version: str,
    allocations: Sequence[Allocation],
    routes: Sequence[Route | None],
    dns: dict[str, _Json],
) -> _Json:
    """The ADD result converted to the config's version, as ``PrintResult`` does."""
    version = version or "0.1.0"
    if version in ("0.1.0", "0.2.0"):
        return _result_020(version, allocations, routes, dns)
    ips: list[_Json] = []
    for allocation in allocations:
        ip: dict[str, _Json] = {}
        if version != IMPLEMENTED_SPEC_VERSION:
            ip["version"] = str(allocation.address.version)
        ip["address"] = str(allocation.address)
        if allocation.gateway is not None:
            ip["gateway"] = str(allocation.gateway)
        ips.append(ip)
    result: dict[str, _Json] = {"cniVersion": version, "ips": ips}
    if routes:
        result["routes"] = [_route_json(route) for route in routes]
    result["dns"] = dns
    return result


def _result_020(
    version: str,
    allocations: Sequence[Allocation],
    routes: Sequence[Route | None],
    dns: dict[str, _Json],
) -> _Json:
    """types/020: the first IPv4 and IPv6 address, routes split by family."""
    configs: dict[int, dict[str, _Json]] = {}
    for allocation in allocations:
        family = allocation.address.version
        if family not in configs:
            config: dict[str, _Json] = {"ip": str(allocation.address)}
            if allocation.gateway is not None:
                config["gateway"] = str(allocation.gateway)
            configs[family] = config
    per_family: dict[int, list[_Json]] = {4: [], 6: []}
    for route in routes:
        if route is None:
            raise _GoPanicError(_NIL_DEREFERENCE)
        cidr = parse_cidr(route.dst) if route.dst is not None else None
        family = 4 if cidr is not None and cidr.ip.version == 4 else 6
        if family in configs:
            per_family[family].append(_route_json(route))
    result: dict[str, _Json] = {"cniVersion": version}
    for family, key in ((4, "ip4"), (6, "ip6")):
        if family in configs:
            if per_family[family]:
                configs[family]["routes"] = per_family[family]
            result[key] = configs[family]
    result["dns"] = dns
    return result


# ---------------------------------------------------------------------------------------------
# The commands (host-local main.go) and skel's dispatcher


def _cmd_add(data: object, environ: Mapping[str, str]) -> str:
    config = load_ipam_config(data, environ.get("CNI_ARGS", ""))
    dns = _parse_resolv_conf(config.resolv_conf) if config.resolv_conf else {}
    with DiskStore(config.data_dir, config.name) as store:
        allocations = allocate(
            store,
            config.range_sets,
            environ["CNI_CONTAINERID"],
            environ["CNI_IFNAME"],
            config.requested,
        )
    return _encode_json(_result_json(config.cni_version, allocations, config.routes, dns))


def _cmd_del(data: object, environ: Mapping[str, str]) -> str:
    config = load_ipam_config(data, environ.get("CNI_ARGS", ""))
    errors: list[str] = []
    with DiskStore(config.data_dir, config.name) as store:
        for _ in config.range_sets:
            try:
                release(store, environ["CNI_CONTAINERID"], environ["CNI_IFNAME"])
            except IPAMError as exc:
                errors.append(exc.msg)
    if errors:
        raise _internal(";".join(errors))
    return ""


def _cmd_check(data: object, environ: Mapping[str, str]) -> str:
    config = load_ipam_config(data, environ.get("CNI_ARGS", ""))
    with DiskStore(config.data_dir, config.name) as store:
        check(store, environ["CNI_CONTAINERID"], environ["CNI_IFNAME"])
    return ""


_COMMANDS: dict[str, Callable[[object, Mapping[str, str]], str]] = {
    "ADD": _cmd_add,
    "DEL": _cmd_del,
    "CHECK": _cmd_check,
}


def _missing_env(environ: Mapping[str, str]) -> list[str]:
    command = environ.get("CNI_COMMAND", "")
    return [
        name
        for name, needed_by in _ENV_VARS
        if not environ.get(name, "") and (name == "CNI_COMMAND" or command in needed_by)
    ]


def _validate_config(data: bytes) -> object:
    """skel's ``validateConfig``: parse the config and check its ``name``."""
    try:
        parsed = _parse_json(data)
        decoded = _unmarshal(parsed, _NAME_ONLY)
    except (_SyntaxError, _UnmarshalError) as exc:
        raise IPAMError(ERR_DECODING_FAILURE, f"error unmarshall network config: {exc}") from None
    name = decoded.get("name")
    if not isinstance(name, str) or not name:
        raise IPAMError(ERR_INVALID_NETWORK_CONFIG, "missing network name")
    if _VALID_NAME.fullmatch(name) is None:
        raise IPAMError(
            ERR_INVALID_NETWORK_CONFIG, "invalid characters found in network name", name
        )
    return parsed


def _validate_container_id(container_id: str) -> None:
    if not container_id:
        raise IPAMError(ERR_UNKNOWN_CONTAINER, "missing containerID")
    if _VALID_NAME.fullmatch(container_id) is None:
        raise IPAMError(
            ERR_INVALID_ENVIRONMENT_VARIABLES, "invalid characters in containerID", container_id
        )


def _validate_interface_name(ifname: str) -> None:
    code = ERR_INVALID_ENVIRONMENT_VARIABLES
    if not ifname:
        raise IPAMError(code, "interface name is empty")
    if len(ifname.encode("utf-8", "surrogateescape")) > MAX_INTERFACE_NAME_LENGTH:
        raise IPAMError(
            code,
            "interface name is too long",
            f"interface name should be less than {MAX_INTERFACE_NAME_LENGTH + 1} characters",
        )
    if ifname in (".", ".."):
        raise IPAMError(code, "interface name is . or ..")
    if any(ch in "/:" or ch in GO_SPACE for ch in ifname):
        raise IPAMError(code, "interface name contains / or : or whitespace characters")


def _check_command(data: object) -> None:
    """skel's CHECK preconditions: config 0.4.0+, and a plugin version that reaches it."""
    version = _config_version(data)
    try:
        if not _at_least(version, "0.4.0"):
            raise IPAMError(ERR_INCOMPATIBLE_CNI_VERSION, "config version does not allow CHECK")
        if not any(_at_least(supported, version) for supported in SUPPORTED_VERSIONS):
            raise IPAMError(ERR_INCOMPATIBLE_CNI_VERSION, "plugin version does not allow CHECK")
    except ValueError as exc:
        raise IPAMError(ERR_DECODING_FAILURE, str(exc)) from None


def _dispatch(environ: Mapping[str, str], data: bytes, stderr: TextIO | None) -> str:
    missing = _missing_env(environ)
    command = environ.get("CNI_COMMAND", "")
    if missing:
        if not command:
            if stderr is not None:
                stderr.write(
                    f"{ABOUT}\nCNI protocol versions supported: {', '.join(SUPPORTED_VERSIONS)}\n"
                )
            return ""
        raise IPAMError(
            ERR_INVALID_ENVIRONMENT_VARIABLES,
            f"required env variables [{','.join(missing)}] missing",
        )
    if command == "VERSION":
        body: _Json = {
            "cniVersion": IMPLEMENTED_SPEC_VERSION,
            "supportedVersions": list(SUPPORTED_VERSIONS),
        }
        return _encode_json(body, indent=None) + "\n"
    parsed = _validate_config(data)
    _validate_container_id(environ.get("CNI_CONTAINERID", ""))
    _validate_interface_name(environ.get("CNI_IFNAME", ""))
    handler = _COMMANDS.get(command)
    if handler is None:
        raise IPAMError(ERR_INVALID_ENVIRONMENT_VARIABLES, f"unknown CNI_COMMAND: {command}")
    if command == "CHECK":
        _check_command(parsed)
    _reconcile(_config_version(parsed))
    return handler(parsed, environ)


def main(
    environ: Mapping[str, str], stdin: str, *, stderr: TextIO | None = None
) -> tuple[int, str]:
    """Run one CNI command as the reference host-local would.

    Args:
        environ: the ``CNI_*`` variables.
        stdin: the network configuration (undecodable bytes as ``surrogateescape``).
        stderr: where the about text (no ``CNI_COMMAND``) and panics go.

    Returns:
        The exit code (0 success, 1 CNI error, 2 where Go panics) and stdout text.
    """
    try:
        return 0, _dispatch(environ, stdin.encode("utf-8", "surrogateescape"), stderr)
    except IPAMError as exc:
        return 1, _error_json(exc)
    except _GoPanicError as panic:
        if stderr is not None:
            stderr.write(f"panic: {panic}\n")
        return 2, ""


def run() -> None:
    """The executable: ``os.environ`` and stdin in, stdout and the exit code out."""
    environ = dict(os.environ)
    needs_stdin = not _missing_env(environ) and environ.get("CNI_COMMAND") != "VERSION"
    stdin = sys.stdin.buffer.read().decode("utf-8", "surrogateescape") if needs_stdin else ""
    code, out = main(environ, stdin, stderr=sys.stderr)
    sys.stdout.buffer.write(out.encode("utf-8"))
    sys.stdout.flush()
    sys.exit(code)
