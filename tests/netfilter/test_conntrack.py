"""Connection tracking: the table as a value, and how hooks create, find, NAT and confirm entries."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from netsim.netfilter.conntrack import (
    ConntrackEntry,
    ConntrackStatus,
    ConntrackTable,
    ConnTuple,
    conntrack_table,
    inverted,
    is_tuple_taken,
    lookup,
    new_entry,
    render_entry,
    tuple_of,
    with_entry,
    with_status,
    without,
)
from netsim.netfilter.evaluate import (
    HookContext,
    RecentState,
    compile_ruleset,
    evaluate_hook,
)
from netsim.netfilter.packet import (
    ICMP,
    TCP,
    UDP,
    Packet,
    entering_netns,
    reply_of,
    with_tcp_flags,
)
from netsim.netfilter.parse import parse_iptables_save
from netsim.netfilter.ruleset import TcpFlag

CLIENT = IPv4Address("10.0.1.2")
VIP = IPv4Address("10.96.0.10")
BACKEND = IPv4Address("10.244.2.7")
NODE = IPv4Address("192.168.56.11")
LOCAL = frozenset({NODE, IPv4Address("127.0.0.1")})

S = ConntrackStatus


def t(src: str, dst: str, sport: int = 40000, dport: int = 80, protocol: int = TCP) -> ConnTuple:
    return ConnTuple(IPv4Address(src), IPv4Address(dst), protocol, sport, dport)


def confirmed(original: ConnTuple) -> ConntrackEntry:
    return with_status(new_entry(original), S.CONFIRMED)


# --- the table as a value -------------------------------------------------------------


def test_a_new_entry_expects_the_inverted_tuple_as_reply() -> None:
    entry = new_entry(t("10.0.1.2", "10.96.0.10"))
    assert entry.reply == t("10.96.0.10", "10.0.1.2", 80, 40000)
    assert entry.status == S(0)
    assert entry.mark == 0


def test_lookup_finds_an_entry_by_either_tuple_and_tells_the_direction() -> None:
    entry = confirmed(t("10.0.1.2", "10.96.0.10"))
    table = with_entry(conntrack_table(), entry)
    assert lookup(table, entry.original) == (entry, False)
    assert lookup(table, entry.reply) == (entry, True)
    assert lookup(table, t("10.0.1.3", "10.96.0.10")) is None
    assert len(table) == 1
    assert table.entries == (entry,)


def test_with_entry_replaces_and_rekeys_an_entry_whose_reply_changed() -> None:
    entry = confirmed(t("10.0.1.2", "10.96.0.10"))
    table = with_entry(conntrack_table(), entry)
    reply = t("10.244.2.7", "10.0.1.2", 8080, 40000)
    dnat = ConntrackEntry(entry.original, reply, S.DST_NAT | S.CONFIRMED)
    table2 = with_entry(table, dnat)
    assert len(table2) == 1
    assert lookup(table2, entry.reply) is None  # the old reply tuple is gone
    assert lookup(table2, dnat.reply) == (dnat, True)
    assert lookup(table, entry.reply) == (entry, True)  # the old table is unchanged


def test_without_removes_both_keys_and_ignores_unknown_entries() -> None:
    a = confirmed(t("10.0.1.2", "10.96.0.10"))
    b = confirmed(t("10.0.1.3", "10.96.0.10"))
    table = conntrack_table([a, b])
    assert without(table, a).entries == (b,)
    assert lookup(without(table, a), a.reply) is None
    assert without(conntrack_table([b]), a) == conntrack_table([b])


def test_a_clash_of_tuples_between_confirmed_entries_is_refused() -> None:
    a = confirmed(t("10.0.1.2", "10.96.0.10"))
    clash = ConntrackEntry(t("10.0.9.9", "10.0.8.8"), a.reply, S.CONFIRMED)
    with pytest.raises(ValueError, match="already belongs to another entry"):
        conntrack_table([a, clash])


def test_an_unconfirmed_entry_is_found_by_its_original_tuple_only() -> None:
    a = confirmed(t("10.0.1.2", "10.96.0.10"))
    pending = ConntrackEntry(t("10.0.9.9", "10.0.8.8"), a.reply)  # clashes until NAT moves it
    table = conntrack_table([a, pending])
    assert lookup(table, pending.original) == (pending, False)
    assert lookup(table, a.reply) == (a, True)
    assert not is_tuple_taken(table, pending.original, None)
    assert table.entries == (a, pending)
    with pytest.raises(ValueError, match="already belongs"):
        with_entry(table, with_status(pending, S.CONFIRMED))


def test_is_tuple_taken_ignores_the_entry_asking() -> None:
    a = confirmed(t("10.0.1.2", "10.96.0.10"))
    table = conntrack_table([a])
    assert is_tuple_taken(table, a.reply, None)
    assert not is_tuple_taken(table, a.reply, a)
    assert not is_tuple_taken(table, t("1.2.3.4", "5.6.7.8"), None)


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (Packet(CLIENT, VIP, TCP, 1, 2), ConnTuple(CLIENT, VIP, TCP, 1, 2)),
        (Packet(CLIENT, VIP, UDP, 53, 53), ConnTuple(CLIENT, VIP, UDP, 53, 53)),
        (Packet(CLIENT, VIP, ICMP, 7), ConnTuple(CLIENT, VIP, ICMP, 7, 8 << 8)),
        (Packet(CLIENT, VIP, 47, 1, 2), ConnTuple(CLIENT, VIP, 47)),
        (Packet(CLIENT, VIP, ICMP, icmp_type=3), None),
    ],
    ids=["tcp", "udp", "icmp-echo", "gre-no-ports", "icmp-error-untracked"],
)
def test_tuple_of_files_packets_as_the_kernel_does(
    packet: Packet, expected: ConnTuple | None
) -> None:
    assert tuple_of(packet) == expected


def test_icmp_echo_reply_is_the_inverse_of_the_request() -> None:
    request = tuple_of(Packet(CLIENT, VIP, ICMP, 7))
    answer = tuple_of(reply_of(Packet(CLIENT, VIP, ICMP, 7)))
    assert request is not None
    assert inverted(request) == answer


def test_render_entry_reads_like_conntrack_list() -> None:
    entry = ConntrackEntry(
        t("10.0.1.2", "10.96.0.10"),
        t("10.244.2.7", "192.168.56.11", 8080, 40000),
        S.SEEN_REPLY | S.ASSURED | S.CONFIRMED | S.DST_NAT | S.SRC_NAT,
        mark=7,
    )
    assert render_entry(entry) == (
        "tcp 6 src=10.0.1.2 dst=10.96.0.10 sport=40000 dport=80 "
        "src=10.244.2.7 dst=192.168.56.11 sport=8080 dport=40000 [ASSURED] mark=7"
    )


# --- conntrack at the hooks -----------------------------------------------------------

NAT_RULES = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.7:8080
-A POSTROUTING -s 10.0.1.0/24 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -d 10.244.2.66/32 -j DROP
COMMIT
"""
RULES = compile_ruleset(parse_iptables_save(NAT_RULES, "nat-rules"))


def at(hook: str, in_if: str | None = None, out_if: str | None = None) -> HookContext:
    return HookContext(hook, in_if, out_if, LOCAL, frozenset(), NODE, None)  # type: ignore[arg-type]


def forward(packet: Packet, table: ConntrackTable) -> tuple[Packet, ConntrackTable]:
    """PREROUTING, FORWARD, POSTROUTING of a routed packet (one outcome each)."""
    for hook, i, o in (("PREROUTING", "eth0", None), ("FORWARD", "eth0", "cni0")):
        (out,) = evaluate_hook(RULES, packet, at(hook, i, o), table, RecentState())
        assert out.verdict == "ACCEPT", out.visits
        packet, table = out.packet, out.conntrack
    (out,) = evaluate_hook(RULES, packet, at("POSTROUTING", None, "cni0"), table, RecentState())
    return out.packet, out.conntrack


def test_the_first_packet_creates_an_entry_that_postrouting_confirms() -> None:
    syn = Packet(CLIENT, VIP, sport=40000, dport=80)
    (pre,) = evaluate_hook(RULES, syn, at("PREROUTING", "eth0"), ConntrackTable(), RecentState())
    (entry,) = pre.conntrack.entries
    assert pre.ct_state == "NEW"
    assert not entry.status & S.CONFIRMED
    assert pre.packet.ct == entry.original
    assert pre.packet.ctinfo == "NEW"
    _, table = forward(syn, ConntrackTable())
    (entry,) = table.entries
    assert entry.status & S.CONFIRMED
    assert entry.status & S.DST_NAT and entry.status & S.SRC_NAT
    assert entry.reply == ConnTuple(BACKEND, NODE, TCP, 8080, 40000)


def test_dnat_changes_the_reply_source_and_masquerade_the_reply_destination() -> None:
    packet, table = forward(Packet(CLIENT, VIP, sport=40000, dport=80), ConntrackTable())
    (entry,) = table.entries
    assert (entry.reply.src, entry.reply.sport) == (BACKEND, 8080)  # DNAT
    assert (entry.reply.dst, entry.reply.dport) == (NODE, 40000)  # MASQUERADE
    assert (packet.src, packet.dst, packet.dport) == (NODE, BACKEND, 8080)


def test_a_reply_is_recognised_marked_seen_and_un_natted() -> None:
    packet, table = forward(Packet(CLIENT, VIP, sport=40000, dport=80), ConntrackTable())
    answer = reply_of(packet)
    (pre,) = evaluate_hook(RULES, answer, at("PREROUTING", "cni0"), table, RecentState())
    assert pre.is_reply and pre.ct_state == "ESTABLISHED"
    assert [c.kind for c in pre.nat] == ["un-SNAT"]
    assert pre.packet.dst == CLIENT and pre.packet.dport == 40000
    assert all(v.table != "nat" for v in pre.visits)
    (entry,) = pre.conntrack.entries
    assert entry.status & S.SEEN_REPLY
    _, table = pre.packet, pre.conntrack
    (fwd,) = evaluate_hook(RULES, pre.packet, at("FORWARD", "cni0", "eth0"), table, RecentState())
    (post,) = evaluate_hook(
        RULES, fwd.packet, at("POSTROUTING", None, "eth0"), fwd.conntrack, RecentState()
    )
    assert [c.kind for c in post.nat] == ["un-DNAT"]
    assert (post.packet.src, post.packet.sport) == (VIP, 80)
    assert post.nat[0].by == "conntrack"


def test_after_a_reply_the_original_direction_is_established_and_assured() -> None:
    syn = Packet(CLIENT, VIP, sport=40000, dport=80)
    packet, table = forward(syn, ConntrackTable())
    (pre,) = evaluate_hook(RULES, reply_of(packet), at("PREROUTING", "cni0"), table, RecentState())
    ack = with_tcp_flags(syn, TcpFlag.ACK)
    (again,) = evaluate_hook(RULES, ack, at("PREROUTING", "eth0"), pre.conntrack, RecentState())
    assert again.ct_state == "ESTABLISHED" and not again.is_reply
    (entry,) = again.conntrack.entries
    assert entry.status & S.ASSURED


def test_a_second_packet_before_any_reply_is_still_new_but_nat_is_not_walked() -> None:
    syn = Packet(CLIENT, VIP, sport=40000, dport=80)
    _, table = forward(syn, ConntrackTable())
    (again,) = evaluate_hook(RULES, syn, at("PREROUTING", "eth0"), table, RecentState())
    assert again.ct_state == "NEW"
    assert [v for v in again.visits if v.table == "nat"] == []
    assert again.nat[0].by == "conntrack" and again.nat[0].kind == "DNAT"
    assert again.packet.dst == BACKEND


def test_a_dropped_packet_takes_its_unconfirmed_entry_with_it() -> None:
    syn = Packet(CLIENT, IPv4Address("10.244.2.66"), sport=40000, dport=80)
    (pre,) = evaluate_hook(RULES, syn, at("PREROUTING", "eth0"), ConntrackTable(), RecentState())
    assert len(pre.conntrack) == 1
    (fwd,) = evaluate_hook(
        RULES, pre.packet, at("FORWARD", "eth0", "cni0"), pre.conntrack, RecentState()
    )
    assert fwd.verdict == "DROP"
    assert len(fwd.conntrack) == 0


def test_a_confirmed_entry_survives_a_later_drop() -> None:
    packet, table = forward(Packet(CLIENT, VIP, sport=40000, dport=80), ConntrackTable())
    drop_all = compile_ruleset(
        parse_iptables_save(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n", "x"
        )
    )
    (out,) = evaluate_hook(
        drop_all, reply_of(packet), at("FORWARD", "cni0", "eth0"), table, RecentState()
    )
    assert out.verdict == "DROP"
    assert len(out.conntrack) == 1


def test_a_packet_already_attached_keeps_its_entry_at_prerouting_as_over_loopback() -> None:
    local = Packet(NODE, NODE, sport=40000, dport=22)
    (out,) = evaluate_hook(RULES, local, at("OUTPUT", None, "lo"), ConntrackTable(), RecentState())
    (post,) = evaluate_hook(
        RULES, out.packet, at("POSTROUTING", None, "lo"), out.conntrack, RecentState()
    )
    (pre,) = evaluate_hook(
        RULES, post.packet, at("PREROUTING", "lo"), post.conntrack, RecentState()
    )
    assert pre.conntrack == post.conntrack
    assert pre.packet.ct == post.packet.ct
    assert pre.ct_state == "NEW"


def test_entering_another_namespace_drops_the_reference_and_the_mark() -> None:
    packet, _ = forward(Packet(CLIENT, VIP, sport=40000, dport=80, mark=0x4000), ConntrackTable())
    assert packet.ct is not None
    moved = entering_netns(packet)
    assert (moved.ct, moved.ctinfo, moved.mark) == (None, None, 0)
    (pre,) = evaluate_hook(RULES, moved, at("PREROUTING", "eth0"), ConntrackTable(), RecentState())
    assert pre.ct_state == "NEW"


def test_a_stale_reference_is_dropped_and_the_packet_tracked_afresh() -> None:
    packet, _ = forward(Packet(CLIENT, VIP, sport=40000, dport=80), ConntrackTable())
    (out,) = evaluate_hook(
        RULES, packet, at("FORWARD", "eth0", "cni0"), ConntrackTable(), RecentState()
    )
    assert out.ct_state == "NEW"
    assert len(out.conntrack) == 1


def test_icmp_errors_and_unsolicited_echo_replies_are_invalid() -> None:
    error = Packet(CLIENT, NODE, ICMP, icmp_type=3, icmp_code=3)
    pong = Packet(CLIENT, NODE, ICMP, 9, icmp_type=0)
    for packet in (error, pong):
        (out,) = evaluate_hook(
            RULES, packet, at("PREROUTING", "eth0"), ConntrackTable(), RecentState()
        )
        assert out.ct_state == "INVALID"
        assert len(out.conntrack) == 0


def test_icmp_echo_is_tracked_by_identifier_and_its_reply_recognised() -> None:
    ping = Packet(CLIENT, NODE, ICMP, 7)
    (out,) = evaluate_hook(RULES, ping, at("PREROUTING", "eth0"), ConntrackTable(), RecentState())
    (inp,) = evaluate_hook(RULES, out.packet, at("INPUT", "eth0"), out.conntrack, RecentState())
    pong = reply_of(ping)
    (back,) = evaluate_hook(RULES, pong, at("OUTPUT", None, "eth0"), inp.conntrack, RecentState())
    assert back.is_reply and back.ct_state == "ESTABLISHED"
