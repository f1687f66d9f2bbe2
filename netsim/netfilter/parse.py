"""Parse an ``iptables-save`` dump (or an ``iptables-restore`` payload) into a ``Ruleset``.

The parser reads what ``iptables-restore`` (1.8.9) reads and judges it as the
kernel would, so a file it accepts is one the kernel would load. This module
reads the lines and assembles tables and chains:

* ``# ...`` comment lines, ``*table``, ``:CHAIN POLICY [p:b]`` and
  ``:CHAIN - [p:b]`` (counters optional), ``COMMIT``;
* ``-A CHAIN ...`` rules, with optional leading ``[p:b]`` counters
  (``iptables-save -c``) or ``-c p b``; ``-N CHAIN`` declares a user chain;
  ``-X CHAIN`` deletes one (kube-proxy writes ``:KUBE-SEP-X - [0:0]`` then
  ``-X KUBE-SEP-X`` for stale chains). Deletion is *applied*: the chain leaves
  the table; deleting a built-in, non-empty or still-referenced chain is an
  error, as ``CHAIN_DEL failed (Device or resource busy)`` is in the kernel.
  Declaring a chain again flushes it, as ``iptables-restore`` does;
* quoting as ``iptables-restore`` does it: ``"..."`` groups words, ``\\"`` and
  ``\\\\`` escape inside quotes, a closing quote ends the word.

The words of each ``-A`` rule go to ``netsim.netfilter.parse_rule``, which reads
``!`` before or after an option, both kube-proxy's restore-input spelling and
the normalised ``iptables-save`` spelling, the protocol match ``-p tcp --dport
80`` loads by itself, and expands ``-s a,b -d c`` to one rule per address pair.

Errors are ``RulesetError`` naming the file, ``line N (table T chain C rule K)``,
the option and the fix: a missing ``COMMIT``, a rule before ``*table``, a rule in
an undeclared chain (built-in chains too: their policy would be unknown), an
unknown ``-m`` module, option or target, a bad address (hostnames and
non-contiguous masks included), port, number or name, a jump or goto to a chain
not declared above the rule, a jump loop a built-in chain reaches, and what
iptables or the kernel refuses (see docs/iptables.md for the full list): a
target or match outside its table or hooks (``DNAT`` outside nat
PREROUTING/OUTPUT, reached through user chains too), ``-m tcp`` without
``-p tcp``, ports in a NAT target without a port protocol.

Not parsed: ip6tables dumps, service and user names (``--dport http``,
``--uid-owner root``), getopt abbreviations of long options, and kube-proxy's
partial-sync payloads that jump to chains they do not declare.

Values are normalised to what the kernel stores (see ``netsim.netfilter.ruleset``);
iptables-nft (1.8.9) normalises ports too, and so does this parser: a port range
``0:65535`` on tcp/udp is no test at all, and ``! --dport 0:N`` is ``--dport N+1:65535``.

Not here: reading one rule's options, matches and target
(``netsim.netfilter.parse_rule``), words and option values
(``netsim.netfilter.lexer``), each module's and target's options
(``parse_matches``, ``parse_targets``), and what iptables and the kernel refuse
about chain names and where a rule stands (``checks``, which this module asks
when a chain is declared, a rule appended and a table committed).
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, field
from typing import cast

from netsim.netfilter.checks import (
    HookLimit,
    check_chain_name,
    find_jump_loop,
    hook_limits,
    misplaced_rule,
    reachable_hooks,
)
from netsim.netfilter.lexer import split_words
from netsim.netfilter.matches import Match
from netsim.netfilter.parse_rule import RuleReader, Where, interned, read_rule
from netsim.netfilter.ruleset import BUILTIN_CHAINS, Chain, Policy, Rule, Ruleset, Table
from netsim.netfilter.targets import JumpTarget, Target
from netsim.netfilter.values import Counters

__all__ = ["parse_iptables_save", "split_words"]

# --- the table being built ---------------------------------------------------------------


@dataclass(slots=True)
class _ChainDraft:
    name: str
    policy: Policy | None
    counters: Counters | None
    rules: list[Rule] = field(default_factory=list)


@dataclass(slots=True)
class _TableDraft:
    name: str
    line: int
    chains: dict[str, _ChainDraft] = field(default_factory=dict)
    references: dict[str, int] = field(default_factory=dict)
    edges: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    restricted: list[HookLimit] = field(default_factory=list)


_COUNTERS = re.compile(r"\[(\d+):(\d+)\]")


class _Parser:
    """Reads one dump; mutable while reading, hands out frozen values."""

    def __init__(self, source: str) -> None:
        self.where = Where(source)
        self.reader = RuleReader(self.where)
        self.tables: list[Table] = []
        self.table_names: dict[str, int] = {}
        self.draft: _TableDraft | None = None

    # -- lines ------------------------------------------------------------------------

    def parse(self, text: str) -> Ruleset:
        where = self.where
        for number, raw in enumerate(text.split("\n"), 1):
            line = raw.strip()
            if not line or line[0] == "#":
                continue
            where.line = number
            where.chain = where.rule = None
            if line[0] == "*":
                self.open_table(line[1:].strip())
            elif line[0] == ":":
                self.declare(line)
            elif line == "COMMIT":
                self.commit()
            else:
                self.command(line)
        if self.draft is not None:
            where.line, where.chain, where.rule = self.draft.line, None, None
            where.fail(f"table {self.draft.name} has no COMMIT; end it with a COMMIT line")
        return Ruleset(tuple(self.tables))

    def open_table(self, name: str) -> None:
        if self.draft is not None:
            self.where.fail(
                f"*{name} starts before table {self.draft.name} (line {self.draft.line}) "
                "has its COMMIT"
            )
        if name not in BUILTIN_CHAINS:
            self.where.fail(f"unknown table {name!r} (known: {', '.join(BUILTIN_CHAINS)})")
        if name in self.table_names:
            self.where.fail(f"table {name} appears twice; merge the two sections")
        self.draft = _TableDraft(name, self.where.line)
        self.where.table = name

    def need_table(self, what: str) -> _TableDraft:
        if self.draft is None:
            self.where.fail(f"{what} outside a table; start the table with a line like *filter")
        return self.draft

    def declare(self, line: str) -> None:
        draft = self.need_table("chain declaration")
        words = line[1:].split()
        if len(words) not in (2, 3):
            self.where.fail(f"bad chain line {line!r}; write :NAME POLICY [packets:bytes]")
        name, policy = words[0], words[1]
        counters = None
        if len(words) == 3:
            counters = self.counters(words[2])
        check_chain_name(name, self.where.fail)
        builtin = name in BUILTIN_CHAINS[draft.name]
        if builtin and policy not in ("ACCEPT", "DROP"):
            self.where.fail(f"built-in chain {name} needs policy ACCEPT or DROP, not {policy!r}")
        if not builtin and policy != "-":
            self.where.fail(f"user chain {name} has no policy; write :{name} - [0:0]")
        old = draft.chains.get(name)
        if old is not None:
            self.flush(draft, old)
        chain_policy = cast(Policy, policy) if builtin else None
        if old is None:
            draft.chains[name] = _ChainDraft(interned(self.reader, name), chain_policy, counters)
        else:
            old.policy, old.counters = chain_policy, counters

    def counters(self, text: str) -> Counters:
        found = _COUNTERS.fullmatch(text)
        if found is None:
            self.where.fail(f"bad counters {text!r}; write [packets:bytes]")
        return Counters(int(found[1]), int(found[2]))

    def flush(self, draft: _TableDraft, chain: _ChainDraft) -> None:
        for target, _ in draft.edges.pop(chain.name, ()):
            draft.references[target] -= 1
        if chain.rules:
            draft.restricted = [r for r in draft.restricted if r.chain != chain.name]
        chain.rules = []

    def command(self, line: str) -> None:
        draft = self.need_table("rule")
        words = split_words(line)
        if words is None:
            self.where.fail("a double quote is not closed")
        counters = None
        if words and words[0].startswith("["):
            counters = self.counters(words[0])
            words = words[1:]
        if not words:
            self.where.fail("counters without a rule")
        command = words[0]
        if command in ("-A", "--append"):
            if len(words) < 2:
                self.where.fail("-A needs a chain name", "-A")
            self.append(draft, words[1], words[2:], counters)
        elif command in ("-X", "--delete-chain", "-N", "--new-chain"):
            if len(words) != 2:
                self.where.fail(f"{command} needs exactly one chain name", command)
            if command in ("-X", "--delete-chain"):
                self.delete(draft, words[1])
            elif words[1] in draft.chains:
                self.where.fail(f"chain {words[1]} already exists", command)
            else:
                self.declare(f":{words[1]} -")
        else:
            self.where.fail(
                f"unsupported command {command!r}; a dump holds -A rules "
                "(and a restore payload -N and -X)",
                command,
            )

    def delete(self, draft: _TableDraft, name: str) -> None:
        if name in BUILTIN_CHAINS[draft.name]:
            self.where.fail(f"cannot delete built-in chain {name}", "-X")
        chain = draft.chains.get(name)
        if chain is None:
            self.where.fail(f"chain {name} is not declared in table {draft.name}", "-X")
        if chain.rules:
            self.where.fail(
                f"chain {name} still has {len(chain.rules)} rules; flush it first", "-X"
            )
        if draft.references.get(name, 0):
            self.where.fail(
                f"chain {name} is still the target of {draft.references[name]} rule(s)", "-X"
            )
        del draft.chains[name]
        draft.edges.pop(name, None)

    # -- one rule ---------------------------------------------------------------------

    def append(
        self, draft: _TableDraft, chain_name: str, words: list[str], counters: Counters | None
    ) -> None:
        where = self.where
        chain = draft.chains.get(chain_name)
        if chain is None:
            hint = (
                f":{chain_name} ACCEPT [0:0]"
                if chain_name in BUILTIN_CHAINS[draft.name]
                else f":{chain_name} - [0:0]"
            )
            where.fail(
                f"chain {chain_name} is not declared in table {draft.name}; "
                f"declare it first with {hint}",
                "-A",
            )
        where.chain = chain.name
        where.rule = len(chain.rules) + 1
        rules = read_rule(self.reader, draft.name, draft.chains, chain.name, words, counters)
        matches, built_target = rules[0].matches, rules[0].target
        self.note_hooks(draft, chain, matches, built_target)
        if isinstance(built_target, JumpTarget):
            jumps = len(rules)
            name = built_target.chain
            draft.references[name] = draft.references.get(name, 0) + jumps
            draft.edges.setdefault(chain.name, []).extend([(name, where.line)] * jumps)
        chain.rules.extend(rules)

    def note_hooks(
        self,
        draft: _TableDraft,
        chain: _ChainDraft,
        matches: tuple[Match, ...],
        target: Target | None,
    ) -> None:
        """Remember rules the kernel allows only in some hooks; checked at COMMIT."""
        for what, hooks in hook_limits(matches, target):
            draft.restricted.append(
                HookLimit(chain.name, len(chain.rules) + 1, self.where.line, what, hooks)
            )

    # -- COMMIT -------------------------------------------------------------------------

    def commit(self) -> None:
        draft = self.need_table("COMMIT")
        loop = find_jump_loop(draft.name, draft.chains, draft.edges)
        if loop is not None:
            self.where.line = loop[0]
            self.where.fail(loop[1])
        reached = reachable_hooks(draft.name, draft.edges)
        misplaced = misplaced_rule(draft.restricted, draft.chains, reached)
        if misplaced is not None:
            item, message = misplaced
            self.where.line, self.where.chain, self.where.rule = item.line, item.chain, item.rule
            self.where.fail(message)
        table = Table(
            draft.name,
            tuple(
                Chain(c.name, c.policy, c.counters, tuple(c.rules)) for c in draft.chains.values()
            ),
        )
        self.table_names[draft.name] = len(self.tables)
        self.tables.append(table)
        self.draft = None
        self.where.table = None


def parse_iptables_save(text: str, source: str = "<string>") -> Ruleset:
    """Parse an ``iptables-save`` dump or ``iptables-restore`` payload.

    Args:
        text: the dump.
        source: the file name, used in error messages.

    Returns:
        The ruleset, tables and chains in file order.

    Raises:
        RulesetError: the dump is malformed, uses something netsim does not
            model, or holds something the kernel would refuse; the message
            names the line, the option and the fix.

    >>> rs = parse_iptables_save('''*nat
    ... :PREROUTING ACCEPT [0:0]
    ... :KUBE-MARK-MASQ - [0:0]
    ... -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
    ... COMMIT''')
    >>> rs.tables[0].chains[1].rules[0].target
    MarkTarget(value=16384, mask=16384)
    """
    # The parse makes millions of small acyclic objects; the cyclic garbage
    # collector would rescan them again and again (a quarter of the time on a
    # 150,000-rule dump), so it is paused while parsing and restored after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Parser(source).parse(text)
    finally:
        if collecting:
            gc.enable()
