"""The compiled form of a ruleset: per-rule tests, indexed chains, and their cached texts.

:func:`~netsim.netfilter.compiler.compile_ruleset` makes these values;
:mod:`netsim.netfilter.first_match` and :mod:`netsim.netfilter.walk` read
them. A :class:`RuleCheck` is one test of a rule (a PURE callable, a
statistic draw, a recent-list check, or a note); a :class:`CompiledChain`
holds its rules with the bucket index described in
:mod:`netsim.netfilter.compiled`. :func:`rule_text` and
:func:`describe_check` render a rule or a test once and keep the text.

Not here: how the values are built (``compiler``) or searched (``first_match``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, TypeAlias

from netsim.netfilter.conntrack import ConntrackEntry
from netsim.netfilter.matching import HookContext
from netsim.netfilter.packet import Packet
from netsim.netfilter.render import render_rule
from netsim.netfilter.render_matches import render_match
from netsim.netfilter.ruleset import (
    Chain,
    Match,
    Policy,
    Rule,
    Ruleset,
    protocol_name,
)

__all__ = [
    "ANY_DESTINATION",
    "BuiltinPart",
    "Check",
    "CheckKind",
    "CompiledChain",
    "CompiledRule",
    "CompiledRuleset",
    "CompiledTable",
    "IndexKey",
    "RuleCheck",
    "describe_check",
    "rule_text",
]

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


def rule_text(rule: CompiledRule, chain: str) -> str:
    """The rule as ``iptables-save`` prints it without counters, rendered once and kept.

    >>> from netsim.netfilter.compiler import _compile_chain
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
