"""Strict reading of parsed YAML: typed getters that know where they are.

A :class:`Reader` wraps one mapping of a parsed YAML document together with
the file it came from, the object it belongs to (``node node-1``,
``Service default/web``) and the dotted path of the mapping inside it. Every
getter validates the type and raises the error class the reader was made
with, naming file, object and field. Unknown keys are refused with a
did-you-mean.

What it does not do: YAML parsing itself (see :mod:`netsim.model.files`) and
any Kubernetes or topology semantics.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from netsim.errors import InputError

__all__ = ["Reader", "did_you_mean"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Suggest the closest known word, or say which words are known.

    >>> did_you_mean("contianers", ["containers", "volumes"])
    "did you mean 'containers'?"
    >>> did_you_mean("zzz", ["a", "b"])
    'known fields: a, b'
    """
    known = sorted(choices)
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "known fields: " + ", ".join(known)


def _leading_zeros_hint(text: str) -> str:
    """Why a dotted quad (with an optional ``/prefix``) with leading zeros is refused.

    Go's old parser, and so kube-proxy's ``ParseIPSloppy``, reads ``010`` as
    ten; C's ``inet_aton`` reads it as eight. The API server refuses such
    values in new objects (StrictIPCIDRValidation), and so does netsim.

    >>> _leading_zeros_hint("192.168.099.022")
    ': an octet with a leading zero is ambiguous (decimal or octal); did you mean 192.168.99.22?'
    >>> _leading_zeros_hint("203.0.113.000/025")[-15:]
    '203.0.113.0/25?'
    >>> _leading_zeros_hint("10.0.0.300")
    ''
    """
    address, slash, prefix = text.partition("/")
    parts = address.split(".")
    numbers = [*parts, prefix] if slash else parts
    if len(parts) != 4 or not all(n.isdigit() for n in numbers):
        return ""
    if not any(len(n) > 1 and n.startswith("0") for n in numbers):
        return ""
    decimal = ".".join(str(int(n)) for n in parts) + (f"/{int(prefix)}" if slash else "")
    try:
        fixed = (
            ipaddress.ip_network(decimal, strict=False) if slash else ipaddress.ip_address(decimal)
        )
    except ValueError:
        return ""
    return f": an octet with a leading zero is ambiguous (decimal or octal); did you mean {fixed}?"


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


@functools.lru_cache(maxsize=512)
def _key_set(allowed: tuple[str, ...]) -> frozenset[str]:
    """The keys of a constant tuple as a set, made once per tuple."""
    return frozenset(allowed)


@dataclass(frozen=True, slots=True)
class Reader:
    """One YAML mapping with its location, read strictly.

    >>> r = Reader({"mtu": 1450}, source="t.yaml", obj="node n1", path="nodes[0]")
    >>> r.integer("mtu", minimum=68)
    1450
    >>> r.integer("missing", default=1500)
    1500
    """

    data: Mapping[str, Any]
    source: str
    obj: str | None = None
    path: str = ""
    error: type[InputError] = InputError

    def where(self, key: str | None = None) -> str:
        """The dotted field path of ``key`` (or of this mapping)."""
        if key is None:
            return self.path
        return f"{self.path}.{key}" if self.path else key

    def fail(self, message: str, key: str | None = None) -> InputError:
        """An error located at ``key`` of this mapping (to be raised by the caller)."""
        return self.error(message, source=self.source, obj=self.obj, field=self.where(key) or None)

    def for_object(self, obj: str, path: str | None = None) -> Reader:
        """The same mapping, reported as belonging to ``obj`` (at ``path`` inside it)."""
        return _reader(self.data, self.source, obj, self.path if path is None else path, self.error)

    def check_keys(self, allowed: Iterable[str]) -> None:
        """Refuse any key not in ``allowed``, suggesting the closest one."""
        kind = type(allowed)
        if kind is frozenset:
            known: frozenset[str] = allowed  # type: ignore[assignment]
        elif kind is tuple:
            known = _key_set(allowed)  # type: ignore[arg-type]
        else:
            known = frozenset(allowed)
        if self.data.keys() <= known:
            return
        for key in self.data:
            if key not in known:
                raise self.fail(f"unknown field; {did_you_mean(str(key), known)}", str(key))

    def has(self, key: str) -> bool:
        """Whether ``key`` is present and not null."""
        return self.data.get(key) is not None

    def raw(self, key: str, default: Any = None) -> Any:
        """The value as parsed, unchecked."""
        value = self.data.get(key)
        return default if value is None else value

    def sub(self, key: str, *, required: bool = False) -> Reader:
        """The nested mapping at ``key`` (an empty one when absent and not required)."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail("required field is missing", key)
            value = {}
        if not isinstance(value, dict):
            raise self.fail(f"must be a mapping, not a {_type_name(value)}", key)
        return _reader(
            value, self.source, self.obj, f"{self.path}.{key}" if self.path else key, self.error
        )

    def items(self, key: str, *, required: bool = False) -> Iterator[Reader]:
        """The mappings of the list at ``key``, each with its ``[i]`` path.

        The list itself is checked now; each item when the iteration reaches it.
        """
        values = self.sequence(key, required=required)
        if not values:
            return iter(())
        return self._item_readers(values, self.where(key))

    def _item_readers(self, values: list[Any], where: str) -> Iterator[Reader]:
        for index, value in enumerate(values):
            path = f"{where}[{index}]"
            if not isinstance(value, dict):
                raise self.error(
                    f"must be a mapping, not a {_type_name(value)}",
                    source=self.source,
                    obj=self.obj,
                    field=path,
                )
            yield _reader(value, self.source, self.obj, path, self.error)

    def sequence(self, key: str, *, required: bool = False) -> list[Any]:
        """The list at ``key`` (empty when absent and not required)."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail("required field is missing", key)
            return []
        if not isinstance(value, list):
            raise self.fail(f"must be a list, not a {_type_name(value)}", key)
        return value

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str:
        """A string field; numbers are not silently converted."""
        value = self.data.get(key)
        if value is None:
            if required or default is None:
                raise self.fail("required field is missing", key)
            return default
        if not isinstance(value, str):
            raise self.fail(f"must be a string, not a {_type_name(value)}", key)
        if not value:
            raise self.fail("must not be empty", key)
        return value

    def optional_string(self, key: str) -> str | None:
        """A string field that may be absent."""
        if self.data.get(key) is None:
            return None
        return self.string(key)

    def integer(
        self,
        key: str,
        default: int | None = None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        """An integer field within ``[minimum, maximum]``."""
        value = self.data.get(key)
        if value is None:
            if default is None:
                raise self.fail("required field is missing", key)
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"must be an integer, not a {_type_name(value)}", key)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.fail(f"{value} is out of range {minimum}-{maximum}", key)
        return value

    def optional_integer(
        self, key: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """An integer field that may be absent."""
        if self.data.get(key) is None:
            return None
        return self.integer(key, minimum=minimum, maximum=maximum)

    def boolean(self, key: str, default: bool) -> bool:
        """A boolean field."""
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(f"must be true or false, not a {_type_name(value)}", key)
        return value

    def choice(self, key: str, choices: Iterable[str], default: str | None = None) -> str:
        """A string field restricted to ``choices``."""
        allowed = choices if isinstance(choices, tuple) else tuple(choices)
        value = self.string(key, default)
        if value not in allowed:
            hint = did_you_mean(value, allowed).replace("known fields", "allowed values")
            raise self.fail(f"{value!r} is not allowed; {hint}", key)
        return value

    def string_map(self, key: str) -> dict[str, str]:
        """A mapping of strings to strings (labels, selectors, annotations)."""
        data = self.data.get(key)
        if data is None:
            return {}
        if isinstance(data, dict):
            for name, value in data.items():
                if type(name) is not str or type(value) is not str:
                    break
            else:
                return dict(data)  # the usual case, checked without a Reader for the mapping
        sub = self.sub(key)
        result: dict[str, str] = {}
        for name, value in sub.data.items():
            if not isinstance(name, str):
                raise sub.fail(f"key {name!r} must be a string")
            if value is None:
                value = ""
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise sub.fail(f"must be a string, not a {_type_name(value)}", name)
            if not isinstance(value, str):
                raise sub.fail(f"must be a string (quote it: '{value}')", name)
            result[name] = value
        return result

    def string_list(self, key: str) -> list[str]:
        """A list of strings."""
        values = self.sequence(key)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise self.error(
                    f"must be a string, not a {_type_name(value)}",
                    source=self.source,
                    obj=self.obj,
                    field=f"{self.where(key)}[{index}]",
                )
        return values

    def ip(self, key: str, *, text: str | None = None) -> IPAddress:
        """An IP address field (``text`` overrides the value, for list items)."""
        value = text if text is not None else self.string(key)
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            raise self.fail(
                f"{value!r} is not a valid IP address{_leading_zeros_hint(value)}", key
            ) from None

    def network(self, key: str, *, text: str | None = None, strict: bool = True) -> IPNetwork:
        """A CIDR field; host bits are refused unless ``strict`` is false."""
        value = text if text is not None else self.string(key)
        try:
            return ipaddress.ip_network(value, strict=strict)
        except ValueError as exc:
            if "host bits set" in str(exc):
                fixed = ipaddress.ip_network(value, strict=False)
                raise self.fail(
                    f"{value!r} has host bits set; did you mean {fixed}?", key
                ) from None
            raise self.fail(
                f"{value!r} is not a valid CIDR{_leading_zeros_hint(value)}", key
            ) from None


_new_object = object.__new__
_SETTERS = tuple(
    Reader.__dict__[name].__set__ for name in ("data", "source", "obj", "path", "error")
)


def _reader(
    data: Mapping[str, Any], source: str, obj: str | None, path: str, error: type[InputError]
) -> Reader:
    """``Reader(data, source, obj, path, error)`` without the frozen ``__init__``'s cost.

    The getters make hundreds of thousands of nested readers on a large
    cluster; setting the slots directly takes half the time.
    """
    reader: Reader = _new_object(Reader)
    set_data, set_source, set_obj, set_path, set_error = _SETTERS
    set_data(reader, data)
    set_source(reader, source)
    set_obj(reader, obj)
    set_path(reader, path)
    set_error(reader, error)
    return reader
