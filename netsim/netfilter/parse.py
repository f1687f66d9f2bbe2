"""Parse an ``iptables-save`` dump (or an ``iptables-restore`` payload) into a ``Ruleset``.

The parser reads what ``iptables-restore`` (1.8.9) reads and judges it as the
kernel would, so a file it accepts is one the kernel would load:

* ``# ...`` comment lines, ``*table``, ``:CHAIN POLICY [p:b]`` and
  ``:CHAIN - [p:b]`` (counters optional), ``COMMIT``;
* ``-A CHAIN ...`` rules, with optional leading ``[p:b]`` counters
  (``iptables-save -c``) or ``-c p b``; ``-N CHAIN`` declares a user chain;
  ``-X CHAIN`` deletes one (kube-proxy writes ``:KUBE-SEP-X - [0:0]`` then
  ``-X KUBE-SEP-X`` for stale chains). Deletion is *applied*: the chain leaves
  the table; deleting a built-in, non-empty or still-referenced chain is an
  error, as ``CHAIN_DEL failed (Device or resource busy)`` is in the kernel.
  Declaring a chain again flushes it, as ``iptables-restore`` does;
* quoting as ``iptables-restore`` does it: ``"..."`` groups words, ``\\"`` and
  ``\\\\`` escape inside quotes, a closing quote ends the word;
* ``!`` before an option (``! -s``, ``! --mark``) and the pre-1.4.3 form after
  it (``-s ! 10.0.0.0/8``, ``--dport ! 80``; iptables 1.8.9 itself refuses it);
* both kube-proxy's restore-input spelling (``-m comment ... -m tcp -p tcp -d
  10.0.0.1 --dport 80``, addresses without ``/32``, ``--or-mark``) and the
  normalised ``iptables-save`` spelling; options find their module by name
  wherever they stand, and ``-p tcp --dport 80`` without ``-m tcp`` loads the
  protocol's match where the option appears, as iptables does;
* ``-s a,b -d c`` expands to one rule per address pair, as iptables does.

Errors are ``RulesetError`` naming the file, ``line N (table T chain C rule K)``,
the option and the fix: a missing ``COMMIT``, a rule before ``*table``, a rule in
an undeclared chain (built-in chains too: their policy would be unknown), an
unknown ``-m`` module, option or target, a bad address (hostnames and
non-contiguous masks included), port, number or name, a jump or goto to a chain
not declared above the rule, a jump loop a built-in chain reaches, and what
iptables or the kernel refuses (see docs/iptables.md for the full list): a
target or match outside its table or hooks (``DNAT`` outside nat
PREROUTING/OUTPUT, reached through user chains too), ``-m tcp`` without
``-p tcp``, ports in a NAT target without a port protocol.

Not parsed: ip6tables dumps, service and user names (``--dport http``,
``--uid-owner root``), getopt abbreviations of long options, and kube-proxy's
partial-sync payloads that jump to chains they do not declare.

Values are normalised to what the kernel stores (see ``netsim.netfilter.ruleset``);
iptables-nft (1.8.9) normalises ports too, and so does this parser: a port range
``0:65535`` on tcp/udp is no test at all, and ``! --dport 0:N`` is ``--dport N+1:65535``.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal, NoReturn, TypeVar, cast

from netsim.errors import RulesetError
from netsim.netfilter.ruleset import (
    ADDRESS_TYPES,
    ALL_ONES,
    BUILTIN_CHAINS,
    CTSTATES,
    CTSTATUSES,
    DEFAULT_LIMIT_AVG,
    DEFAULT_LIMIT_BURST,
    LOG_DEFAULT_LEVEL,
    PKT_TYPES,
    PROTOCOL_NAMES,
    RECENT_DEFAULT_MASK,
    REJECT_WITH,
    STATES,
    XT_LIMIT_SCALE,
    AcceptTarget,
    AddressType,
    AddrtypeMatch,
    Chain,
    CommentMatch,
    ConnmarkMatch,
    ConnmarkTarget,
    ConntrackMatch,
    Counters,
    CtState,
    CtStatus,
    CtTarget,
    DnatTarget,
    DropTarget,
    IcmpMatch,
    JumpTarget,
    LimitMatch,
    LogTarget,
    MacMatch,
    MarkMatch,
    MarkTarget,
    MasqueradeTarget,
    Match,
    MultiportMatch,
    NatRange,
    Negatable,
    NfacctMatch,
    NotrackTarget,
    OwnerMatch,
    PhysdevMatch,
    PktType,
    PkttypeMatch,
    Policy,
    PortRange,
    RecentMatch,
    RedirectTarget,
    RejectTarget,
    RejectWith,
    ReturnTarget,
    Rule,
    Ruleset,
    SctpMatch,
    SetMatch,
    SnatTarget,
    SocketMatch,
    State,
    StateMatch,
    StatisticMatch,
    Table,
    Target,
    TcpFlag,
    TcpFlags,
    TcpMatch,
    UdpMatch,
)

__all__ = ["parse_iptables_save", "split_words"]

V = TypeVar("V")

# --- limits, each with its source -----------------------------------------------------

CHAIN_NAME_MAX = 28  # XT_EXTENSION_MAXNAMELEN 29 with the NUL: "must be under 29 chars"
IFNAME_MAX = 15  # IFNAMSIZ 16 with the NUL
LOG_PREFIX_MAX = 29  # xt_log.h: char prefix[30] with the NUL
MULTIPORT_MAX = 15  # XT_MULTI_PORTS; a range takes two slots
RECENT_NAME_MAX = 199  # XT_RECENT_NAME_LEN 200 with the NUL
SET_NAME_MAX = 31  # IPSET_MAXNAMELEN 32 with the NUL
SET_DIM_MAX = 6  # IPSET_DIM_MAX
NFACCT_NAME_MAX = 31  # NFACCT_NAME_MAX 32 with the NUL
LIMIT_BURST_MAX = 10000  # libxt_limit.c: --limit-burst 0-10000
U32_MAX = 0xFFFFFFFF

TCP, UDP, ICMP, SCTP, DCCP, UDPLITE = 6, 17, 1, 132, 33, 136  # IANA protocol numbers
NAT_PORT_PROTOCOLS = frozenset({TCP, UDP, SCTP, DCCP})  # "Need TCP, UDP, SCTP or DCCP"
MULTIPORT_PROTOCOLS = frozenset({TCP, UDP, UDPLITE, SCTP, DCCP})

#: ``-p`` names: /etc/protocols' names plus iptables' own (xtables_chain_protos).
PROTOCOL_NUMBERS: dict[str, int] = {name: num for num, name in PROTOCOL_NAMES.items()} | {
    "all": 0,
    "icmpv6": 58,
    "mh": 135,
}

#: icmp type names of libxt_icmp.c: name -> (type, code or None for every code).
ICMP_TYPES: dict[str, tuple[int | None, int | None]] = {
    "any": (None, None),
    "echo-reply": (0, None),
    "pong": (0, None),
    "destination-unreachable": (3, None),
    "network-unreachable": (3, 0),
    "host-unreachable": (3, 1),
    "protocol-unreachable": (3, 2),
    "port-unreachable": (3, 3),
    "fragmentation-needed": (3, 4),
    "source-route-failed": (3, 5),
    "network-unknown": (3, 6),
    "host-unknown": (3, 7),
    "network-prohibited": (3, 9),
    "host-prohibited": (3, 10),
    "TOS-network-unreachable": (3, 11),
    "TOS-host-unreachable": (3, 12),
    "communication-prohibited": (3, 13),
    "host-precedence-violation": (3, 14),
    "precedence-cutoff": (3, 15),
    "source-quench": (4, None),
    "redirect": (5, None),
    "network-redirect": (5, 0),
    "host-redirect": (5, 1),
    "TOS-network-redirect": (5, 2),
    "TOS-host-redirect": (5, 3),
    "echo-request": (8, None),
    "ping": (8, None),
    "router-advertisement": (9, None),
    "router-solicitation": (10, None),
    "time-exceeded": (11, None),
    "ttl-exceeded": (11, None),
    "ttl-zero-during-transit": (11, 0),
    "ttl-zero-during-reassembly": (11, 1),
    "parameter-problem": (12, None),
    "ip-header-bad": (12, 0),
    "required-option-missing": (12, 1),
    "timestamp-request": (13, None),
    "timestamp-reply": (14, None),
    "address-mask-request": (17, None),
    "address-mask-reply": (18, None),
}

#: REJECT --reject-with aliases of libipt_REJECT.c.
REJECT_ALIASES: dict[str, RejectWith] = {
    "net-unreach": "icmp-net-unreachable",
    "host-unreach": "icmp-host-unreachable",
    "port-unreach": "icmp-port-unreachable",
    "proto-unreach": "icmp-proto-unreachable",
    "net-prohib": "icmp-net-prohibited",
    "host-prohib": "icmp-host-prohibited",
    "tcp-rst": "tcp-reset",
    "admin-prohib": "icmp-admin-prohibited",
}

#: syslog level names LOG accepts (libxt_LOG.c), exact case.
LOG_LEVELS = {
    "emerg": 0,
    "panic": 0,
    "alert": 1,
    "crit": 2,
    "error": 3,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}

PKT_TYPE_ALIASES: dict[str, PktType] = {
    "bcast": "broadcast",
    "mcast": "multicast",
    "host": "unicast",
}

#: limit units: prefix of the word -> seconds (libxt_limit.c parse_rate).
LIMIT_UNITS = (("second", 1), ("minute", 60), ("hour", 3600), ("day", 86400))

#: Hooks a target or match may run in (the kernel's .hooks): name -> chains.
PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING = (
    "PREROUTING",
    "INPUT",
    "FORWARD",
    "OUTPUT",
    "POSTROUTING",
)
NO_IN_INTERFACE = frozenset({OUTPUT, POSTROUTING})  # iptables: "Can't use -i with OUTPUT"
NO_OUT_INTERFACE = frozenset({PREROUTING, INPUT})  # iptables: "Can't use -o with INPUT"
TARGET_TABLES: dict[str, str] = {
    "REJECT": "filter",
    "DNAT": "nat",
    "SNAT": "nat",
    "MASQUERADE": "nat",
    "REDIRECT": "nat",
    "NOTRACK": "raw",
    "CT": "raw",
}
TARGET_HOOKS: dict[str, frozenset[str]] = {
    "DNAT": frozenset({PREROUTING, OUTPUT}),
    "SNAT": frozenset({POSTROUTING, INPUT}),
    "MASQUERADE": frozenset({POSTROUTING}),
    "REDIRECT": frozenset({PREROUTING, OUTPUT}),
}
MATCH_HOOKS: dict[str, frozenset[str]] = {
    "mac": frozenset({PREROUTING, INPUT, FORWARD}),
    "owner": frozenset({OUTPUT, POSTROUTING}),
    "socket": frozenset({PREROUTING, INPUT}),
    "addrtype --limit-iface-in": frozenset({PREROUTING, INPUT, FORWARD}),
    "addrtype --limit-iface-out": frozenset({OUTPUT, POSTROUTING, FORWARD}),
    # xt_physdev.c: --physdev-out/--physdev-is-out without --physdev-is-bridged
    "physdev --physdev-out": frozenset({PREROUTING, INPUT, FORWARD, POSTROUTING}),
}

# --- option tables: alias -> (canonical name, number of arguments, negatable) ----------

OptionSpec = dict[str, tuple[str, int, bool]]


def _spec(*options: tuple[str, int, bool], aliases: dict[str, str] | None = None) -> OptionSpec:
    table = {name: (name, nargs, neg) for name, nargs, neg in options}
    for alias, name in (aliases or {}).items():
        table[alias] = table[name]
    return table


_PORTS = (("--sport", 1, True), ("--dport", 1, True))
_PORT_ALIASES = {"--source-port": "--sport", "--destination-port": "--dport"}
_MARK_MODES = (
    ("--set-xmark", 1, False),
    ("--set-mark", 1, False),
    ("--and-mark", 1, False),
    ("--or-mark", 1, False),
    ("--xor-mark", 1, False),
)

_MARK_MODE_NAMES = frozenset(name for name, _, _ in _MARK_MODES)

MATCH_OPTIONS: dict[str, OptionSpec] = {
    "tcp": _spec(
        *_PORTS,
        ("--tcp-flags", 2, True),
        ("--syn", 0, True),
        ("--tcp-option", 1, True),
        aliases=_PORT_ALIASES,
    ),
    "udp": _spec(*_PORTS, aliases=_PORT_ALIASES),
    "sctp": _spec(*_PORTS, aliases=_PORT_ALIASES),
    "comment": _spec(("--comment", 1, False)),
    "mark": _spec(("--mark", 1, True)),
    "connmark": _spec(("--mark", 1, True)),
    "addrtype": _spec(
        ("--src-type", 1, True),
        ("--dst-type", 1, True),
        ("--limit-iface-in", 0, False),
        ("--limit-iface-out", 0, False),
    ),
    "conntrack": _spec(
        *(
            (f"--{name}", 1, True)
            for name in (
                "ctstate",
                "ctproto",
                "ctorigsrc",
                "ctorigdst",
                "ctreplsrc",
                "ctrepldst",
                "ctorigsrcport",
                "ctorigdstport",
                "ctreplsrcport",
                "ctrepldstport",
                "ctstatus",
                "ctexpire",
            )
        ),
        ("--ctdir", 1, False),
    ),
    "state": _spec(("--state", 1, True)),
    "statistic": _spec(
        ("--mode", 1, False),
        ("--probability", 1, True),
        ("--every", 1, True),
        ("--packet", 1, False),
    ),
    "recent": _spec(
        ("--set", 0, True),
        ("--rcheck", 0, True),
        ("--update", 0, True),
        ("--remove", 0, True),
        ("--seconds", 1, False),
        ("--reap", 0, False),
        ("--hitcount", 1, False),
        ("--rttl", 0, False),
        ("--name", 1, False),
        ("--mask", 1, False),
        ("--rsource", 0, False),
        ("--rdest", 0, False),
    ),
    "multiport": _spec(
        ("--sports", 1, True),
        ("--dports", 1, True),
        ("--ports", 1, True),
        aliases={"--source-ports": "--sports", "--destination-ports": "--dports"},
    ),
    "physdev": _spec(
        ("--physdev-in", 1, True),
        ("--physdev-out", 1, True),
        ("--physdev-is-in", 0, True),
        ("--physdev-is-out", 0, True),
        ("--physdev-is-bridged", 0, True),
    ),
    "set": _spec(("--match-set", 2, True)),
    "nfacct": _spec(("--nfacct-name", 1, False)),
    "icmp": _spec(("--icmp-type", 1, True)),
    "limit": _spec(("--limit", 1, False), ("--limit-burst", 1, False)),
    "pkttype": _spec(("--pkt-type", 1, True)),
    "socket": _spec(
        ("--transparent", 0, False), ("--nowildcard", 0, False), ("--restore-skmark", 0, False)
    ),
    "owner": _spec(
        ("--uid-owner", 1, True),
        ("--gid-owner", 1, True),
        ("--socket-exists", 0, True),
        ("--suppl-groups", 0, False),
    ),
    "mac": _spec(("--mac-source", 1, True)),
}

TARGET_OPTIONS: dict[str, OptionSpec] = {
    "ACCEPT": {},
    "DROP": {},
    "RETURN": {},
    "NOTRACK": {},
    "REJECT": _spec(("--reject-with", 1, False)),
    "DNAT": _spec(
        ("--to-destination", 1, False), ("--random", 0, False), ("--persistent", 0, False)
    ),
    "SNAT": _spec(
        ("--to-source", 1, False),
        ("--random", 0, False),
        ("--random-fully", 0, False),
        ("--persistent", 0, False),
    ),
    "MASQUERADE": _spec(
        ("--to-ports", 1, False), ("--random", 0, False), ("--random-fully", 0, False)
    ),
    "REDIRECT": _spec(("--to-ports", 1, False), ("--random", 0, False)),
    "MARK": _spec(*_MARK_MODES),
    "CONNMARK": _spec(
        *_MARK_MODES,
        ("--save-mark", 0, False),
        ("--restore-mark", 0, False),
        ("--nfmask", 1, False),
        ("--ctmask", 1, False),
        ("--mask", 1, False),
    ),
    "LOG": _spec(
        ("--log-prefix", 1, False),
        ("--log-level", 1, False),
        ("--log-tcp-sequence", 0, False),
        ("--log-tcp-options", 0, False),
        ("--log-ip-options", 0, False),
        ("--log-uid", 0, False),
        ("--log-macdecode", 0, False),
    ),
    "CT": _spec(("--notrack", 0, False), ("--helper", 1, False), ("--zone", 1, False)),
}

#: Protocol matches iptables loads by itself for ``-p PROTO --dport ...``.
IMPLICIT_MATCHES = {TCP: "tcp", UDP: "udp", SCTP: "sctp", ICMP: "icmp"}
PROTOCOL_MATCHES = {"tcp": TCP, "udp": UDP, "sctp": SCTP, "icmp": ICMP}

# --- where an error is ------------------------------------------------------------------


@dataclass(slots=True)
class _Where:
    """The place being parsed, for error messages."""

    source: str
    line: int = 0
    table: str | None = None
    chain: str | None = None
    rule: int | None = None

    def obj(self) -> str:
        if self.chain is not None and self.rule is not None:
            return f"line {self.line} (table {self.table} chain {self.chain} rule {self.rule})"
        return f"line {self.line}"

    def fail(self, message: str, option: str | None = None) -> NoReturn:
        raise RulesetError(message, source=self.source, obj=self.obj(), field=option)


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


# --- value parsers (pure, raising ValueError with the message) ----------------------------


def _c_uint(text: str, maximum: int = U32_MAX, minimum: int = 0) -> int:
    """A C ``strtoul(text, 0)`` number: ``0x`` hex, leading-0 octal or decimal.

    >>> _c_uint("0x4000"), _c_uint("010"), _c_uint("42")
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


def _decimal(text: str, maximum: int = U32_MAX, minimum: int = 0) -> int:
    if not text.isdigit() or not minimum <= int(text) <= maximum:
        raise ValueError(f"{text!r} is not a number in {minimum}-{maximum}")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a port number (netsim does not look up service names)")
    value = int(text)
    if value > 65535:
        raise ValueError(f"port {value} is out of range 0-65535")
    return value


def _port_range(text: str) -> PortRange:
    """``80``, ``80:90``, ``1024:`` or ``:1023`` as iptables' ``--dport`` reads it.

    >>> _port_range("1024:")
    PortRange(first=1024, last=65535)
    """
    if ":" not in text:
        port = _port(text)
        return PortRange(port, port)
    first_text, _, last_text = text.partition(":")
    first = _port(first_text) if first_text else 0
    last = _port(last_text) if last_text else 65535
    if first > last:
        raise ValueError(f"invalid port range {text!r} (min > max)")
    return PortRange(first, last)


def _ipv4_int(text: str, is_mask: bool = False) -> int | None:
    """An address as xtables reads it (``xtables_numeric_to_ipaddr``), None if it is not one.

    Octets are C numbers (``0x0a``, ``012``); an address with fewer than four
    parts is completed with zeros (``10.1`` is ``10.1.0.0``, ``0`` is
    ``0.0.0.0``), a mask is not.

    >>> _ipv4_int("10.0.0.1"), _ipv4_int("10.1"), _ipv4_int("0"), _ipv4_int("node-1")
    (167772161, 167837696, 0, None)
    """
    parts = text.split(".")
    if len(parts) > 4 or (is_mask and len(parts) != 4):
        return None
    value = 0
    for part in parts:
        try:
            octet = _c_uint(part, 255)
        except ValueError:
            return None
        value = value << 8 | octet
    return value << 8 * (4 - len(parts))


def _network(text: str) -> IPv4Network:
    """An iptables address: ``a.b.c.d[/len|/mask]``, host bits cleared.

    >>> _network("10.0.0.1"), _network("10.1.2.3/255.255.0.0")
    (IPv4Network('10.0.0.1/32'), IPv4Network('10.1.0.0/16'))
    """
    address, slash, mask = text.partition("/")
    value = _ipv4_int(address)
    if value is None:
        raise ValueError(
            f"{text!r} is not an IPv4 address or network "
            "(netsim does not resolve host names nor parse IPv6)"
        )
    prefix = 32
    if slash and "." in mask:
        bits = _ipv4_int(mask, is_mask=True)
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


def _interface_address(text: str) -> IPv4Interface:
    """A conntrack address: like ``_network`` but the host bits are kept.

    >>> _interface_address("5.6.7.8/16")
    IPv4Interface('5.6.7.8/16')
    """
    network = _network(text)
    address = _ipv4_int(text.partition("/")[0])
    return IPv4Interface((address or 0, network.prefixlen))


def _address(text: str) -> IPv4Address:
    value = _ipv4_int(text)
    if value is None:
        raise ValueError(f"{text!r} is not an IPv4 address")
    return IPv4Address(value)


def _mask_address(text: str) -> IPv4Address:
    value = _ipv4_int(text, is_mask=True)
    if value is None:
        raise ValueError(f"{text!r} is not an IPv4 mask (a.b.c.d)")
    return IPv4Address(value)


def _names(text: str, allowed: Sequence[V], what: str, upper: bool = True) -> tuple[V, ...]:
    """A comma list of names out of ``allowed``, deduplicated, in ``allowed``'s order."""
    given = {word.upper() if upper else word for word in text.split(",")}
    unknown = sorted(given - {str(a) for a in allowed})
    if unknown or not text:
        raise ValueError(
            f"unknown {what} {', '.join(unknown) or repr(text)} "
            f"(known: {', '.join(str(a) for a in allowed)})"
        )
    return tuple(a for a in allowed if str(a) in given)


def _protocol(text: str) -> int:
    lower = text.lower()
    if lower.isdigit():
        return _decimal(lower, 255)
    if lower in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[lower]
    raise ValueError(f"unknown protocol {text!r}; use a name from /etc/protocols or a number")


def _mark(text: str) -> tuple[int, int]:
    value, slash, mask = text.partition("/")
    return _c_uint(value), (_c_uint(mask) if slash else ALL_ONES)


def _id_range(text: str) -> tuple[int, int]:
    first, dash, last = text.partition("-")
    if not first.isdigit() or (dash and not last.isdigit()):
        raise ValueError(f"{text!r} is not a numeric id or id range (names are not looked up)")
    low, high = int(first), int(last) if dash else int(first)
    if low > high or high > U32_MAX:
        raise ValueError(f"bad id range {text!r}")
    return low, high


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{text!r} is not a probability; use a number from 0 to 1")
    return value


def _limit_rate(text: str) -> int:
    """The kernel period of ``--limit N[/unit]`` (1/10000 s per packet).

    >>> _limit_rate("3/hour"), _limit_rate("5/s"), _limit_rate("7")
    (12000000, 2000, 1428)
    """
    count, slash, unit = text.partition("/")
    seconds = 1
    if slash:
        matches = [s for word, s in LIMIT_UNITS if unit and word.startswith(unit.lower())]
        if not matches:
            raise ValueError(f"bad rate {text!r}; use N/second, N/minute, N/hour or N/day")
        seconds = matches[0]
    if not count.isdigit() or int(count) == 0:
        raise ValueError(f"bad rate {text!r}; use N/second, N/minute, N/hour or N/day")
    avg = XT_LIMIT_SCALE * seconds // int(count)
    if avg == 0:
        raise ValueError(f"rate too fast {text!r} (at most 10000/second)")
    return avg


def _nat_range(text: str, ports_allowed: bool = True) -> NatRange:
    """``[a[-b]][:p[-q][/base]]`` of DNAT and SNAT.

    >>> _nat_range("10.0.0.1:80")
    NatRange(first_address=IPv4Address('10.0.0.1'), last_address=None, first_port=80, \
last_port=None, base_port=None)
    """
    addresses, colon, ports = text.partition(":")
    first_address = last_address = None
    if addresses:
        low, dash, high = addresses.partition("-")
        first_address = _address(low)
        if dash:
            last_address = _address(high)
            if last_address < first_address:
                raise ValueError(f"bad address range {addresses!r}")
            if last_address == first_address:
                last_address = None
    first_port = last_port = base_port = None
    if colon:
        port_text, slash, base_text = ports.partition("/")
        low, dash, high = port_text.partition("-")
        first_port = _decimal(low, 65535)
        if dash:
            last_port = _decimal(high, 65535)
            if last_port < first_port:
                raise ValueError(f"bad port range {port_text!r}")
            if last_port == first_port:
                last_port = None
        if slash:
            base_port = _decimal(base_text, 65535, 1)
    if first_address is None and first_port is None:
        raise ValueError(f"{text!r} names neither an address nor a port")
    return NatRange(first_address, last_address, first_port, last_port, base_port)


def _to_ports(text: str) -> PortRange:
    low, dash, high = text.partition("-")
    first = _decimal(low, 65535)
    last = _decimal(high, 65535) if dash else first
    if last < first:
        raise ValueError(f"bad port range {text!r}")
    return PortRange(first, last)


# --- match builders ----------------------------------------------------------------------

Options = dict[str, tuple[bool, tuple[str, ...]]]
Fail = Callable[[str, str], NoReturn]


def _value(opts: Options, name: str, fail: Fail, parse: Callable[[str], V]) -> V | None:
    if name not in opts:
        return None
    try:
        return parse(opts[name][1][0])
    except ValueError as exc:
        fail(str(exc), name)


def _negatable(
    opts: Options, name: str, fail: Fail, parse: Callable[[str], V]
) -> Negatable[V] | None:
    value = _value(opts, name, fail, parse)
    return None if value is None else Negatable(value, opts[name][0])


def _ports_tcpudp(opts: Options, name: str, fail: Fail) -> Negatable[PortRange] | None:
    """A tcp/udp port option, normalised as iptables-nft stores it."""
    ports = _negatable(opts, name, fail, _port_range)
    if ports is None:
        return None
    first, last = ports.value.first, ports.value.last
    if not ports.negated and first == 0 and last == 65535:
        return None
    if ports.negated and first == 0 and 0 < last < 65535:
        return Negatable(PortRange(last + 1, 65535))
    return ports


def _tcp_flag_set(text: str) -> TcpFlag:
    flags = TcpFlag(0)
    for word in text.upper().split(","):
        if word == "ALL":
            flags |= TcpFlag(0x3F)
        elif word != "NONE":
            if word not in TcpFlag.__members__:
                raise ValueError(f"unknown TCP flag {word!r} (FIN,SYN,RST,PSH,ACK,URG,ALL,NONE)")
            flags |= TcpFlag[word]
    return flags


SYN_FLAGS = TcpFlags(TcpFlag.FIN | TcpFlag.SYN | TcpFlag.RST | TcpFlag.ACK, TcpFlag.SYN)


def _build_tcp(opts: Options, fail: Fail) -> Match:
    flags: Negatable[TcpFlags] | None = None
    if "--tcp-flags" in opts:
        negated, (mask, comp) = opts["--tcp-flags"]
        try:
            flags = Negatable(TcpFlags(_tcp_flag_set(mask), _tcp_flag_set(comp)), negated)
        except ValueError as exc:
            fail(str(exc), "--tcp-flags")
    if "--syn" in opts:
        if flags is not None:
            fail("--syn and --tcp-flags cannot be used together", "--syn")
        flags = Negatable(SYN_FLAGS, opts["--syn"][0])
    return TcpMatch(
        sport=_ports_tcpudp(opts, "--sport", fail),
        dport=_ports_tcpudp(opts, "--dport", fail),
        tcp_option=_negatable(opts, "--tcp-option", fail, lambda t: _decimal(t, 255, 1)),
        tcp_flags=None if flags == Negatable(TcpFlags(TcpFlag(0), TcpFlag(0))) else flags,
    )


def _build_udp(opts: Options, fail: Fail) -> Match:
    return UdpMatch(_ports_tcpudp(opts, "--sport", fail), _ports_tcpudp(opts, "--dport", fail))


def _build_sctp(opts: Options, fail: Fail) -> Match:
    return SctpMatch(
        _negatable(opts, "--sport", fail, _port_range),
        _negatable(opts, "--dport", fail, _port_range),
    )


def _require(opts: Options, name: str, module: str, fail: Fail) -> None:
    if name not in opts:
        fail(f'{module}: option "{name}" must be specified', name)


def _build_comment(opts: Options, fail: Fail) -> Match:
    _require(opts, "--comment", "comment", fail)
    return CommentMatch(opts["--comment"][1][0])


def _build_mark(opts: Options, fail: Fail) -> Match:
    _require(opts, "--mark", "mark", fail)
    value, mask = cast(tuple[int, int], _value(opts, "--mark", fail, _mark))
    return MarkMatch(value, mask, opts["--mark"][0])


def _build_connmark(opts: Options, fail: Fail) -> Match:
    _require(opts, "--mark", "connmark", fail)
    value, mask = cast(tuple[int, int], _value(opts, "--mark", fail, _mark))
    return ConnmarkMatch(value, mask, opts["--mark"][0])


def _address_types(text: str) -> tuple[AddressType, ...]:
    return _names(text, ADDRESS_TYPES, "address type")


def _build_addrtype(opts: Options, fail: Fail) -> Match:
    if "--src-type" not in opts and "--dst-type" not in opts:
        fail("addrtype: you must specify --src-type or --dst-type", "--dst-type")
    if "--limit-iface-in" in opts and "--limit-iface-out" in opts:
        fail("--limit-iface-in and --limit-iface-out cannot be used together", "--limit-iface-out")
    return AddrtypeMatch(
        src_type=_negatable(opts, "--src-type", fail, _address_types),
        dst_type=_negatable(opts, "--dst-type", fail, _address_types),
        limit_iface_in="--limit-iface-in" in opts,
        limit_iface_out="--limit-iface-out" in opts,
    )


def _ctstates(text: str) -> tuple[CtState, ...]:
    return _names(text, CTSTATES, "conntrack state")


def _ctstatuses(text: str) -> tuple[CtStatus, ...]:
    return () if text.upper() == "NONE" else _names(text, CTSTATUSES, "conntrack status")


def _ctexpire(text: str) -> tuple[int, int]:
    low, colon, high = text.partition(":")
    first = _decimal(low)
    last = _decimal(high) if colon else first
    if last < first:
        raise ValueError(f"bad expiry range {text!r}")
    return first, last


def _build_conntrack(opts: Options, fail: Fail) -> Match:
    if not opts:
        fail("conntrack: at least one option is required", "--ctstate")
    ctdir = _value(opts, "--ctdir", fail, str.upper)
    if ctdir not in (None, "ORIGINAL", "REPLY"):
        fail(f"unknown direction {ctdir!r}; use ORIGINAL or REPLY", "--ctdir")
    return ConntrackMatch(
        ctstate=_negatable(opts, "--ctstate", fail, _ctstates),
        ctproto=_negatable(opts, "--ctproto", fail, _protocol),
        ctorigsrc=_negatable(opts, "--ctorigsrc", fail, _interface_address),
        ctorigdst=_negatable(opts, "--ctorigdst", fail, _interface_address),
        ctreplsrc=_negatable(opts, "--ctreplsrc", fail, _interface_address),
        ctrepldst=_negatable(opts, "--ctrepldst", fail, _interface_address),
        ctorigsrcport=_negatable(opts, "--ctorigsrcport", fail, _port_range),
        ctorigdstport=_negatable(opts, "--ctorigdstport", fail, _port_range),
        ctreplsrcport=_negatable(opts, "--ctreplsrcport", fail, _port_range),
        ctrepldstport=_negatable(opts, "--ctrepldstport", fail, _port_range),
        ctstatus=_negatable(opts, "--ctstatus", fail, _ctstatuses),
        ctexpire=_negatable(opts, "--ctexpire", fail, _ctexpire),
        ctdir=cast(Literal["ORIGINAL", "REPLY"] | None, ctdir),
    )


def _states(text: str) -> tuple[State, ...]:
    return _names(text, STATES, "state")


def _build_state(opts: Options, fail: Fail) -> Match:
    _require(opts, "--state", "state", fail)
    return StateMatch(
        cast(tuple[State, ...], _value(opts, "--state", fail, _states)), opts["--state"][0]
    )


def _build_statistic(opts: Options, fail: Fail) -> Match:
    _require(opts, "--mode", "statistic", fail)
    mode = opts["--mode"][1][0]
    negated = any(opts[o][0] for o in ("--probability", "--every") if o in opts)
    if mode == "random":
        if "--probability" not in opts:
            fail("--probability must be specified when using random mode", "--probability")
        for name in ("--every", "--packet"):
            if name in opts:
                fail(f"{name} can only be used in nth mode", name)
        text = opts["--probability"][1][0]
        probability = _value(opts, "--probability", fail, _probability)
        return StatisticMatch("random", probability, text, negated=negated)
    if mode == "nth":
        if "--probability" in opts:
            fail("--probability can only be used in random mode", "--probability")
        _require(opts, "--every", "statistic", fail)
        if "--packet" not in opts:
            fail('statistic: option "--every" also requires "--packet"', "--every")
        every = cast(int, _value(opts, "--every", fail, lambda t: _decimal(t, U32_MAX, 1)))
        packet = cast(int, _value(opts, "--packet", fail, _decimal))
        if packet >= every:
            fail(f"--packet {packet} must be below --every {every}", "--packet")
        return StatisticMatch("nth", every=every, packet=packet, negated=negated)
    fail(f"unknown mode {mode!r}; use random or nth", "--mode")


_RECENT_COMMANDS = ("set", "rcheck", "update", "remove")


def _build_recent(opts: Options, fail: Fail) -> Match:
    commands = [c for c in _RECENT_COMMANDS if f"--{c}" in opts]
    if not commands:
        fail("recent: specify one of --set, --rcheck, --update or --remove", "--rcheck")
    if len(commands) > 1:
        fail(f"--{commands[0]} cannot be used together with --{commands[1]}", f"--{commands[1]}")
    command = commands[0]
    if command in ("set", "remove"):
        for name in ("--seconds", "--hitcount", "--reap", "--rttl"):
            if name in opts:
                fail(f"{name} only works with --rcheck or --update", name)
    if "--reap" in opts and "--seconds" not in opts:
        fail('recent: option "--reap" also requires "--seconds"', "--reap")
    if "--rsource" in opts and "--rdest" in opts:
        fail("--rsource and --rdest cannot be used together", "--rdest")
    name = opts.get("--name", (False, ("DEFAULT",)))[1][0]
    if not name or len(name) > RECENT_NAME_MAX:
        fail(f"list name must be 1-{RECENT_NAME_MAX} characters", "--name")
    hitcount = _value(opts, "--hitcount", fail, lambda t: _decimal(t, 255))
    return RecentMatch(
        command=cast(Literal["set", "rcheck", "update", "remove"], command),
        name=name,
        seconds=_value(opts, "--seconds", fail, lambda t: _decimal(t, U32_MAX, 1)),
        reap="--reap" in opts,
        hitcount=hitcount or None,
        rttl="--rttl" in opts,
        mask=_value(opts, "--mask", fail, _mask_address) or RECENT_DEFAULT_MASK,
        side="dest" if "--rdest" in opts else "source",
        negated=opts[f"--{command}"][0],
    )


def _port_list(text: str) -> tuple[PortRange, ...]:
    ranges = []
    for item in text.split(","):
        low, colon, high = item.partition(":")
        first = _port(low)
        last = _port(high) if colon else first
        if last < first:
            raise ValueError(f"invalid port range {item!r}")
        ranges.append(PortRange(first, last))
    if sum(1 if r.is_single else 2 for r in ranges) > MULTIPORT_MAX:
        raise ValueError(f"too many ports specified (at most {MULTIPORT_MAX}, a range counts 2)")
    return tuple(ranges)


def _build_multiport(opts: Options, fail: Fail) -> Match:
    given = [name for name in ("--sports", "--dports", "--ports") if name in opts]
    if not given:
        fail("multiport: specify --sports, --dports or --ports", "--dports")
    if len(given) > 1:
        fail(f"{given[0]} cannot be used together with {given[1]}", given[1])
    option = given[0]
    ports = cast(tuple[PortRange, ...], _value(opts, option, fail, _port_list))
    direction = cast(Literal["sports", "dports", "ports"], option[2:])
    return MultiportMatch(direction, ports, opts[option][0])


def _ifname(text: str) -> str:
    if not text or len(text) > IFNAME_MAX or any(c in text for c in " /"):
        raise ValueError(f"{text!r} is not an interface name (1-{IFNAME_MAX} characters)")
    return text


def _flag(opts: Options, name: str) -> bool | None:
    return (not opts[name][0]) if name in opts else None


def _build_physdev(opts: Options, fail: Fail) -> Match:
    if not opts:
        fail("physdev: no physdev option specified", "--physdev-in")
    return PhysdevMatch(
        physdev_in=_negatable(opts, "--physdev-in", fail, _ifname),
        physdev_out=_negatable(opts, "--physdev-out", fail, _ifname),
        physdev_is_in=_flag(opts, "--physdev-is-in"),
        physdev_is_out=_flag(opts, "--physdev-is-out"),
        physdev_is_bridged=_flag(opts, "--physdev-is-bridged"),
    )


def _build_set(opts: Options, fail: Fail) -> Match:
    _require(opts, "--match-set", "set", fail)
    negated, (name, flags) = opts["--match-set"]
    if not name or len(name) > SET_NAME_MAX:
        fail(f"set name must be 1-{SET_NAME_MAX} characters", "--match-set")
    directions = flags.split(",")
    if not 1 <= len(directions) <= SET_DIM_MAX or set(directions) - {"src", "dst"}:
        fail(f"bad set flags {flags!r}; use src or dst, comma separated", "--match-set")
    return SetMatch(name, tuple(cast(list[Literal["src", "dst"]], directions)), negated)


def _build_nfacct(opts: Options, fail: Fail) -> Match:
    _require(opts, "--nfacct-name", "nfacct", fail)
    name = opts["--nfacct-name"][1][0]
    if not name or len(name) > NFACCT_NAME_MAX:
        fail(f"nfacct name must be 1-{NFACCT_NAME_MAX} characters", "--nfacct-name")
    return NfacctMatch(name)


def _icmp_type(text: str) -> tuple[int | None, int | None]:
    if text in ICMP_TYPES:
        return ICMP_TYPES[text]
    kind, slash, code = text.partition("/")
    if not kind.isdigit():
        raise ValueError(f"unknown icmp type {text!r}; use a number or an iptables icmp type name")
    number = _decimal(kind, 255)
    if number == 255:
        return None, None
    return number, (_decimal(code, 255) if slash else None)


def _build_icmp(opts: Options, fail: Fail) -> Match:
    _require(opts, "--icmp-type", "icmp", fail)
    kind, code = cast(tuple[int | None, int | None], _value(opts, "--icmp-type", fail, _icmp_type))
    return IcmpMatch(kind, code, opts["--icmp-type"][0])


def _build_limit(opts: Options, fail: Fail) -> Match:
    avg = _value(opts, "--limit", fail, _limit_rate)
    burst = _value(opts, "--limit-burst", fail, lambda t: _decimal(t, LIMIT_BURST_MAX, 1))
    return LimitMatch(
        DEFAULT_LIMIT_AVG if avg is None else avg,
        DEFAULT_LIMIT_BURST if burst is None else burst,
    )


def _pkt_type(text: str) -> PktType:
    lower = text.lower()
    if lower in PKT_TYPES:
        return lower
    if lower in PKT_TYPE_ALIASES:
        return PKT_TYPE_ALIASES[lower]
    raise ValueError(f"unknown packet type {text!r} (known: {', '.join(PKT_TYPES)})")


def _build_pkttype(opts: Options, fail: Fail) -> Match:
    _require(opts, "--pkt-type", "pkttype", fail)
    pkt_type = cast(PktType, _value(opts, "--pkt-type", fail, _pkt_type))
    return PkttypeMatch(pkt_type, opts["--pkt-type"][0])


def _build_socket(opts: Options, fail: Fail) -> Match:
    return SocketMatch("--transparent" in opts, "--nowildcard" in opts, "--restore-skmark" in opts)


def _build_owner(opts: Options, fail: Fail) -> Match:
    if not {"--uid-owner", "--gid-owner", "--socket-exists"} & opts.keys():
        fail("owner: at least one of --uid-owner, --gid-owner or --socket-exists", "--uid-owner")
    if "--suppl-groups" in opts and "--gid-owner" not in opts:
        fail("--suppl-groups needs --gid-owner", "--suppl-groups")
    return OwnerMatch(
        uid_owner=_negatable(opts, "--uid-owner", fail, _id_range),
        gid_owner=_negatable(opts, "--gid-owner", fail, _id_range),
        socket_exists=_flag(opts, "--socket-exists"),
        suppl_groups="--suppl-groups" in opts,
    )


_MAC = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}")


def _mac(text: str) -> str:
    if not _MAC.fullmatch(text):
        raise ValueError(f"{text!r} is not a MAC address (XX:XX:XX:XX:XX:XX)")
    return text.lower()


def _build_mac(opts: Options, fail: Fail) -> Match:
    _require(opts, "--mac-source", "mac", fail)
    return MacMatch(cast(str, _value(opts, "--mac-source", fail, _mac)), opts["--mac-source"][0])


MATCH_BUILDERS: dict[str, Callable[[Options, Fail], Match]] = {
    "tcp": _build_tcp,
    "udp": _build_udp,
    "sctp": _build_sctp,
    "comment": _build_comment,
    "mark": _build_mark,
    "connmark": _build_connmark,
    "addrtype": _build_addrtype,
    "conntrack": _build_conntrack,
    "state": _build_state,
    "statistic": _build_statistic,
    "recent": _build_recent,
    "multiport": _build_multiport,
    "physdev": _build_physdev,
    "set": _build_set,
    "nfacct": _build_nfacct,
    "icmp": _build_icmp,
    "limit": _build_limit,
    "pkttype": _build_pkttype,
    "socket": _build_socket,
    "owner": _build_owner,
    "mac": _build_mac,
}

# --- target builders ---------------------------------------------------------------------


def _build_reject(opts: Options, fail: Fail) -> Target:
    text = opts.get("--reject-with", (False, ("icmp-port-unreachable",)))[1][0].lower()
    if text in REJECT_ALIASES:
        return RejectTarget(REJECT_ALIASES[text])
    if text not in REJECT_WITH:
        fail(f"unknown reject type {text!r} (known: {', '.join(REJECT_WITH)})", "--reject-with")
    return RejectTarget(text)


def _build_dnat(opts: Options, fail: Fail) -> Target:
    _require(opts, "--to-destination", "DNAT", fail)
    to = cast(NatRange, _value(opts, "--to-destination", fail, _nat_range))
    return DnatTarget(to, "--random" in opts, "--persistent" in opts)


def _build_snat(opts: Options, fail: Fail) -> Target:
    _require(opts, "--to-source", "SNAT", fail)
    to = cast(NatRange, _value(opts, "--to-source", fail, _nat_range))
    if to.base_port is not None:
        fail(
            "a /base port offset is not modelled for SNAT (iptables stores 0); leave it out",
            "--to-source",
        )
    return SnatTarget(to, "--random" in opts, "--random-fully" in opts, "--persistent" in opts)


def _build_masquerade(opts: Options, fail: Fail) -> Target:
    ports = _value(opts, "--to-ports", fail, _to_ports)
    return MasqueradeTarget(ports, "--random" in opts, "--random-fully" in opts)


def _build_redirect(opts: Options, fail: Fail) -> Target:
    return RedirectTarget(_value(opts, "--to-ports", fail, _to_ports), "--random" in opts)


def _xmark(opts: Options, fail: Fail, target: str) -> tuple[int, int] | None:
    """The (value, mask) of MARK/CONNMARK's --set-xmark, --set-mark, --and/or/xor-mark."""
    modes = [m for m in opts if m in _MARK_MODE_NAMES]
    if len(modes) > 1:
        fail(f"{target}: {modes[0]} cannot be used together with {modes[1]}", modes[1])
    if not modes:
        return None
    mode = modes[0]
    if mode in ("--set-xmark", "--set-mark"):
        value, mask = cast(tuple[int, int], _value(opts, mode, fail, _mark))
        return (value, mask) if mode == "--set-xmark" else (value, mask | value)
    bits = cast(int, _value(opts, mode, fail, _c_uint))
    return {
        "--and-mark": (0, ~bits & ALL_ONES),
        "--or-mark": (bits, bits),
        "--xor-mark": (bits, 0),
    }[mode]


def _build_mark_target(opts: Options, fail: Fail) -> Target:
    xmark = _xmark(opts, fail, "MARK")
    if xmark is None:
        fail(
            "MARK: one of --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark", "--set-xmark"
        )
    return MarkTarget(*xmark)


def _build_connmark_target(opts: Options, fail: Fail) -> Target:
    xmark = _xmark(opts, fail, "CONNMARK")
    copies = [m for m in ("--save-mark", "--restore-mark") if m in opts]
    masks = [m for m in ("--nfmask", "--ctmask", "--mask") if m in opts]
    if xmark is not None:
        if copies or masks:
            fail("CONNMARK: a --set-* mode takes no other option", (copies or masks)[0])
        return ConnmarkTarget("set", xmark[0], xmark[1])
    if len(copies) != 1:
        fail("CONNMARK: use one of --set-xmark, --save-mark or --restore-mark", "--save-mark")
    both = _value(opts, "--mask", fail, _c_uint)
    nfmask = _value(opts, "--nfmask", fail, _c_uint)
    ctmask = _value(opts, "--ctmask", fail, _c_uint)
    mode = "save" if copies[0] == "--save-mark" else "restore"
    return ConnmarkTarget(
        cast(Literal["save", "restore"], mode),
        ctmask=ctmask if ctmask is not None else both if both is not None else ALL_ONES,
        nfmask=nfmask if nfmask is not None else both if both is not None else ALL_ONES,
    )


def _log_level(text: str) -> int:
    if text in LOG_LEVELS:
        return LOG_LEVELS[text]
    if text.isdigit() and int(text) <= 7:
        return int(text)
    raise ValueError(f"log level {text!r} unknown; use 0-7 or {', '.join(LOG_LEVELS)}")


def _build_log(opts: Options, fail: Fail) -> Target:
    prefix = opts.get("--log-prefix", (False, ("",)))[1][0]
    if len(prefix) > LOG_PREFIX_MAX:
        fail(
            f"log prefix is longer than {LOG_PREFIX_MAX} characters (iptables would cut it "
            "short silently; shorten it)",
            "--log-prefix",
        )
    level = _value(opts, "--log-level", fail, _log_level)
    return LogTarget(
        prefix=prefix,
        level=LOG_DEFAULT_LEVEL if level is None else level,
        tcp_sequence="--log-tcp-sequence" in opts,
        tcp_options="--log-tcp-options" in opts,
        ip_options="--log-ip-options" in opts,
        uid="--log-uid" in opts,
        macdecode="--log-macdecode" in opts,
    )


def _build_ct(opts: Options, fail: Fail) -> Target:
    helper = opts["--helper"][1][0] if "--helper" in opts else None
    zone = _value(opts, "--zone", fail, lambda t: _decimal(t, 0xFFFF))
    return CtTarget("--notrack" in opts, helper, zone or None)  # zone 0 is the default


TARGET_BUILDERS: dict[str, Callable[[Options, Fail], Target]] = {
    "ACCEPT": lambda opts, fail: AcceptTarget(),
    "DROP": lambda opts, fail: DropTarget(),
    "RETURN": lambda opts, fail: ReturnTarget(),
    "NOTRACK": lambda opts, fail: NotrackTarget(),
    "REJECT": _build_reject,
    "DNAT": _build_dnat,
    "SNAT": _build_snat,
    "MASQUERADE": _build_masquerade,
    "REDIRECT": _build_redirect,
    "MARK": _build_mark_target,
    "CONNMARK": _build_connmark_target,
    "LOG": _build_log,
    "CT": _build_ct,
}

# --- the table being built ---------------------------------------------------------------


@dataclass(slots=True)
class _ChainDraft:
    name: str
    policy: Policy | None
    counters: Counters | None
    rules: list[Rule] = field(default_factory=list)


@dataclass(slots=True)
class _Restricted:
    """A rule that may only run in some hooks, checked at COMMIT."""

    chain: str
    rule: int
    line: int
    what: str
    hooks: frozenset[str]


@dataclass(slots=True)
class _TableDraft:
    name: str
    line: int
    chains: dict[str, _ChainDraft] = field(default_factory=dict)
    references: dict[str, int] = field(default_factory=dict)
    edges: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    restricted: list[_Restricted] = field(default_factory=list)


@dataclass(slots=True)
class _Module:
    """A match or target being read: its options as given."""

    name: str
    spec: OptionSpec
    options: list[tuple[str, bool, tuple[str, ...]]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


_COUNTERS = re.compile(r"\[(\d+):(\d+)\]")

_SHORT = {
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


class _Parser:
    """Reads one dump; mutable while reading, hands out frozen values."""

    def __init__(self, source: str) -> None:
        self.where = _Where(source)
        self.tables: list[Table] = []
        self.table_names: dict[str, int] = {}
        self.draft: _TableDraft | None = None
        self.networks: dict[str, IPv4Network] = {}
        self.built: dict[tuple[object, ...], Match | Target] = {}
        self.wrapped: dict[tuple[object, bool], Negatable[object]] = {}
        self.strings: dict[str, str] = {}

    # -- lines ------------------------------------------------------------------------

    def parse(self, text: str) -> Ruleset:
        where = self.where
        for number, raw in enumerate(text.split("\n"), 1):
            line = raw.strip()
            if not line or line[0] == "#":
                continue
            where.line = number
            where.chain = where.rule = None
            if line[0] == "*":
                self.open_table(line[1:].strip())
            elif line[0] == ":":
                self.declare(line)
            elif line == "COMMIT":
                self.commit()
            else:
                self.command(line)
        if self.draft is not None:
            where.line, where.chain, where.rule = self.draft.line, None, None
            where.fail(f"table {self.draft.name} has no COMMIT; end it with a COMMIT line")
        return Ruleset(tuple(self.tables))

    def open_table(self, name: str) -> None:
        if self.draft is not None:
            self.where.fail(
                f"*{name} starts before table {self.draft.name} (line {self.draft.line}) "
                "has its COMMIT"
            )
        if name not in BUILTIN_CHAINS:
            self.where.fail(f"unknown table {name!r} (known: {', '.join(BUILTIN_CHAINS)})")
        if name in self.table_names:
            self.where.fail(f"table {name} appears twice; merge the two sections")
        self.draft = _TableDraft(name, self.where.line)
        self.where.table = name

    def need_table(self, what: str) -> _TableDraft:
        if self.draft is None:
            self.where.fail(f"{what} outside a table; start the table with a line like *filter")
        return self.draft

    def declare(self, line: str) -> None:
        draft = self.need_table("chain declaration")
        words = line[1:].split()
        if len(words) not in (2, 3):
            self.where.fail(f"bad chain line {line!r}; write :NAME POLICY [packets:bytes]")
        name, policy = words[0], words[1]
        counters = None
        if len(words) == 3:
            counters = self.counters(words[2])
        self.check_chain_name(name)
        builtin = name in BUILTIN_CHAINS[draft.name]
        if builtin and policy not in ("ACCEPT", "DROP"):
            self.where.fail(f"built-in chain {name} needs policy ACCEPT or DROP, not {policy!r}")
        if not builtin and policy != "-":
            self.where.fail(f"user chain {name} has no policy; write :{name} - [0:0]")
        old = draft.chains.get(name)
        if old is not None:
            self.flush(draft, old)
        chain_policy = cast(Policy, policy) if builtin else None
        if old is None:
            draft.chains[name] = _ChainDraft(self.intern(name), chain_policy, counters)
        else:
            old.policy, old.counters = chain_policy, counters

    def check_chain_name(self, name: str) -> None:
        if len(name) > CHAIN_NAME_MAX:
            self.where.fail(f"chain name {name!r} is longer than {CHAIN_NAME_MAX} characters")
        if name in TARGET_BUILDERS:
            self.where.fail(f"chain name {name!r} is the name of a target; rename the chain")
        if name[0] in "-!":
            self.where.fail(f"chain name {name!r} may not start with '-' or '!'")

    def counters(self, text: str) -> Counters:
        found = _COUNTERS.fullmatch(text)
        if found is None:
            self.where.fail(f"bad counters {text!r}; write [packets:bytes]")
        return Counters(int(found[1]), int(found[2]))

    def flush(self, draft: _TableDraft, chain: _ChainDraft) -> None:
        for target, _ in draft.edges.pop(chain.name, ()):
            draft.references[target] -= 1
        if chain.rules:
            draft.restricted = [r for r in draft.restricted if r.chain != chain.name]
        chain.rules = []

    def command(self, line: str) -> None:
        draft = self.need_table("rule")
        words = split_words(line)
        if words is None:
            self.where.fail("a double quote is not closed")
        counters = None
        if words and words[0].startswith("["):
            counters = self.counters(words[0])
            words = words[1:]
        if not words:
            self.where.fail("counters without a rule")
        command = words[0]
        if command in ("-A", "--append"):
            if len(words) < 2:
                self.where.fail("-A needs a chain name", "-A")
            self.append(draft, words[1], words[2:], counters)
        elif command in ("-X", "--delete-chain", "-N", "--new-chain"):
            if len(words) != 2:
                self.where.fail(f"{command} needs exactly one chain name", command)
            if command in ("-X", "--delete-chain"):
                self.delete(draft, words[1])
            elif words[1] in draft.chains:
                self.where.fail(f"chain {words[1]} already exists", command)
            else:
                self.declare(f":{words[1]} -")
        else:
            self.where.fail(
                f"unsupported command {command!r}; a dump holds -A rules "
                "(and a restore payload -N and -X)",
                command,
            )

    def delete(self, draft: _TableDraft, name: str) -> None:
        if name in BUILTIN_CHAINS[draft.name]:
            self.where.fail(f"cannot delete built-in chain {name}", "-X")
        chain = draft.chains.get(name)
        if chain is None:
            self.where.fail(f"chain {name} is not declared in table {draft.name}", "-X")
        if chain.rules:
            self.where.fail(
                f"chain {name} still has {len(chain.rules)} rules; flush it first", "-X"
            )
        if draft.references.get(name, 0):
            self.where.fail(
                f"chain {name} is still the target of {draft.references[name]} rule(s)", "-X"
            )
        del draft.chains[name]
        draft.edges.pop(name, None)

    def intern(self, text: str) -> str:
        return self.strings.setdefault(text, text)

    # -- one rule ---------------------------------------------------------------------

    def append(
        self, draft: _TableDraft, chain_name: str, words: list[str], counters: Counters | None
    ) -> None:
        where = self.where
        chain = draft.chains.get(chain_name)
        if chain is None:
            hint = (
                f":{chain_name} ACCEPT [0:0]"
                if chain_name in BUILTIN_CHAINS[draft.name]
                else f":{chain_name} - [0:0]"
            )
            where.fail(
                f"chain {chain_name} is not declared in table {draft.name}; "
                f"declare it first with {hint}",
                "-A",
            )
        where.chain = chain.name
        where.rule = len(chain.rules) + 1
        sources: list[Negatable[IPv4Network] | None] = [None]
        destinations: list[Negatable[IPv4Network] | None] = [None]
        in_interface: Negatable[str] | None = None
        out_interface: Negatable[str] | None = None
        protocol: Negatable[int] | None = None
        fragment: bool | None = None
        modules: list[_Module] = []
        # Module types in the order first loaded, each with its latest instance: iptables
        # gives an option to the most recently first-loaded type that knows it, and to
        # that type's latest instance (xtables_merge_options puts new options first).
        latest: dict[str, _Module] = {}
        last: _Module | None = None  # the module loaded last
        last_is_newest = False  # ... and its type is the one loaded first most recently
        target: _Module | None = None
        goto = False
        implicit_loaded = False
        seen: set[str] = set()
        negate = False
        index = 0
        count = len(words)
        while index < count:
            word = words[index]
            index += 1
            if word == "!":
                if negate:
                    where.fail("two '!' in a row")
                negate = True
                continue
            arg_inline = None
            if "=" in word and word.startswith("--"):
                word, _, arg_inline = word.partition("=")
            short = _SHORT.get(word)
            if short is not None:
                if short in seen and short != "-m":
                    where.fail(f"option {word} given twice", word)
                seen.add(short)
                if short == "-m":
                    if negate:
                        where.fail("'!' cannot negate -m", "-m")
                    if arg_inline is None and index < count:
                        name = words[index]
                        index += 1
                    else:
                        name = self.take(words, index, 1, word, negate, arg_inline, False)[0][0]
                    if name not in MATCH_OPTIONS:
                        where.fail(
                            f"match module {name!r} is not modelled by netsim "
                            f"(modelled: {', '.join(sorted(MATCH_OPTIONS))})",
                            "-m",
                        )
                    last = _Module(name, MATCH_OPTIONS[name])
                    modules.append(last)
                    last_is_newest = name not in latest
                    latest[name] = last
                elif short == "-j" or short == "-g":
                    if negate:
                        where.fail(f"'!' cannot negate {word}", word)
                    if target is not None:
                        where.fail("a rule has one -j or -g", word)
                    if arg_inline is None and index < count:
                        name = words[index]
                        index += 1
                    else:
                        name = self.take(words, index, 1, word, negate, arg_inline, False)[0][0]
                    target, goto = self.load_target(draft, name, short == "-g", word)
                    last = target
                    last_is_newest = f"-j {name}" not in latest
                    latest[f"-j {name}"] = target
                elif short == "-f":
                    args, negate, index = self.take(words, index, 0, word, negate, arg_inline, True)
                    fragment = not negate
                elif short == "-c":
                    args, negate, index = self.take(
                        words, index, 2, word, negate, arg_inline, False
                    )
                    try:
                        counters = Counters(_decimal(args[0], 2**64), _decimal(args[1], 2**64))
                    except ValueError as exc:
                        where.fail(str(exc), word)
                else:
                    if arg_inline is None and index < count and words[index] != "!":
                        value = words[index]
                        index += 1
                    else:
                        args, negate, index = self.take(
                            words, index, 1, word, negate, arg_inline, True
                        )
                        value = args[0]
                    if short == "-s" or short == "-d":
                        texts = value.split(",")
                        if negate and len(texts) > 1:
                            where.fail("'!' does not work with several addresses", word)
                        nets = [self.address(self.network(a, word), negate) for a in texts]
                        if short == "-s":
                            sources = nets
                        else:
                            destinations = nets
                    elif short == "-p":
                        protocol = self.protocol(value, negate, word)
                    elif short == "-i":
                        if chain.name in NO_IN_INTERFACE:
                            where.fail(f"Can't use -i with {chain.name}", word)
                        in_interface = self.interface(value, negate, word)
                    else:
                        if chain.name in NO_OUT_INTERFACE:
                            where.fail(f"Can't use -o with {chain.name}", word)
                        out_interface = self.interface(value, negate, word)
                negate = False
                continue
            owner: _Module | None = last
            if not last_is_newest or owner is None or word not in owner.spec:
                if not word.startswith("--"):
                    where.fail(
                        f"unknown option {word!r}"
                        + (" (a value without its option?)" if not word.startswith("-") else ""),
                        word,
                    )
                owner = next((m for m in reversed(latest.values()) if word in m.spec), None)
                if owner is None and not implicit_loaded and protocol is not None:
                    implicit = IMPLICIT_MATCHES.get(protocol.value)
                    if implicit is not None and word in MATCH_OPTIONS[implicit]:
                        implicit_loaded = True
                        owner = last = _Module(implicit, MATCH_OPTIONS[implicit])
                        modules.append(owner)
                        last_is_newest = implicit not in latest
                        latest[implicit] = owner
                if owner is None:
                    loaded = [m.name for m in modules] + ([target.name] if target else [])
                    where.fail(
                        f"unknown option {word!r}"
                        + (f" for {', '.join(loaded)}" if loaded else "")
                        + "; netsim does not model it",
                        word,
                    )
            assert owner is not None
            canonical, nargs, negatable = owner.spec[word]
            if nargs == 1 and arg_inline is None and index < count and words[index] != "!":
                args = (words[index],)
                index += 1
            else:
                args, negate, index = self.take(
                    words, index, nargs, word, negate, arg_inline, negatable
                )
            if negate and not negatable:
                where.fail(f'{owner.name}: option "{word}" cannot be inverted', word)
            if canonical in owner.seen:
                where.fail(f'{owner.name}: option "{word}" can only be used once', word)
            owner.seen.add(canonical)
            owner.options.append((canonical, negate, args))
            negate = False
        if negate:
            where.fail("'!' at the end of the rule negates nothing")
        matches = tuple(self.build_match(m) for m in modules)
        built_target = self.build_target(target) if target is not None else None
        self.check_protocols(protocol, matches, built_target)
        self.note_hooks(draft, chain, matches, built_target)
        if isinstance(built_target, JumpTarget):
            jumps = len(sources) * len(destinations)
            name = built_target.chain
            draft.references[name] = draft.references.get(name, 0) + jumps
            draft.edges.setdefault(chain.name, []).extend([(name, where.line)] * jumps)
        for src in sources:
            for dst in destinations:
                chain.rules.append(
                    Rule(
                        source=src,
                        destination=dst,
                        in_interface=in_interface,
                        out_interface=out_interface,
                        protocol=protocol,
                        is_fragment=fragment,
                        matches=matches,
                        target=built_target,
                        goto=goto,
                        counters=counters,
                        line=where.line,
                    )
                )

    def take(
        self,
        words: list[str],
        index: int,
        nargs: int,
        option: str,
        negate: bool,
        inline: str | None,
        negatable: bool,
    ) -> tuple[tuple[str, ...], bool, int]:
        """The option's arguments, honouring ``--opt=value`` and the old ``--opt ! value``."""
        if nargs == 0:
            if inline is not None:
                self.where.fail(f"option {option} takes no value", option)
            return (), negate, index
        args: list[str] = []
        if inline is not None:
            args.append(inline)
        elif negatable and index < len(words) and words[index] == "!":
            if negate:
                self.where.fail("two '!' for one option", option)
            negate = True
            index += 1
        while len(args) < nargs:
            if index >= len(words):
                self.where.fail(f"option {option} needs {nargs} value(s)", option)
            args.append(words[index])
            index += 1
        return tuple(args), negate, index

    def load_target(
        self, draft: _TableDraft, name: str, goto: bool, option: str
    ) -> tuple[_Module, bool]:
        where = self.where
        if not goto and name in TARGET_OPTIONS:
            table_only = TARGET_TABLES.get(name)
            if table_only is not None and table_only != draft.name:
                where.fail(f"target {name} only works in the {table_only} table", option)
            if name == "DROP" and draft.name == "nat":
                where.fail(
                    'the "nat" table is not intended for filtering, the use of DROP is '
                    "therefore inhibited (iptables); drop in the filter table",
                    option,
                )
            return _Module(name, TARGET_OPTIONS[name]), False
        if name in BUILTIN_CHAINS[draft.name] or name in TARGET_OPTIONS:
            where.fail(f"{option} {name}: {option} takes a user-defined chain", option)
        if name not in draft.chains:
            where.fail(
                f"{option} {name}: no chain {name} is declared (above this rule) in table "
                f"{draft.name}"
                + ("" if goto else f", and netsim does not model a target called {name}"),
                option,
            )
        return _Module(name, {}), goto

    def network(self, text: str, option: str) -> IPv4Network:
        found = self.networks.get(text)
        if found is None:
            try:
                found = _network(text)
            except ValueError as exc:
                self.where.fail(str(exc), option)
            self.networks[text] = found
        return found

    def address(self, network: IPv4Network, negated: bool) -> Negatable[IPv4Network] | None:
        """``-s``/``-d``; ``0.0.0.0/0`` is no test, and negated it matches nothing."""
        if network.prefixlen == 0:
            if negated:
                self.where.fail("! 0.0.0.0/0 matches no packet (the kernel refuses it)")
            return None
        key = (network, negated)
        found = self.wrapped.get(key)
        if found is None:
            found = self.wrapped[key] = Negatable(network, negated)
        return cast(Negatable[IPv4Network], found)

    def interface(self, name: str, negated: bool, option: str) -> Negatable[str] | None:
        """``-i``/``-o``; a bare ``+`` (any interface) is no test, as iptables-nft stores it."""
        key = (name, negated)
        found = self.wrapped.get(key)
        if found is None:
            try:
                _ifname(name)
            except ValueError as exc:
                self.where.fail(str(exc), option)
            found = self.wrapped[key] = Negatable(self.intern(name), negated)
        if name == "+" and not negated:
            return None
        return cast(Negatable[str], found)

    def protocol(self, text: str, negated: bool, option: str) -> Negatable[int] | None:
        try:
            number = _protocol(text)
        except ValueError as exc:
            self.where.fail(str(exc), option)
        if number == 0:
            if negated:
                self.where.fail("! -p all matches no packet", option)
            return None
        key = (number, negated)
        found = self.wrapped.get(key)
        if found is None:
            found = self.wrapped[key] = Negatable(number, negated)
        return cast(Negatable[int], found)

    def build_match(self, module: _Module) -> Match:
        key = (module.name, *module.options)
        found = self.built.get(key)
        if found is None:
            option_map = {name: (neg, args) for name, neg, args in module.options}
            found = MATCH_BUILDERS[module.name](option_map, self.where.fail)
            if isinstance(found, CommentMatch):
                found = CommentMatch(self.intern(found.comment))
            self.built[key] = found
        return cast(Match, found)

    def build_target(self, module: _Module) -> Target:
        key = ("-j", module.name, *module.options)
        found = self.built.get(key)
        if found is None:
            builder = TARGET_BUILDERS.get(module.name)
            if builder is None:
                found = JumpTarget(self.intern(module.name))
            else:
                option_map = {name: (neg, args) for name, neg, args in module.options}
                found = builder(option_map, self.where.fail)
            self.built[key] = found
        return cast(Target, found)

    def check_protocols(
        self, protocol: Negatable[int] | None, matches: Iterable[Match], target: Target | None
    ) -> None:
        """What iptables and the kernel check about ``-p`` before loading a rule."""
        number = protocol.value if protocol is not None else None
        for match in matches:
            wanted = PROTOCOL_MATCHES.get(match.module)
            if wanted is not None and number != wanted:
                self.where.fail(f"{match.module.upper()} match requires '-p {match.module}'", "-p")
            if isinstance(match, MultiportMatch) and (
                protocol is None or protocol.negated or number not in MULTIPORT_PROTOCOLS
            ):
                self.where.fail("multiport needs -p tcp, udp, udplite, sctp or dccp", "-p")
        has_ports = (
            (isinstance(target, DnatTarget) and target.to_destination.first_port is not None)
            or (isinstance(target, SnatTarget) and target.to_source.first_port is not None)
            or (isinstance(target, MasqueradeTarget | RedirectTarget) and target.to_ports)
        )
        if has_ports and (protocol is None or protocol.negated or number not in NAT_PORT_PROTOCOLS):
            self.where.fail("Need TCP, UDP, SCTP or DCCP with port specification", "-p")
        if (
            isinstance(target, RejectTarget)
            and target.reject_with == "tcp-reset"
            and (protocol is None or protocol.negated or number != TCP)
        ):
            self.where.fail("--reject-with tcp-reset needs -p tcp", "--reject-with")

    def note_hooks(
        self,
        draft: _TableDraft,
        chain: _ChainDraft,
        matches: tuple[Match, ...],
        target: Target | None,
    ) -> None:
        """Remember rules the kernel allows only in some hooks; checked at COMMIT."""
        for what, hooks in self.hook_limits(matches, target):
            draft.restricted.append(
                _Restricted(chain.name, len(chain.rules) + 1, self.where.line, what, hooks)
            )

    @staticmethod
    def hook_limits(
        matches: tuple[Match, ...], target: Target | None
    ) -> list[tuple[str, frozenset[str]]]:
        limits = []
        for match in matches:
            key = match.module
            if isinstance(match, AddrtypeMatch):
                key = (
                    "addrtype --limit-iface-in"
                    if match.limit_iface_in
                    else "addrtype --limit-iface-out"
                    if match.limit_iface_out
                    else ""
                )
            elif isinstance(match, PhysdevMatch):
                outgoing = match.physdev_out is not None or match.physdev_is_out is not None
                key = "physdev --physdev-out" if outgoing and not match.physdev_is_bridged else ""
            if key in MATCH_HOOKS:
                limits.append((f"-m {key}", MATCH_HOOKS[key]))
        if (
            target is not None
            and not isinstance(target, JumpTarget)
            and target.name in TARGET_HOOKS
        ):
            limits.append((f"-j {target.name}", TARGET_HOOKS[target.name]))
        return limits

    # -- COMMIT -------------------------------------------------------------------------

    def commit(self) -> None:
        draft = self.need_table("COMMIT")
        reached = self.reachable_hooks(draft)
        for item in draft.restricted:
            if item.chain not in draft.chains:
                continue
            wrong = sorted(reached.get(item.chain, set()) - item.hooks)
            if wrong:
                self.where.line, self.where.chain, self.where.rule = (
                    item.line,
                    item.chain,
                    item.rule,
                )
                self.where.fail(
                    f"{item.what} only works in {', '.join(sorted(item.hooks))}, "
                    f"but chain {item.chain} is reached from {', '.join(wrong)}"
                )
        table = Table(
            draft.name,
            tuple(
                Chain(c.name, c.policy, c.counters, tuple(c.rules)) for c in draft.chains.values()
            ),
        )
        self.table_names[draft.name] = len(self.tables)
        self.tables.append(table)
        self.draft = None
        self.where.table = None

    def reachable_hooks(self, draft: _TableDraft) -> dict[str, set[str]]:
        """For each chain, the built-in chains (hooks) that reach it; fails on a jump loop."""
        edges = draft.edges
        self.check_loops(draft, edges)
        reached: dict[str, set[str]] = {}
        for hook in BUILTIN_CHAINS[draft.name]:
            todo = [hook]
            while todo:
                name = todo.pop()
                hooks = reached.setdefault(name, set())
                if hook not in hooks:
                    hooks.add(hook)
                    todo.extend(target for target, _ in edges.get(name, ()))
        return reached

    def check_loops(self, draft: _TableDraft, edges: dict[str, list[tuple[str, int]]]) -> None:
        """Fail on a cycle of jumps and gotos that a built-in chain reaches.

        The kernel refuses those ("Too many links"); it accepts a loop among
        chains no built-in chain reaches, and so does netsim.
        """
        color: dict[str, int] = {}  # 1 = on the current path, 2 = done
        for start in BUILTIN_CHAINS[draft.name]:
            if start not in draft.chains or color.get(start):
                continue
            stack: list[tuple[str, int]] = [(start, 0)]
            path: list[str] = [start]
            color[start] = 1
            while stack:
                name, position = stack[-1]
                targets = edges.get(name, [])
                if position >= len(targets):
                    stack.pop()
                    path.pop()
                    color[name] = 2
                    continue
                stack[-1] = (name, position + 1)
                nxt, line = targets[position]
                if color.get(nxt) == 1:
                    self.where.line = line
                    loop = " -> ".join([*path[path.index(nxt) :], nxt])
                    self.where.fail(f"jump loop in table {draft.name}: {loop}")
                if not color.get(nxt):
                    color[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)


def parse_iptables_save(text: str, source: str = "<string>") -> Ruleset:
    """Parse an ``iptables-save`` dump or ``iptables-restore`` payload.

    Args:
        text: the dump.
        source: the file name, used in error messages.

    Returns:
        The ruleset, tables and chains in file order.

    Raises:
        RulesetError: the dump is malformed, uses something netsim does not
            model, or holds something the kernel would refuse; the message
            names the line, the option and the fix.

    >>> rs = parse_iptables_save('''*nat
    ... :PREROUTING ACCEPT [0:0]
    ... :KUBE-MARK-MASQ - [0:0]
    ... -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
    ... COMMIT''')
    >>> rs.tables[0].chains[1].rules[0].target
    MarkTarget(value=16384, mask=16384)
    """
    # The parse makes millions of small acyclic objects; the cyclic garbage
    # collector would rescan them again and again (a quarter of the time on a
    # 150,000-rule dump), so it is paused while parsing and restored after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Parser(source).parse(text)
    finally:
        if collecting:
            gc.enable()
