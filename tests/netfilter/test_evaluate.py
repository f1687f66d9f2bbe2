"""Evaluating rules: every match, every target, chain semantics, hook order, NAT, the index."""

from __future__ import annotations

import doctest
import random
import typing
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.errors import UnsupportedError
from netsim.netfilter import evaluate
from netsim.netfilter.compiled import candidates, first_match_index
from netsim.netfilter.conntrack import ConntrackStatus, ConntrackTable
from netsim.netfilter.evaluate import (
    HOOK_STEPS,
    CompiledRuleset,
    HookContext,
    HookOutcome,
    RecentState,
    compile_ruleset,
    evaluate_hook,
)
from netsim.netfilter.matching import MATCHERS
from netsim.netfilter.packet import ICMP, SCTP, TCP, UDP, Packet
from netsim.netfilter.parse import parse_iptables_save
from netsim.netfilter.recent import last_seen
from netsim.netfilter.ruleset import (
    BUILTIN_CHAINS,
    AddrtypeMatch,
    Chain,
    Match,
    Negatable,
    PortRange,
    RecentMatch,
    Rule,
    Ruleset,
    StatisticMatch,
    Table,
    TcpFlag,
    TcpMatch,
)
from tests.conftest import REPO

A = IPv4Address
NODE = A("192.168.56.11")
BROADCAST = A("192.168.56.255")
LOCAL = frozenset({NODE, A("127.0.0.1"), A("10.244.1.1")})


def compiled(table: str, rules: str, chains: str = "", policy: str = "ACCEPT") -> CompiledRuleset:
    """A one-table ruleset: built-in chains with ``policy``, user ``chains``, ``rules``."""
    head = "".join(f":{c} {policy} [0:0]\n" for c in BUILTIN_CHAINS[table])
    users = "".join(f":{c} - [0:0]\n" for c in chains.split())
    text = f"*{table}\n{head}{users}{rules.strip()}\nCOMMIT\n"
    return compile_ruleset(parse_iptables_save(text, "test"))


def context(hook: str = "FORWARD", **changes: object) -> HookContext:
    in_if = None if hook in ("OUTPUT", "POSTROUTING") else "eth0"
    out_if = None if hook in ("PREROUTING", "INPUT") else "eth1"
    values: dict[str, object] = {
        "hook": hook,
        "in_interface": in_if,
        "out_interface": out_if,
        "local_addresses": LOCAL,
        "broadcast_addresses": frozenset({BROADCAST}),
        "masquerade_source": NODE,
        "redirect_address": A("10.244.1.1"),
    }
    values.update(changes)
    return HookContext(**values)  # type: ignore[arg-type]


def packet(**changes: object) -> Packet:
    values: dict[str, object] = {"src": A("10.0.1.2"), "dst": A("10.244.2.7")}
    values.update(sport=40000, dport=80)
    values.update(changes)
    return Packet(**values)  # type: ignore[arg-type]


def run(
    rules: CompiledRuleset,
    p: Packet | None = None,
    ctx: HookContext | None = None,
    conntrack: ConntrackTable | None = None,
    recent: RecentState | None = None,
    rng: random.Random | None = None,
) -> tuple[HookOutcome, ...]:
    return evaluate_hook(
        rules,
        p or packet(),
        ctx or context(),
        conntrack or ConntrackTable(),
        recent or RecentState(),
        rng=rng,
    )


def one(outcomes: tuple[HookOutcome, ...]) -> HookOutcome:
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


def accepts(rule: str, p: Packet | None = None, ctx: HookContext | None = None) -> bool:
    """Whether ``-A <chain> <rule> -j ACCEPT`` matches, in a chain whose policy is DROP."""
    hook = (ctx or context()).hook
    rules = compiled("filter", f"-A {hook} {rule} -j ACCEPT", policy="DROP")
    return one(run(rules, p, ctx)).verdict == "ACCEPT"


# --- built-in tests -------------------------------------------------------------------

BUILTIN_CASES = {
    "source-in": ("-s 10.0.0.0/8", {}, True),
    "source-negated": ("! -s 10.0.0.0/8", {}, False),
    "source-mask": ("-s 10.0.1.0/30", {"src": A("10.0.1.4")}, False),
    "destination-in": ("-d 10.244.2.7/32", {}, True),
    "destination-negated": ("! -d 10.244.0.0/16", {}, False),
    "protocol": ("-p udp", {}, False),
    "protocol-negated": ("! -p udp", {}, True),
    "protocol-all": ("-p all", {"protocol": ICMP}, True),
    "not-fragment": ("-f", {}, False),
    "fragment": ("-f", {"is_fragment": True}, True),
    "fragment-negated": ("! -f", {"is_fragment": True}, False),
}


@pytest.mark.parametrize(("rule", "changes", "expected"), BUILTIN_CASES.values(), ids=BUILTIN_CASES)
def test_builtin_address_protocol_and_fragment_tests(
    rule: str, changes: dict[str, object], expected: bool
) -> None:
    assert accepts(rule, packet(**changes)) is expected


INTERFACE_CASES = {
    "in-exact": ("-i eth0", {}, True),
    "in-other": ("-i cni0", {}, False),
    "in-prefix": ("-i eth+", {}, True),
    "in-negated": ("! -i eth0", {}, False),
    "out-exact": ("-o eth1", {}, True),
    "out-prefix-negated": ("! -o veth+", {}, True),
    "in-missing-is-empty": ("-i eth0", {"in_interface": None}, False),
    "in-missing-negated": ("! -i eth0", {"in_interface": None}, True),
}


@pytest.mark.parametrize(
    ("rule", "changes", "expected"), INTERFACE_CASES.values(), ids=INTERFACE_CASES
)
def test_interface_tests(rule: str, changes: dict[str, object], expected: bool) -> None:
    assert accepts(rule, ctx=context("FORWARD", **changes)) is expected


# --- match modules --------------------------------------------------------------------

SYN = TcpFlag.SYN
MATCH_CASES = {
    "tcp-dport": ("-p tcp --dport 80", {}, True),
    "tcp-dport-other": ("-p tcp --dport 443", {}, False),
    "tcp-dport-range": ("-p tcp --dport 1:1024", {}, True),
    "tcp-dport-negated": ("-p tcp ! --dport 80", {}, False),
    "tcp-sport-range": ("-p tcp --sport 32768:60999", {}, True),
    "tcp-syn": ("-p tcp --syn", {}, True),
    "tcp-syn-on-ack": ("-p tcp --syn", {"tcp_flags": TcpFlag.ACK}, False),
    "tcp-not-syn": ("-p tcp ! --syn", {"tcp_flags": TcpFlag.ACK}, True),
    "tcp-flags": (
        "-p tcp --tcp-flags SYN,ACK SYN,ACK",
        {"tcp_flags": TcpFlag.SYN | TcpFlag.ACK},
        True,
    ),
    "tcp-on-fragment": ("-p tcp --dport 80", {"is_fragment": True}, False),
    "udp-dport": ("-p udp --dport 53", {"protocol": UDP, "dport": 53}, True),
    "udp-sport-negated": ("-p udp ! --sport 53", {"protocol": UDP, "sport": 53}, False),
    "sctp-dport": ("-p sctp --dport 80", {"protocol": SCTP}, True),
    "multiport-dports": ("-p tcp -m multiport --dports 22,80:90", {}, True),
    "multiport-sports": ("-p tcp -m multiport --sports 22,80:90", {}, False),
    "multiport-ports-either": ("-p tcp -m multiport --ports 40000", {}, True),
    "multiport-negated": ("-p tcp -m multiport ! --dports 80,443", {}, False),
    "mark-masked": ("-m mark --mark 0x4000/0x4000", {"mark": 0x4001}, True),
    "mark-full-mask": ("-m mark --mark 0x4000", {"mark": 0x4001}, False),
    "mark-negated": ("-m mark ! --mark 0x4000/0x4000", {"mark": 0x1}, True),
    "comment": ('-m comment --comment "anything"', {}, True),
    "icmp-type": ("-p icmp --icmp-type echo-request", {"protocol": ICMP}, True),
    "icmp-other-type": ("-p icmp --icmp-type echo-reply", {"protocol": ICMP}, False),
    "icmp-type-code": (
        "-p icmp --icmp-type port-unreachable",
        {"protocol": ICMP, "icmp_type": 3, "icmp_code": 3},
        True,
    ),
    "icmp-any": ("-p icmp --icmp-type any", {"protocol": ICMP, "icmp_type": 11}, True),
    "icmp-negated": ("-p icmp ! --icmp-type echo-request", {"protocol": ICMP}, False),
    "pkttype-unicast": ("-m pkttype --pkt-type unicast", {}, True),
    "pkttype-broadcast": ("-m pkttype --pkt-type broadcast", {"dst": BROADCAST}, True),
    "pkttype-multicast": ("-m pkttype --pkt-type multicast", {"dst": A("224.0.0.251")}, True),
    "pkttype-negated": ("-m pkttype ! --pkt-type broadcast", {}, True),
}


@pytest.mark.parametrize(("rule", "changes", "expected"), MATCH_CASES.values(), ids=MATCH_CASES)
def test_match_modules(rule: str, changes: dict[str, object], expected: bool) -> None:
    assert accepts(rule, packet(**changes)) is expected


ADDRTYPE_CASES = {
    "dst-local": ("--dst-type LOCAL", {"dst": NODE}, True),
    "dst-loopback-range": ("--dst-type LOCAL", {"dst": A("127.0.0.53")}, True),
    "dst-unicast-not-local": ("--dst-type LOCAL", {}, False),
    "dst-negated": ("! --dst-type LOCAL", {}, True),
    "dst-list": ("--dst-type BROADCAST,LOCAL", {"dst": BROADCAST}, True),
    "dst-limited-broadcast": ("--dst-type BROADCAST", {"dst": A("255.255.255.255")}, True),
    "dst-unicast": ("--dst-type UNICAST", {}, True),
    "dst-multicast": ("--dst-type MULTICAST", {"dst": A("239.1.1.1")}, True),
    "src-local": ("--src-type LOCAL", {"src": A("10.244.1.1")}, True),
    "src-and-dst": ("--src-type LOCAL --dst-type LOCAL", {"src": NODE}, False),
}


@pytest.mark.parametrize(
    ("options", "changes", "expected"), ADDRTYPE_CASES.values(), ids=ADDRTYPE_CASES
)
def test_addrtype_uses_the_namespace_addresses(
    options: str, changes: dict[str, object], expected: bool
) -> None:
    assert accepts(f"-m addrtype {options}", packet(**changes)) is expected


def test_addrtype_without_loopback_has_no_local_127_range() -> None:
    ctx = context(local_addresses=frozenset({NODE}))
    assert not accepts("-m addrtype --dst-type LOCAL", packet(dst=A("127.0.0.53")), ctx)


PHYSDEV_CASES = {
    "in-bridged": ("--physdev-in veth1", True, True),
    "in-other-port": ("--physdev-in veth2", True, False),
    "is-bridged": ("--physdev-is-bridged", True, True),
    "is-bridged-not-bridged": ("--physdev-is-bridged", False, False),
    "negated-not-bridged": ("! --physdev-is-bridged", False, True),
    "out-prefix": ("--physdev-out veth+", True, True),
    "in-not-bridged": ("--physdev-in veth1", False, False),
}


@pytest.mark.parametrize(
    ("options", "bridged", "expected"), PHYSDEV_CASES.values(), ids=PHYSDEV_CASES
)
def test_physdev_reads_the_bridge_ports(options: str, bridged: bool, expected: bool) -> None:
    ctx = context(bridged=bridged, physdev_in="veth1" if bridged else None)
    if bridged:
        ctx = context(bridged=True, physdev_in="veth1", physdev_out="veth9")
    assert accepts(f"-m physdev {options}", ctx=ctx) is expected


def test_owner_socket_exists_holds_in_output() -> None:
    assert accepts("-m owner --socket-exists", ctx=context("OUTPUT"))


def test_limit_and_nfacct_match_and_say_what_was_assumed() -> None:
    rules = compiled(
        "filter",
        "-A FORWARD -m limit --limit 1/sec -m nfacct --nfacct-name pkts -j ACCEPT",
        policy="DROP",
    )
    out = one(run(rules))
    assert out.verdict == "ACCEPT"
    assert out.visits[0].action == (
        "ACCEPT; -m limit assumed not exceeded; -m nfacct counted in pkts"
    )


def test_every_match_module_of_the_model_has_a_matcher() -> None:
    kinds = set(typing.get_args(Match))
    assert kinds - set(MATCHERS) == {StatisticMatch, RecentMatch}


UNSUPPORTED = {
    "set": ("FORWARD", "-m set --match-set myset src", "-m set --match-set myset"),
    "mac": ("FORWARD", "-m mac --mac-source 02:00:00:00:00:01", "-m mac"),
    "socket": ("INPUT", "-m socket", "-m socket"),
    "owner-uid": ("OUTPUT", "-m owner --uid-owner 0", "--uid-owner"),
    "tcp-option": ("FORWARD", "-p tcp --tcp-option 2", "--tcp-option"),
    "ctexpire": ("FORWARD", "-m conntrack --ctexpire 1:100", "--ctexpire"),
    "limit-iface": ("FORWARD", "-m addrtype --dst-type LOCAL --limit-iface-in", "limit-iface"),
}


@pytest.mark.parametrize(("hook", "rule", "named"), UNSUPPORTED.values(), ids=UNSUPPORTED)
def test_undecidable_matches_are_refused_with_the_rule_named(
    hook: str, rule: str, named: str
) -> None:
    rules = compiled("filter", f"-A {hook} -p tcp -j LOG\n-A {hook} {rule} -j ACCEPT")
    with pytest.raises(
        UnsupportedError, match=rf"^table filter chain {hook} rule 2 of 2: -A {hook} .*{named}"
    ):
        run(rules, ctx=context(hook))


def test_an_undecidable_rule_the_packet_never_reaches_is_harmless() -> None:
    rules = compiled("filter", "-A FORWARD -p udp -m set --match-set myset src -j ACCEPT")
    assert one(run(rules)).verdict == "ACCEPT"


# --- conntrack matches ----------------------------------------------------------------

NAT_AND_FILTER = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.7:8080
-A POSTROUTING -o eth1 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD {rule} -j ACCEPT
COMMIT
"""


def forwarded_verdict(rule: str, p: Packet, conntrack: ConntrackTable | None = None) -> str:
    rules = compile_ruleset(parse_iptables_save(NAT_AND_FILTER.format(rule=rule), "t"))
    pre = one(run(rules, p, context("PREROUTING"), conntrack))
    return one(run(rules, pre.packet, context("FORWARD"), pre.conntrack)).verdict


CONNTRACK_CASES = {
    "new": ("-m conntrack --ctstate NEW", True),
    "established": ("-m conntrack --ctstate RELATED,ESTABLISHED", False),
    "negated": ("-m conntrack ! --ctstate NEW", False),
    "dnat-virtual-state": ("-m conntrack --ctstate DNAT", True),
    "snat-virtual-state-not-yet": ("-m conntrack --ctstate SNAT", False),
    "kube-firewall-style": ("-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT", False),
    "state-module": ("-m state --state NEW", True),
    "ctorigdst": ("-m conntrack --ctorigdst 10.96.0.10", True),
    "ctreplsrc": ("-m conntrack --ctreplsrc 10.244.2.0/24", True),
    "ctorigdstport": ("-m conntrack --ctorigdstport 80", True),
    "ctreplsrcport": ("-m conntrack --ctreplsrcport 8080", True),
    "ctproto": ("-m conntrack --ctproto 17", False),
    "ctstatus-confirmed": ("-m conntrack --ctstatus CONFIRMED", False),
    "ctstatus-none": ("-m conntrack --ctstatus NONE", False),
    "ctdir-original": ("-m conntrack --ctdir ORIGINAL", True),
    "ctdir-reply": ("-m conntrack --ctdir REPLY", False),
}


@pytest.mark.parametrize(("rule", "expected"), CONNTRACK_CASES.values(), ids=CONNTRACK_CASES)
def test_conntrack_match_after_dnat(rule: str, expected: bool) -> None:
    verdict = forwarded_verdict(rule, packet(dst=A("10.96.0.10")))
    assert (verdict == "ACCEPT") is expected


def test_ctstate_established_and_reply_direction_for_replies() -> None:
    rules = compile_ruleset(parse_iptables_save(NAT_AND_FILTER.format(rule="-p tcp"), "t"))
    first = packet(dst=A("10.96.0.10"))
    pre = one(run(rules, first, context("PREROUTING")))
    fwd = one(run(rules, pre.packet, context("FORWARD"), pre.conntrack))
    post = one(run(rules, fwd.packet, context("POSTROUTING"), fwd.conntrack))
    reply = Packet(A("10.244.2.7"), NODE, TCP, 8080, 40000, tcp_flags=TcpFlag.SYN | TcpFlag.ACK)
    verdicts = {
        rule: forwarded_verdict(rule, reply, post.conntrack)
        for rule in (
            "-m conntrack --ctstate ESTABLISHED --ctdir REPLY",
            "-m conntrack --ctstate ESTABLISHED,SNAT --ctstatus SEEN_REPLY",
            "-m state --state ESTABLISHED",
            "-m conntrack --ctstate NEW",
        )
    }
    assert verdicts == {
        "-m conntrack --ctstate ESTABLISHED --ctdir REPLY": "ACCEPT",
        "-m conntrack --ctstate ESTABLISHED,SNAT --ctstatus SEEN_REPLY": "ACCEPT",
        "-m state --state ESTABLISHED": "ACCEPT",
        "-m conntrack --ctstate NEW": "DROP",
    }


def test_invalid_state_without_conntrack_and_other_options_do_not_match() -> None:
    error = packet(protocol=ICMP, icmp_type=3, icmp_code=1)
    assert accepts("-m conntrack --ctstate INVALID", error)
    assert not accepts("-m conntrack --ctorigsrc 10.0.0.0/8", error)
    assert not accepts("-m connmark --mark 0x0", error)
    assert accepts("-m state --state INVALID", error)


# --- targets and chain semantics ------------------------------------------------------


def actions(out: HookOutcome) -> list[tuple[str, int, str]]:
    return [(v.chain, v.index, v.action) for v in out.visits]


def test_jump_then_return_continues_after_the_jump() -> None:
    rules = compiled(
        "filter",
        """
-A FORWARD -j A
-A FORWARD -j LOG --log-prefix after
-A A -p udp -j DROP
-A A -j RETURN
-A A -j DROP
""",
        chains="A",
    )
    out = one(run(rules))
    assert out.verdict == "ACCEPT"
    assert actions(out) == [
        ("FORWARD", 0, "jump A"),
        ("A", 0, "no match: -p udp"),
        ("A", 1, "RETURN"),
        ("FORWARD", 1, "LOG --log-prefix after"),
        ("FORWARD", 2, "policy ACCEPT"),
    ]


def test_falling_off_a_user_chain_returns_to_the_caller() -> None:
    rules = compiled("filter", "-A FORWARD -j A\n-A FORWARD -j DROP\n-A A -p udp -j ACCEPT", "A")
    assert one(run(rules)).verdict == "DROP"


def test_goto_does_not_come_back_to_the_chain_that_went() -> None:
    rules = compiled(
        "filter",
        """
-A FORWARD -j A
-A FORWARD -p tcp -j REJECT --reject-with tcp-reset
-A A -g B
-A A -j DROP
-A B -j RETURN
""",
        chains="A B",
    )
    out = one(run(rules))
    assert out.verdict == "REJECT"
    assert out.reject_with == "tcp-reset"
    assert actions(out) == [
        ("FORWARD", 0, "jump A"),
        ("A", 0, "goto B"),
        ("B", 0, "RETURN"),
        ("FORWARD", 1, "REJECT"),
    ]


def test_goto_from_a_builtin_chain_ends_at_its_policy() -> None:
    rules = compiled(
        "filter", "-A FORWARD -g B\n-A FORWARD -j ACCEPT\n-A B -p udp -j ACCEPT", "B", policy="DROP"
    )
    out = one(run(rules))
    assert out.verdict == "DROP"
    assert actions(out)[-1] == ("FORWARD", 2, "policy DROP")


def test_return_in_a_builtin_chain_applies_its_policy() -> None:
    rules = compiled("filter", "-A FORWARD -j RETURN\n-A FORWARD -j ACCEPT", policy="DROP")
    out = one(run(rules))
    assert out.verdict == "DROP"
    assert actions(out) == [("FORWARD", 0, "RETURN"), ("FORWARD", 2, "policy DROP")]
    policy = out.visits[-1]
    assert (policy.text, policy.count, policy.matched) == ("-P FORWARD DROP", 2, True)


def test_reject_default_is_icmp_port_unreachable() -> None:
    out = one(run(compiled("filter", "-A FORWARD -j REJECT")))
    assert (out.verdict, out.reject_with) == ("REJECT", "icmp-port-unreachable")
    assert out.visits[0].text == "-A FORWARD -j REJECT --reject-with icmp-port-unreachable"


def test_accept_ends_the_table_not_the_hook() -> None:
    rules = compile_ruleset(
        parse_iptables_save(
            "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
            ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A FORWARD -j ACCEPT\n"
            "-A FORWARD -j DROP\nCOMMIT\n"
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            "-A FORWARD -j DROP\nCOMMIT\n",
            "t",
        )
    )
    out = one(run(rules))
    assert out.verdict == "DROP"
    assert [(v.table, v.action) for v in out.visits] == [("mangle", "ACCEPT"), ("filter", "DROP")]


MARK_CASES = {
    "set-mark": ("--set-mark 0x5", 0xFF00, 0x5),
    "set-mark-masked": ("--set-mark 0x5/0xf", 0xFF0A, 0xFF05),
    "or-mark": ("--or-mark 0x4000", 0x1, 0x4001),
    "and-mark": ("--and-mark 0xff", 0x4001, 0x1),
    "xor-mark": ("--xor-mark 0x4000", 0x4001, 0x1),
    "set-xmark": ("--set-xmark 0x1/0x3", 0x6, 0x5),
}


@pytest.mark.parametrize(("options", "before", "after"), MARK_CASES.values(), ids=MARK_CASES)
def test_mark_target_uses_xmark_semantics_and_continues(
    options: str, before: int, after: int
) -> None:
    rules = compiled("mangle", f"-A FORWARD -j MARK {options}\n-A FORWARD -j LOG")
    out = one(run(rules, packet(mark=before)))
    assert out.packet.mark == after
    assert out.visits[0].action.startswith("MARK set 0x")
    assert out.visits[0].action.endswith(f"(mark {after:#x})")
    assert out.visits[1].action == "LOG"


def test_connmark_set_save_restore_and_match() -> None:
    rules = compiled(
        "mangle",
        """
-A PREROUTING -m connmark --mark 0x0 -j CONNMARK --set-mark 0x10
-A PREROUTING -j MARK --set-mark 0x3
-A PREROUTING -j CONNMARK --save-mark --mask 0x2
-A PREROUTING -j MARK --set-mark 0x0
-A PREROUTING -j CONNMARK --restore-mark
-A PREROUTING -m connmark --mark 0x12 -j ACCEPT
-A PREROUTING -j DROP
""",
    )
    out = one(run(rules, ctx=context("PREROUTING")))
    assert out.verdict == "ACCEPT"
    (entry,) = out.conntrack.entries
    assert entry.mark == 0x12
    assert out.packet.mark == 0x12


def test_notrack_makes_the_packet_untracked_and_skips_nat() -> None:
    rules = compile_ruleset(
        parse_iptables_save(
            "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -j NOTRACK\nCOMMIT\n"
            "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            ":POSTROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT --to-destination 10.9.9.9\nCOMMIT\n",
            "t",
        )
    )
    out = one(run(rules, ctx=context("PREROUTING")))
    assert out.ct_state == "UNTRACKED"
    assert out.nat == () and out.packet.dst == A("10.244.2.7")
    assert len(out.conntrack) == 0
    assert accepts("-m conntrack --ctstate UNTRACKED", out.packet)
    assert accepts("-m state --state UNTRACKED", out.packet)


def test_ct_notrack_and_ct_zone() -> None:
    rules = compiled("raw", "-A PREROUTING -j CT --notrack")
    assert one(run(rules, ctx=context("PREROUTING"))).ct_state == "UNTRACKED"
    zone = compiled("raw", "-A PREROUTING -j CT --zone 1")
    with pytest.raises(UnsupportedError, match="CT --helper/--zone"):
        run(zone, ctx=context("PREROUTING"))


def test_raw_rules_see_no_conntrack_yet() -> None:
    rules = compiled("raw", "-A PREROUTING -m conntrack --ctstate NEW -j NOTRACK")
    out = one(run(rules, ctx=context("PREROUTING")))
    assert out.ct_state == "NEW"
    assert out.visits[0].action == "no match: -m conntrack --ctstate NEW"


# --- hook order -----------------------------------------------------------------------

EVERY_TABLE = "".join(
    f"*{table}\n"
    + "".join(f":{c} ACCEPT [0:0]\n" for c in chains)
    + "".join(f"-A {c} -j LOG --log-prefix {table}\n" for c in chains)
    + "COMMIT\n"
    for table, chains in BUILTIN_CHAINS.items()
)


@pytest.mark.parametrize(
    ("hook", "tables"),
    [
        ("PREROUTING", ["raw", "mangle", "nat"]),
        ("INPUT", ["mangle", "filter", "security", "nat"]),
        ("FORWARD", ["mangle", "filter", "security"]),
        ("OUTPUT", ["raw", "mangle", "nat", "filter", "security"]),
        ("POSTROUTING", ["mangle", "nat"]),
    ],
    ids=list(HOOK_STEPS),
)
def test_tables_run_in_kernel_priority_order(hook: str, tables: list[str]) -> None:
    rules = compile_ruleset(parse_iptables_save(EVERY_TABLE, "every-table"))
    out = one(run(rules, ctx=context(hook)))
    logged = [v.table for v in out.visits if v.action.startswith("LOG")]
    assert logged == tables


def test_nat_is_walked_only_for_a_new_connection() -> None:
    rules = compile_ruleset(parse_iptables_save(EVERY_TABLE, "every-table"))
    first = one(run(rules, ctx=context("PREROUTING")))
    confirmed = one(run(rules, first.packet, context("INPUT"), first.conntrack))
    again = one(run(rules, packet(), context("PREROUTING"), confirmed.conntrack))
    assert [v.table for v in again.visits if v.action.startswith("LOG")] == ["raw", "mangle"]


# --- NAT ------------------------------------------------------------------------------


def nat_rules(rules: str) -> CompiledRuleset:
    return compiled("nat", rules)


def test_dnat_is_terminal_and_rewrites_the_destination() -> None:
    rules = nat_rules(
        "-A PREROUTING -p tcp -j DNAT --to-destination 10.244.3.3:8080\n"
        "-A PREROUTING -j DNAT --to-destination 10.9.9.9"
    )
    out = one(run(rules, ctx=context("PREROUTING")))
    assert (out.packet.dst, out.packet.dport) == (A("10.244.3.3"), 8080)
    assert [v.action for v in out.visits] == ["DNAT to 10.244.3.3:8080"]
    (change,) = out.nat
    assert (change.kind, change.field, change.old, change.new) == (
        "DNAT",
        "dst",
        (A("10.244.2.7"), 80),
        (A("10.244.3.3"), 8080),
    )
    assert change.by == out.visits[0].text


def test_dnat_port_only_keeps_the_address_and_a_range_keeps_an_inside_port() -> None:
    out = one(
        run(
            nat_rules("-A PREROUTING -p tcp -j DNAT --to-destination :8080"),
            ctx=context("PREROUTING"),
        )
    )
    assert (out.packet.dst, out.packet.dport) == (A("10.244.2.7"), 8080)
    ranged = nat_rules("-A PREROUTING -p tcp -j DNAT --to-destination 10.1.1.1-10.1.1.9:70-90")
    out = one(run(ranged, ctx=context("PREROUTING")))
    assert (out.packet.dst, out.packet.dport) == (A("10.1.1.1"), 80)


def test_accept_in_nat_ends_it_without_nat() -> None:
    rules = nat_rules("-A PREROUTING -j ACCEPT\n-A PREROUTING -j DNAT --to-destination 10.9.9.9")
    out = one(run(rules, ctx=context("PREROUTING")))
    assert out.nat == () and out.packet.dst == A("10.244.2.7")
    assert [v.action for v in out.visits] == ["ACCEPT"]


def test_snat_in_postrouting_and_in_input() -> None:
    rules = nat_rules(
        "-A POSTROUTING -j SNAT --to-source 192.0.2.1\n-A INPUT -p tcp -j SNAT --to-source 192.0.2.2:1000-2000"
    )
    out = one(run(rules, ctx=context("POSTROUTING")))
    assert (out.packet.src, out.packet.sport) == (A("192.0.2.1"), 40000)
    assert out.nat[0].kind == "SNAT"
    out = one(run(rules, ctx=context("INPUT")))
    assert (out.packet.src, out.packet.sport) == (A("192.0.2.2"), 1000)


def test_masquerade_uses_the_callers_source_or_drops_without_one() -> None:
    rules = nat_rules("-A POSTROUTING -j MASQUERADE --random-fully")
    out = one(run(rules, ctx=context("POSTROUTING")))
    assert (out.packet.src, out.packet.sport) == (NODE, 40000)
    assert out.nat[0].kind == "MASQUERADE"
    assert "random port" in out.visits[0].action
    dropped = one(run(rules, ctx=context("POSTROUTING", masquerade_source=None)))
    assert dropped.verdict == "DROP"
    assert "masquerade_source" in dropped.visits[0].action
    assert len(dropped.conntrack) == 0


def test_masquerade_moves_the_source_port_when_the_reply_tuple_is_taken() -> None:
    rules = nat_rules("-A POSTROUTING -j MASQUERADE")
    first = one(run(rules, packet(src=A("10.0.1.2")), context("POSTROUTING")))
    second = one(run(rules, packet(src=A("10.0.1.3")), context("POSTROUTING"), first.conntrack))
    assert (first.packet.src, first.packet.sport) == (NODE, 40000)
    assert (second.packet.src, second.packet.sport) == (NODE, 40001)
    assert len(second.conntrack) == 2


def test_the_null_binding_also_keeps_sources_unique() -> None:
    rules = nat_rules("-A POSTROUTING -s 10.0.1.2/32 -j SNAT --to-source 10.0.1.3")
    first = one(run(rules, packet(src=A("10.0.1.2")), context("POSTROUTING")))
    second = one(run(rules, packet(src=A("10.0.1.3")), context("POSTROUTING"), first.conntrack))
    assert (second.packet.src, second.packet.sport) == (A("10.0.1.3"), 40001)
    assert (second.nat[0].kind, second.nat[0].by) == ("SNAT", "conntrack")


def test_redirect_goes_to_the_in_interface_or_to_loopback_in_output() -> None:
    rules = nat_rules(
        "-A PREROUTING -p tcp -j REDIRECT --to-ports 3128\n-A OUTPUT -p tcp -j REDIRECT"
    )
    out = one(run(rules, ctx=context("PREROUTING")))
    assert (out.packet.dst, out.packet.dport) == (A("10.244.1.1"), 3128)
    out = one(run(rules, ctx=context("OUTPUT")))
    assert (out.packet.dst, out.packet.dport) == (A("127.0.0.1"), 80)
    out = one(run(rules, ctx=context("PREROUTING", redirect_address=None)))
    assert out.verdict == "DROP"


def test_dnat_to_the_same_destination_changes_nothing() -> None:
    rules = nat_rules("-A PREROUTING -p tcp -j DNAT --to-destination 10.244.2.7:80")
    out = one(run(rules, ctx=context("PREROUTING")))
    assert out.nat == ()
    (entry,) = out.conntrack.entries
    assert not entry.status & ConntrackStatus.DST_NAT
    assert entry.status & ConntrackStatus.DST_NAT_DONE


# --- statistic and recent -------------------------------------------------------------

LADDER = """
-A FORWARD -m statistic --mode random --probability 0.3333333333 -j MARK --set-mark 1
-A FORWARD -m mark --mark 0 -m statistic --mode random --probability 0.5000000000 -j MARK --set-mark 2
-A FORWARD -m mark --mark 0 -j MARK --set-mark 3
"""


def test_statistic_forks_with_the_kernels_probabilities() -> None:
    outs = run(compiled("mangle", LADDER))
    assert [o.packet.mark for o in outs] == [1, 2, 3]
    assert sum(o.probability for o in outs) == pytest.approx(1.0, abs=1e-12)
    for out in outs:
        assert out.probability == pytest.approx(1 / 3, abs=1e-9)
    first = outs[0]
    assert first.probability == 715827883 / 2**31  # round(0.3333333333 * 2**31) / 2**31
    assert first.visits[0].probability == first.probability
    skipped = outs[2].visits[0]
    assert not skipped.matched
    assert skipped.probability == pytest.approx(2 / 3, abs=1e-9)


def test_statistic_with_an_rng_follows_one_branch() -> None:
    rules = compiled("mangle", LADDER)
    seen = {one(run(rules, rng=random.Random(seed))).packet.mark for seed in range(40)}
    assert seen == {1, 2, 3}
    out = one(run(rules, rng=random.Random(1)))
    assert out.probability == 1.0


def test_statistic_negation_and_nth_mode() -> None:
    negated = compiled(
        "mangle", "-A FORWARD -m statistic --mode random ! --probability 0.25 -j MARK --set-mark 1"
    )
    outs = run(negated)
    assert [(o.packet.mark, o.probability) for o in outs] == [(1, 0.75), (0, 0.25)]
    nth = compiled(
        "mangle", "-A FORWARD -m statistic --mode nth --every 4 --packet 0 -j MARK --set-mark 1"
    )
    assert [(o.packet.mark, o.probability) for o in run(nth)] == [(1, 0.25), (0, 0.75)]


def recent_rules(rule: str) -> CompiledRuleset:
    return compiled("filter", f"-A FORWARD {rule} -j ACCEPT", policy="DROP")


def recent_verdict(
    rule: str, state: RecentState, now: float, p: Packet | None = None
) -> tuple[str, RecentState]:
    out = one(run(recent_rules(rule), p, context(now=now), recent=state))
    return out.verdict, out.recent


def test_recent_set_then_rcheck_within_seconds() -> None:
    verdict, state = recent_verdict("-m recent --set --name S", RecentState(), 100.0)
    assert verdict == "ACCEPT"
    assert last_seen(state, "S", A("10.0.1.2")) == 100.0
    check = "-m recent --rcheck --seconds 10 --name S"
    assert recent_verdict(check, state, 110.0)[0] == "ACCEPT"
    assert recent_verdict(check, state, 110.5)[0] == "DROP"
    assert recent_verdict(check, state, 105.0, packet(src=A("10.0.1.3")))[0] == "DROP"
    assert recent_verdict("-m recent ! --rcheck --name S", state, 105.0)[0] == "DROP"


def test_recent_update_refreshes_only_on_a_hit_and_remove_forgets() -> None:
    _, state = recent_verdict("-m recent --set --name S", RecentState(), 0.0)
    update = "-m recent --update --seconds 10 --name S"
    verdict, state = recent_verdict(update, state, 9.0)
    assert verdict == "ACCEPT" and last_seen(state, "S", A("10.0.1.2")) == 9.0
    verdict, later = recent_verdict(update, state, 30.0)
    assert verdict == "DROP" and last_seen(later, "S", A("10.0.1.2")) == 9.0
    _, gone = recent_verdict("-m recent --remove --name S", state, 10.0)
    assert last_seen(gone, "S", A("10.0.1.2")) is None


def test_recent_hitcount_reap_rdest_and_mask() -> None:
    state = RecentState()
    for now in (1.0, 2.0):
        _, state = recent_verdict("-m recent --set --name S", state, now)
    assert recent_verdict("-m recent --rcheck --hitcount 2 --name S", state, 3.0)[0] == "ACCEPT"
    assert recent_verdict("-m recent --rcheck --hitcount 3 --name S", state, 3.0)[0] == "DROP"
    _, reaped = recent_verdict("-m recent --rcheck --seconds 5 --reap --name S", state, 60.0)
    assert last_seen(reaped, "S", A("10.0.1.2")) is None
    _, by_dst = recent_verdict("-m recent --set --name D --rdest", RecentState(), 1.0)
    assert last_seen(by_dst, "D", A("10.244.2.7")) == 1.0
    _, masked = recent_verdict("-m recent --set --name M --mask 255.255.255.0", RecentState(), 1.0)
    assert last_seen(masked, "M", A("10.0.1.0")) == 1.0
    assert (
        recent_verdict(
            "-m recent --rcheck --name M --mask 255.255.255.0",
            masked,
            2.0,
            packet(src=A("10.0.1.77")),
        )[0]
        == "ACCEPT"
    )


# --- the index ------------------------------------------------------------------------

SERVICES = 40


def services_chain() -> str:
    rules = [
        f"-A PREROUTING -d 10.96.0.{i}/32 -p tcp -m comment --comment svc{i} -m tcp --dport {80 + i % 3} -j MARK --set-mark {i + 1}"
        for i in range(SERVICES)
    ]
    rules.insert(7, "-A PREROUTING -p udp -j MARK --set-mark 1000")
    rules.insert(
        20, "-A PREROUTING -d 10.96.0.5/32 -p tcp -m tcp --dport 81:82 -j MARK --set-mark 2000"
    )
    rules.append("-A PREROUTING -m addrtype --dst-type LOCAL -j MARK --set-mark 3000")
    return "\n".join(rules)


def test_long_chains_are_indexed_and_report_true_positions() -> None:
    rules = compiled("mangle", services_chain())
    chain = rules.tables["mangle"].chains["PREROUTING"]
    assert chain.buckets is not None
    p = packet(dst=A("10.96.0.30"), dport=80)
    assert candidates(chain, p) == (7, 20, 32, 42)
    out = one(run(rules, p, context("PREROUTING")))
    assert out.packet.mark == 31
    first = next(v for v in out.visits if v.table == "mangle")
    assert (first.index, first.count) == (7, 43)
    # MARK continues: the tail rule is a candidate too, then the policy
    assert [v.index for v in out.visits if v.table == "mangle"] == [7, 20, 32, 42, 43]
    assert first_match_index(rules, "mangle", "PREROUTING", p, context("PREROUTING")) == 32


def test_a_fragment_is_offered_only_the_rules_without_port_tests() -> None:
    chain = compiled("mangle", services_chain()).tables["mangle"].chains["PREROUTING"]
    assert candidates(chain, packet(dst=A("10.96.0.30"), is_fragment=True)) == (7, 20, 42)


def linear_first_match(rules: tuple[Rule, ...], p: Packet, ctx: HookContext) -> int | None:
    """The oracle: each rule alone in a chain too short to be indexed."""
    for i, rule in enumerate(rules):
        single = compile_ruleset(Ruleset((Table("mangle", (Chain("X", rules=(rule,)),)),)))
        if first_match_index(single, "mangle", "X", p, ctx) == 0:
            return i
    return None


ADDRESSES = [A(f"10.96.0.{i}") for i in range(4)]


def random_rule(
    dst: IPv4Address | None, proto: int | None, port: int | None, negate: bool, local: bool
) -> Rule:
    """A rule the index may or may not file in a bucket."""
    matches: list[Match] = []
    if proto == TCP and port is not None:
        matches.append(TcpMatch(dport=Negatable(PortRange(port, port), negated=negate)))
    if local:
        matches.append(AddrtypeMatch(dst_type=Negatable(("LOCAL",))))
    return Rule(
        destination=None if dst is None else Negatable(IPv4Network(f"{dst}/32")),
        protocol=None if proto is None else Negatable(proto, negated=negate and port is None),
        matches=tuple(matches),
    )


rule_strategy = st.builds(
    random_rule,
    st.none() | st.sampled_from(ADDRESSES),
    st.none() | st.sampled_from([TCP, UDP]),
    st.none() | st.sampled_from([80, 81]),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(
    rules=st.lists(rule_strategy, min_size=16, max_size=40),
    dst=st.sampled_from([*ADDRESSES, NODE]),
    proto=st.sampled_from([TCP, UDP, ICMP]),
    dport=st.sampled_from([80, 81, 82]),
    fragment=st.booleans(),
)
def test_the_index_finds_the_same_first_match_as_a_linear_walk(
    rules: list[Rule], dst: IPv4Address, proto: int, dport: int, fragment: bool
) -> None:
    p = packet(dst=dst, protocol=proto, dport=dport, is_fragment=fragment)
    ctx = context("PREROUTING")
    indexed = compile_ruleset(Ruleset((Table("mangle", (Chain("X", rules=tuple(rules)),)),)))
    assert first_match_index(indexed, "mangle", "X", p, ctx) == linear_first_match(
        tuple(rules), p, ctx
    )


# --- documentation and API ------------------------------------------------------------


def test_docs_example_runs() -> None:
    """The example in docs/netfilter.md."""
    docs = REPO / "docs" / "netfilter.md"
    failed, attempted = doctest.testfile(str(docs), module_relative=False, verbose=False)
    assert attempted > 0
    assert failed == 0


def test_the_evaluators_public_api_is_pinned() -> None:
    assert evaluate.__all__ == [
        "HOOK_STEPS",
        "CompiledRuleset",
        "HookContext",
        "HookOutcome",
        "NatChange",
        "RecentState",
        "RuleVisit",
        "Verdict",
        "compile_ruleset",
        "evaluate_hook",
        "first_match_index",
    ]
    assert [f.name for f in evaluate.HookOutcome.__dataclass_fields__.values()] == [
        "probability",
        "verdict",
        "reject_with",
        "packet",
        "visits",
        "nat",
        "conntrack",
        "recent",
        "ct_state",
        "is_reply",
    ]
