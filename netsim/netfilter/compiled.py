"""A ruleset prepared for evaluation: rule tests as callables, long chains indexed.

``compile_ruleset`` turns each rule into the sequence of tests the kernel
runs for it — the built-in ``-s/-d/-i/-o/-p/-f`` tests first
(``ip_packet_match``), then each ``-m`` match in rule order — dropping
``-m comment`` (it always matches and changes nothing).

A chain of ``INDEX_MIN_RULES`` rules or more is indexed the way a long
``KUBE-SERVICES`` chain needs: every rule that tests exactly one destination
address (``-d A/32``), one port protocol (``-p tcp|udp|sctp``) and one
destination port (``--dport P``) goes into a bucket keyed by
``(A, protocol, P)``; a rule testing the protocol and port but no address
(``KUBE-NODEPORTS``) into the bucket ``(any, protocol, P)``; every other rule
is "always a candidate". A packet's candidates are its address's bucket (or,
without one, the any-address bucket of its port), the any-address rules of its
port and the always-candidates, merged in rule order, so
first-match semantics and rule positions are exactly those of a linear walk:
a rule left out can never match the packet. Rules reached through their
bucket skip the three tests the key already decided.

``first_match_index`` is the index at work on its own: the position of the
first rule of a chain that matches a packet (statistic and recent count as
matching, see its docstring).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from functools import partial
from types import MappingProxyType
from typing import Any, TypeAlias

from netsim.netfilter.conntrack import ConntrackEntry
from netsim.netfilter.matching import (
    MATCHERS,
    HookContext,
    match_destination,
    match_fragment,
    match_in_interface,
    match_out_interface,
    match_protocol,
    match_source,
    statistic_probability,
)
from netsim.netfilter.packet import SCTP, TCP, UDP, Packet
from netsim.netfilter.recent import RecentState, check_recent
from netsim.netfilter.render import render_match, render_rule
from netsim.netfilter.ruleset import (
    Chain,
    CommentMatch,
    LimitMatch,
    Match,
    NfacctMatch,
    Policy,
    RecentMatch,
    Rule,
    Ruleset,
    SctpMatch,
    StatisticMatch,
    TcpMatch,
    UdpMatch,
    protocol_name,
)

__all__ = [
    "INDEX_MIN_RULES",
    "ChainOverlay",
    "CheckKind",
    "CompiledChain",
    "CompiledRule",
    "CompiledRuleset",
    "CompiledTable",
    "RuleCheck",
    "candidates",
    "compile_ruleset",
    "describe_check",
    "first_match_index",
    "overlay_compiled",
    "rule_text",
]

INDEX_MIN_RULES = 16  # shorter chains are walked rule by rule; indexing them saves nothing
MERGE_BUDGET = 1_000_000  # bucket entries precomputed with the always-candidates merged in
INDEXED_PROTOCOLS: Mapping[int, type] = MappingProxyType(
    {TCP: TcpMatch, UDP: UdpMatch, SCTP: SctpMatch}
)

Check: TypeAlias = Callable[[Packet, HookContext, ConntrackEntry | None], bool]
IndexKey: TypeAlias = tuple[int, int, int]  # destination as int, protocol, destination port
ANY_DESTINATION = -1  # the key's address for rules without ``-d`` (KUBE-NODEPORTS' rules)
BuiltinPart: TypeAlias = tuple[str, Any]  # ("-s", Negatable[IPv4Network]), ("-f", bool), ...


class CheckKind(IntEnum):
    """How the evaluator runs a test."""

    PURE = 0  # a function of packet, context and conntrack entry
    STATISTIC = 1  # a random draw: the evaluator forks or draws
    RECENT = 2  # reads and writes the recent lists
    NOTE = 3  # always matches, but the trace says what was assumed


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """One test of a rule: its kind, the callable for PURE ones, and what it came from."""

    kind: CheckKind
    check: Check | None
    part: Match | BuiltinPart
    note: str | None = None
    text_cache: list[str] = field(default_factory=list, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule, its 0-based index in its chain, and the tests left to run when it is reached."""

    index: int
    rule: Rule
    tests: tuple[RuleCheck, ...]
    is_pure: bool
    text_cache: list[str] = field(default_factory=list, compare=False, repr=False)  # rule_text


@dataclass(frozen=True, slots=True)
class CompiledChain:
    """A chain's rules with its index (``buckets`` None: not indexed, ``always`` is every rule)."""

    chain: Chain
    rules: tuple[CompiledRule, ...]
    always: tuple[int, ...]
    buckets: Mapping[IndexKey, tuple[int, ...]] | None
    merged: bool

    @property
    def name(self) -> str:
        """The chain's name."""
        return self.chain.name

    @property
    def policy(self) -> Policy | None:
        """The built-in chain's policy (None for user chains)."""
        return self.chain.policy


@dataclass(frozen=True, slots=True)
class CompiledTable:
    """A table's compiled chains by name."""

    name: str
    chains: Mapping[str, CompiledChain]


class CompiledRuleset:
    """The ruleset and its compiled tables by name (immutable).

    ``ruleset`` may be handed over as a function that makes it: rulesets made
    by :func:`overlay_compiled` share all but a few compiled chains with a
    base ruleset, and their own :class:`Ruleset` (hundreds of thousands of
    chains at scale) is only assembled when someone reads it.
    """

    __slots__ = ("_make_ruleset", "_ruleset", "tables")

    _ruleset: Ruleset | None
    _make_ruleset: Callable[[], Ruleset] | None
    tables: Mapping[str, CompiledTable]

    def __init__(
        self, ruleset: Ruleset | Callable[[], Ruleset], tables: Mapping[str, CompiledTable]
    ) -> None:
        made = isinstance(ruleset, Ruleset)
        object.__setattr__(self, "_ruleset", ruleset if made else None)
        object.__setattr__(self, "_make_ruleset", None if made else ruleset)
        object.__setattr__(self, "tables", tables)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"CompiledRuleset is immutable: cannot set {name}")

    def __repr__(self) -> str:
        return f"CompiledRuleset(tables={sorted(self.tables)!r})"

    @property
    def ruleset(self) -> Ruleset:
        """The ruleset these tables were compiled from."""
        if self._ruleset is None:
            assert self._make_ruleset is not None
            object.__setattr__(self, "_ruleset", self._make_ruleset())
            object.__setattr__(self, "_make_ruleset", None)
        assert self._ruleset is not None
        return self._ruleset


class ChainOverlay(Mapping[str, CompiledChain]):
    """Compiled chains by name: a few of a table's own over a shared base table's.

    >>> from netsim.netfilter.ruleset import Chain
    >>> base = {"A": _compile_chain(Chain("A")), "B": _compile_chain(Chain("B"))}
    >>> top = {"B": _compile_chain(Chain("B", "ACCEPT")), "C": _compile_chain(Chain("C"))}
    >>> overlay = ChainOverlay(base, top)
    >>> list(overlay), overlay["B"].policy, len(overlay)
    (['A', 'B', 'C'], 'ACCEPT', 3)
    """

    __slots__ = ("_base", "_top")

    def __init__(self, base: Mapping[str, CompiledChain], top: Mapping[str, CompiledChain]) -> None:
        self._base = base
        self._top = top

    def __getitem__(self, name: str) -> CompiledChain:
        top = self._top
        if name in top:
            return top[name]
        return self._base[name]

    def __contains__(self, name: object) -> bool:
        return name in self._top or name in self._base

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        yield from (name for name in self._top if name not in self._base)

    def __len__(self) -> int:
        return len(self._base) + sum(1 for name in self._top if name not in self._base)


# --- compiling ------------------------------------------------------------------------


def _builtin_check(kind: str, value: Any) -> Check:
    if kind == "-s":
        return lambda p, c, e: match_source(value, p)
    if kind == "-d":
        return lambda p, c, e: match_destination(value, p)
    if kind == "-i":
        return lambda p, c, e: match_in_interface(value, c)
    if kind == "-o":
        return lambda p, c, e: match_out_interface(value, c)
    if kind == "-p":
        return lambda p, c, e: match_protocol(value, p)
    return lambda p, c, e: match_fragment(value, p)


def _builtin_tests(rule: Rule) -> list[RuleCheck]:
    parts: list[BuiltinPart] = [
        (kind, value)
        for kind, value in (
            ("-s", rule.source),
            ("-d", rule.destination),
            ("-i", rule.in_interface),
            ("-o", rule.out_interface),
            ("-p", rule.protocol),
            ("-f", rule.is_fragment),
        )
        if value is not None
    ]
    return [RuleCheck(CheckKind.PURE, _builtin_check(k, v), (k, v)) for k, v in parts]


def _match_test(match: Match) -> RuleCheck | None:
    if isinstance(match, CommentMatch):
        return None
    if isinstance(match, StatisticMatch):
        return RuleCheck(CheckKind.STATISTIC, None, match)
    if isinstance(match, RecentMatch):
        return RuleCheck(CheckKind.RECENT, None, match)
    if isinstance(match, LimitMatch):
        return RuleCheck(CheckKind.NOTE, None, match, "-m limit assumed not exceeded")
    if isinstance(match, NfacctMatch):
        return RuleCheck(CheckKind.NOTE, None, match, f"-m nfacct counted in {match.name}")
    return RuleCheck(CheckKind.PURE, partial(MATCHERS[type(match)], match), match)


def _index_key(rule: Rule) -> tuple[IndexKey, Match] | None:
    """The bucket of a rule that tests one protocol and port (and one address, or none).

    Returns the key and the port match the key decides, or None.
    """
    dst, proto = rule.destination, rule.protocol
    if dst is not None and (dst.negated or dst.value.prefixlen != 32):
        return None
    address = ANY_DESTINATION if dst is None else int(dst.value.network_address)
    if proto is None or proto.negated or proto.value not in INDEXED_PROTOCOLS:
        return None
    kind = INDEXED_PROTOCOLS[proto.value]
    for match in rule.matches:
        if isinstance(match, kind):
            assert isinstance(match, TcpMatch | UdpMatch | SctpMatch)
            dport = match.dport
            if dport is not None and not dport.negated and dport.value.is_single:
                return (address, proto.value, dport.value.first), match
    return None


def _covered(match: Match) -> bool:
    """Whether the index key decides all of this port match (it tests only ``--dport``)."""
    if isinstance(match, TcpMatch):
        return match.sport is None and match.tcp_flags is None and match.tcp_option is None
    return isinstance(match, UdpMatch | SctpMatch) and match.sport is None


def _decided_by_key(part: Match | BuiltinPart, port_match: Match) -> bool:
    if isinstance(part, tuple):
        return part[0] in ("-d", "-p")
    return part is port_match and _covered(part)


def _compile_chain(chain: Chain) -> CompiledChain:
    keys = [_index_key(rule) for rule in chain.rules]
    indexed = len(chain.rules) >= INDEX_MIN_RULES and sum(k is not None for k in keys) * 2 >= len(
        keys
    )
    rules: list[CompiledRule] = []
    always: list[int] = []
    buckets: dict[IndexKey, list[int]] = {}
    for index, (rule, key) in enumerate(zip(chain.rules, keys, strict=True)):
        tests = _builtin_tests(rule)
        for match in rule.matches:
            test = _match_test(match)
            if test is not None:
                tests.append(test)
        if indexed and key is not None:
            bucket, port_match = key
            buckets.setdefault(bucket, []).append(index)
            tests = [t for t in tests if not _decided_by_key(t.part, port_match)]
        elif indexed:
            always.append(index)
        pure = all(t.kind == CheckKind.PURE for t in tests)
        rules.append(CompiledRule(index, rule, tuple(tests), pure))
    if not indexed:
        every = tuple(range(len(rules)))
        return CompiledChain(chain, tuple(rules), every, None, False)
    merged = len(always) * len(buckets) <= MERGE_BUDGET
    frozen: dict[IndexKey, tuple[int, ...]] = {}
    for bucket_key, members in buckets.items():
        # an address's bucket holds the rules of any address for the same port too
        address, protocol, port = bucket_key
        wildcard = buckets.get((ANY_DESTINATION, protocol, port), []) if address >= 0 else []
        ordered = members + wildcard + always if merged else members + wildcard
        frozen[bucket_key] = tuple(sorted(ordered))
    return CompiledChain(chain, tuple(rules), tuple(always), MappingProxyType(frozen), merged)


def compile_ruleset(ruleset: Ruleset) -> CompiledRuleset:
    """Compile every chain of ``ruleset`` once; evaluations then share the result.

    >>> from netsim.netfilter.ruleset import Table, Chain, Rule, AcceptTarget
    >>> rs = Ruleset((Table("filter", (Chain("INPUT", "ACCEPT", rules=(Rule(),)),)),))
    >>> compile_ruleset(rs).tables["filter"].chains["INPUT"].rules[0].tests
    ()
    """
    tables = {
        table.name: CompiledTable(
            table.name,
            MappingProxyType({chain.name: _compile_chain(chain) for chain in table.chains}),
        )
        for table in ruleset.tables
    }
    return CompiledRuleset(ruleset, MappingProxyType(tables))


def overlay_compiled(
    base: CompiledRuleset,
    chains: Mapping[str, tuple[Chain, ...]],
    ruleset: Ruleset | Callable[[], Ruleset],
) -> CompiledRuleset:
    """``base`` with some chains replaced or added, compiling only those.

    Args:
        base: the compiled ruleset most chains come from (shared, not copied).
        chains: per table name, the chains that differ from ``base`` (every
            table named must exist in ``base``).
        ruleset: the whole resulting ruleset, or a function making it on demand.

    >>> from netsim.netfilter.ruleset import Table, Chain, Rule
    >>> rs = Ruleset((Table("filter", (Chain("INPUT", "ACCEPT"),)),))
    >>> more = Ruleset((Table("filter", (Chain("INPUT", "ACCEPT", rules=(Rule(),)),)),))
    >>> node = overlay_compiled(compile_ruleset(rs), {"filter": more.tables[0].chains}, more)
    >>> len(node.tables["filter"].chains["INPUT"].rules), node.ruleset is more
    (1, True)
    """
    tables = dict(base.tables)
    for name, changed in chains.items():
        shared = base.tables[name]
        own = {chain.name: _compile_chain(chain) for chain in changed}
        tables[name] = CompiledTable(name, ChainOverlay(shared.chains, MappingProxyType(own)))
    return CompiledRuleset(ruleset, MappingProxyType(tables))


# --- using the index ------------------------------------------------------------------


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


def rule_text(rule: CompiledRule, chain: str) -> str:
    """The rule as ``iptables-save`` prints it without counters, rendered once and kept.

    >>> from netsim.netfilter.ruleset import Chain, Rule
    >>> compiled = _compile_chain(Chain("X", rules=(Rule(),)))
    >>> rule_text(compiled.rules[0], "X")
    '-A X'
    """
    cache = rule.text_cache
    if not cache:
        plain = rule.rule if rule.rule.counters is None else replace(rule.rule, counters=None)
        cache.append(render_rule(chain, plain))
    return cache[0]


def describe_check(test: RuleCheck) -> str:
    """The rule text of one test, e.g. ``! -s 10.244.0.0/16`` or ``-m mark --mark 0x1``.

    >>> from ipaddress import IPv4Network
    >>> from netsim.netfilter.ruleset import Negatable
    >>> part = ("-s", Negatable(IPv4Network("10.0.0.0/8"), negated=True))
    >>> describe_check(RuleCheck(CheckKind.PURE, None, part))
    '! -s 10.0.0.0/8'
    """
    cache = test.text_cache
    if not cache:
        cache.append(_describe(test.part))
    return cache[0]


def _describe(part: Match | BuiltinPart) -> str:
    if isinstance(part, tuple):
        kind, value = part
        if kind == "-f":
            return "-f" if value else "! -f"
        if kind == "-p":
            return f"{'! ' if value.negated else ''}-p {protocol_name(value.value)}"
        return f"{'! ' if value.negated else ''}{kind} {value.value}"
    return render_match(part)


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
