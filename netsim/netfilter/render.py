"""Render a ``Ruleset`` exactly as ``iptables-save`` (iptables 1.8.9, nf_tables) prints it.

Every print form here was read back from the real ``iptables-save`` after
``iptables-restore`` in a private network namespace
(``tests/netfilter/test_iptables_restore.py`` checks them against the kernel):

* rule order of parts: ``[!] -s``, ``[!] -d``, ``[!] -i``, ``[!] -o``, ``[!] -p``,
  ``[!] -f``, each ``-m`` with its options in the module's own print order,
  then ``-j``/``-g`` with the target's options;
* addresses always carry a prefix length (``10.0.0.1/32``), except in
  ``-m conntrack`` where ``/32`` is left off; protocols print by name;
* a string is bare when it is only letters, digits, ``_`` and ``-``, otherwise
  double-quoted with ``"``, ``\\`` and ``'`` backslash-escaped (``--comment x``
  but ``--comment "ns/svc:port"``); ``--nfacct-name`` is followed by two spaces;
* a probability prints as ``%.11f`` of round(P·2³¹)/2³¹ (``0.33333333349``), a
  mark as ``0x%x``, ``MARK``/``CONNMARK`` as ``--set-xmark V/M``; defaults print
  where iptables prints them (``--reject-with icmp-port-unreachable``,
  ``-m recent ... --mask 255.255.255.255 --rsource``) and are left out where it
  leaves them out (``--log-level 4``, ``--limit-burst 5``).

``render_iptables_save`` prints tables and chains in the model's order;
``in_save_order`` reorders a ruleset as ``iptables-save`` lists a loaded one
(tables mangle, security, raw, filter, nat; built-in chains first, all of them;
user chains by name) so a restore payload renders like the dump of the node
that loaded it.

Not rendered: the legacy (``iptables-legacy-save``) differences, e.g. its
upper-case MAC addresses and its ``! --dport 0:1023`` where nf_tables prints
``--dport 1024:65535`` (the parser stores the latter).
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Interface
from typing import assert_never

from netsim.netfilter.ruleset import (
    ADDRESS_TYPES,
    ALL_ONES,
    BUILTIN_CHAINS,
    DEFAULT_LIMIT_BURST,
    LOG_DEFAULT_LEVEL,
    STATISTIC_SCALE,
    XT_LIMIT_SCALE,
    AcceptTarget,
    AddrtypeMatch,
    Chain,
    CommentMatch,
    ConnmarkMatch,
    ConnmarkTarget,
    ConntrackMatch,
    Counters,
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
    PkttypeMatch,
    PortRange,
    RecentMatch,
    RedirectTarget,
    RejectTarget,
    ReturnTarget,
    Rule,
    Ruleset,
    SctpMatch,
    SetMatch,
    SnatTarget,
    SocketMatch,
    StateMatch,
    StatisticMatch,
    Table,
    Target,
    TcpFlag,
    TcpMatch,
    UdpMatch,
    protocol_name,
)

__all__ = [
    "IPTABLES_VERSION",
    "SAVE_TABLE_ORDER",
    "in_save_order",
    "limit_rate",
    "quote",
    "render_chain_line",
    "render_iptables_save",
    "render_match",
    "render_rule",
    "render_target",
]

IPTABLES_VERSION = "v1.8.9 (nf_tables)"  # the iptables whose print forms these are
#: Table order of iptables-nft-save (enum nft_table_type in iptables' nft.h).
SAVE_TABLE_ORDER = ("mangle", "security", "raw", "filter", "nat")
EPOCH = "Thu Jan  1 00:00:00 1970"  # ctime(3) of 0, the default date of the comments

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


# --- targets ------------------------------------------------------------------------------


def _nat_range(to: NatRange) -> str:
    text = ""
    if to.first_address is not None:
        text = str(to.first_address)
        if to.last_address is not None and to.last_address != to.first_address:
            text += f"-{to.last_address}"
    if to.first_port is not None:
        text += f":{to.first_port}"
        if to.last_port is not None and to.last_port != to.first_port:
            text += f"-{to.last_port}"
        if to.base_port is not None:
            text += f"/{to.base_port}"
    return text


def _nat_flags(random: bool, random_fully: bool = False, persistent: bool = False) -> str:
    return (
        (" --random" if random else "")
        + (" --random-fully" if random_fully else "")
        + (" --persistent" if persistent else "")
    )


def _to_ports(ports: PortRange | None) -> str:
    return "" if ports is None else f" --to-ports {_ports(ports, '-')}"


def _log(t: LogTarget) -> str:
    text = f" --log-prefix {quote(t.prefix)}" if t.prefix else ""
    if t.level != LOG_DEFAULT_LEVEL:
        text += f" --log-level {t.level}"
    for flag, name in (
        (t.tcp_sequence, "--log-tcp-sequence"),
        (t.tcp_options, "--log-tcp-options"),
        (t.ip_options, "--log-ip-options"),
        (t.uid, "--log-uid"),
        (t.macdecode, "--log-macdecode"),
    ):
        if flag:
            text += f" {name}"
    return text


def _connmark(t: ConnmarkTarget) -> str:
    if t.mode == "set":
        return f" --set-xmark 0x{t.value:x}/0x{t.ctmask:x}"
    return f" --{t.mode}-mark --nfmask 0x{t.nfmask:x} --ctmask 0x{t.ctmask:x}"


def _ct(t: CtTarget) -> str:
    return (
        (" --notrack" if t.notrack else "")
        + (f" --helper {t.helper}" if t.helper is not None else "")
        + (f" --zone {t.zone}" if t.zone is not None else "")
    )


def render_target(target: Target, goto: bool = False) -> str:
    """``-j TARGET`` (or ``-g CHAIN``) and its options, as iptables-save prints them.

    >>> render_target(MarkTarget(0x4000, 0x4000))
    '-j MARK --set-xmark 0x4000/0x4000'
    """
    match target:
        case JumpTarget():
            return f"{'-g' if goto else '-j'} {target.chain}"
        case AcceptTarget() | DropTarget() | ReturnTarget() | NotrackTarget():
            body = ""
        case RejectTarget():
            body = f" --reject-with {target.reject_with}"
        case DnatTarget():
            body = f" --to-destination {_nat_range(target.to_destination)}"
            body += _nat_flags(target.random, persistent=target.persistent)
        case SnatTarget():
            body = f" --to-source {_nat_range(target.to_source)}"
            body += _nat_flags(target.random, target.random_fully, target.persistent)
        case MasqueradeTarget():
            body = _to_ports(target.to_ports) + _nat_flags(target.random, target.random_fully)
        case RedirectTarget():
            body = _to_ports(target.to_ports) + _nat_flags(target.random)
        case MarkTarget():
            body = f" --set-xmark 0x{target.value:x}/0x{target.mask:x}"
        case ConnmarkTarget():
            body = _connmark(target)
        case LogTarget():
            body = _log(target)
        case CtTarget():
            body = _ct(target)
        case _:
            assert_never(target)
    return f"-j {target.name}{body}"


# --- rules, chains, tables ----------------------------------------------------------------


def render_rule(chain_name: str, rule: Rule) -> str:
    """One ``-A`` line (with ``[p:b]`` in front when the rule has counters).

    >>> from ipaddress import IPv4Network
    >>> render_rule("KUBE-SEP-X", Rule(source=Negatable(IPv4Network("10.244.1.5/32")),
    ...     target=JumpTarget("KUBE-MARK-MASQ")))
    '-A KUBE-SEP-X -s 10.244.1.5/32 -j KUBE-MARK-MASQ'
    """
    parts = [f"-A {chain_name}"]
    if rule.counters is not None:
        parts.insert(0, f"[{rule.counters.packets}:{rule.counters.bytes}]")
    if rule.source is not None:
        parts.append(f"{'! ' if rule.source.negated else ''}-s {rule.source.value}")
    if rule.destination is not None:
        parts.append(f"{'! ' if rule.destination.negated else ''}-d {rule.destination.value}")
    if rule.in_interface is not None:
        parts.append(f"{'! ' if rule.in_interface.negated else ''}-i {rule.in_interface.value}")
    if rule.out_interface is not None:
        parts.append(f"{'! ' if rule.out_interface.negated else ''}-o {rule.out_interface.value}")
    if rule.protocol is not None:
        name = protocol_name(rule.protocol.value)
        parts.append(f"{'! ' if rule.protocol.negated else ''}-p {name}")
    if rule.is_fragment is not None:
        parts.append("-f" if rule.is_fragment else "! -f")
    parts.extend(render_match(m) for m in rule.matches)
    if rule.target is not None:
        parts.append(render_target(rule.target, rule.goto))
    return " ".join(parts)


def render_chain_line(chain: Chain) -> str:
    """The ``:NAME POLICY [p:b]`` line; counters print ``[0:0]`` when unknown.

    >>> render_chain_line(Chain("KUBE-SERVICES")), render_chain_line(Chain("INPUT", "DROP"))
    (':KUBE-SERVICES - [0:0]', ':INPUT DROP [0:0]')
    """
    counters = chain.counters or Counters(0, 0)
    return f":{chain.name} {chain.policy or '-'} [{counters.packets}:{counters.bytes}]"


def render_iptables_save(
    ruleset: Ruleset,
    *,
    comments: bool = False,
    date: str = EPOCH,
    version: str = IPTABLES_VERSION,
) -> str:
    """The ruleset as ``iptables-save`` text, tables and chains in the model's order.

    Args:
        ruleset: what to print.
        comments: add the ``# Generated by ...`` / ``# Completed on ...`` lines.
        date: the date those comments carry (ctime format).
        version: the iptables version those comments name.

    Returns:
        The dump, one line per table header, chain, rule and COMMIT, ending in a newline.

    >>> print(render_iptables_save(Ruleset((Table("nat", (Chain("KUBE-MARK-MASQ",
    ...     rules=(Rule(target=MarkTarget(0x4000, 0x4000)),)),)),))), end="")
    *nat
    :KUBE-MARK-MASQ - [0:0]
    -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
    COMMIT
    """
    lines: list[str] = []
    for table in ruleset.tables:
        if comments:
            lines.append(f"# Generated by iptables-save {version} on {date}")
        lines.append(f"*{table.name}")
        lines.extend(render_chain_line(chain) for chain in table.chains)
        for chain in table.chains:
            name = chain.name
            lines.extend(render_rule(name, rule) for rule in chain.rules)
        lines.append("COMMIT")
        if comments:
            lines.append(f"# Completed on {date}")
    return "\n".join(lines) + "\n" if lines else ""


def in_save_order(ruleset: Ruleset) -> Ruleset:
    """The ruleset as ``iptables-save`` (nf_tables) lists it once loaded.

    Tables go in kernel order (mangle, security, raw, filter, nat); each table
    lists all its built-in chains first in hook order (a missing one is added
    with policy ACCEPT, as the kernel creates it), then user chains by name.

    >>> rs = in_save_order(Ruleset((Table("nat", (Chain("B"), Chain("A"))), Table("raw"))))
    >>> [(t.name, [c.name for c in t.chains]) for t in rs.tables]
    [('raw', ['PREROUTING', 'OUTPUT']), ('nat', ['PREROUTING', 'INPUT', 'OUTPUT', \
'POSTROUTING', 'A', 'B'])]
    """

    def table_key(table: Table) -> tuple[int, str]:
        order = SAVE_TABLE_ORDER.index(table.name) if table.name in SAVE_TABLE_ORDER else 99
        return order, table.name

    tables = []
    for table in sorted(ruleset.tables, key=table_key):
        by_name = {chain.name: chain for chain in table.chains}
        builtin = BUILTIN_CHAINS.get(table.name, ())
        chains = [by_name.get(name) or Chain(name, "ACCEPT", Counters(0, 0)) for name in builtin]
        chains += sorted(
            (chain for chain in table.chains if chain.name not in builtin),
            key=lambda chain: chain.name.encode(),
        )
        tables.append(replace(table, chains=tuple(chains)))
    return Ruleset(tuple(tables))
