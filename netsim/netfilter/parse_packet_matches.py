"""The options of the ``-m`` match modules that test the packet and its path.

These modules test what the packet itself carries and the way it takes through
the host: its protocol headers (``tcp``, ``udp``, ``sctp``, ``icmp``,
``multiport``, ``mac``), the kind of its addresses and link-layer destination
(``addrtype``, ``pkttype``), the bridge ports it crosses (``physdev``) and the
local socket it belongs to (``owner``, ``socket``). For each this holds its
option table (``PACKET_MATCH_OPTIONS``: alias -> canonical name, number of
arguments, whether ``!`` may precede it, as the module's libxt_*.c declares
them) and its builder (``PACKET_MATCH_BUILDERS``), which turns the options a
rule gave the module into the match value and refuses what libxt_*.c refuses
with the same words.

Ports are normalised as iptables-nft (1.8.9) stores them: on tcp and udp a port
range ``0:65535`` is no test at all, and ``! --dport 0:N`` is
``--dport N+1:65535``; ``--syn`` is ``--tcp-flags FIN,SYN,RST,ACK SYN``; icmp
type names become numbers.

Not here: the matches of conntrack, marks, lists, sets, counters and rates
(``netsim.netfilter.parse_state_matches``), the registry of every modelled
module and the protocol matches iptables loads by itself
(``netsim.netfilter.parse_matches``), service and user names (``--dport
http``, ``--uid-owner root``) and sctp's ``--chunk-types``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, cast

from netsim.netfilter.lexer import (
    Fail,
    Options,
    OptionSpec,
    negatable_option,
    option_spec,
    option_value,
    parse_decimal,
    parse_id_range,
    parse_ifname,
    parse_names,
    parse_port,
    parse_port_range,
    require_option,
)
from netsim.netfilter.matches import (
    ADDRESS_TYPES,
    PKT_TYPES,
    AddressType,
    AddrtypeMatch,
    IcmpMatch,
    MacMatch,
    Match,
    MultiportMatch,
    OwnerMatch,
    PhysdevMatch,
    PktType,
    PkttypeMatch,
    SctpMatch,
    SocketMatch,
    TcpMatch,
    UdpMatch,
)
from netsim.netfilter.values import Negatable, PortRange, TcpFlag, TcpFlags

__all__ = ["PACKET_MATCH_BUILDERS", "PACKET_MATCH_OPTIONS", "SYN_FLAGS"]

# --- limits and names, each with its source ---------------------------------------------

MULTIPORT_MAX = 15  # XT_MULTI_PORTS; a range takes two slots

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

# --- option tables: alias -> (canonical name, number of arguments, negatable) ----------

_PORTS = (("--sport", 1, True), ("--dport", 1, True))
_PORT_ALIASES = {"--source-port": "--sport", "--destination-port": "--dport"}

PACKET_MATCH_OPTIONS: dict[str, OptionSpec] = {
    "tcp": option_spec(
        *_PORTS,
        ("--tcp-flags", 2, True),
        ("--syn", 0, True),
        ("--tcp-option", 1, True),
        aliases=_PORT_ALIASES,
    ),
    "udp": option_spec(*_PORTS, aliases=_PORT_ALIASES),
    "sctp": option_spec(*_PORTS, aliases=_PORT_ALIASES),
    "addrtype": option_spec(
        ("--src-type", 1, True),
        ("--dst-type", 1, True),
        ("--limit-iface-in", 0, False),
        ("--limit-iface-out", 0, False),
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
    "icmp": option_spec(("--icmp-type", 1, True)),
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


PACKET_MATCH_BUILDERS: dict[str, Callable[[Options, Fail], Match]] = {
    "tcp": _build_tcp,
    "udp": _build_udp,
    "sctp": _build_sctp,
    "addrtype": _build_addrtype,
    "multiport": _build_multiport,
    "physdev": _build_physdev,
    "icmp": _build_icmp,
    "pkttype": _build_pkttype,
    "socket": _build_socket,
    "owner": _build_owner,
    "mac": _build_mac,
}
