"""``json.Unmarshal`` into host-local's Go config types, with Go's errors and nil pointers.

Models how the reference ``host-local`` decodes its network configuration
into its Go structs (``allocator.Net``, ``allocator.IPAMConfig``,
``allocator.Range``, CNI ``types.Route``, plugins' ``ip.IP``), on a document
that :func:`netsim.cni.gojson.parse_json` has already checked:

* the Go types as data (schemas :data:`NET`, :data:`NAME_ONLY`,
  :data:`VERSION_ONLY`), each with its Go type name for messages;
* keys matched as Go matches them: exact field name first, else ASCII case
  folding (``ſ`` folds to ``s``); the last duplicate wins;
* type errors in Go's words, the first one kept while decoding goes on
  (``json: cannot unmarshal number into Go struct field
  Range.ipam.ranges.subnet of type string``); errors of the Unmarshalers
  (``net.IP``, ``types.IPNet``, ``*ip.IP``, ``*types.Route``) stop decoding
  at once (``invalid CIDR address: ...``);
* ``null``: a nil pointer (:data:`NIL`) where Go leaves one, which the
  plugin may later dereference: :class:`GoPanicError`.

Not modelled: Go types the plugin does not use (numbers, maps, interfaces,
embedded structs), ``DisallowUnknownFields``, and the syntax check itself
(:mod:`netsim.cni.gojson`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias, assert_never

from netsim.cni.gojson import JsonObject
from netsim.control.hostlocal import IPAddress, parse_cidr, parse_ip

__all__ = [
    "NAME_ONLY",
    "NET",
    "NIL",
    "NIL_DEREFERENCE",
    "VERSION_ONLY",
    "GoPanicError",
    "Route",
    "UnmarshalError",
    "parse_plugin_ip",
    "unmarshal",
]


class GoPanicError(Exception):
    """Where the Go plugin dereferences a nil pointer: exit 2, nothing on stdout."""


NIL_DEREFERENCE = "runtime error: invalid memory address or nil pointer dereference"


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


_SURROGATES = re.compile("[\ud800-\udfff]")


def _go_string(text: str) -> str:
    """Go decodes an unpaired ``\\uD800`` escape as U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def _kind(value: object) -> str:
    if isinstance(value, JsonObject):
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

NIL = object()  # a nil pointer
_EMPTY_IP = object()  # ip.IP{}: ToIP() is nil

_RANGE = _Struct(
    "Range",
    "allocator.Range",
    {"rangeStart": _NetIP(), "rangeEnd": _NetIP(), "subnet": _IPNet(), "gateway": _NetIP()},
)
_RANGE_SETS = _Slice(_Slice(_RANGE, "allocator.RangeSet"), "[]allocator.RangeSet")
_PLUGIN_IPS = _Slice(_PluginIP(), "[]*ip.IP")
_ROUTE_STRUCT = _Struct("route", "types.route", {"dst": _IPNet(), "gw": _NetIP()})
NET = _Struct(
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
NAME_ONLY = _Struct("", 'struct { Name string "json:\\"name\\"" }', {"name": _String()})
VERSION_ONLY = _Struct(
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
                    return NIL
                if not isinstance(value, str):
                    self.save(_TypeError(_kind(value), schema.go_type), context)
                    return current
                if not value:
                    return _EMPTY_IP
                ip = parse_plugin_ip(value)
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
                if not isinstance(value, list) or isinstance(value, JsonObject):
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
        if not isinstance(value, JsonObject):
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


def unmarshal(value: object, schema: _Struct) -> dict[str, object]:
    """``json.Unmarshal`` of an already checked document into ``schema``.

    Raises:
        UnmarshalError: the error Go returns (a type error is the first one met).
    """
    decoder = _Decoder()
    try:
        decoded = decoder.decode(value, schema, {}, _Context())
    except _DecodeError as exc:
        error = exc.error
        raise UnmarshalError(error if isinstance(error, str) else _Context().text(error)) from None
    if decoder.saved is not None:
        error, context = decoder.saved
        raise UnmarshalError(context.text(error))
    return decoded if isinstance(decoded, dict) else {}


class UnmarshalError(Exception):
    """The error ``json.Unmarshal`` returns, as text."""


def parse_plugin_ip(text: str) -> IPAddress | None:
    """plugins/pkg/ip ``ParseIP``: ``<ip>`` or ``<ip>/<prefix>``, the address kept."""
    if "/" in text:
        cidr = parse_cidr(text)
        return None if cidr is None else cidr.ip
    return parse_ip(text)
