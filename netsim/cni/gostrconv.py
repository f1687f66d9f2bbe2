"""Go's ``strconv`` where the plugin's messages show it: ``Quote`` (``%q``) and ``Atoi``.

Models the texts the reference ``host-local`` (a Go program) prints through
``strconv``: :func:`go_quote` is ``strconv.Quote``, the ``%q`` verb of
``fmt`` (printable runes kept, others escaped as ``\\t``, ``\\x01``,
``\\u00ad``; undecodable bytes as ``\\xNN``), :func:`go_quote_list` is ``%q``
of a ``[]string``, and :func:`go_atoi` is ``strconv.Atoi`` with its error
texts.

Not modelled: the rest of ``strconv`` (``QuoteToASCII``, float formatting,
``ParseInt`` bases) and ``fmt`` verbs other than ``%q``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["go_atoi", "go_quote", "go_quote_list"]


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


def go_quote_list(items: Sequence[str]) -> str:
    """``%q`` of a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join(go_quote(item) for item in items) + "]"


def go_atoi(text: str) -> int:
    """``strconv.Atoi`` with its errors."""
    if re.fullmatch(r"[+-]?[0-9]+", text, flags=re.ASCII) is None:
        raise ValueError(f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"strconv.Atoi: parsing {go_quote(text)}: value out of range")
    return value
