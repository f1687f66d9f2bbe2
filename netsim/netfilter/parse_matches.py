"""The options of each ``-m`` match module, read into the match values.

For every match module netsim models (``netsim.netfilter.matches``) this holds
its option table (``MATCH_OPTIONS``: alias -> canonical name, number of
arguments, whether ``!`` may precede it, as the module's libxt_*.c declares
them) and its builder (``MATCH_BUILDERS``), which turns the options a rule gave
the module into the match value, normalised as the kernel stores it, and
refuses what libxt_*.c refuses with the same words: a mandatory option missing
(``state: option "--state" must be specified``), two options that exclude each
other, a value out of range. ``IMPLICIT_MATCHES`` names the protocol match
iptables loads by itself for ``-p tcp --dport 80``.

Ports are normalised as iptables-nft (1.8.9) stores them: on tcp and udp a port
range ``0:65535`` is no test at all, and ``! --dport 0:N`` is
``--dport N+1:65535``; ``--syn`` is ``--tcp-flags FIN,SYN,RST,ACK SYN``; icmp
type names become numbers and ``--limit`` rates the kernel's period.

Not here: which module an option belongs to and where in a rule it stands
(``netsim.netfilter.parse``), the hooks and protocols a match needs
(``netsim.netfilter.checks``), options of modules netsim does not model,
service and user names (``--dport http``, ``--uid-owner root``), sctp's
``--chunk-types``, and set's options other than ``--match-set``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, cast

from netsim.netfilter.lexer import (
    ICMP,
    SCTP,
    TCP,
    U32_MAX,
    UDP,
    Fail,
    Options,
    OptionSpec,
    negatable_option,
    option_spec,
    option_value,
    parse_decimal,
    parse_id_range,
    parse_ifname,
    parse_interface_address,
    parse_mark,
    parse_mask_address,
    parse_names,
    parse_port,
    parse_port_range,
    parse_protocol,
    require_option,
)
from netsim.netfilter.matches import (
    ADDRESS_TYPES,
    CTSTATES,
    CTSTATUSES,
    DEFAULT_LIMIT_AVG,
    DEFAULT_LIMIT_BURST,
    PKT_TYPES,
    RECENT_DEFAULT_MASK,
    STATES,
    XT_LIMIT_SCALE,
    AddressType,
    AddrtypeMatch,
    CommentMatch,
    ConnmarkMatch,
    ConntrackMatch,
    CtState,
    CtStatus,
    IcmpMatch,
    LimitMatch,
    MacMatch,
    MarkMatch,
    Match,
    MultiportMatch,
    NfacctMatch,
    OwnerMatch,
    PhysdevMatch,
    PktType,
    PkttypeMatch,
    RecentMatch,
    SctpMatch,
    SetMatch,
    SocketMatch,
    State,
    StateMatch,
    StatisticMatch,
    TcpMatch,
    UdpMatch,
)
from netsim.netfilter.values import Negatable, PortRange, TcpFlag, TcpFlags

__all__ = [
    "IMPLICIT_MATCHES",
    "MATCH_BUILDERS",
    "MATCH_OPTIONS",
    "SYN_FLAGS",
    "parse_limit_rate",
]

# --- limits, each with its source -----------------------------------------------------

MULTIPORT_MAX = 15  # XT_MULTI_PORTS; a range takes two slots
RECENT_NAME_MAX = 199  # XT_RECENT_NAME_LEN 200 with the NUL
SET_NAME_MAX = 31  # IPSET_MAXNAMELEN 32 with the NUL
SET_DIM_MAX = 6  # IPSET_DIM_MAX
NFACCT_NAME_MAX = 31  # NFACCT_NAME_MAX 32 with the NUL
LIMIT_BURST_MAX = 10000  # libxt_limit.c: --limit-burst 0-10000

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

#: pkttype aliases of libxt_pkttype.c.
PKT_TYPE_ALIASES: dict[str, PktType] = {
    "bcast": "broadcast",
    "mcast": "multicast",
    "host": "unicast",
}

#: limit units: prefix of the word -> seconds (libxt_limit.c parse_rate).
LIMIT_UNITS = (("second", 1), ("minute", 60), ("hour", 3600), ("day", 86400))

# --- option tables: alias -> (canonical name, number of arguments, negatable) ----------

_PORTS = (("--sport", 1, True), ("--dport", 1, True))
_PORT_ALIASES = {"--source-port": "--sport", "--destination-port": "--dport"}

MATCH_OPTIONS: dict[str, OptionSpec] = {
    "tcp": option_spec(
        *_PORTS,
        ("--tcp-flags", 2, True),
        ("--syn", 0, True),
        ("--tcp-option", 1, True),
        aliases=_PORT_ALIASES,
    ),
    "udp": option_spec(*_PORTS, aliases=_PORT_ALIASES),
    "sctp": option_spec(*_PORTS, aliases=_PORT_ALIASES),
    "comment": option_spec(("--comment", 1, False)),
    "mark": option_spec(("--mark", 1, True)),
    "connmark": option_spec(("--mark", 1, True)),
    "addrtype": option_spec(
        ("--src-type", 1, True),
        ("--dst-type", 1, True),
        ("--limit-iface-in", 0, False),
        ("--limit-iface-out", 0, False),
    ),
    "conntrack": option_spec(
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
    "state": option_spec(("--state", 1, True)),
    "statistic": option_spec(
        ("--mode", 1, False),
        ("--probability", 1, True),
        ("--every", 1, True),
        ("--packet", 1, False),
    ),
    "recent": option_spec(
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
    "multiport": option_spec(
        ("--sports", 1, True),
        ("--dports", 1, True),
        ("--ports", 1, True),
        aliases={"--source-ports": "--sports", "--destination-ports": "--dports"},
    ),
    "physdev": option_spec(
        ("--physdev-in", 1, True),
        ("--physdev-out", 1, True),
        ("--physdev-is-in", 0, True),
        ("--physdev-is-out", 0, True),
        ("--physdev-is-bridged", 0, True),
    ),
    "set": option_spec(("--match-set", 2, True)),
    "nfacct": option_spec(("--nfacct-name", 1, False)),
    "icmp": option_spec(("--icmp-type", 1, True)),
    "limit": option_spec(("--limit", 1, False), ("--limit-burst", 1, False)),
    "pkttype": option_spec(("--pkt-type", 1, True)),
    "socket": option_spec(
        ("--transparent", 0, False), ("--nowildcard", 0, False), ("--restore-skmark", 0, False)
    ),
    "owner": option_spec(
        ("--uid-owner", 1, True),
        ("--gid-owner", 1, True),
        ("--socket-exists", 0, True),
        ("--suppl-groups", 0, False),
    ),
    "mac": option_spec(("--mac-source", 1, True)),
}

#: Protocol matches iptables loads by itself for ``-p PROTO --dport ...``.
IMPLICIT_MATCHES = {TCP: "tcp", UDP: "udp", SCTP: "sctp", ICMP: "icmp"}

# --- values of match options (pure, raising ValueError with the message) ------------------


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{text!r} is not a probability; use a number from 0 to 1")
    return value


def parse_limit_rate(text: str) -> int:
    """The kernel period of ``--limit N[/unit]`` (1/10000 s per packet).

    >>> parse_limit_rate("3/hour"), parse_limit_rate("5/s"), parse_limit_rate("7")
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


# --- match builders ----------------------------------------------------------------------


def _ports_tcpudp(opts: Options, name: str, fail: Fail) -> Negatable[PortRange] | None:
    """A tcp/udp port option, normalised as iptables-nft stores it."""
    ports = negatable_option(opts, name, fail, parse_port_range)
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
        tcp_option=negatable_option(opts, "--tcp-option", fail, lambda t: parse_decimal(t, 255, 1)),
        tcp_flags=None if flags == Negatable(TcpFlags(TcpFlag(0), TcpFlag(0))) else flags,
    )


def _build_udp(opts: Options, fail: Fail) -> Match:
    return UdpMatch(_ports_tcpudp(opts, "--sport", fail), _ports_tcpudp(opts, "--dport", fail))


def _build_sctp(opts: Options, fail: Fail) -> Match:
    return SctpMatch(
        negatable_option(opts, "--sport", fail, parse_port_range),
        negatable_option(opts, "--dport", fail, parse_port_range),
    )


def _build_comment(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--comment", "comment", fail)
    return CommentMatch(opts["--comment"][1][0])


def _build_mark(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--mark", "mark", fail)
    value, mask = cast(tuple[int, int], option_value(opts, "--mark", fail, parse_mark))
    return MarkMatch(value, mask, opts["--mark"][0])


def _build_connmark(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--mark", "connmark", fail)
    value, mask = cast(tuple[int, int], option_value(opts, "--mark", fail, parse_mark))
    return ConnmarkMatch(value, mask, opts["--mark"][0])


def _address_types(text: str) -> tuple[AddressType, ...]:
    return parse_names(text, ADDRESS_TYPES, "address type")


def _build_addrtype(opts: Options, fail: Fail) -> Match:
    if "--src-type" not in opts and "--dst-type" not in opts:
        fail("addrtype: you must specify --src-type or --dst-type", "--dst-type")
    if "--limit-iface-in" in opts and "--limit-iface-out" in opts:
        fail("--limit-iface-in and --limit-iface-out cannot be used together", "--limit-iface-out")
    return AddrtypeMatch(
        src_type=negatable_option(opts, "--src-type", fail, _address_types),
        dst_type=negatable_option(opts, "--dst-type", fail, _address_types),
        limit_iface_in="--limit-iface-in" in opts,
        limit_iface_out="--limit-iface-out" in opts,
    )


def _ctstates(text: str) -> tuple[CtState, ...]:
    return parse_names(text, CTSTATES, "conntrack state")


def _ctstatuses(text: str) -> tuple[CtStatus, ...]:
    return () if text.upper() == "NONE" else parse_names(text, CTSTATUSES, "conntrack status")


def _ctexpire(text: str) -> tuple[int, int]:
    low, colon, high = text.partition(":")
    first = parse_decimal(low)
    last = parse_decimal(high) if colon else first
    if last < first:
        raise ValueError(f"bad expiry range {text!r}")
    return first, last


def _build_conntrack(opts: Options, fail: Fail) -> Match:
    if not opts:
        fail("conntrack: at least one option is required", "--ctstate")
    ctdir = option_value(opts, "--ctdir", fail, str.upper)
    if ctdir not in (None, "ORIGINAL", "REPLY"):
        fail(f"unknown direction {ctdir!r}; use ORIGINAL or REPLY", "--ctdir")
    return ConntrackMatch(
        ctstate=negatable_option(opts, "--ctstate", fail, _ctstates),
        ctproto=negatable_option(opts, "--ctproto", fail, parse_protocol),
        ctorigsrc=negatable_option(opts, "--ctorigsrc", fail, parse_interface_address),
        ctorigdst=negatable_option(opts, "--ctorigdst", fail, parse_interface_address),
        ctreplsrc=negatable_option(opts, "--ctreplsrc", fail, parse_interface_address),
        ctrepldst=negatable_option(opts, "--ctrepldst", fail, parse_interface_address),
        ctorigsrcport=negatable_option(opts, "--ctorigsrcport", fail, parse_port_range),
        ctorigdstport=negatable_option(opts, "--ctorigdstport", fail, parse_port_range),
        ctreplsrcport=negatable_option(opts, "--ctreplsrcport", fail, parse_port_range),
        ctrepldstport=negatable_option(opts, "--ctrepldstport", fail, parse_port_range),
        ctstatus=negatable_option(opts, "--ctstatus", fail, _ctstatuses),
        ctexpire=negatable_option(opts, "--ctexpire", fail, _ctexpire),
        ctdir=cast(Literal["ORIGINAL", "REPLY"] | None, ctdir),
    )


def _states(text: str) -> tuple[State, ...]:
    return parse_names(text, STATES, "state")


def _build_state(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--state", "state", fail)
    return StateMatch(
        cast(tuple[State, ...], option_value(opts, "--state", fail, _states)), opts["--state"][0]
    )


def _build_statistic(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--mode", "statistic", fail)
    mode = opts["--mode"][1][0]
    negated = any(opts[o][0] for o in ("--probability", "--every") if o in opts)
    if mode == "random":
        if "--probability" not in opts:
            fail("--probability must be specified when using random mode", "--probability")
        for name in ("--every", "--packet"):
            if name in opts:
                fail(f"{name} can only be used in nth mode", name)
        text = opts["--probability"][1][0]
        probability = option_value(opts, "--probability", fail, _probability)
        return StatisticMatch("random", probability, text, negated=negated)
    if mode == "nth":
        if "--probability" in opts:
            fail("--probability can only be used in random mode", "--probability")
        require_option(opts, "--every", "statistic", fail)
        if "--packet" not in opts:
            fail('statistic: option "--every" also requires "--packet"', "--every")
        every = cast(
            int, option_value(opts, "--every", fail, lambda t: parse_decimal(t, U32_MAX, 1))
        )
        packet = cast(int, option_value(opts, "--packet", fail, parse_decimal))
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
    hitcount = option_value(opts, "--hitcount", fail, lambda t: parse_decimal(t, 255))
    return RecentMatch(
        command=cast(Literal["set", "rcheck", "update", "remove"], command),
        name=name,
        seconds=option_value(opts, "--seconds", fail, lambda t: parse_decimal(t, U32_MAX, 1)),
        reap="--reap" in opts,
        hitcount=hitcount or None,
        rttl="--rttl" in opts,
        mask=option_value(opts, "--mask", fail, parse_mask_address) or RECENT_DEFAULT_MASK,
        side="dest" if "--rdest" in opts else "source",
        negated=opts[f"--{command}"][0],
    )


def _port_list(text: str) -> tuple[PortRange, ...]:
    ranges = []
    for item in text.split(","):
        low, colon, high = item.partition(":")
        first = parse_port(low)
        last = parse_port(high) if colon else first
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
    ports = cast(tuple[PortRange, ...], option_value(opts, option, fail, _port_list))
    direction = cast(Literal["sports", "dports", "ports"], option[2:])
    return MultiportMatch(direction, ports, opts[option][0])


def _flag(opts: Options, name: str) -> bool | None:
    return (not opts[name][0]) if name in opts else None


def _build_physdev(opts: Options, fail: Fail) -> Match:
    if not opts:
        fail("physdev: no physdev option specified", "--physdev-in")
    return PhysdevMatch(
        physdev_in=negatable_option(opts, "--physdev-in", fail, parse_ifname),
        physdev_out=negatable_option(opts, "--physdev-out", fail, parse_ifname),
        physdev_is_in=_flag(opts, "--physdev-is-in"),
        physdev_is_out=_flag(opts, "--physdev-is-out"),
        physdev_is_bridged=_flag(opts, "--physdev-is-bridged"),
    )


def _build_set(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--match-set", "set", fail)
    negated, (name, flags) = opts["--match-set"]
    if not name or len(name) > SET_NAME_MAX:
        fail(f"set name must be 1-{SET_NAME_MAX} characters", "--match-set")
    directions = flags.split(",")
    if not 1 <= len(directions) <= SET_DIM_MAX or set(directions) - {"src", "dst"}:
        fail(f"bad set flags {flags!r}; use src or dst, comma separated", "--match-set")
    return SetMatch(name, tuple(cast(list[Literal["src", "dst"]], directions)), negated)


def _build_nfacct(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--nfacct-name", "nfacct", fail)
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
    number = parse_decimal(kind, 255)
    if number == 255:
        return None, None
    return number, (parse_decimal(code, 255) if slash else None)


def _build_icmp(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--icmp-type", "icmp", fail)
    kind, code = cast(
        tuple[int | None, int | None], option_value(opts, "--icmp-type", fail, _icmp_type)
    )
    return IcmpMatch(kind, code, opts["--icmp-type"][0])


def _build_limit(opts: Options, fail: Fail) -> Match:
    avg = option_value(opts, "--limit", fail, parse_limit_rate)
    burst = option_value(
        opts, "--limit-burst", fail, lambda t: parse_decimal(t, LIMIT_BURST_MAX, 1)
    )
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
    require_option(opts, "--pkt-type", "pkttype", fail)
    pkt_type = cast(PktType, option_value(opts, "--pkt-type", fail, _pkt_type))
    return PkttypeMatch(pkt_type, opts["--pkt-type"][0])


def _build_socket(opts: Options, fail: Fail) -> Match:
    return SocketMatch("--transparent" in opts, "--nowildcard" in opts, "--restore-skmark" in opts)


def _build_owner(opts: Options, fail: Fail) -> Match:
    if not {"--uid-owner", "--gid-owner", "--socket-exists"} & opts.keys():
        fail("owner: at least one of --uid-owner, --gid-owner or --socket-exists", "--uid-owner")
    if "--suppl-groups" in opts and "--gid-owner" not in opts:
        fail("--suppl-groups needs --gid-owner", "--suppl-groups")
    return OwnerMatch(
        uid_owner=negatable_option(opts, "--uid-owner", fail, parse_id_range),
        gid_owner=negatable_option(opts, "--gid-owner", fail, parse_id_range),
        socket_exists=_flag(opts, "--socket-exists"),
        suppl_groups="--suppl-groups" in opts,
    )


_MAC = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}")


def _mac(text: str) -> str:
    if not _MAC.fullmatch(text):
        raise ValueError(f"{text!r} is not a MAC address (XX:XX:XX:XX:XX:XX)")
    return text.lower()


def _build_mac(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--mac-source", "mac", fail)
    return MacMatch(
        cast(str, option_value(opts, "--mac-source", fail, _mac)), opts["--mac-source"][0]
    )


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
