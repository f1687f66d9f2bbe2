"""Compiling a ruleset: each rule's tests as callables, long chains indexed by port.

:func:`compile_ruleset` compiles every chain once, the first time it is read
(:class:`LazyChains`; :func:`compile_all` does the rest at once); :func:`overlay_compiled`
compiles only the chains a node changes and lays them over a shared base
(:class:`ChainOverlay`). The bucket index a long chain gets, and why it keeps
first-match order, is described in :mod:`netsim.netfilter.compiled`.

Not here: the compiled values (``compiled_rules``) and the search through an
indexed chain (``first_match``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from types import MappingProxyType
from typing import Any

from netsim.netfilter.compiled_rules import (
    ANY_DESTINATION,
    BuiltinPart,
    Check,
    CheckKind,
    CompiledChain,
    CompiledRule,
    CompiledRuleset,
    CompiledTable,
    IndexKey,
    RuleCheck,
)
from netsim.netfilter.matching import (
    MATCHERS,
    match_destination,
    match_fragment,
    match_in_interface,
    match_out_interface,
    match_protocol,
    match_source,
)
from netsim.netfilter.packet import SCTP, TCP, UDP
from netsim.netfilter.ruleset import (
    Chain,
    CommentMatch,
    LimitMatch,
    Match,
    NfacctMatch,
    RecentMatch,
    Rule,
    Ruleset,
    SctpMatch,
    StatisticMatch,
    TcpMatch,
    UdpMatch,
)

__all__ = [
    "INDEX_MIN_RULES",
    "ChainOverlay",
    "LazyChains",
    "compile_all",
    "compile_ruleset",
    "compile_tables",
    "overlay_compiled",
]

INDEX_MIN_RULES = 16  # shorter chains are walked rule by rule; indexing them saves nothing
MERGE_BUDGET = 1_000_000  # bucket entries precomputed with the always-candidates merged in
INDEXED_PROTOCOLS: Mapping[int, type] = MappingProxyType(
    {TCP: TcpMatch, UDP: UdpMatch, SCTP: SctpMatch}
)


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

    @property
    def base(self) -> Mapping[str, CompiledChain]:
        """The shared chains under this table's own."""
        return self._base

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


class LazyChains(Mapping[str, CompiledChain]):
    """A table's compiled chains by name, each compiled the first time it is read.

    A kube-proxy table at scale holds tens of thousands of chains and a packet
    reaches a handful; compiling one is a pure function of the chain, so
    compiling it late gives the same value. ``compile_all`` compiles the rest.
    The chains may be a mapping that itself parses each when read
    (:class:`~netsim.netfilter.parse_lazy.ChainsByName`).

    >>> from netsim.netfilter.ruleset import Chain
    >>> chains = LazyChains((Chain("A"), Chain("B", "ACCEPT")))
    >>> list(chains), chains.compiled_count(), chains["B"].policy, chains.compiled_count()
    (['A', 'B'], 0, 'ACCEPT', 1)
    """

    __slots__ = ("_chains", "_compiled")

    def __init__(self, chains: Iterable[Chain] | Mapping[str, Chain]) -> None:
        self._chains: Mapping[str, Chain] = (
            chains if isinstance(chains, Mapping) else {chain.name: chain for chain in chains}
        )
        self._compiled: dict[str, CompiledChain] = {}

    def __getitem__(self, name: str) -> CompiledChain:
        found = self._compiled.get(name)
        if found is None:
            found = self._compiled[name] = _compile_chain(self._chains[name])
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._chains

    def __iter__(self) -> Iterator[str]:
        return iter(self._chains)

    def __len__(self) -> int:
        return len(self._chains)

    def compiled_count(self) -> int:
        """How many chains are compiled so far."""
        return len(self._compiled)

    def compile_all(self) -> None:
        """Compile every chain now."""
        if len(self._compiled) < len(self._chains):
            for name in self._chains:
                self[name]


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
    """Compile ``ruleset``: each chain once, when first read; evaluations then share it.

    >>> from netsim.netfilter.ruleset import Table, Chain, Rule, AcceptTarget
    >>> rs = Ruleset((Table("filter", (Chain("INPUT", "ACCEPT", rules=(Rule(),)),)),))
    >>> compile_ruleset(rs).tables["filter"].chains["INPUT"].rules[0].tests
    ()
    """
    return compile_tables({table.name: table.chains for table in ruleset.tables}, ruleset)


def compile_tables(
    tables: Mapping[str, Iterable[Chain] | Mapping[str, Chain]],
    ruleset: Ruleset | Callable[[], Ruleset],
) -> CompiledRuleset:
    """Compile the chains of ``tables`` (table name to its chains), each when first read.

    Args:
        tables: the ruleset's tables, their chains in order, or by name; a
            chain given by name is only read when it is first compiled (a
            payload parsed chain by chain,
            :func:`~netsim.netfilter.parse_lazy.parse_by_chain`).
        ruleset: the same ruleset whole, or a function making it on demand.
    """
    compiled = {name: CompiledTable(name, LazyChains(chains)) for name, chains in tables.items()}
    return CompiledRuleset(ruleset, MappingProxyType(compiled))


def compile_all(compiled: CompiledRuleset) -> None:
    """Compile every chain of ``compiled`` now rather than when first read."""
    for table in compiled.tables.values():
        chains = table.chains
        if isinstance(chains, ChainOverlay):
            chains = chains.base
        if isinstance(chains, LazyChains):
            chains.compile_all()


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
