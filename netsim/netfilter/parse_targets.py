"""The options of each ``-j`` target, read into the target values.

For every target netsim models (``netsim.netfilter.targets``) this holds its
option table (``TARGET_OPTIONS``, as the target's libxt_*.c/libipt_*.c
declares it) and its builder (``TARGET_BUILDERS``), which turns the options a
rule gave the target into the target value and refuses what iptables refuses:
a missing ``--to-destination``, two mark modes at once, an unknown
``--reject-with`` or log level, a log prefix longer than the kernel keeps.
Values are normalised as the kernel stores them: ``MARK``/``CONNMARK``'s
``--set-mark``, ``--and-mark``, ``--or-mark`` and ``--xor-mark`` all become the
(value, mask) "xmark" pair; REJECT's aliases (``tcp-rst``) become the names
iptables prints; a DNAT/SNAT ``[a[-b]][:p[-q][/base]]`` becomes a ``NatRange``.

Not here: a jump or goto to a user chain (``netsim.netfilter.parse_rule`` resolves
those against the table), which tables, hooks and protocols a target needs
(``netsim.netfilter.checks``), SNAT's ``/base`` port offset, and every target
netsim does not model (QUEUE, NFQUEUE, TPROXY, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, cast

from netsim.netfilter.lexer import (
    Fail,
    Options,
    OptionSpec,
    option_spec,
    option_value,
    parse_address,
    parse_c_uint,
    parse_decimal,
    parse_mark,
    require_option,
)
from netsim.netfilter.targets import (
    LOG_DEFAULT_LEVEL,
    REJECT_WITH,
    AcceptTarget,
    ConnmarkTarget,
    CtTarget,
    DnatTarget,
    DropTarget,
    LogTarget,
    MarkTarget,
    MasqueradeTarget,
    NatRange,
    NotrackTarget,
    RedirectTarget,
    RejectTarget,
    RejectWith,
    ReturnTarget,
    SnatTarget,
    Target,
)
from netsim.netfilter.values import ALL_ONES, PortRange

__all__ = ["TARGET_BUILDERS", "TARGET_OPTIONS"]

# --- limits and names, each with its source -------------------------------------------

LOG_PREFIX_MAX = 29  # xt_log.h: char prefix[30] with the NUL

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

# --- option tables: alias -> (canonical name, number of arguments, negatable) ----------

_MARK_MODES = (
    ("--set-xmark", 1, False),
    ("--set-mark", 1, False),
    ("--and-mark", 1, False),
    ("--or-mark", 1, False),
    ("--xor-mark", 1, False),
)

_MARK_MODE_NAMES = frozenset(name for name, _, _ in _MARK_MODES)

TARGET_OPTIONS: dict[str, OptionSpec] = {
    "ACCEPT": {},
    "DROP": {},
    "RETURN": {},
    "NOTRACK": {},
    "REJECT": option_spec(("--reject-with", 1, False)),
    "DNAT": option_spec(
        ("--to-destination", 1, False), ("--random", 0, False), ("--persistent", 0, False)
    ),
    "SNAT": option_spec(
        ("--to-source", 1, False),
        ("--random", 0, False),
        ("--random-fully", 0, False),
        ("--persistent", 0, False),
    ),
    "MASQUERADE": option_spec(
        ("--to-ports", 1, False), ("--random", 0, False), ("--random-fully", 0, False)
    ),
    "REDIRECT": option_spec(("--to-ports", 1, False), ("--random", 0, False)),
    "MARK": option_spec(*_MARK_MODES),
    "CONNMARK": option_spec(
        *_MARK_MODES,
        ("--save-mark", 0, False),
        ("--restore-mark", 0, False),
        ("--nfmask", 1, False),
        ("--ctmask", 1, False),
        ("--mask", 1, False),
    ),
    "LOG": option_spec(
        ("--log-prefix", 1, False),
        ("--log-level", 1, False),
        ("--log-tcp-sequence", 0, False),
        ("--log-tcp-options", 0, False),
        ("--log-ip-options", 0, False),
        ("--log-uid", 0, False),
        ("--log-macdecode", 0, False),
    ),
    "CT": option_spec(("--notrack", 0, False), ("--helper", 1, False), ("--zone", 1, False)),
}

# --- values of target options (pure, raising ValueError with the message) -----------------


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
        first_address = parse_address(low)
        if dash:
            last_address = parse_address(high)
            if last_address < first_address:
                raise ValueError(f"bad address range {addresses!r}")
            if last_address == first_address:
                last_address = None
    first_port = last_port = base_port = None
    if colon:
        port_text, slash, base_text = ports.partition("/")
        low, dash, high = port_text.partition("-")
        first_port = parse_decimal(low, 65535)
        if dash:
            last_port = parse_decimal(high, 65535)
            if last_port < first_port:
                raise ValueError(f"bad port range {port_text!r}")
            if last_port == first_port:
                last_port = None
        if slash:
            base_port = parse_decimal(base_text, 65535, 1)
    if first_address is None and first_port is None:
        raise ValueError(f"{text!r} names neither an address nor a port")
    return NatRange(first_address, last_address, first_port, last_port, base_port)


def _to_ports(text: str) -> PortRange:
    low, dash, high = text.partition("-")
    first = parse_decimal(low, 65535)
    last = parse_decimal(high, 65535) if dash else first
    if last < first:
        raise ValueError(f"bad port range {text!r}")
    return PortRange(first, last)


# --- target builders ---------------------------------------------------------------------


def _build_reject(opts: Options, fail: Fail) -> Target:
    text = opts.get("--reject-with", (False, ("icmp-port-unreachable",)))[1][0].lower()
    if text in REJECT_ALIASES:
        return RejectTarget(REJECT_ALIASES[text])
    if text not in REJECT_WITH:
        fail(f"unknown reject type {text!r} (known: {', '.join(REJECT_WITH)})", "--reject-with")
    return RejectTarget(text)


def _build_dnat(opts: Options, fail: Fail) -> Target:
    require_option(opts, "--to-destination", "DNAT", fail)
    to = cast(NatRange, option_value(opts, "--to-destination", fail, _nat_range))
    return DnatTarget(to, "--random" in opts, "--persistent" in opts)


def _build_snat(opts: Options, fail: Fail) -> Target:
    require_option(opts, "--to-source", "SNAT", fail)
    to = cast(NatRange, option_value(opts, "--to-source", fail, _nat_range))
    if to.base_port is not None:
        fail(
            "a /base port offset is not modelled for SNAT (iptables stores 0); leave it out",
            "--to-source",
        )
    return SnatTarget(to, "--random" in opts, "--random-fully" in opts, "--persistent" in opts)


def _build_masquerade(opts: Options, fail: Fail) -> Target:
    ports = option_value(opts, "--to-ports", fail, _to_ports)
    return MasqueradeTarget(ports, "--random" in opts, "--random-fully" in opts)


def _build_redirect(opts: Options, fail: Fail) -> Target:
    return RedirectTarget(option_value(opts, "--to-ports", fail, _to_ports), "--random" in opts)


def _xmark(opts: Options, fail: Fail, target: str) -> tuple[int, int] | None:
    """The (value, mask) of MARK/CONNMARK's --set-xmark, --set-mark, --and/or/xor-mark."""
    modes = [m for m in opts if m in _MARK_MODE_NAMES]
    if len(modes) > 1:
        fail(f"{target}: {modes[0]} cannot be used together with {modes[1]}", modes[1])
    if not modes:
        return None
    mode = modes[0]
    if mode in ("--set-xmark", "--set-mark"):
        value, mask = cast(tuple[int, int], option_value(opts, mode, fail, parse_mark))
        return (value, mask) if mode == "--set-xmark" else (value, mask | value)
    bits = cast(int, option_value(opts, mode, fail, parse_c_uint))
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
    both = option_value(opts, "--mask", fail, parse_c_uint)
    nfmask = option_value(opts, "--nfmask", fail, parse_c_uint)
    ctmask = option_value(opts, "--ctmask", fail, parse_c_uint)
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
    level = option_value(opts, "--log-level", fail, _log_level)
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
    zone = option_value(opts, "--zone", fail, lambda t: parse_decimal(t, 0xFFFF))
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
