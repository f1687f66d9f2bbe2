"""render_iptables_save: exact strings per match and target, sample round trips, a property."""

from __future__ import annotations

import doctest
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest
from hypothesis import given, settings

from netsim.netfilter.parse import parse_iptables_save
from netsim.netfilter.render import (
    in_save_order,
    render_chain_line,
    render_iptables_save,
    render_rule,
    render_target,
)
from netsim.netfilter.render_matches import limit_rate, quote, render_match
from netsim.netfilter.ruleset import (
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
    TcpFlags,
    TcpMatch,
    UdpMatch,
)
from tests.netfilter.conftest import read_sample, saved_date, without_comments
from tests.netfilter.strategies import rulesets


def ports(first: int, last: int | None = None, negated: bool = False) -> Negatable[PortRange]:
    return Negatable(PortRange(first, first if last is None else last), negated)


# --- exact strings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kubernetes", "kubernetes"),
        ("abc_DEF-09", "abc_DEF-09"),
        ("a.b", '"a.b"'),
        ("ns/svc:http cluster IP", '"ns/svc:http cluster IP"'),
        ("", '""'),
        ("a \"quoted\" b\\c 'x'", r'"a \"quoted\" b\\c \'x\'"'),
    ],
    ids=["word", "word-chars", "dot", "spaces", "empty", "escapes"],
)
def test_quote(text: str, expected: str) -> None:
    assert quote(text) == expected


MATCH_STRINGS: dict[str, tuple[Match, str]] = {
    "tcp-all": (
        TcpMatch(
            sport=ports(1000, 65535, True),
            dport=ports(80),
            tcp_option=Negatable(2),
            tcp_flags=Negatable(TcpFlags(TcpFlag(0x3F), TcpFlag(0)), True),
        ),
        "-m tcp ! --sport 1000:65535 --dport 80 --tcp-option 2 "
        "! --tcp-flags FIN,SYN,RST,PSH,ACK,URG NONE",
    ),
    "tcp-syn": (
        TcpMatch(tcp_flags=Negatable(TcpFlags(TcpFlag(0x17), TcpFlag.SYN))),
        "-m tcp --tcp-flags FIN,SYN,RST,ACK SYN",
    ),
    "tcp-bare": (TcpMatch(), "-m tcp"),
    "udp": (UdpMatch(sport=ports(53), dport=ports(1, 2, True)), "-m udp --sport 53 ! --dport 1:2"),
    "sctp": (SctpMatch(ports(0, 0, True), ports(0, 65535)), "-m sctp ! --sport 0 --dport 0:65535"),
    "comment": (
        CommentMatch("default/web:http cluster IP"),
        '-m comment --comment "default/web:http cluster IP"',
    ),
    "comment-bare": (CommentMatch("x"), "-m comment --comment x"),
    "mark": (MarkMatch(0x4000, 0x4000, True), "-m mark ! --mark 0x4000/0x4000"),
    "mark-full-mask": (MarkMatch(5), "-m mark --mark 0x5"),
    "connmark": (ConnmarkMatch(1, 0xF), "-m connmark --mark 0x1/0xf"),
    "addrtype": (
        AddrtypeMatch(
            src_type=Negatable(("UNICAST", "LOCAL")),
            dst_type=Negatable(("BROADCAST",), True),
            limit_iface_out=True,
        ),
        "-m addrtype --src-type UNICAST,LOCAL ! --dst-type BROADCAST --limit-iface-out",
    ),
    "conntrack": (
        ConntrackMatch(
            ctstate=Negatable(("RELATED", "ESTABLISHED", "DNAT"), True),
            ctproto=Negatable(6),
            ctorigsrc=Negatable(IPv4Interface("10.0.0.1/32")),
            ctrepldst=Negatable(IPv4Interface("5.6.7.8/16"), True),
            ctorigdstport=ports(6, 7, True),
            ctstatus=Negatable(()),
            ctexpire=Negatable((5, 5)),
            ctdir="ORIGINAL",
        ),
        "-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT --ctproto 6 --ctorigsrc 10.0.0.1 "
        "! --ctrepldst 5.6.7.8/16 ! --ctorigdstport 6:7 --ctstatus NONE --ctexpire 5 "
        "--ctdir ORIGINAL",
    ),
    "state": (StateMatch(("NEW", "ESTABLISHED")), "-m state --state NEW,ESTABLISHED"),
    "statistic-kube-proxy": (
        StatisticMatch("random", 0.3333333333, "0.3333333333"),
        "-m statistic --mode random --probability 0.33333333349",
    ),
    "statistic-negated": (
        StatisticMatch("random", 0.1, "0.1", negated=True),
        "-m statistic --mode random ! --probability 0.10000000009",
    ),
    "statistic-nth": (
        StatisticMatch("nth", every=3, packet=0),
        "-m statistic --mode nth --every 3 --packet 0",
    ),
    "recent-set": (
        RecentMatch("set", name="KUBE-SEP-X"),
        "-m recent --set --name KUBE-SEP-X --mask 255.255.255.255 --rsource",
    ),
    "recent-rcheck": (
        RecentMatch("rcheck", name="KUBE-SEP-X", seconds=10800, reap=True),
        "-m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-X --mask 255.255.255.255 "
        "--rsource",
    ),
    "recent-all": (
        RecentMatch(
            "update", "foo", 60, True, 3, True, IPv4Address("255.255.0.0"), "dest", negated=True
        ),
        "-m recent ! --update --seconds 60 --reap --hitcount 3 --rttl --name foo "
        "--mask 255.255.0.0 --rdest",
    ),
    "multiport": (
        MultiportMatch("dports", (PortRange(80, 80), PortRange(8000, 8080)), True),
        "-m multiport ! --dports 80,8000:8080",
    ),
    "physdev": (
        PhysdevMatch(
            physdev_in=Negatable("i"),
            physdev_out=Negatable("o"),
            physdev_is_in=True,
            physdev_is_out=False,
            physdev_is_bridged=True,
        ),
        "-m physdev --physdev-is-in --physdev-in i ! --physdev-is-out --physdev-out o "
        "--physdev-is-bridged",
    ),
    "set": (SetMatch("pairs", ("dst", "src"), True), "-m set ! --match-set pairs dst,src"),
    "nfacct": (
        NfacctMatch("ct_state_invalid_dropped_pkts"),
        "-m nfacct --nfacct-name  ct_state_invalid_dropped_pkts",
    ),
    "icmp": (IcmpMatch(3, 3, True), "-m icmp ! --icmp-type 3/3"),
    "icmp-type": (IcmpMatch(8), "-m icmp --icmp-type 8"),
    "icmp-any": (IcmpMatch(None), "-m icmp --icmp-type any"),
    "limit-default": (LimitMatch(), "-m limit --limit 3/hour"),
    "limit": (LimitMatch(2000, 10), "-m limit --limit 5/sec --limit-burst 10"),
    "pkttype": (PkttypeMatch("unicast", True), "-m pkttype ! --pkt-type unicast"),
    "socket": (
        SocketMatch(True, True, True),
        "-m socket --transparent --nowildcard --restore-skmark",
    ),
    "socket-bare": (SocketMatch(), "-m socket"),
    "owner": (
        OwnerMatch(Negatable((0, 0)), Negatable((5, 10), True), False, True),
        "-m owner ! --socket-exists --uid-owner 0 ! --gid-owner 5-10 --suppl-groups",
    ),
    "mac": (MacMatch("aa:bb:cc:dd:ee:0f"), "-m mac --mac-source aa:bb:cc:dd:ee:0f"),
}


@pytest.mark.parametrize("case", list(MATCH_STRINGS), ids=list(MATCH_STRINGS))
def test_render_match(case: str) -> None:
    match, expected = MATCH_STRINGS[case]
    assert render_match(match) == expected


TARGET_STRINGS: dict[str, tuple[Target, bool, str]] = {
    "accept": (AcceptTarget(), False, "-j ACCEPT"),
    "drop": (DropTarget(), False, "-j DROP"),
    "return": (ReturnTarget(), False, "-j RETURN"),
    "jump": (JumpTarget("KUBE-SERVICES"), False, "-j KUBE-SERVICES"),
    "goto": (JumpTarget("KUBE-SERVICES"), True, "-g KUBE-SERVICES"),
    "reject": (RejectTarget(), False, "-j REJECT --reject-with icmp-port-unreachable"),
    "dnat": (
        DnatTarget(NatRange(IPv4Address("10.244.1.5"), first_port=8080)),
        False,
        "-j DNAT --to-destination 10.244.1.5:8080",
    ),
    "dnat-ranges": (
        DnatTarget(
            NatRange(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.5"), 1000, 2000, 1500),
            random=True,
            persistent=True,
        ),
        False,
        "-j DNAT --to-destination 10.0.0.1-10.0.0.5:1000-2000/1500 --random --persistent",
    ),
    "dnat-port-only": (DnatTarget(NatRange(first_port=53)), False, "-j DNAT --to-destination :53"),
    "snat": (
        SnatTarget(NatRange(IPv4Address("1.2.3.4")), True, True, True),
        False,
        "-j SNAT --to-source 1.2.3.4 --random --random-fully --persistent",
    ),
    "masquerade": (MasqueradeTarget(random_fully=True), False, "-j MASQUERADE --random-fully"),
    "masquerade-ports": (
        MasqueradeTarget(PortRange(1000, 2000), True, True),
        False,
        "-j MASQUERADE --to-ports 1000-2000 --random --random-fully",
    ),
    "redirect": (RedirectTarget(PortRange(8080, 8080)), False, "-j REDIRECT --to-ports 8080"),
    "mark-or": (MarkTarget(0x4000, 0x4000), False, "-j MARK --set-xmark 0x4000/0x4000"),
    "mark-xor": (MarkTarget(0x4000, 0), False, "-j MARK --set-xmark 0x4000/0x0"),
    "mark-set": (MarkTarget(1), False, "-j MARK --set-xmark 0x1/0xffffffff"),
    "connmark-set": (ConnmarkTarget("set", 1, 3), False, "-j CONNMARK --set-xmark 0x1/0x3"),
    "connmark-save": (
        ConnmarkTarget("save"),
        False,
        "-j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff",
    ),
    "connmark-restore": (
        ConnmarkTarget("restore", ctmask=0xF, nfmask=0xFF),
        False,
        "-j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xf",
    ),
    "log": (LogTarget(), False, "-j LOG"),
    "log-all": (
        LogTarget("pfx: ", 6, True, True, True, True, True),
        False,
        '-j LOG --log-prefix "pfx: " --log-level 6 --log-tcp-sequence --log-tcp-options '
        "--log-ip-options --log-uid --log-macdecode",
    ),
    "notrack": (NotrackTarget(), False, "-j NOTRACK"),
    "ct": (CtTarget(True, "ftp", 1), False, "-j CT --notrack --helper ftp --zone 1"),
    "ct-bare": (CtTarget(), False, "-j CT"),
}


@pytest.mark.parametrize("case", list(TARGET_STRINGS), ids=list(TARGET_STRINGS))
def test_render_target(case: str) -> None:
    target, goto, expected = TARGET_STRINGS[case]
    assert render_target(target, goto) == expected


def test_render_rule_puts_parts_in_iptables_order() -> None:
    rule = Rule(
        source=Negatable(IPv4Network("10.244.0.0/16"), True),
        destination=Negatable(IPv4Network("10.96.0.1/32")),
        in_interface=Negatable("eth0+", True),
        out_interface=Negatable("cni0"),
        protocol=Negatable(6),
        is_fragment=False,
        matches=(CommentMatch("default/kubernetes:https cluster IP"), TcpMatch(dport=ports(443))),
        target=JumpTarget("KUBE-MARK-MASQ"),
        counters=Counters(3, 180),
    )
    assert render_rule("KUBE-SVC-NPX46M4PTMTKRN6Y", rule) == (
        "[3:180] -A KUBE-SVC-NPX46M4PTMTKRN6Y ! -s 10.244.0.0/16 -d 10.96.0.1/32 ! -i eth0+ "
        '-o cni0 -p tcp ! -f -m comment --comment "default/kubernetes:https cluster IP" '
        "-m tcp --dport 443 -j KUBE-MARK-MASQ"
    )
    assert render_rule("X", Rule(protocol=Negatable(253, True))) == "-A X ! -p 253"
    assert render_rule("X", Rule()) == "-A X"


def test_render_chain_lines_and_comments() -> None:
    assert render_chain_line(Chain("INPUT", "DROP", Counters(5, 6))) == ":INPUT DROP [5:6]"
    assert render_chain_line(Chain("KUBE-SERVICES")) == ":KUBE-SERVICES - [0:0]"
    ruleset = Ruleset((Table("raw", (Chain("OUTPUT", "ACCEPT", rules=(Rule(),)),)),))
    assert render_iptables_save(ruleset, comments=True, date="Mon Jan  1 00:00:00 2024") == (
        "# Generated by iptables-save v1.8.9 (nf_tables) on Mon Jan  1 00:00:00 2024\n"
        "*raw\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT\nCOMMIT\n"
        "# Completed on Mon Jan  1 00:00:00 2024\n"
    )
    assert render_iptables_save(Ruleset()) == ""


@pytest.mark.parametrize(
    ("avg", "text"),
    [
        (12000000, "3/hour"),
        (2000, "5/sec"),
        (1, "10000/sec"),
        (9836, "61/min"),
        (864000000, "1/day"),
    ],
)
def test_limit_rate(avg: int, text: str) -> None:
    assert limit_rate(avg) == text


def test_in_save_order() -> None:
    ruleset = Ruleset(
        (
            Table("nat", (Chain("lower"), Chain("ZZZ"), Chain("OUTPUT", "DROP"), Chain("AAA"))),
            Table("filter"),
            Table("security"),
            Table("mangle"),
        )
    )
    ordered = in_save_order(ruleset)
    assert [t.name for t in ordered.tables] == ["mangle", "security", "filter", "nat"]
    nat = ordered.tables[-1]
    assert [c.name for c in nat.chains] == [
        "PREROUTING",
        "INPUT",
        "OUTPUT",
        "POSTROUTING",
        "AAA",
        "ZZZ",
        "lower",
    ]
    assert nat.chains[0] == Chain("PREROUTING", "ACCEPT", Counters(0, 0))
    assert nat.chains[2] == Chain("OUTPUT", "DROP")


# --- the samples --------------------------------------------------------------------------


@pytest.mark.parametrize("sample", ["kube-node", "every-option"])
def test_samples_round_trip(sample: str) -> None:
    saved = read_sample(f"{sample}-save.txt")
    parsed = parse_iptables_save(saved, f"{sample}-save.txt")
    assert render_iptables_save(parsed, comments=True, date=saved_date(saved)) == saved
    restore = parse_iptables_save(read_sample(f"{sample}-restore.txt"))
    assert render_iptables_save(in_save_order(restore)) == without_comments(saved)


# --- the property: parse(render(r)) == r ---------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(rulesets())
def test_parse_of_render_is_identity(ruleset: Ruleset) -> None:
    assert parse_iptables_save(render_iptables_save(ruleset), "generated") == ruleset


def test_docs_examples_run() -> None:
    """The examples in docs/iptables.md."""
    docs = Path(__file__).resolve().parents[2] / "docs" / "iptables.md"
    failed, attempted = doctest.testfile(str(docs), module_relative=False, verbose=False)
    assert attempted > 0
    assert failed == 0
