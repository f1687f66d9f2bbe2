"""parse_iptables_save: the typed values it builds, both spellings, and every error."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from netsim.errors import RulesetError
from netsim.netfilter.parse import parse_iptables_save, split_words
from netsim.netfilter.render import in_save_order
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
    chain,
    has_chain,
    interface_matches,
    is_builtin_chain,
    iter_rules,
    rule_position,
    table,
)
from tests.netfilter.conftest import read_sample

SYN = TcpFlags(TcpFlag.FIN | TcpFlag.SYN | TcpFlag.RST | TcpFlag.ACK, TcpFlag.SYN)
KUBE_WEB_SVC = "KUBE-SVC-CDGGSHYLG3RE2FKL"


def n(text: str) -> IPv4Network:
    return IPv4Network(text)


def ports(first: int, last: int | None = None, negated: bool = False) -> Negatable[PortRange]:
    return Negatable(PortRange(first, first if last is None else last), negated)


def dump(*rules: str, table_name: str = "filter", chains: str = "A B") -> str:
    """A one-table dump with user chains ``chains`` and ``rules`` appended to A."""
    declared = "".join(f":{name} - [0:0]\n" for name in chains.split())
    appended = "".join(f"-A A {rule}\n" for rule in rules)
    return f"*{table_name}\n{declared}{appended}COMMIT\n"


def parse_rule(text: str, table_name: str = "filter") -> Rule:
    """The single rule ``-A A <text>`` parses to."""
    parsed = parse_iptables_save(dump(text, table_name=table_name), "t.txt")
    (rule,) = chain(parsed, table_name, "A").rules
    return rule


# --- the sample dumps ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def kube_node() -> Ruleset:
    return parse_iptables_save(read_sample("kube-node-save.txt"), "kube-node-save.txt")


def test_kube_node_tables_and_chains(kube_node: Ruleset) -> None:
    assert [t.name for t in kube_node.tables] == ["mangle", "filter", "nat"]
    filter_table = table(kube_node, "filter")
    assert [c.name for c in filter_table.chains[:4]] == [
        "INPUT",
        "FORWARD",
        "OUTPUT",
        "FLANNEL-FWD",
    ]
    assert chain(kube_node, "filter", "INPUT").policy == "ACCEPT"
    assert chain(kube_node, "filter", "INPUT").counters == Counters(0, 0)
    assert chain(kube_node, "nat", "KUBE-SERVICES").policy is None
    assert has_chain(table(kube_node, "nat"), "KUBE-SVL-VXBHRJBHABYZOW4Y")
    assert sum(1 for _ in iter_rules(kube_node)) == 127


def test_kube_node_typed_values(kube_node: Ruleset) -> None:
    masq = chain(kube_node, "nat", "KUBE-MARK-MASQ").rules[0]
    assert masq.target == MarkTarget(0x4000, 0x4000)
    post = chain(kube_node, "nat", "KUBE-POSTROUTING").rules
    assert post[0].matches == (MarkMatch(0x4000, 0x4000, negated=True),)
    assert post[0].target == ReturnTarget()
    assert post[1].target == MarkTarget(0x4000, 0)
    assert post[2].target == MasqueradeTarget(random_fully=True)

    svc = chain(kube_node, "nat", KUBE_WEB_SVC)
    assert svc.rules[0] == Rule(
        source=Negatable(n("10.244.0.0/16"), negated=True),
        destination=Negatable(n("10.96.100.10/32")),
        protocol=Negatable(6),
        matches=(
            CommentMatch("default/web:http cluster IP"),
            TcpMatch(dport=ports(80)),
        ),
        target=JumpTarget("KUBE-MARK-MASQ"),
    )
    first_pick = svc.rules[1].matches[1]
    assert isinstance(first_pick, StatisticMatch)
    assert first_pick.probability_text == "0.33333333349"
    assert first_pick.probability == 0.33333333349
    assert first_pick.probability_threshold == 715827883
    assert svc.rules[3].matches == (CommentMatch("default/web:http -> 10.244.3.7:8080"),)
    assert rule_position(svc, 1) == f"chain {KUBE_WEB_SVC} rule 2 of 4"
    assert svc.rules[1].line is not None
    assert (
        read_sample("kube-node-save.txt")
        .splitlines()[svc.rules[1].line - 1]
        .startswith(f"-A {KUBE_WEB_SVC} -m comment")
    )


def test_kube_node_affinity_firewall_and_reject(kube_node: Ruleset) -> None:
    sticky = chain(kube_node, "nat", "KUBE-SVC-T2ECBIYT2WDZZK45").rules[1]
    (_, recent) = sticky.matches
    assert recent == RecentMatch(
        "rcheck", name="KUBE-SEP-54SKTE2ZXBY5MB2C", seconds=10800, reap=True
    )
    assert recent.mask == IPv4Address("255.255.255.255") and recent.side == "source"
    sep = chain(kube_node, "nat", "KUBE-SEP-54SKTE2ZXBY5MB2C").rules[1]
    assert sep.matches[1] == RecentMatch("set", name="KUBE-SEP-54SKTE2ZXBY5MB2C")
    assert sep.target == DnatTarget(NatRange(IPv4Address("10.244.1.12"), first_port=8080))
    firewall = chain(kube_node, "nat", "KUBE-FW-JSLCNGWSGB5JPS5Q").rules
    assert firewall[0].source == Negatable(n("198.51.100.0/24"))
    assert firewall[-1].target is None
    assert firewall[-1].comment == (
        "other traffic to default/lb:http will be dropped by KUBE-PROXY-FIREWALL"
    )
    reject = chain(kube_node, "filter", "KUBE-SERVICES").rules[0]
    assert reject.target == RejectTarget("icmp-port-unreachable")
    forward = chain(kube_node, "filter", "KUBE-FORWARD").rules[0]
    assert forward.matches == (
        ConntrackMatch(ctstate=Negatable(("INVALID",))),
        NfacctMatch("ct_state_invalid_dropped_pkts"),
    )
    local = chain(kube_node, "nat", "KUBE-EXT-VXBHRJBHABYZOW4Y").rules[1]
    assert local.matches[1] == AddrtypeMatch(src_type=Negatable(("LOCAL",)))


def kernel_values(rule: Rule) -> Rule:
    """The rule with probabilities spelled as iptables-save prints them."""
    matches: list[Match] = []
    for match in rule.matches:
        if isinstance(match, StatisticMatch) and match.mode == "random":
            text = f"{match.kernel_probability:.11f}"
            match = replace(match, probability=float(text), probability_text=text)
        matches.append(match)
    return replace(rule, matches=tuple(matches))


@pytest.mark.parametrize("sample", ["kube-node", "every-option"])
def test_restore_spelling_means_what_iptables_save_prints(sample: str) -> None:
    restore = in_save_order(parse_iptables_save(read_sample(f"{sample}-restore.txt")))
    saved = parse_iptables_save(read_sample(f"{sample}-save.txt"))
    assert [t.name for t in restore.tables] == [t.name for t in saved.tables]
    for ours, theirs in zip(restore.tables, saved.tables, strict=True):
        assert [c.name for c in ours.chains] == [c.name for c in theirs.chains]
        for our_chain, their_chain in zip(ours.chains, theirs.chains, strict=True):
            assert [kernel_values(r) for r in our_chain.rules] == list(their_chain.rules)


# --- one rule at a time ------------------------------------------------------------------

MATCH_CASES: dict[str, tuple[str, tuple[Match, ...]]] = {
    "tcp-dport": ("-p tcp -m tcp --dport 80", (TcpMatch(dport=ports(80)),)),
    "tcp-implicit": ("-p tcp --dport 80", (TcpMatch(dport=ports(80)),)),
    "tcp-implicit-after-comment": (
        "-p tcp -m comment --comment x --dport 80",
        (CommentMatch("x"), TcpMatch(dport=ports(80))),
    ),
    "tcp-ranges": (
        "-p tcp -m tcp --sport 1024: --dport :1023",
        (TcpMatch(sport=ports(1024, 65535), dport=ports(0, 1023)),),
    ),
    "tcp-any-port-is-no-test": ("-p tcp -m tcp --dport 0:65535", (TcpMatch(),)),
    "tcp-negated-low-range": (
        "-p tcp -m tcp ! --dport 0:1023",
        (TcpMatch(dport=ports(1024, 65535)),),
    ),
    "tcp-negated-port-0": ("-p tcp -m tcp ! --dport 0", (TcpMatch(dport=ports(0, 0, True)),)),
    "tcp-syn": ("-p tcp -m tcp --syn", (TcpMatch(tcp_flags=Negatable(SYN)),)),
    "tcp-not-syn": ("-p tcp -m tcp ! --syn", (TcpMatch(tcp_flags=Negatable(SYN, True)),)),
    "tcp-flags": (
        "-p tcp -m tcp --tcp-flags ALL ACK,fin --tcp-option 2",
        (
            TcpMatch(
                tcp_flags=Negatable(TcpFlags(TcpFlag(0x3F), TcpFlag.ACK | TcpFlag.FIN)),
                tcp_option=Negatable(2),
            ),
        ),
    ),
    "udp": (
        "-p udp -m udp --sport 53 ! --dport 1:2",
        (UdpMatch(sport=ports(53), dport=ports(1, 2, True)),),
    ),
    "udp-aliases": (
        "-p udp -m udp --source-port 1 --destination-port 2",
        (UdpMatch(sport=ports(1), dport=ports(2)),),
    ),
    "sctp-keeps-full-range": (
        "-p sctp -m sctp --dport 0:65535",
        (SctpMatch(dport=ports(0, 65535)),),
    ),
    "comment-quoted": ('-m comment --comment "a b"', (CommentMatch("a b"),)),
    "comment-escaped": (
        r'-m comment --comment "say \"hi\" \\o/"',
        (CommentMatch('say "hi" \\o/'),),
    ),
    "comment-empty": ('-m comment --comment ""', (CommentMatch(""),)),
    "mark": ("-m mark ! --mark 0x4000/0x4000", (MarkMatch(0x4000, 0x4000, True),)),
    "mark-no-mask": ("-m mark --mark 5", (MarkMatch(5),)),
    "mark-octal-and-decimal": ("-m mark --mark 010/16", (MarkMatch(8, 16),)),
    "connmark": ("-m connmark --mark 0x1/0xf", (ConnmarkMatch(1, 0xF),)),
    "addrtype": (
        "-m addrtype --src-type local,UNICAST ! --dst-type BROADCAST --limit-iface-in",
        (
            AddrtypeMatch(
                src_type=Negatable(("UNICAST", "LOCAL")),
                dst_type=Negatable(("BROADCAST",), True),
                limit_iface_in=True,
            ),
        ),
    ),
    "conntrack-states-in-kernel-order": (
        "-m conntrack ! --ctstate DNAT,ESTABLISHED,RELATED",
        (ConntrackMatch(ctstate=Negatable(("RELATED", "ESTABLISHED", "DNAT"), True)),),
    ),
    "conntrack-tuple": (
        "-m conntrack --ctproto tcp --ctorigdst 10.0.0.1 ! --ctrepldst 5.6.7.8/16 "
        "--ctorigdstport 80 --ctstatus NONE --ctexpire 5:9 --ctdir reply",
        (
            ConntrackMatch(
                ctproto=Negatable(6),
                ctorigdst=Negatable(IPv4Interface("10.0.0.1/32")),
                ctrepldst=Negatable(IPv4Interface("5.6.7.8/16"), True),
                ctorigdstport=ports(80),
                ctstatus=Negatable(()),
                ctexpire=Negatable((5, 9)),
                ctdir="REPLY",
            ),
        ),
    ),
    "state": ("-m state --state ESTABLISHED,NEW", (StateMatch(("NEW", "ESTABLISHED")),)),
    "statistic-random": (
        "-m statistic --mode random --probability 0.3333333333",
        (StatisticMatch("random", 0.3333333333, "0.3333333333"),),
    ),
    "statistic-nth": (
        "-m statistic --mode nth ! --every 3 --packet 1",
        (StatisticMatch("nth", every=3, packet=1, negated=True),),
    ),
    "recent-defaults": ("-m recent --set", (RecentMatch("set"),)),
    "recent-full": (
        "-m recent ! --update --seconds 60 --reap --hitcount 3 --rttl --name x "
        "--mask 255.255.0.0 --rdest",
        (
            RecentMatch(
                "update",
                name="x",
                seconds=60,
                reap=True,
                hitcount=3,
                rttl=True,
                mask=IPv4Address("255.255.0.0"),
                side="dest",
                negated=True,
            ),
        ),
    ),
    "multiport": (
        "-p tcp -m multiport ! --dports 80,443,8000:8080",
        (
            MultiportMatch(
                "dports", (PortRange(80, 80), PortRange(443, 443), PortRange(8000, 8080)), True
            ),
        ),
    ),
    "physdev": (
        "-m physdev --physdev-in eth0 ! --physdev-out veth+ ! --physdev-is-bridged",
        (
            PhysdevMatch(
                physdev_in=Negatable("eth0"),
                physdev_out=Negatable("veth+", True),
                physdev_is_bridged=False,
            ),
        ),
    ),
    "set": ("-m set ! --match-set kube dst,src", (SetMatch("kube", ("dst", "src"), True),)),
    "nfacct": ("-m nfacct --nfacct-name counter", (NfacctMatch("counter"),)),
    "icmp-name": ("-p icmp -m icmp --icmp-type echo-request", (IcmpMatch(8),)),
    "icmp-name-with-code": (
        "-p icmp -m icmp ! --icmp-type port-unreachable",
        (IcmpMatch(3, 3, True),),
    ),
    "icmp-any": ("-p icmp -m icmp --icmp-type any", (IcmpMatch(None),)),
    "icmp-255-is-any": ("-p icmp -m icmp --icmp-type 255", (IcmpMatch(None),)),
    "limit-default": ("-m limit", (LimitMatch(),)),
    "limit": ("-m limit --limit 5/sec --limit-burst 10", (LimitMatch(2000, 10),)),
    "pkttype-alias": ("-m pkttype ! --pkt-type host", (PkttypeMatch("unicast", True),)),
    "socket": ("-m socket --transparent --restore-skmark", (SocketMatch(True, False, True),)),
    "owner": (
        "-m owner --uid-owner 0 ! --gid-owner 5-10 ! --socket-exists --suppl-groups",
        (
            OwnerMatch(
                uid_owner=Negatable((0, 0)),
                gid_owner=Negatable((5, 10), True),
                socket_exists=False,
                suppl_groups=True,
            ),
        ),
    ),
    "mac": ("-m mac ! --mac-source AA:bb:CC:dd:EE:0f", (MacMatch("aa:bb:cc:dd:ee:0f", True),)),
    "two-comments": (
        "-m comment --comment a -m comment --comment b",
        (CommentMatch("a"), CommentMatch("b")),
    ),
}


@pytest.mark.parametrize("case", list(MATCH_CASES), ids=list(MATCH_CASES))
def test_match_options(case: str) -> None:
    text, expected = MATCH_CASES[case]
    assert parse_rule(text).matches == expected


TARGET_CASES: dict[str, tuple[str, str, Target]] = {
    "accept": ("filter", "-j ACCEPT", AcceptTarget()),
    "drop": ("filter", "-j DROP", DropTarget()),
    "return": ("filter", "-j RETURN", ReturnTarget()),
    "jump": ("filter", "-j B", JumpTarget("B")),
    "reject-default": ("filter", "-j REJECT", RejectTarget("icmp-port-unreachable")),
    "reject-alias": (
        "filter",
        "-j REJECT --reject-with host-prohib",
        RejectTarget("icmp-host-prohibited"),
    ),
    "reject-tcp-reset": (
        "filter",
        "-p tcp -j REJECT --reject-with tcp-reset",
        RejectTarget("tcp-reset"),
    ),
    "mark-set": ("mangle", "-j MARK --set-mark 0x1", MarkTarget(1, 0xFFFFFFFF)),
    "mark-set-masked": ("mangle", "-j MARK --set-mark 0x1/0xf0", MarkTarget(1, 0xF1)),
    "mark-set-xmark": ("mangle", "-j MARK --set-xmark 0x4/0x6", MarkTarget(4, 6)),
    "mark-or": ("nat", "-j MARK --or-mark 0x00004000", MarkTarget(0x4000, 0x4000)),
    "mark-xor": ("nat", "-j MARK --xor-mark 0x4000", MarkTarget(0x4000, 0)),
    "mark-and": ("mangle", "-j MARK --and-mark 0xff", MarkTarget(0, 0xFFFFFF00)),
    "connmark-set": ("mangle", "-j CONNMARK --set-mark 0x1", ConnmarkTarget("set", 1, 0xFFFFFFFF)),
    "connmark-save": (
        "mangle",
        "-j CONNMARK --save-mark --nfmask 0xff --ctmask 0xf",
        ConnmarkTarget("save", ctmask=0xF, nfmask=0xFF),
    ),
    "connmark-restore-mask": (
        "mangle",
        "-j CONNMARK --restore-mark --mask 0xff",
        ConnmarkTarget("restore", ctmask=0xFF, nfmask=0xFF),
    ),
    "dnat": (
        "nat",
        "-p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.5:80-90 --random --persistent",
        DnatTarget(
            NatRange(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.5"), 80, 90),
            random=True,
            persistent=True,
        ),
    ),
    "dnat-port-only": (
        "nat",
        "-p udp -j DNAT --to-destination :53",
        DnatTarget(NatRange(first_port=53)),
    ),
    "dnat-same-range-ends": (
        "nat",
        "-p tcp -j DNAT --to-destination 10.0.0.2-10.0.0.2:80-80",
        DnatTarget(NatRange(IPv4Address("10.0.0.2"), first_port=80)),
    ),
    "snat": (
        "nat",
        "-j SNAT --to-source 1.2.3.4 --random-fully",
        SnatTarget(NatRange(IPv4Address("1.2.3.4")), random_fully=True),
    ),
    "masquerade": (
        "nat",
        "-p tcp -j MASQUERADE --to-ports 1000-2000 --random",
        MasqueradeTarget(PortRange(1000, 2000), random=True),
    ),
    "redirect": (
        "nat",
        "-p tcp -j REDIRECT --to-ports 8080",
        RedirectTarget(PortRange(8080, 8080)),
    ),
    "log": (
        "filter",
        '-j LOG --log-prefix "drop: " --log-level info --log-uid',
        LogTarget(prefix="drop: ", level=6, uid=True),
    ),
    "notrack": ("raw", "-j NOTRACK", NotrackTarget()),
    "ct": ("raw", "-j CT --notrack --zone 3", CtTarget(notrack=True, zone=3)),
}


@pytest.mark.parametrize("case", list(TARGET_CASES), ids=list(TARGET_CASES))
def test_target_options(case: str) -> None:
    table_name, text, expected = TARGET_CASES[case]
    assert parse_rule(text, table_name).target == expected


def test_goto_and_no_target() -> None:
    rule = parse_rule("-g B")
    assert (rule.target, rule.goto) == (JumpTarget("B"), True)
    assert parse_rule("-m comment --comment x").target is None


def test_builtin_options() -> None:
    rule = parse_rule("! -s 10.1.2.3/8 -d 10.0.0.1 ! -i eth0+ -o cni0 ! -p udp -f -j ACCEPT")
    assert rule.source == Negatable(n("10.0.0.0/8"), True)
    assert rule.destination == Negatable(n("10.0.0.1/32"))
    assert rule.in_interface == Negatable("eth0+", True)
    assert interface_matches(rule.in_interface.value, "eth0.100")
    assert rule.out_interface == Negatable("cni0")
    assert rule.protocol == Negatable(17, True)
    assert rule.is_fragment is True
    assert parse_rule("! -f").is_fragment is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-s 0/0", Rule()),
        ("-s 0.0.0.0/0 -d 10.1 -p all -o +", Rule(destination=Negatable(n("10.1.0.0/32")))),
        ("-p 6", Rule(protocol=Negatable(6))),
        ("-p TCP", Rule(protocol=Negatable(6))),
        ("-p gre", Rule(protocol=Negatable(47))),
        ("-p icmpv6", Rule(protocol=Negatable(58))),
        ("-d 10.0.0.0/255.255.0.0", Rule(destination=Negatable(n("10.0.0.0/16")))),
        ("-s 0x0a.0.0.012", Rule(source=Negatable(n("10.0.0.10/32")))),
    ],
    ids=["any", "defaults", "number", "upper", "gre", "icmpv6", "dotted-mask", "c-numbers"],
)
def test_address_and_protocol_spellings(text: str, expected: Rule) -> None:
    assert parse_rule(text) == expected


@pytest.mark.parametrize(
    ("restore", "saved"),
    [
        (
            "-m comment --comment x -m tcp -p tcp -d 10.0.0.1 --dport 80 -j ACCEPT",
            "-d 10.0.0.1/32 -p tcp -m comment --comment x -m tcp --dport 80 -j ACCEPT",
        ),
        ("-s ! 10.0.0.0/8 -j ACCEPT", "! -s 10.0.0.0/8 -j ACCEPT"),
        ("-p tcp -m tcp --dport ! 80", "-p tcp -m tcp ! --dport 80"),
        ("-p tcp -m tcp --dport=80", "-p tcp -m tcp --dport 80"),
        (
            "--source 1.2.3.4 --protocol tcp --match tcp --dport 1 --jump DROP",
            "-s 1.2.3.4/32 -p tcp -m tcp --dport 1 -j DROP",
        ),
        (
            "-m tcp -m comment --comment x --dport 80 -p tcp",
            "-p tcp -m tcp --dport 80 -m comment --comment x",
        ),
        ("-m comment --comment 'a'", "-m comment --comment \"'a'\""),
    ],
    ids=[
        "kube-proxy-order",
        "old-address-negation",
        "old-option-negation",
        "equals",
        "long-names",
        "option-after-module",
        "single-quotes-are-literal",
    ],
)
def test_spellings_of_one_rule(restore: str, saved: str) -> None:
    assert parse_rule(restore) == parse_rule(saved)


def test_several_addresses_expand_to_one_rule_each() -> None:
    parsed = parse_iptables_save(dump("-s 10.1.1.1,10.2.2.2 -d 1.1.1.1,2.2.2.2 -j B"))
    rules = chain(parsed, "filter", "A").rules
    assert [
        (str(r.source and r.source.value), str(r.destination and r.destination.value))
        for r in rules
    ] == [
        ("10.1.1.1/32", "1.1.1.1/32"),
        ("10.1.1.1/32", "2.2.2.2/32"),
        ("10.2.2.2/32", "1.1.1.1/32"),
        ("10.2.2.2/32", "2.2.2.2/32"),
    ]
    assert {r.line for r in rules} == {4}


def test_counters_on_rules_and_chains() -> None:
    parsed = parse_iptables_save(
        "*filter\n:INPUT DROP [5:600]\n:A -\n[3:180] -A INPUT -j ACCEPT\n-A INPUT -c 9 540 -j A\nCOMMIT\n"
    )
    chains = table(parsed, "filter").chains
    assert chains[0] == Chain(
        "INPUT",
        "DROP",
        Counters(5, 600),
        (
            Rule(target=AcceptTarget(), counters=Counters(3, 180)),
            Rule(target=JumpTarget("A"), counters=Counters(9, 540)),
        ),
    )
    assert chains[1] == Chain("A")


def test_delete_chain_is_applied_and_redeclaring_flushes() -> None:
    parsed = parse_iptables_save(
        "# kube-proxy style payload\n*nat\n:A - [0:0]\n:STALE - [0:0]\n-A A -j RETURN\n"
        ":A - [0:0]\n-A A -j ACCEPT\n-N NEW\n-X STALE\nCOMMIT\n"
    )
    assert [c.name for c in table(parsed, "nat").chains] == ["A", "NEW"]
    assert chain(parsed, "nat", "A").rules == (Rule(target=AcceptTarget()),)


def test_a_flushed_rule_is_not_checked() -> None:
    parsed = parse_iptables_save(
        "*nat\n:POSTROUTING ACCEPT [0:0]\n:A - [0:0]\n-A A -j DNAT --to-destination 10.0.0.1\n"
        ":A - [0:0]\n-A A -j ACCEPT\n-A POSTROUTING -j A\nCOMMIT\n"
    )
    assert chain(parsed, "nat", "A").rules == (Rule(target=AcceptTarget()),)


def test_a_flushed_jump_no_longer_holds_its_chain() -> None:
    parse_iptables_save("*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n:A - [0:0]\n-X B\nCOMMIT\n")


def test_split_words_follows_iptables_restore() -> None:
    assert split_words('-A X --comment "a b" -j Y') == ["-A", "X", "--comment", "a b", "-j", "Y"]
    assert split_words(r'--comment "a \"b\" \\ c"') == ["--comment", 'a "b" \\ c']
    assert split_words('--comment x"y z"w') == ["--comment", "xy z", "w"]
    assert split_words('--comment ""') == ["--comment", ""]
    assert split_words(r"--comment a\b") == ["--comment", r"a\b"]
    assert split_words('--comment "open') is None


# --- helpers of the model -----------------------------------------------------------------


def test_model_lookups() -> None:
    parsed = parse_iptables_save(dump("-j B"))
    with pytest.raises(KeyError, match="no table 'nat'"):
        table(parsed, "nat")
    with pytest.raises(KeyError, match="table filter has no chain 'C'"):
        chain(parsed, "filter", "C")
    assert is_builtin_chain("raw", "OUTPUT") and not is_builtin_chain("raw", "INPUT")
    assert [(t.name, c.name, i) for t, c, i, _ in iter_rules(parsed)] == [("filter", "A", 0)]
    assert Table("x", (Chain("A"), Chain("B"))) == Table("x", (Chain("A"), Chain("B")))
    assert Table("x", (Chain("A"), Chain("B"))) != Table("x", (Chain("B"), Chain("A")))
    assert hash(parse_rule("-j B")) == hash(Rule(target=JumpTarget("B")))


# --- errors: each names the file, the line and the option --------------------------------

ERRORS: dict[str, tuple[str, str]] = {
    "missing-commit": (
        "*filter\n:A - [0:0]\n-A A -j ACCEPT\n",
        r"t\.txt: line 1: table filter has no COMMIT",
    ),
    "rule-before-table": (
        ":A - [0:0]\n",
        r"line 1: chain declaration outside a table; start the table",
    ),
    "rule-outside-table": (
        "*filter\n:A - [0:0]\nCOMMIT\n-A A -j ACCEPT\n",
        r"line 4: rule outside a table",
    ),
    "rule-in-undeclared-chain": (
        "*filter\n:A - [0:0]\n-A Q -j ACCEPT\nCOMMIT\n",
        r"line 3: -A: chain Q is not declared in table filter; declare it first with :Q - \[0:0\]",
    ),
    "rule-in-undeclared-builtin-chain": (
        "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n",
        r"line 2: -A: chain INPUT is not declared .* :INPUT ACCEPT \[0:0\]",
    ),
    "unknown-module": (
        dump("-m string --string x"),
        r"line 4 \(table filter chain A rule 1\): -m: match module 'string' is not modelled",
    ),
    "unknown-option": (
        dump("-p sctp -m sctp --chunk-types any INIT"),
        r"line 4 \(table filter chain A rule 1\): --chunk-types: unknown option '--chunk-types' for sctp",
    ),
    "unknown-short-option": (dump("-I A"), r"line 4 .*: -I: unknown option '-I'"),
    "stray-value": (dump("-j ACCEPT extra"), r"line 4 .*: extra: unknown option 'extra' \(a value"),
    "bad-address": (dump("-s 10.0.0.300"), r"line 4 .*: -s: '10.0.0.300' is not an IPv4 address"),
    "host-name": (dump("-d node-1"), r"-d: 'node-1' is not an IPv4 address .*host names"),
    "bad-prefix": (dump("-d 10.0.0.0/33"), r"-d: '33' is not a prefix length"),
    "non-contiguous-mask": (
        dump("-d 10.0.0.0/255.0.255.0"),
        r"-d: non-contiguous mask 255.0.255.0 is not modelled",
    ),
    "negated-any-address": (dump("! -s 0/0"), r"line 4 .*: ! 0.0.0.0/0 matches no packet"),
    "bad-port": (
        dump("-p tcp -m tcp --dport http"),
        r"line 4 .*: --dport: 'http' is not a port number",
    ),
    "port-out-of-range": (
        dump("-p udp -m udp --sport 70000"),
        r"--sport: port 70000 is out of range",
    ),
    "port-range-reversed": (
        dump("-p tcp -m tcp --dport 90:80"),
        r"--dport: invalid port range '90:80'",
    ),
    "jump-to-missing-chain": (
        dump("-j NOPE"),
        r"line 4 \(table filter chain A rule 1\): -j: -j NOPE: no chain NOPE is declared",
    ),
    "goto-missing-chain": (dump("-g NOPE"), r"-g: -g NOPE: no chain NOPE is declared"),
    "jump-to-chain-declared-later": (
        "*filter\n:A - [0:0]\n-A A -j B\n:B - [0:0]\nCOMMIT\n",
        r"line 3 .*: -j: -j B: no chain B is declared \(above this rule\)",
    ),
    "jump-to-builtin": (
        "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n-A A -j INPUT\nCOMMIT\n",
        r"-j: -j INPUT: -j takes a user-defined chain",
    ),
    "goto-target": (dump("-g ACCEPT"), r"-g: -g ACCEPT: -g takes a user-defined chain"),
    "unknown-table": ("*broute\nCOMMIT\n", r"line 1: unknown table 'broute'"),
    "table-twice": ("*filter\nCOMMIT\n*filter\nCOMMIT\n", r"line 3: table filter appears twice"),
    "table-inside-table": ("*filter\n*nat\nCOMMIT\n", r"line 2: \*nat starts before table filter"),
    "bad-chain-line": ("*filter\n:A\nCOMMIT\n", r"line 2: bad chain line ':A'"),
    "bad-counters": ("*filter\n:A - [x:0]\nCOMMIT\n", r"line 2: bad counters '\[x:0\]'"),
    "user-chain-policy": ("*filter\n:A ACCEPT [0:0]\nCOMMIT\n", r"user chain A has no policy"),
    "builtin-chain-without-policy": (
        "*filter\n:INPUT - [0:0]\nCOMMIT\n",
        r"built-in chain INPUT needs policy",
    ),
    "chain-name-too-long": (
        "*filter\n:" + "A" * 29 + " - [0:0]\nCOMMIT\n",
        r"is longer than 28 characters",
    ),
    "chain-named-like-a-target": (
        "*filter\n:DNAT - [0:0]\nCOMMIT\n",
        r"chain name 'DNAT' is the name of a target",
    ),
    "option-twice": (dump("-s 1.1.1.1 -s 2.2.2.2"), r"-s: option -s given twice"),
    "option-goes-to-the-type-loaded-first-most-recently": (
        dump("-m mark --mark 1 -m connmark --mark 2 -m mark --mark 3"),
        r'--mark: connmark: option "--mark" can only be used once',
    ),
    "module-option-twice": (
        dump("-m mark --mark 1 --mark 2"),
        r'--mark: mark: option "--mark" can only be used once',
    ),
    "not-invertible": (
        dump("-m comment ! --comment x"),
        r'--comment: comment: option "--comment" cannot be inverted',
    ),
    "dangling-bang": (dump("-j ACCEPT !"), r"'!' at the end of the rule negates nothing"),
    "negated-module": (dump("! -m mark --mark 1"), r"-m: '!' cannot negate -m"),
    "open-quote": (dump('-m comment --comment "x'), r"line 4: a double quote is not closed"),
    "missing-value": (dump("-m comment --comment"), r"--comment: option --comment needs 1 value"),
    "two-targets": (dump("-j ACCEPT -j DROP"), r"-j: option -j given twice"),
    "jump-and-goto": (dump("-j ACCEPT -g B"), r"-g: a rule has one -j or -g"),
    "unsupported-command": (
        "*filter\n:A - [0:0]\n-D A 1\nCOMMIT\n",
        r"-D: unsupported command '-D'",
    ),
    "delete-builtin": (
        "*filter\n:INPUT ACCEPT [0:0]\n-X INPUT\nCOMMIT\n",
        r"-X: cannot delete built-in chain INPUT",
    ),
    "delete-busy": (
        "*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-X B\nCOMMIT\n",
        r"line 5: -X: chain B is still the target of 1 rule",
    ),
    "delete-non-empty": (
        "*filter\n:B - [0:0]\n-A B -j ACCEPT\n-X B\nCOMMIT\n",
        r"-X: chain B still has 1 rules; flush it first",
    ),
    "jump-loop": (
        "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -j B\n-A B -g A\nCOMMIT\n",
        r"line 7: jump loop in table filter: A -> B -> A",
    ),
    "dnat-outside-nat": (
        dump("-j DNAT --to-destination 1.2.3.4"),
        r"-j: target DNAT only works in the nat table",
    ),
    "drop-in-nat": (
        dump("-j DROP", table_name="nat"),
        r'-j: the "nat" table is not intended for filtering',
    ),
    "reject-outside-filter": (
        dump("-j REJECT", table_name="mangle"),
        r"target REJECT only works in the filter table",
    ),
    "ct-outside-raw": (dump("-j CT --notrack"), r"target CT only works in the raw table"),
    "dnat-in-postrouting": (
        "*nat\n:POSTROUTING ACCEPT [0:0]\n:A - [0:0]\n-A A -j DNAT --to-destination 10.0.0.1\n-A POSTROUTING -j A\nCOMMIT\n",
        r"line 4 \(table nat chain A rule 1\): -j DNAT only works in OUTPUT, PREROUTING, but chain A is reached from POSTROUTING",
    ),
    "owner-in-input": (
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m owner --uid-owner 0\nCOMMIT\n",
        r"-m owner only works in OUTPUT, POSTROUTING, but chain INPUT is reached from INPUT",
    ),
    "physdev-out-in-output": (
        "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m physdev --physdev-out veth0\nCOMMIT\n",
        r"-m physdev --physdev-out only works in FORWARD, INPUT, POSTROUTING, PREROUTING",
    ),
    "tcp-without-p-tcp": (dump("-m tcp --dport 80"), r"-p: TCP match requires '-p tcp'"),
    "icmp-with-p-udp": (dump("-p udp -m icmp --icmp-type 8"), r"-p: ICMP match requires '-p icmp'"),
    "multiport-without-protocol": (dump("-m multiport --dports 1"), r"-p: multiport needs -p tcp"),
    "nat-port-without-protocol": (
        dump("-j DNAT --to-destination 1.2.3.4:80", table_name="nat"),
        r"-p: Need TCP, UDP, SCTP or DCCP",
    ),
    "tcp-reset-without-tcp": (
        dump("-j REJECT --reject-with tcp-reset"),
        r"--reject-with: --reject-with tcp-reset needs -p tcp",
    ),
    "probability": (
        dump("-m statistic --mode random --probability 1.5"),
        r"--probability: '1.5' is not a probability",
    ),
    "nth-packet": (
        dump("-m statistic --mode nth --every 2 --packet 2"),
        r"--packet: --packet 2 must be below --every 2",
    ),
    "recent-two-commands": (
        dump("-m recent --set --rcheck"),
        r"--rcheck: --set cannot be used together with --rcheck",
    ),
    "recent-reap": (
        dump("-m recent --rcheck --reap"),
        r'--reap: recent: option "--reap" also requires "--seconds"',
    ),
    "multiport-too-many": (
        dump("-p tcp -m multiport --dports 1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16"),
        r"--dports: too many ports",
    ),
    "limit-too-fast": (dump("-m limit --limit 10001/sec"), r"--limit: rate too fast '10001/sec'"),
    "limit-unit": (dump("-m limit --limit 3/week"), r"--limit: bad rate '3/week'"),
    "bad-state": (dump("-m state --state SNAT"), r"--state: unknown state SNAT"),
    "bad-addrtype": (dump("-m addrtype --dst-type HOME"), r"--dst-type: unknown address type HOME"),
    "log-prefix": (
        dump("-j LOG --log-prefix 123456789012345678901234567890"),
        r"--log-prefix: log prefix is longer than 29",
    ),
    "log-level": (dump("-j LOG --log-level warn"), r"--log-level: log level 'warn' unknown"),
    "mark-modes": (
        dump("-j MARK --or-mark 1 --and-mark 2", table_name="mangle"),
        r"--and-mark: MARK: --or-mark cannot be used together with --and-mark",
    ),
    "owner-name": (
        "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m owner --uid-owner root\nCOMMIT\n",
        r"--uid-owner: 'root' is not a numeric id",
    ),
    "mac": (dump("-m mac --mac-source 00:11:22"), r"--mac-source: '00:11:22' is not a MAC address"),
    "icmp-type": (
        dump("-p icmp -m icmp --icmp-type pong-please"),
        r"--icmp-type: unknown icmp type 'pong-please'",
    ),
    "reject-with": (
        dump("-j REJECT --reject-with icmp-bogus"),
        r"--reject-with: unknown reject type 'icmp-bogus'",
    ),
    "interface-name": (
        dump("-i averyveryverylongname"),
        r"-i: 'averyveryverylongname' is not an interface name",
    ),
    "out-interface-in-input": (
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -o eth0\nCOMMIT\n",
        r"line 3 \(table filter chain INPUT rule 1\): -o: Can't use -o with INPUT",
    ),
    "in-interface-in-postrouting": (
        "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING ! -i eth0\nCOMMIT\n",
        r"-i: Can't use -i with POSTROUTING",
    ),
    "negated-all-protocols": (dump("! -p all"), r"-p: ! -p all matches no packet"),
    "unknown-protocol": (dump("-p bogus"), r"-p: unknown protocol 'bogus'"),
}


@pytest.mark.parametrize("case", list(ERRORS), ids=list(ERRORS))
def test_errors_name_the_line_and_the_option(case: str) -> None:
    text, message = ERRORS[case]
    with pytest.raises(RulesetError, match=message) as caught:
        parse_iptables_save(text, "t.txt")
    assert caught.value.source == "t.txt"
    assert caught.value.obj is not None and caught.value.obj.startswith("line ")


def test_a_loop_no_builtin_chain_reaches_is_kept() -> None:
    parsed = parse_iptables_save("*filter\n:A - [0:0]\n-A A -j A\nCOMMIT\n")
    assert chain(parsed, "filter", "A").rules == (Rule(target=JumpTarget("A")),)


def test_a_large_generated_dump_parses() -> None:
    """Shape only; the speed is measured by hand (see docs/iptables.md), not here."""
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":KUBE-SERVICES - [0:0]"]
    lines += [f":KUBE-SVC-{i:016d} - [0:0]" for i in range(500)]
    lines.append('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES')
    for i in range(500):
        lines.append(
            f"-A KUBE-SERVICES -d 10.96.{i // 256}.{i % 256}/32 -p tcp -m comment "
            f'--comment "ns/svc{i}:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-{i:016d}'
        )
        lines.append(f"-A KUBE-SVC-{i:016d} -j RETURN")
    parsed = parse_iptables_save("\n".join([*lines, "COMMIT", ""]))
    services = chain(parsed, "nat", "KUBE-SERVICES").rules
    assert len(services) == 500
    assert services[0].matches[0] is services[0].matches[0]
    assert services[1].protocol is services[2].protocol  # shared, not copied
