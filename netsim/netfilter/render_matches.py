"""Render one ``-m`` match exactly as ``iptables-save`` (iptables 1.8.9, nf_tables) prints it.

``render_match`` prints a module and its options in the module's own print
order; ``quote`` and ``limit_rate`` are the string and rate forms iptables
saves. Every print form here was read back from the real ``iptables-save``
after ``iptables-restore`` in a private network namespace
(``tests/netfilter/test_iptables_restore.py`` checks them against the kernel):

* in ``-m conntrack`` an address leaves ``/32`` off (elsewhere it keeps it);
* a string is bare when it is only letters, digits, ``_`` and ``-``, otherwise
  double-quoted with ``"``, ``\\`` and ``'`` backslash-escaped (``--comment x``
  but ``--comment "ns/svc:port"``); ``--nfacct-name`` is followed by two spaces;
* a probability prints as ``%.11f`` of round(P·2³¹)/2³¹ (``0.33333333349``), a
  mark as ``0x%x``; defaults print where iptables prints them
  (``-m recent ... --mask 255.255.255.255 --rsource``) and are left out where
  it leaves them out (``--limit-burst 5``).

Not rendered: the legacy (``iptables-legacy-save``) differences, e.g. its
upper-case MAC addresses and its ``! --dport 0:1023`` where nf_tables prints
``--dport 1024:65535`` (the parser stores the latter).

Not here: targets, rules, chains and the whole save file (``render``).
"""

from __future__ import annotations

from ipaddress import IPv4Interface
from typing import assert_never

from netsim.netfilter.ruleset import (
    ADDRESS_TYPES,
    ALL_ONES,
    DEFAULT_LIMIT_BURST,
    STATISTIC_SCALE,
    XT_LIMIT_SCALE,
    AddrtypeMatch,
    CommentMatch,
    ConnmarkMatch,
    ConntrackMatch,
    IcmpMatch,
    LimitMatch,
    MacMatch,
    MarkMatch,
    Match,
    MultiportMatch,
    Negatable,
    NfacctMatch,
    OwnerMatch,
    PhysdevMatch,
    PkttypeMatch,
    PortRange,
    RecentMatch,
    SctpMatch,
    SetMatch,
    SocketMatch,
    StateMatch,
    StatisticMatch,
    TcpFlag,
    TcpMatch,
    UdpMatch,
)

__all__ = ["limit_rate", "quote", "render_match"]

_BARE = frozenset("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LIMIT_RATES = (  # libxt_limit.c rates[]: name, period of one packet per unit
    ("day", XT_LIMIT_SCALE * 24 * 60 * 60),
    ("hour", XT_LIMIT_SCALE * 60 * 60),
    ("min", XT_LIMIT_SCALE * 60),
    ("sec", XT_LIMIT_SCALE),
)


def quote(text: str) -> str:
    """A string as iptables saves it (``xtables_save_string``).

    >>> quote("kubernetes"), quote("ns/svc:http"), quote(""), quote('say "hi"')
    ('kubernetes', '"ns/svc:http"', '""', '"say \\\\"hi\\\\""')
    """
    if text and _BARE.issuperset(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
    return f'"{escaped}"'


def _neg(value: Negatable[object]) -> str:
    return " !" if value.negated else ""


def _ports(ports: PortRange, separator: str = ":") -> str:
    if ports.first == ports.last:
        return str(ports.first)
    return f"{ports.first}{separator}{ports.last}"


def _port_option(name: str, ports: Negatable[PortRange] | None) -> str:
    if ports is None:
        return ""
    return f"{_neg(ports)} {name} {_ports(ports.value)}"


def _mark(value: int, mask: int) -> str:
    return f"0x{value:x}" if mask == ALL_ONES else f"0x{value:x}/0x{mask:x}"


def _flags(flags: TcpFlag) -> str:
    names = [flag.name for flag in TcpFlag if flag in flags and flag.name]
    return ",".join(names) or "NONE"


def _ct_address(address: IPv4Interface) -> str:
    if address.network.prefixlen == 32:
        return str(address.ip)
    return str(address)


def limit_rate(avg: int) -> str:
    """The ``--limit`` text iptables prints for a kernel period (libxt_limit.c print_rate).

    >>> limit_rate(12000000), limit_rate(1), limit_rate(1428)
    ('3/hour', '10000/sec', '7/sec')
    """
    index = 1
    while index < len(_LIMIT_RATES):
        mult = _LIMIT_RATES[index][1]
        if avg > mult or mult // avg < mult % avg:
            break
        index += 1
    name, mult = _LIMIT_RATES[index - 1]
    return f"{mult // avg}/{name}"


# --- matches ------------------------------------------------------------------------------


def _tcp(m: TcpMatch) -> str:
    text = _port_option("--sport", m.sport) + _port_option("--dport", m.dport)
    if m.tcp_option is not None:
        text += f"{_neg(m.tcp_option)} --tcp-option {m.tcp_option.value}"
    if m.tcp_flags is not None:
        flags = m.tcp_flags.value
        text += f"{_neg(m.tcp_flags)} --tcp-flags {_flags(flags.mask)} {_flags(flags.comp)}"
    return text


def _udp(m: UdpMatch | SctpMatch) -> str:
    return _port_option("--sport", m.sport) + _port_option("--dport", m.dport)


def _comment(m: CommentMatch) -> str:
    return f" --comment {quote(m.comment)}"


def _mark_match(m: MarkMatch | ConnmarkMatch) -> str:
    return f"{' !' if m.negated else ''} --mark {_mark(m.value, m.mask)}"


def _addrtype(m: AddrtypeMatch) -> str:
    text = ""
    for option, types in (("--src-type", m.src_type), ("--dst-type", m.dst_type)):
        if types is not None:
            ordered = [t for t in ADDRESS_TYPES if t in types.value]
            text += f"{_neg(types)} {option} {','.join(ordered)}"
    if m.limit_iface_in:
        text += " --limit-iface-in"
    if m.limit_iface_out:
        text += " --limit-iface-out"
    return text


def _conntrack(m: ConntrackMatch) -> str:
    text = ""
    if m.ctstate is not None:
        text += f"{_neg(m.ctstate)} --ctstate {','.join(m.ctstate.value)}"
    if m.ctproto is not None:
        text += f"{_neg(m.ctproto)} --ctproto {m.ctproto.value}"
    for name, network in (
        ("--ctorigsrc", m.ctorigsrc),
        ("--ctorigdst", m.ctorigdst),
        ("--ctreplsrc", m.ctreplsrc),
        ("--ctrepldst", m.ctrepldst),
    ):
        if network is not None:
            text += f"{_neg(network)} {name} {_ct_address(network.value)}"
    text += _port_option("--ctorigsrcport", m.ctorigsrcport)
    text += _port_option("--ctorigdstport", m.ctorigdstport)
    text += _port_option("--ctreplsrcport", m.ctreplsrcport)
    text += _port_option("--ctrepldstport", m.ctrepldstport)
    if m.ctstatus is not None:
        text += f"{_neg(m.ctstatus)} --ctstatus {','.join(m.ctstatus.value) or 'NONE'}"
    if m.ctexpire is not None:
        low, high = m.ctexpire.value
        text += f"{_neg(m.ctexpire)} --ctexpire {low if low == high else f'{low}:{high}'}"
    if m.ctdir is not None:
        text += f" --ctdir {m.ctdir}"
    return text


def _state(m: StateMatch) -> str:
    return f"{' !' if m.negated else ''} --state {','.join(m.states)}"


def _statistic(m: StatisticMatch) -> str:
    bang = " !" if m.negated else ""
    if m.mode == "random":
        probability = m.probability_threshold / STATISTIC_SCALE
        return f" --mode random{bang} --probability {probability:.11f}"
    return f" --mode nth{bang} --every {m.every} --packet {m.packet}"


def _recent(m: RecentMatch) -> str:
    text = f"{' !' if m.negated else ''} --{m.command}"
    if m.seconds:
        text += f" --seconds {m.seconds}"
    if m.reap:
        text += " --reap"
    if m.hitcount:
        text += f" --hitcount {m.hitcount}"
    if m.rttl:
        text += " --rttl"
    side = "--rsource" if m.side == "source" else "--rdest"
    return f"{text} --name {m.name} --mask {m.mask} {side}"


def _multiport(m: MultiportMatch) -> str:
    ports = ",".join(_ports(p) for p in m.ports)
    return f"{' !' if m.negated else ''} --{m.direction} {ports}"


def _flag_option(name: str, value: bool | None) -> str:
    if value is None:
        return ""
    return f"{'' if value else ' !'} {name}"


def _physdev(m: PhysdevMatch) -> str:
    text = _flag_option("--physdev-is-in", m.physdev_is_in)
    if m.physdev_in is not None:
        text += f"{_neg(m.physdev_in)} --physdev-in {m.physdev_in.value}"
    text += _flag_option("--physdev-is-out", m.physdev_is_out)
    if m.physdev_out is not None:
        text += f"{_neg(m.physdev_out)} --physdev-out {m.physdev_out.value}"
    return text + _flag_option("--physdev-is-bridged", m.physdev_is_bridged)


def _set(m: SetMatch) -> str:
    return f"{' !' if m.negated else ''} --match-set {m.name} {','.join(m.directions)}"


def _nfacct(m: NfacctMatch) -> str:
    return f" --nfacct-name  {quote(m.name)}"  # two spaces, as libxt_nfacct prints it


def _icmp(m: IcmpMatch) -> str:
    bang = " !" if m.negated else ""
    if m.icmp_type is None:
        return f"{bang} --icmp-type any"
    code = "" if m.code is None else f"/{m.code}"
    return f"{bang} --icmp-type {m.icmp_type}{code}"


def _limit(m: LimitMatch) -> str:
    burst = "" if m.burst == DEFAULT_LIMIT_BURST else f" --limit-burst {m.burst}"
    return f" --limit {limit_rate(m.avg)}{burst}"


def _pkttype(m: PkttypeMatch) -> str:
    return f"{' !' if m.negated else ''} --pkt-type {m.pkt_type}"


def _socket(m: SocketMatch) -> str:
    return (
        (" --transparent" if m.transparent else "")
        + (" --nowildcard" if m.nowildcard else "")
        + (" --restore-skmark" if m.restore_skmark else "")
    )


def _ids(ids: tuple[int, int]) -> str:
    return str(ids[0]) if ids[0] == ids[1] else f"{ids[0]}-{ids[1]}"


def _owner(m: OwnerMatch) -> str:
    text = _flag_option("--socket-exists", m.socket_exists)
    if m.uid_owner is not None:
        text += f"{_neg(m.uid_owner)} --uid-owner {_ids(m.uid_owner.value)}"
    if m.gid_owner is not None:
        text += f"{_neg(m.gid_owner)} --gid-owner {_ids(m.gid_owner.value)}"
    return text + (" --suppl-groups" if m.suppl_groups else "")


def _mac(m: MacMatch) -> str:
    return f"{' !' if m.negated else ''} --mac-source {m.mac_source}"


def render_match(match: Match) -> str:
    """``-m MODULE`` and its options, as iptables-save prints them.

    >>> render_match(CommentMatch("ns/svc:p cluster IP"))
    '-m comment --comment "ns/svc:p cluster IP"'
    """
    body: str
    match match:
        case TcpMatch():
            body = _tcp(match)
        case UdpMatch() | SctpMatch():
            body = _udp(match)
        case CommentMatch():
            body = _comment(match)
        case MarkMatch() | ConnmarkMatch():
            body = _mark_match(match)
        case AddrtypeMatch():
            body = _addrtype(match)
        case ConntrackMatch():
            body = _conntrack(match)
        case StateMatch():
            body = _state(match)
        case StatisticMatch():
            body = _statistic(match)
        case RecentMatch():
            body = _recent(match)
        case MultiportMatch():
            body = _multiport(match)
        case PhysdevMatch():
            body = _physdev(match)
        case SetMatch():
            body = _set(match)
        case NfacctMatch():
            body = _nfacct(match)
        case IcmpMatch():
            body = _icmp(match)
        case LimitMatch():
            body = _limit(match)
        case PkttypeMatch():
            body = _pkttype(match)
        case SocketMatch():
            body = _socket(match)
        case OwnerMatch():
            body = _owner(match)
        case MacMatch():
            body = _mac(match)
        case _:
            assert_never(match)
    return f"-m {match.module}{body}"
