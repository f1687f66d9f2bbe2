"""Walking one table's chains for one packet: rule tests, targets, forks.

``run_table(env, table, branch)`` walks the hook's built-in chain of one
table the way ``ipt_do_table`` does: rules in order (through the chain index
of ``netsim.netfilter.compiled``), ``-j`` pushing a return point and ``-g``
not, ``RETURN`` and the end of a user chain popping it, the built-in chain's
policy when none is left; ACCEPT ends the table, DROP and REJECT the hook;
MARK, CONNMARK, LOG, NOTRACK and CT go on; a NAT target decides the
connection's translation (``netsim.netfilter.nat``) and ends the table.

A ``Branch`` is the mutable state of one way through the hook (probability,
packet, conntrack entry and table, recent lists, visits, NAT changes,
verdict). A statistic test without an rng forks it: the branch where the
test fails is queued and walked after the current one, so the branches come
out in rule order. Every rule looked at is recorded as a ``RuleVisit``.

Used by ``netsim.netfilter.evaluate``, which runs the tables of a hook in
order, conntrack and the nat hook's translation around them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from ipaddress import IPv4Address
from typing import Literal, TypeAlias

from netsim.errors import UnsupportedError
from netsim.netfilter.compiled import (
    CheckKind,
    CompiledChain,
    CompiledRule,
    CompiledRuleset,
    candidates,
    describe_check,
    rule_text,
)
from netsim.netfilter.conntrack import ConntrackEntry, ConntrackTable, with_entry
from netsim.netfilter.matching import HookContext
from netsim.netfilter.nat import Manip, NatTarget, current_tuple, request_of, setup_nat
from netsim.netfilter.packet import Packet
from netsim.netfilter.recent import RecentState, check_recent
from netsim.netfilter.render import render_target
from netsim.netfilter.ruleset import (
    ALL_ONES,
    AcceptTarget,
    ConnmarkTarget,
    CtTarget,
    DnatTarget,
    DropTarget,
    JumpTarget,
    LogTarget,
    MarkTarget,
    MasqueradeTarget,
    NotrackTarget,
    RecentMatch,
    RedirectTarget,
    RejectTarget,
    ReturnTarget,
    SnatTarget,
    StatisticMatch,
)
from netsim.netfilter.state_matching import statistic_probability

__all__ = ["Branch", "NatChange", "NatKind", "RuleVisit", "WalkEnv", "run_table"]

NatKind: TypeAlias = Literal["DNAT", "SNAT", "MASQUERADE", "REDIRECT", "un-DNAT", "un-SNAT"]


@dataclass(frozen=True, slots=True)
class RuleVisit:
    """One rule looked at (or a chain's policy applied), for the trace.

    ``index`` is the rule's 0-based position among ``count`` rules (a policy
    has ``index == count``); ``probability`` is set for rules with a statistic
    match: the chance of the branch taken there.
    """

    table: str
    chain: str
    index: int
    count: int
    text: str
    matched: bool
    action: str
    probability: float | None = None


@dataclass(frozen=True, slots=True)
class NatChange:
    """One address/port rewrite of the packet, by a rule or from the conntrack entry."""

    kind: NatKind
    field: Literal["dst", "src"]
    old: tuple[IPv4Address, int]
    new: tuple[IPv4Address, int]
    by: str | None


@dataclass(slots=True)
class Branch:
    """The mutable state of one way through the hook; copied when a statistic match forks."""

    probability: float
    packet: Packet
    entry: ConntrackEntry | None
    conntrack: ConntrackTable
    recent: RecentState
    visits: list[RuleVisit]
    nat: list[NatChange]
    verdict: Literal["DROP", "REJECT"] | None = None
    reject_with: str | None = None
    decided_by: tuple[NatKind, str] | None = None  # the NAT rule that fired at this hook

    def fork(self, probability: float) -> Branch:
        """A copy with its own lists, for the other outcome of a statistic test."""
        return Branch(
            probability,
            self.packet,
            self.entry,
            self.conntrack,
            self.recent,
            list(self.visits),
            list(self.nat),
            self.verdict,
            self.reject_with,
            self.decided_by,
        )

    def set_entry(self, entry: ConntrackEntry) -> None:
        """Replace the packet's conntrack entry, in the branch and in its table."""
        self.entry = entry
        self.conntrack = with_entry(self.conntrack, entry)


@dataclass(frozen=True, slots=True)
class WalkEnv:
    """What stays the same during one hook: rules, context, rng, the nat hook's manip."""

    rules: CompiledRuleset
    ctx: HookContext
    rng: random.Random | None
    manip: Manip


Frame: TypeAlias = tuple[CompiledChain, tuple[int, ...], int]  # chain, candidates, position
Resume: TypeAlias = tuple[Branch, CompiledChain, tuple[int, ...], int, tuple[Frame, ...]]


# --- visits ---------------------------------------------------------------------------


def _text(chain: CompiledChain, rule: CompiledRule) -> str:
    return rule_text(rule, chain.name)


def _visit(
    table: str,
    chain: CompiledChain,
    rule: CompiledRule,
    matched: bool,
    action: str,
    probability: float | None,
) -> RuleVisit:
    cache = rule.text_cache
    text = cache[0] if cache else rule_text(rule, chain.chain.name)
    return RuleVisit(
        table, chain.chain.name, rule.index, len(chain.rules), text, matched, action, probability
    )


def _policy(b: Branch, table: str, chain: CompiledChain) -> None:
    policy = chain.policy or "ACCEPT"
    count = len(chain.rules)
    text = f"-P {chain.name} {policy}"
    b.visits.append(RuleVisit(table, chain.name, count, count, text, True, f"policy {policy}"))
    if policy == "DROP":
        b.verdict = "DROP"


def _located(table: str, chain: CompiledChain, rule: CompiledRule, err: Exception) -> Exception:
    where = f"table {table} chain {chain.name} rule {rule.index + 1} of {len(chain.rules)}"
    return UnsupportedError(f"{where}: {_text(chain, rule)}: {err}")


# --- matching a rule ------------------------------------------------------------------

_NO_NOTES: list[str] = []  # shared by rules without notes; never appended to


def _recent_ttl(packet: Packet, ctx: HookContext) -> int:
    forwarded = ctx.in_interface is not None and ctx.out_interface is not None
    return packet.ttl + 1 if forwarded else packet.ttl


def _rule_matches(
    env: WalkEnv,
    table: str,
    b: Branch,
    resume: Resume,
    rule: CompiledRule,
    work: list[Resume],
) -> tuple[bool, float | None, str, list[str]]:
    """Run the rule's tests in order: (matched, branch probability, why not, notes).

    A statistic test without an rng forks: the branch where it does not match
    is queued on ``work`` (resuming after this rule) and this one goes on.
    """
    probability: float | None = None
    notes: list[str] = _NO_NOTES
    ctx = env.ctx
    if rule.is_pure:
        packet, entry = b.packet, b.entry
        for test in rule.tests:
            if not test.check(packet, ctx, entry):  # type: ignore[misc]
                return False, None, f"no match: {describe_check(test)}", notes
        return True, None, "", notes
    for test in rule.tests:
        if test.kind == CheckKind.PURE:
            assert test.check is not None
            if not test.check(b.packet, ctx, b.entry):
                return False, probability, f"no match: {describe_check(test)}", notes
        elif test.kind == CheckKind.STATISTIC:
            assert isinstance(test.part, StatisticMatch)
            chance = statistic_probability(test.part)
            so_far = 1.0 if probability is None else probability
            if env.rng is not None:
                m = test.part
                base = m.kernel_probability if m.mode == "random" else 1.0 / (m.every or 1)
                taken = (env.rng.random() < base) != m.negated
                probability = so_far * (chance if taken else 1.0 - chance)
                if not taken:
                    return False, probability, "no match: -m statistic not taken", notes
            elif chance <= 0.0:
                return False, so_far, "no match: -m statistic never matches", notes
            else:
                if chance < 1.0:
                    other = b.fork(b.probability * (1.0 - chance))
                    chain, cands, position, stack = resume[1:]
                    other.visits.append(
                        _visit(
                            table,
                            chain,
                            rule,
                            False,
                            "no match: -m statistic not taken",
                            so_far * (1.0 - chance),
                        )
                    )
                    work.append((other, chain, cands, position + 1, stack))
                    b.probability *= chance
                probability = so_far * chance
        elif test.kind == CheckKind.RECENT:
            assert isinstance(test.part, RecentMatch)
            ttl = _recent_ttl(b.packet, ctx)
            hit, b.recent = check_recent(
                test.part, b.packet.src, b.packet.dst, ttl, ctx.now, b.recent
            )
            if not hit:
                return False, probability, f"no match: {describe_check(test)}", notes
        else:
            assert test.note is not None
            notes = [*notes, test.note]
    return True, probability, "", notes


# --- targets --------------------------------------------------------------------------


def _mark_text(value: int) -> str:
    return f"0x{value:x}"


def _apply_nat_target(env: WalkEnv, b: Branch, target: NatTarget, text: str) -> str:
    """Decide the connection's translation; the packet is rewritten after the walk."""
    request = request_of(target, env.ctx)
    if request is None:
        b.verdict = "DROP"
        what = "masquerade_source" if isinstance(target, MasqueradeTarget) else "redirect_address"
        return f"{target.name}: no address to use ({what} unknown): packet dropped"
    assert b.entry is not None
    entry = setup_nat(b.conntrack, b.entry, env.manip, request)
    b.set_entry(entry)
    b.decided_by = (request.kind, text)
    translated = current_tuple(entry)
    if env.manip == "DST":
        address, port = translated.dst, translated.dport
    else:
        address, port = translated.src, translated.sport
    action = f"{request.kind} to {address}:{port}"
    if getattr(target, "random_fully", False) or getattr(target, "random", False):
        action += " (the kernel would pick a random port; netsim keeps it)"
    return action


def _apply_connmark(b: Branch, target: ConnmarkTarget) -> str:
    entry = b.entry
    if entry is None:
        return f"CONNMARK {target.mode}: no conntrack entry, nothing done"
    if target.mode == "restore":
        mark = (b.packet.mark & ~target.nfmask & ALL_ONES) ^ (entry.mark & target.ctmask)
        b.packet = replace(b.packet, mark=mark)
        return f"CONNMARK restore (mark {_mark_text(mark)})"
    if target.mode == "save":
        ctmark = (entry.mark & ~target.ctmask & ALL_ONES) ^ (b.packet.mark & target.nfmask)
    else:
        ctmark = (entry.mark & ~target.ctmask & ALL_ONES) ^ target.value
    b.set_entry(replace(entry, mark=ctmark))
    return f"CONNMARK {target.mode} (ctmark {_mark_text(ctmark)})"


# --- walking one table ----------------------------------------------------------------


def _walk(env: WalkEnv, table: str, resume: Resume, work: list[Resume]) -> Branch:
    """Walk from ``resume`` until the table is done for this branch."""
    b, chain, cands, position, stack = resume
    chains = env.rules.tables[table].chains
    builtin = chains[env.ctx.hook]  # an empty stack returns to its policy, even after -g
    while True:
        if position >= len(cands):
            if stack:
                chain, cands, position = stack[-1]
                stack = stack[:-1]
                continue
            _policy(b, table, builtin)
            return b
        rule = chain.rules[cands[position]]
        try:
            matched, probability, why, notes = _rule_matches(
                env, table, b, (b, chain, cands, position, stack), rule, work
            )
        except UnsupportedError as err:
            raise _located(table, chain, rule, err) from err
        if not matched:
            b.visits.append(_visit(table, chain, rule, False, why, probability))
            position += 1
            continue
        target = rule.rule.target
        here = chain
        position += 1
        action: str
        done = False
        match target:
            case None:
                action = "no target"
            case JumpTarget():
                action = f"{'goto' if rule.rule.goto else 'jump'} {target.chain}"
                if not rule.rule.goto:
                    stack = (*stack, (chain, cands, position))
                chain = chains[target.chain]
                cands, position = candidates(chain, b.packet), 0
            case ReturnTarget():
                action = "RETURN"
                if stack:
                    chain, cands, position = stack[-1]
                    stack = stack[:-1]
                else:  # RETURN in a built-in chain: its policy decides
                    position = len(cands)
            case AcceptTarget():
                action, done = "ACCEPT", True
            case DropTarget():
                action, done = "DROP", True
                b.verdict = "DROP"
            case RejectTarget():
                action, done = "REJECT", True
                b.verdict, b.reject_with = "REJECT", target.reject_with
            case MarkTarget():
                mark = (b.packet.mark & ~target.mask & ALL_ONES) ^ target.value
                b.packet = replace(b.packet, mark=mark)
                action = (
                    f"MARK set {_mark_text(target.value)}/{_mark_text(target.mask)}"
                    f" (mark {_mark_text(mark)})"
                )
            case ConnmarkTarget():
                action = _apply_connmark(b, target)
            case LogTarget():
                options = render_target(target).removeprefix("-j LOG").strip()
                action = f"LOG {options}" if options else "LOG"
            case NotrackTarget():
                b.packet = replace(b.packet, ct=None, ctinfo="UNTRACKED")
                b.entry = None
                action = "NOTRACK: the packet is not tracked"
            case CtTarget():
                if target.helper is not None or target.zone is not None:
                    refused = UnsupportedError(
                        "CT --helper/--zone: netsim models no helpers or zones"
                    )
                    raise _located(table, here, rule, refused)
                action = "CT (no change)"
                if target.notrack:
                    b.packet = replace(b.packet, ct=None, ctinfo="UNTRACKED")
                    b.entry = None
                    action = "CT --notrack: the packet is not tracked"
            case DnatTarget() | SnatTarget() | MasqueradeTarget() | RedirectTarget():
                action = _apply_nat_target(env, b, target, _text(here, rule))
                done = True
        if notes:
            action += "; " + "; ".join(notes)
        b.visits.append(_visit(table, here, rule, True, action, probability))
        if done:
            return b


def run_table(env: WalkEnv, table: str, b: Branch) -> list[Branch]:
    """Walk the hook's built-in chain of ``table``; one branch per statistic outcome."""
    compiled = env.rules.tables.get(table)
    chain = compiled.chains.get(env.ctx.hook) if compiled is not None else None
    if chain is None:
        return [b]
    work: list[Resume] = [(b, chain, candidates(chain, b.packet), 0, ())]
    done: list[Branch] = []
    while work:
        done.append(_walk(env, table, work.pop(), work))
    return done
