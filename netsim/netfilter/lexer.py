"""The words of an ``iptables-restore`` line and the values of their options.

What ``iptables-restore`` (1.8.9) and libxtables do before any match or target
sees an option:

* splitting a line into words with iptables-restore's quoting (``"..."``
  groups words, ``\\"`` and ``\\\\`` escape inside quotes, a closing quote ends
  the word): ``split_words``;
* the long spellings of the built-in options (``--source`` is ``-s``):
  ``SHORT_OPTIONS``; taking an option's arguments, with ``--opt=value`` and the
  pre-1.4.3 ``--opt ! value``: ``take_args``;
* reading the values shared by many options, as libxtables reads them: C
  numbers (``0x4000``, ``010``), decimals, ports and port ranges, IPv4
  addresses, networks and masks (``xtables_numeric_to_ipaddr``), protocol
  names and numbers, ``VALUE[/MASK]`` marks, id ranges, interface names and
  comma lists of names. These ``parse_*`` functions are pure and raise
  ``ValueError`` with the message the parser reports;
* the option tables of the match and target parsers (``OptionSpec``,
  ``option_spec``) and reading one option's value out of what was given
  (``Options``, ``option_value``, ``negatable_option``, ``require_option``),
  reporting through a ``Fail`` callback.

Not here: host, service and user name lookups (netsim never resolves names),
IPv6 addresses, getopt abbreviations of long options, the per-module options
(``netsim.netfilter.parse_matches``, ``netsim.netfilter.parse_targets``),
reading a rule (``netsim.netfilter.parse_rule``) and assembling the dump
(``netsim.netfilter.parse``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import NoReturn, Protocol, TypeVar

from netsim.netfilter.ruleset import PROTOCOL_NAMES
from netsim.netfilter.values import ALL_ONES, Negatable, PortRange

__all__ = [
    "DCCP",
    "ICMP",
    "IFNAME_MAX",
    "PROTOCOL_NUMBERS",
    "SCTP",
    "SHORT_OPTIONS",
    "TCP",
    "U32_MAX",
    "UDP",
    "UDPLITE",
    "Fail",
    "OptionSpec",
    "Options",
    "negatable_option",
    "option_spec",
    "option_value",
    "parse_address",
    "parse_c_uint",
    "parse_decimal",
    "parse_id_range",
    "parse_ifname",
    "parse_interface_address",
    "parse_ipv4_int",
    "parse_mark",
    "parse_mask_address",
    "parse_names",
    "parse_network",
    "parse_port",
    "parse_port_range",
    "parse_protocol",
    "require_option",
    "split_words",
    "take_args",
]

V = TypeVar("V")

# --- limits and numbers, each with its source ------------------------------------------

IFNAME_MAX = 15  # IFNAMSIZ 16 with the NUL
U32_MAX = 0xFFFFFFFF

TCP, UDP, ICMP, SCTP, DCCP, UDPLITE = 6, 17, 1, 132, 33, 136  # IANA protocol numbers

#: ``-p`` names: /etc/protocols' names plus iptables' own (xtables_chain_protos).
PROTOCOL_NUMBERS: dict[str, int] = {name: num for num, name in PROTOCOL_NAMES.items()} | {
    "all": 0,
    "icmpv6": 58,
    "mh": 135,
}

#: The long spellings of iptables' built-in options, to the short one (iptables.c).
SHORT_OPTIONS: dict[str, str] = {
    "-s": "-s",
    "--source": "-s",
    "--src": "-s",
    "-d": "-d",
    "--destination": "-d",
    "--dst": "-d",
    "-i": "-i",
    "--in-interface": "-i",
    "-o": "-o",
    "--out-interface": "-o",
    "-p": "-p",
    "--protocol": "-p",
    "-f": "-f",
    "--fragment": "-f",
    "-m": "-m",
    "--match": "-m",
    "-j": "-j",
    "--jump": "-j",
    "-g": "-g",
    "--goto": "-g",
    "-c": "-c",
    "--set-counters": "-c",
}


# --- words --------------------------------------------------------------------------------

_WORD = re.compile(r'"((?:[^"\\]|\\.)*)("?)|([^\s"]+)|(\s+)', re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def split_words(line: str) -> list[str] | None:
    """Split a restore line into words as iptables-restore does; None if a quote is open.

    Double quotes group words, a backslash escapes the next character inside
    quotes, and a closing quote ends the word.

    >>> split_words('-A X -m comment --comment "a \\\\"b\\\\" c" -j ACCEPT')
    ['-A', 'X', '-m', 'comment', '--comment', 'a "b" c', '-j', 'ACCEPT']
    >>> split_words('--comment ""')
    ['--comment', '']
    >>> split_words('--comment "open') is None
    True
    """
    if '"' not in line:
        return line.split()
    if "\\" not in line:
        fast = _split_simple_quotes(line)
        if fast is not None:
            return fast
    words: list[str] = []
    current: list[str] = []
    for match in _WORD.finditer(line):
        quoted, closed, bare, space = match.groups()
        if space is not None:
            if current:
                words.append("".join(current))
                current = []
        elif bare is not None:
            current.append(bare)
        else:
            if not closed:
                return None
            current.append(_ESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted)
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def _split_simple_quotes(line: str) -> list[str] | None:
    """The common case: every quoted part is a whole word and nothing is escaped."""
    parts = line.split('"')
    if len(parts) % 2 == 0:
        return None
    words: list[str] = []
    last = len(parts) - 1
    for index, part in enumerate(parts):
        if index % 2:
            words.append(part)
        else:
            if (index > 0 and part and not part[0].isspace()) or (
                index < last and part and not part[-1].isspace()
            ):
                return None
            words.extend(part.split())
    return words


def take_args(
    words: Sequence[str],
    index: int,
    nargs: int,
    option: str,
    negate: bool,
    inline: str | None,
    negatable: bool,
    fail: Fail,
) -> tuple[tuple[str, ...], bool, int]:
    """The ``nargs`` arguments of ``option`` from ``words[index:]``, and what follows.

    Honours ``--opt=value`` (``inline``) and the old ``--opt ! value``
    (``negatable`` options only).

    Returns:
        The arguments, whether the option is negated, and the index after them.

    >>> take_args(["!", "80", "-j"], 0, 1, "--dport", False, None, True, None)
    (('80',), True, 2)
    """
    if nargs == 0:
        if inline is not None:
            fail(f"option {option} takes no value", option)
        return (), negate, index
    args: list[str] = []
    if inline is not None:
        args.append(inline)
    elif negatable and index < len(words) and words[index] == "!":
        if negate:
            fail("two '!' for one option", option)
        negate = True
        index += 1
    while len(args) < nargs:
        if index >= len(words):
            fail(f"option {option} needs {nargs} value(s)", option)
        args.append(words[index])
        index += 1
    return tuple(args), negate, index


# --- value parsers (pure, raising ValueError with the message) ----------------------------


def parse_c_uint(text: str, maximum: int = U32_MAX, minimum: int = 0) -> int:
    """A C ``strtoul(text, 0)`` number: ``0x`` hex, leading-0 octal or decimal.

    >>> parse_c_uint("0x4000"), parse_c_uint("010"), parse_c_uint("42")
    (16384, 8, 42)
    """
    try:
        if text[:2] in ("0x", "0X"):
            value = int(text[2:], 16)
        elif len(text) > 1 and text[0] == "0":
            value = int(text[1:], 8)
        else:
            value = int(text, 10) if text.isdigit() else -1
    except ValueError:
        value = -1
    if not text or value < minimum or value > maximum:
        raise ValueError(f"{text!r} is not a number in {minimum}-{maximum}")
    return value


def parse_decimal(text: str, maximum: int = U32_MAX, minimum: int = 0) -> int:
    """A plain decimal number from ``minimum`` to ``maximum``.

    >>> parse_decimal("255", 255)
    255
    """
    if not text.isdigit() or not minimum <= int(text) <= maximum:
        raise ValueError(f"{text!r} is not a number in {minimum}-{maximum}")
    return int(text)


def parse_port(text: str) -> int:
    """A port number, 0-65535 (service names are not looked up).

    >>> parse_port("8080")
    8080
    """
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a port number (netsim does not look up service names)")
    value = int(text)
    if value > 65535:
        raise ValueError(f"port {value} is out of range 0-65535")
    return value


def parse_port_range(text: str) -> PortRange:
    """``80``, ``80:90``, ``1024:`` or ``:1023`` as iptables' ``--dport`` reads it.

    >>> parse_port_range("1024:")
    PortRange(first=1024, last=65535)
    """
    if ":" not in text:
        port = parse_port(text)
        return PortRange(port, port)
    first_text, _, last_text = text.partition(":")
    first = parse_port(first_text) if first_text else 0
    last = parse_port(last_text) if last_text else 65535
    if first > last:
        raise ValueError(f"invalid port range {text!r} (min > max)")
    return PortRange(first, last)


def parse_ipv4_int(text: str, is_mask: bool = False) -> int | None:
    """An address as xtables reads it (``xtables_numeric_to_ipaddr``), None if it is not one.

    Octets are C numbers (``0x0a``, ``012``); an address with fewer than four
    parts is completed with zeros (``10.1`` is ``10.1.0.0``, ``0`` is
    ``0.0.0.0``), a mask is not.

    >>> [parse_ipv4_int(text) for text in ("10.0.0.1", "10.1", "0", "node-1")]
    [167772161, 167837696, 0, None]
    """
    parts = text.split(".")
    if len(parts) > 4 or (is_mask and len(parts) != 4):
        return None
    value = 0
    for part in parts:
        try:
            octet = parse_c_uint(part, 255)
        except ValueError:
            return None
        value = value << 8 | octet
    return value << 8 * (4 - len(parts))


def parse_network(text: str) -> IPv4Network:
    """An iptables address: ``a.b.c.d[/len|/mask]``, host bits cleared.

    >>> parse_network("10.0.0.1"), parse_network("10.1.2.3/255.255.0.0")
    (IPv4Network('10.0.0.1/32'), IPv4Network('10.1.0.0/16'))
    """
    address, slash, mask = text.partition("/")
    value = parse_ipv4_int(address)
    if value is None:
        raise ValueError(
            f"{text!r} is not an IPv4 address or network "
            "(netsim does not resolve host names nor parse IPv6)"
        )
    prefix = 32
    if slash and "." in mask:
        bits = parse_ipv4_int(mask, is_mask=True)
        if bits is None:
            raise ValueError(f"{mask!r} is not a netmask")
        prefix = 32 - (~bits & ALL_ONES).bit_length()
        if bits != (ALL_ONES << (32 - prefix)) & ALL_ONES:
            raise ValueError(f"non-contiguous mask {mask} is not modelled; use a prefix length")
    elif slash:
        if not (mask.isascii() and mask.isdigit()) or int(mask) > 32:
            raise ValueError(f"{mask!r} is not a prefix length (0-32)")
        prefix = int(mask)
    host_bits = (1 << (32 - prefix)) - 1
    return IPv4Network((value & ~host_bits & ALL_ONES, prefix))


def parse_interface_address(text: str) -> IPv4Interface:
    """A conntrack address: like ``parse_network`` but the host bits are kept.

    >>> parse_interface_address("5.6.7.8/16")
    IPv4Interface('5.6.7.8/16')
    """
    network = parse_network(text)
    address = parse_ipv4_int(text.partition("/")[0])
    return IPv4Interface((address or 0, network.prefixlen))


def parse_address(text: str) -> IPv4Address:
    """One IPv4 address as xtables reads it.

    >>> parse_address("10.1")
    IPv4Address('10.1.0.0')
    """
    value = parse_ipv4_int(text)
    if value is None:
        raise ValueError(f"{text!r} is not an IPv4 address")
    return IPv4Address(value)


def parse_mask_address(text: str) -> IPv4Address:
    """A dotted-quad mask (all four parts), contiguous or not.

    >>> parse_mask_address("255.255.0.0")
    IPv4Address('255.255.0.0')
    """
    value = parse_ipv4_int(text, is_mask=True)
    if value is None:
        raise ValueError(f"{text!r} is not an IPv4 mask (a.b.c.d)")
    return IPv4Address(value)


def parse_names(text: str, allowed: Sequence[V], what: str, upper: bool = True) -> tuple[V, ...]:
    """A comma list of names out of ``allowed``, deduplicated, in ``allowed``'s order.

    >>> parse_names("established,related,NEW", ("NEW", "RELATED", "ESTABLISHED"), "state")
    ('NEW', 'RELATED', 'ESTABLISHED')
    """
    given = {word.upper() if upper else word for word in text.split(",")}
    unknown = sorted(given - {str(a) for a in allowed})
    if unknown or not text:
        raise ValueError(
            f"unknown {what} {', '.join(unknown) or repr(text)} "
            f"(known: {', '.join(str(a) for a in allowed)})"
        )
    return tuple(a for a in allowed if str(a) in given)


def parse_protocol(text: str) -> int:
    """A ``-p`` protocol, by name (any case) or number; ``all`` is 0.

    >>> parse_protocol("TCP"), parse_protocol("132"), parse_protocol("all")
    (6, 132, 0)
    """
    lower = text.lower()
    if lower.isdigit():
        return parse_decimal(lower, 255)
    if lower in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[lower]
    raise ValueError(f"unknown protocol {text!r}; use a name from /etc/protocols or a number")


def parse_mark(text: str) -> tuple[int, int]:
    """``VALUE[/MASK]`` in C numbers; the mask defaults to all ones.

    >>> parse_mark("0x4000/0x4000"), parse_mark("1")
    ((16384, 16384), (1, 4294967295))
    """
    value, slash, mask = text.partition("/")
    return parse_c_uint(value), (parse_c_uint(mask) if slash else ALL_ONES)


def parse_id_range(text: str) -> tuple[int, int]:
    """A numeric uid or gid, or an inclusive ``FIRST-LAST`` range of them.

    >>> parse_id_range("0"), parse_id_range("1000-1999")
    ((0, 0), (1000, 1999))
    """
    first, dash, last = text.partition("-")
    if not first.isdigit() or (dash and not last.isdigit()):
        raise ValueError(f"{text!r} is not a numeric id or id range (names are not looked up)")
    low, high = int(first), int(last) if dash else int(first)
    if low > high or high > U32_MAX:
        raise ValueError(f"bad id range {text!r}")
    return low, high


def parse_ifname(text: str) -> str:
    """An interface name as ``-i``/``-o``/``--physdev-*`` take it (``+`` ends a prefix).

    >>> parse_ifname("veth+")
    'veth+'
    """
    if not text or len(text) > IFNAME_MAX or any(c in text for c in " /"):
        raise ValueError(f"{text!r} is not an interface name (1-{IFNAME_MAX} characters)")
    return text


# --- option tables: alias -> (canonical name, number of arguments, negatable) ----------

OptionSpec = dict[str, tuple[str, int, bool]]


def option_spec(
    *options: tuple[str, int, bool], aliases: dict[str, str] | None = None
) -> OptionSpec:
    """An option table from ``(name, number of arguments, negatable)`` and aliases.

    >>> option_spec(("--dport", 1, True), aliases={"--destination-port": "--dport"})
    {'--dport': ('--dport', 1, True), '--destination-port': ('--dport', 1, True)}
    """
    table = {name: (name, nargs, neg) for name, nargs, neg in options}
    for alias, name in (aliases or {}).items():
        table[alias] = table[name]
    return table


#: The options given to one match or target: canonical name -> (negated, arguments).
Options = dict[str, tuple[bool, tuple[str, ...]]]


class Fail(Protocol):
    """Reports bad input: raises the parser's ``RulesetError`` naming the place and ``option``."""

    def __call__(self, message: str, option: str | None = None, /) -> NoReturn: ...


def option_value(opts: Options, name: str, fail: Fail, parse: Callable[[str], V]) -> V | None:
    """``parse`` of option ``name``'s first argument, None if it was not given.

    A ``ValueError`` from ``parse`` is reported through ``fail``, naming the option.
    """
    if name not in opts:
        return None
    try:
        return parse(opts[name][1][0])
    except ValueError as exc:
        fail(str(exc), name)


def negatable_option(
    opts: Options, name: str, fail: Fail, parse: Callable[[str], V]
) -> Negatable[V] | None:
    """Like ``option_value``, with whether ``!`` came before the option."""
    value = option_value(opts, name, fail, parse)
    return None if value is None else Negatable(value, opts[name][0])


def require_option(opts: Options, name: str, module: str, fail: Fail) -> None:
    """Fail as iptables does when ``module``'s mandatory option ``name`` is missing."""
    if name not in opts:
        fail(f'{module}: option "{name}" must be specified', name)
