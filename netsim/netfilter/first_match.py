"""Searching an indexed chain: a packet's candidate rules and the first that matches.

:func:`candidates` reads a chain's bucket index (see
:mod:`netsim.netfilter.compiled`) and returns the rules that may match a
packet, in rule order; :func:`first_match_index` runs their tests and returns
the first rule's position, counting statistic and recent matches as matching.

Not here: targets, jumps and forks (``walk``), conntrack and NAT (``evaluate``).
"""

from __future__ import annotations

import heapq

from netsim.netfilter.compiled_rules import (
    ANY_DESTINATION,
    CheckKind,
    CompiledChain,
    CompiledRule,
    CompiledRuleset,
)
from netsim.netfilter.conntrack import ConntrackEntry
from netsim.netfilter.matching import HookContext
from netsim.netfilter.packet import Packet
from netsim.netfilter.recent import RecentState, check_recent
from netsim.netfilter.ruleset import RecentMatch, StatisticMatch
from netsim.netfilter.state_matching import statistic_probability

__all__ = ["candidates", "first_match_index"]


def candidates(chain: CompiledChain, packet: Packet) -> tuple[int, ...]:
    """The indexes of the rules that may match ``packet``, in rule order.

    For an unindexed chain that is every rule. A non-first fragment can match
    no port test, so it gets only the always-candidates.
    """
    buckets = chain.buckets
    if buckets is None or packet.is_fragment:
        return chain.always
    bucket = buckets.get((int(packet.dst), packet.protocol, packet.dport))
    if bucket is None:
        bucket = buckets.get((ANY_DESTINATION, packet.protocol, packet.dport))
        if bucket is None:
            return chain.always
    if chain.merged:
        return bucket
    return tuple(heapq.merge(chain.always, bucket))


def _may_match(
    rule: CompiledRule, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    for test in rule.tests:
        if test.kind == CheckKind.PURE:
            assert test.check is not None
            if not test.check(packet, ctx, entry):
                return False
        elif test.kind == CheckKind.STATISTIC:
            assert isinstance(test.part, StatisticMatch)
            if statistic_probability(test.part) <= 0.0:
                return False
        elif test.kind == CheckKind.RECENT:
            assert isinstance(test.part, RecentMatch)
            hit, _ = check_recent(
                test.part, packet.src, packet.dst, packet.ttl, ctx.now, RecentState()
            )
            if not hit:
                return False
    return True


def first_match_index(
    compiled: CompiledRuleset,
    table: str,
    chain: str,
    packet: Packet,
    ctx: HookContext,
    entry: ConntrackEntry | None = None,
) -> int | None:
    """The 0-based index of the first rule of ``table``/``chain`` that matches, or None.

    Only the chain itself is searched (jumps are not followed). A statistic
    match counts as matching when its chance is not zero; a recent match is
    checked against empty lists (and records nothing). Conntrack tests see
    ``entry`` and the packet's ``ctinfo``.

    Raises:
        KeyError: no such table or chain.
        UnsupportedError: a candidate rule uses a match netsim cannot decide.
    """
    compiled_chain = compiled.tables[table].chains[chain]
    rules = compiled_chain.rules
    for index in candidates(compiled_chain, packet):
        rule = rules[index]
        if rule.is_pure:
            for test in rule.tests:
                if not test.check(packet, ctx, entry):  # type: ignore[misc]
                    break
            else:
                return index
        elif _may_match(rule, packet, ctx, entry):
            return index
    return None
