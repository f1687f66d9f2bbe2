"""Evaluate a packet at one netfilter hook: every table in kernel order, conntrack and NAT.

``evaluate_hook(rules, packet, ctx, conntrack, recent)`` runs what the kernel
runs when an IPv4 packet reaches ``ctx.hook`` in one network namespace, in
priority order (include/uapi/linux/netfilter_ipv4.h ``nf_ip_hook_priorities``)::

    PREROUTING   raw → conntrack → mangle → nat (DNAT)
    INPUT        mangle → filter → security → nat (SNAT) → conntrack confirm
    FORWARD      mangle → filter → security
    OUTPUT       raw → conntrack → mangle → nat (DNAT) → filter → security
    POSTROUTING  mangle → nat (SNAT) → conntrack confirm

Each table's built-in chain is walked rule by rule (``netsim.netfilter.walk``)
with the kernel's jump semantics (``-j`` pushes a return point, ``-g`` does not, RETURN or the end
of a user chain pops, the end of a built-in chain applies its policy). ACCEPT
ends the table, DROP and REJECT end the hook. MARK, CONNMARK, LOG, NOTRACK and
CT continue. A table or chain the ruleset lacks is skipped.

Conntrack (``netsim.netfilter.conntrack``): at PREROUTING/OUTPUT the packet
is looked up by its tuple — an original tuple makes it NEW (ESTABLISHED once
a reply was seen), a reply tuple makes it a reply (ESTABLISHED) — or a new
unconfirmed entry is made; POSTROUTING/INPUT confirm it. A packet dropped
before that takes its unconfirmed entry with it. The packet carries its
entry's key (``Packet.ct``) to later hooks. NOTRACK makes it UNTRACKED.

NAT (``netsim.netfilter.nat``): the nat table is walked only for a NEW
connection whose translation for this hook is not yet decided; a NAT target
decides and ends the walk; with none, the identity ("null binding") is
recorded. Every packet is then translated from the entry: later packets and
replies without visiting nat (``NatChange.by == "conntrack"``).

Statistic matches fork: with ``rng=None`` every outcome is returned with its
probability (they sum to 1); with an ``rng`` one branch is followed. The
probability used is the kernel's, round(P·2³¹)/2³¹ (kube-proxy's
``0.3333333333`` is applied as 0.33333333349). ``--mode nth`` is a
1-in-``every`` chance.

The caller routes: it evaluates PREROUTING, decides INPUT or FORWARD from
the returned packet's (translated) destination, picks ``out_interface`` and
``masquerade_source``, and re-routes after OUTPUT when NAT or MARK changed
the packet.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal, TypeAlias

from netsim.netfilter.compiled import (
    CompiledRuleset,
    compile_ruleset,
    first_match_index,
)
from netsim.netfilter.conntrack import (
    CONFIRMED_BIT,
    DST_NAT_DONE_BIT,
    SEEN_REPLY_BIT,
    SRC_NAT_DONE_BIT,
    ConntrackEntry,
    ConntrackStatus,
    ConntrackTable,
    ConnTuple,
    can_start_connection,
    lookup,
    new_entry,
    tuple_of,
    with_status,
    without,
)
from netsim.netfilter.matching import Hook, HookContext
from netsim.netfilter.nat import (
    Manip,
    manip_of_hook,
    null_binding,
    translate,
)
from netsim.netfilter.packet import CtInfo, Packet
from netsim.netfilter.recent import RecentState
from netsim.netfilter.state_matching import ct_state_of
from netsim.netfilter.walk import Branch, NatChange, NatKind, RuleVisit, WalkEnv, run_table

__all__ = [
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

Verdict: TypeAlias = Literal["ACCEPT", "DROP", "REJECT"]
Step: TypeAlias = Literal["raw", "conntrack", "mangle", "nat", "filter", "security", "confirm"]

#: nf_ip_hook_priorities: RAW -300, CONNTRACK -200, MANGLE -150, NAT_DST -100,
#: FILTER 0, SECURITY 50, NAT_SRC 100, CONNTRACK_CONFIRM INT_MAX.
HOOK_STEPS: Mapping[Hook, tuple[Step, ...]] = MappingProxyType(
    {
        "PREROUTING": ("raw", "conntrack", "mangle", "nat"),
        "INPUT": ("mangle", "filter", "security", "nat", "confirm"),
        "FORWARD": ("mangle", "filter", "security"),
        "OUTPUT": ("raw", "conntrack", "mangle", "nat", "filter", "security"),
        "POSTROUTING": ("mangle", "nat", "confirm"),
    }
)


@dataclass(frozen=True, slots=True)
class HookOutcome:
    """One way the hook can end for the packet, with its probability."""

    probability: float
    verdict: Verdict
    reject_with: str | None
    packet: Packet
    visits: tuple[RuleVisit, ...]
    nat: tuple[NatChange, ...]
    conntrack: ConntrackTable
    recent: RecentState
    ct_state: str
    is_reply: bool


# --- conntrack and nat steps ----------------------------------------------------------


def _conntrack_in(b: Branch) -> None:
    """``nf_conntrack_in``: find or create the packet's entry and say how it relates."""
    packet = b.packet
    if packet.ctinfo is not None:  # untracked, or already attached (loopback)
        return
    t = tuple_of(packet)
    if t is None:
        return  # not trackable: the rules see INVALID
    found = lookup(b.conntrack, t)
    if found is not None and not int(found[0].status) & CONFIRMED_BIT:
        found = None  # another packet's unconfirmed entry (a trace left unfinished): start over
    if found is None:
        if not can_start_connection(t):
            return
        b.set_entry(new_entry(t))
        b.packet = _with_ct(packet, t, "NEW")
        return
    entry, is_reply = found
    if is_reply:
        entry = with_status(entry, ConntrackStatus.SEEN_REPLY)
        ctinfo: Literal["NEW", "ESTABLISHED", "ESTABLISHED_REPLY"] = "ESTABLISHED_REPLY"
    elif int(entry.status) & SEEN_REPLY_BIT:
        entry = with_status(entry, ConntrackStatus.ASSURED)
        ctinfo = "ESTABLISHED"
    else:
        ctinfo = "NEW"
    if entry != found[0]:
        b.set_entry(entry)
    else:
        b.entry = entry
    b.packet = _with_ct(packet, entry.original, ctinfo)


def _with_ct(packet: Packet, ct: ConnTuple, ctinfo: CtInfo) -> Packet:
    """``replace(packet, ct=ct, ctinfo=ctinfo)``, made directly (this runs at every hook)."""
    p = packet
    return Packet(
        p.src,
        p.dst,
        p.protocol,
        p.sport,
        p.dport,
        p.mark,
        p.tcp_flags,
        p.ttl,
        p.length,
        p.icmp_type,
        p.icmp_code,
        p.is_fragment,
        ct,
        ctinfo,
    )


_CONNTRACK_KINDS: Mapping[tuple[Manip, bool], NatKind] = MappingProxyType(
    {
        ("DST", False): "DNAT",
        ("SRC", False): "SNAT",
        ("DST", True): "un-SNAT",
        ("SRC", True): "un-DNAT",
    }
)


def _translate(b: Branch, manip: Manip) -> None:
    """``nf_nat_packet``: rewrite the packet from its entry and record the change."""
    assert b.entry is not None
    is_reply = b.packet.ctinfo == "ESTABLISHED_REPLY"
    before = b.packet
    after = translate(before, b.entry, manip, is_reply)
    decided, b.decided_by = b.decided_by, None
    if after == before:
        return
    b.packet = after
    kind, by = decided if decided is not None else (_CONNTRACK_KINDS[manip, is_reply], "conntrack")
    if manip == "DST":
        change = NatChange(kind, "dst", (before.dst, before.dport), (after.dst, after.dport), by)
    else:
        change = NatChange(kind, "src", (before.src, before.sport), (after.src, after.sport), by)
    b.nat.append(change)


def _nat(env: WalkEnv, b: Branch) -> list[Branch]:
    """The nat hook: walk nat for an undecided NEW connection, then translate."""
    if "nat" not in env.rules.tables or b.entry is None or b.packet.ctinfo == "UNTRACKED":
        return [b]
    done_bit = SRC_NAT_DONE_BIT if env.manip == "SRC" else DST_NAT_DONE_BIT
    branches = [b]
    if b.packet.ctinfo == "NEW" and not int(b.entry.status) & done_bit:
        branches = run_table(env, "nat", b)
    for branch in branches:
        if branch.verdict is not None or branch.entry is None:
            continue
        if not int(branch.entry.status) & done_bit:
            branch.set_entry(null_binding(branch.conntrack, branch.entry, env.manip))
        _translate(branch, env.manip)
    return branches


def _confirm(b: Branch) -> None:
    """``nf_conntrack_confirm``: the entry is now in the table for good."""
    if b.entry is not None and not int(b.entry.status) & CONFIRMED_BIT:
        b.set_entry(with_status(b.entry, ConntrackStatus.CONFIRMED))


def _step(env: WalkEnv, step: Step, b: Branch) -> list[Branch]:
    if step == "conntrack":
        _conntrack_in(b)
        return [b]
    if step == "confirm":
        _confirm(b)
        return [b]
    if step == "nat":
        return _nat(env, b)
    return run_table(env, step, b)


# --- the hook -------------------------------------------------------------------------


def _attached(packet: Packet, conntrack: ConntrackTable) -> tuple[Packet, ConntrackEntry | None]:
    """The packet's entry from ``Packet.ct``; a stale reference is dropped."""
    if packet.ct is None:
        return packet, None
    found = lookup(conntrack, packet.ct)
    if found is None:
        return replace(packet, ct=None, ctinfo=None), None
    return packet, found[0]


def _outcome(b: Branch) -> HookOutcome:
    conntrack = b.conntrack
    if b.verdict is not None and b.entry is not None and not int(b.entry.status) & CONFIRMED_BIT:
        conntrack = without(conntrack, b.entry)  # the unconfirmed entry dies with the packet
    return HookOutcome(
        probability=b.probability,
        verdict=b.verdict or "ACCEPT",
        reject_with=b.reject_with,
        packet=b.packet,
        visits=tuple(b.visits),
        nat=tuple(b.nat),
        conntrack=conntrack,
        recent=b.recent,
        ct_state=ct_state_of(b.packet, b.entry),
        is_reply=b.packet.ctinfo == "ESTABLISHED_REPLY",
    )


def evaluate_hook(
    rules: CompiledRuleset,
    packet: Packet,
    ctx: HookContext,
    conntrack: ConntrackTable,
    recent: RecentState,
    *,
    rng: random.Random | None = None,
) -> tuple[HookOutcome, ...]:
    """Every way ``packet`` can leave hook ``ctx.hook``, with its probability.

    Args:
        rules: the namespace's compiled ruleset.
        packet: the packet as it reaches the hook (from the previous hook's outcome).
        ctx: what the namespace knows at this hook.
        conntrack: the namespace's conntrack table.
        recent: the namespace's ``-m recent`` lists.
        rng: follow one statistic branch drawn from it (None: return them all).

    Returns:
        The outcomes, in rule order of the branches taken; their probabilities
        sum to 1 (with an rng: one outcome of probability 1).

    Raises:
        UnsupportedError: a rule the packet reaches uses a match or target
            netsim cannot decide; the message names table, chain, position and text.

    A packet handed to INPUT, FORWARD or POSTROUTING without a conntrack
    reference is looked up (or tracked) there, as if PREROUTING had had no rules.
    """
    if ctx.hook not in HOOK_STEPS:
        raise ValueError(f"unknown hook {ctx.hook!r} (one of {', '.join(HOOK_STEPS)})")
    packet, entry = _attached(packet, conntrack)
    start = Branch(1.0, packet, entry, conntrack, recent, [], [])
    if ctx.hook not in ("PREROUTING", "OUTPUT"):
        _conntrack_in(start)
    env = WalkEnv(rules, ctx, rng, manip_of_hook(ctx.hook))
    branches = [start]
    for step in HOOK_STEPS[ctx.hook]:
        branches = [
            after
            for branch in branches
            for after in ([branch] if branch.verdict is not None else _step(env, step, branch))
        ]
    return tuple(_outcome(b) for b in branches)
