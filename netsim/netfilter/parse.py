"""Parse an ``iptables-save`` dump (or an ``iptables-restore`` payload) into a ``Ruleset``.

The parser reads what ``iptables-restore`` (1.8.9) reads and judges it as the
kernel would, so a file it accepts is one the kernel would load:

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
  ``\\\\`` escape inside quotes, a closing quote ends the word;
* ``!`` before an option (``! -s``, ``! --mark``) and the pre-1.4.3 form after
  it (``-s ! 10.0.0.0/8``, ``--dport ! 80``; iptables 1.8.9 itself refuses it);
* both kube-proxy's restore-input spelling (``-m comment ... -m tcp -p tcp -d
  10.0.0.1 --dport 80``, addresses without ``/32``, ``--or-mark``) and the
  normalised ``iptables-save`` spelling; options find their module by name
  wherever they stand, and ``-p tcp --dport 80`` without ``-m tcp`` loads the
  protocol's match where the option appears, as iptables does;
* ``-s a,b -d c`` expands to one rule per address pair, as iptables does.

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

This module reads lines and assembles tables, chains and rules; it leans on
``netsim.netfilter.lexer`` (words and option values), ``parse_matches`` and
``parse_targets`` (each module's and target's options) and ``checks`` (what
iptables and the kernel refuse about where a rule stands).
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import NoReturn, cast

from netsim.errors import RulesetError
from netsim.netfilter.checks import (
    NO_IN_INTERFACE,
    NO_OUT_INTERFACE,
    HookLimit,
    check_chain_name,
    check_protocols,
    check_target_table,
    find_jump_loop,
    hook_limits,
    misplaced_rule,
    reachable_hooks,
)
from netsim.netfilter.lexer import (
    SHORT_OPTIONS,
    OptionSpec,
    parse_decimal,
    parse_ifname,
    parse_network,
    parse_protocol,
    split_words,
    take_args,
)
from netsim.netfilter.matches import CommentMatch, Match
from netsim.netfilter.parse_matches import IMPLICIT_MATCHES, MATCH_BUILDERS, MATCH_OPTIONS
from netsim.netfilter.parse_targets import TARGET_BUILDERS, TARGET_OPTIONS
from netsim.netfilter.ruleset import BUILTIN_CHAINS, Chain, Policy, Rule, Ruleset, Table
from netsim.netfilter.targets import JumpTarget, Target
from netsim.netfilter.values import Counters, Negatable

__all__ = ["parse_iptables_save", "split_words"]

# --- where an error is ------------------------------------------------------------------


@dataclass(slots=True)
class _Where:
    """The place being parsed, for error messages."""

    source: str
    line: int = 0
    table: str | None = None
    chain: str | None = None
    rule: int | None = None

    def obj(self) -> str:
        if self.chain is not None and self.rule is not None:
            return f"line {self.line} (table {self.table} chain {self.chain} rule {self.rule})"
        return f"line {self.line}"

    def fail(self, message: str, option: str | None = None) -> NoReturn:
        raise RulesetError(message, source=self.source, obj=self.obj(), field=option)


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


@dataclass(slots=True)
class _Module:
    """A match or target being read: its options as given."""

    name: str
    spec: OptionSpec
    options: list[tuple[str, bool, tuple[str, ...]]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


_COUNTERS = re.compile(r"\[(\d+):(\d+)\]")


class _Parser:
    """Reads one dump; mutable while reading, hands out frozen values."""

    def __init__(self, source: str) -> None:
        self.where = _Where(source)
        self.tables: list[Table] = []
        self.table_names: dict[str, int] = {}
        self.draft: _TableDraft | None = None
        self.networks: dict[str, IPv4Network] = {}
        self.built: dict[tuple[object, ...], Match | Target] = {}
        self.wrapped: dict[tuple[object, bool], Negatable[object]] = {}
        self.strings: dict[str, str] = {}

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
            draft.chains[name] = _ChainDraft(self.intern(name), chain_policy, counters)
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

    def intern(self, text: str) -> str:
        return self.strings.setdefault(text, text)

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
        sources: list[Negatable[IPv4Network] | None] = [None]
        destinations: list[Negatable[IPv4Network] | None] = [None]
        in_interface: Negatable[str] | None = None
        out_interface: Negatable[str] | None = None
        protocol: Negatable[int] | None = None
        fragment: bool | None = None
        modules: list[_Module] = []
        # Module types in the order first loaded, each with its latest instance: iptables
        # gives an option to the most recently first-loaded type that knows it, and to
        # that type's latest instance (xtables_merge_options puts new options first).
        latest: dict[str, _Module] = {}
        last: _Module | None = None  # the module loaded last
        last_is_newest = False  # ... and its type is the one loaded first most recently
        target: _Module | None = None
        goto = False
        implicit_loaded = False
        seen: set[str] = set()
        negate = False
        index = 0
        count = len(words)
        while index < count:
            word = words[index]
            index += 1
            if word == "!":
                if negate:
                    where.fail("two '!' in a row")
                negate = True
                continue
            arg_inline = None
            if "=" in word and word.startswith("--"):
                word, _, arg_inline = word.partition("=")
            short = SHORT_OPTIONS.get(word)
            if short is not None:
                if short in seen and short != "-m":
                    where.fail(f"option {word} given twice", word)
                seen.add(short)
                if short == "-m":
                    if negate:
                        where.fail("'!' cannot negate -m", "-m")
                    if arg_inline is None and index < count:
                        name = words[index]
                        index += 1
                    else:
                        name = take_args(
                            words, index, 1, word, negate, arg_inline, False, where.fail
                        )[0][0]
                    if name not in MATCH_OPTIONS:
                        where.fail(
                            f"match module {name!r} is not modelled by netsim "
                            f"(modelled: {', '.join(sorted(MATCH_OPTIONS))})",
                            "-m",
                        )
                    last = _Module(name, MATCH_OPTIONS[name])
                    modules.append(last)
                    last_is_newest = name not in latest
                    latest[name] = last
                elif short == "-j" or short == "-g":
                    if negate:
                        where.fail(f"'!' cannot negate {word}", word)
                    if target is not None:
                        where.fail("a rule has one -j or -g", word)
                    if arg_inline is None and index < count:
                        name = words[index]
                        index += 1
                    else:
                        name = take_args(
                            words, index, 1, word, negate, arg_inline, False, where.fail
                        )[0][0]
                    target, goto = self.load_target(draft, name, short == "-g", word)
                    last = target
                    last_is_newest = f"-j {name}" not in latest
                    latest[f"-j {name}"] = target
                elif short == "-f":
                    args, negate, index = take_args(
                        words, index, 0, word, negate, arg_inline, True, where.fail
                    )
                    fragment = not negate
                elif short == "-c":
                    args, negate, index = take_args(
                        words, index, 2, word, negate, arg_inline, False, where.fail
                    )
                    try:
                        counters = Counters(
                            parse_decimal(args[0], 2**64), parse_decimal(args[1], 2**64)
                        )
                    except ValueError as exc:
                        where.fail(str(exc), word)
                else:
                    if arg_inline is None and index < count and words[index] != "!":
                        value = words[index]
                        index += 1
                    else:
                        args, negate, index = take_args(
                            words, index, 1, word, negate, arg_inline, True, where.fail
                        )
                        value = args[0]
                    if short == "-s" or short == "-d":
                        texts = value.split(",")
                        if negate and len(texts) > 1:
                            where.fail("'!' does not work with several addresses", word)
                        nets = [self.address(self.network(a, word), negate) for a in texts]
                        if short == "-s":
                            sources = nets
                        else:
                            destinations = nets
                    elif short == "-p":
                        protocol = self.protocol(value, negate, word)
                    elif short == "-i":
                        if chain.name in NO_IN_INTERFACE:
                            where.fail(f"Can't use -i with {chain.name}", word)
                        in_interface = self.interface(value, negate, word)
                    else:
                        if chain.name in NO_OUT_INTERFACE:
                            where.fail(f"Can't use -o with {chain.name}", word)
                        out_interface = self.interface(value, negate, word)
                negate = False
                continue
            owner: _Module | None = last
            if not last_is_newest or owner is None or word not in owner.spec:
                if not word.startswith("--"):
                    where.fail(
                        f"unknown option {word!r}"
                        + (" (a value without its option?)" if not word.startswith("-") else ""),
                        word,
                    )
                owner = next((m for m in reversed(latest.values()) if word in m.spec), None)
                if owner is None and not implicit_loaded and protocol is not None:
                    implicit = IMPLICIT_MATCHES.get(protocol.value)
                    if implicit is not None and word in MATCH_OPTIONS[implicit]:
                        implicit_loaded = True
                        owner = last = _Module(implicit, MATCH_OPTIONS[implicit])
                        modules.append(owner)
                        last_is_newest = implicit not in latest
                        latest[implicit] = owner
                if owner is None:
                    loaded = [m.name for m in modules] + ([target.name] if target else [])
                    where.fail(
                        f"unknown option {word!r}"
                        + (f" for {', '.join(loaded)}" if loaded else "")
                        + "; netsim does not model it",
                        word,
                    )
            assert owner is not None
            canonical, nargs, negatable = owner.spec[word]
            if nargs == 1 and arg_inline is None and index < count and words[index] != "!":
                args = (words[index],)
                index += 1
            else:
                args, negate, index = take_args(
                    words, index, nargs, word, negate, arg_inline, negatable, where.fail
                )
            if negate and not negatable:
                where.fail(f'{owner.name}: option "{word}" cannot be inverted', word)
            if canonical in owner.seen:
                where.fail(f'{owner.name}: option "{word}" can only be used once', word)
            owner.seen.add(canonical)
            owner.options.append((canonical, negate, args))
            negate = False
        if negate:
            where.fail("'!' at the end of the rule negates nothing")
        matches = tuple(self.build_match(m) for m in modules)
        built_target = self.build_target(target) if target is not None else None
        check_protocols(protocol, matches, built_target, where.fail)
        self.note_hooks(draft, chain, matches, built_target)
        if isinstance(built_target, JumpTarget):
            jumps = len(sources) * len(destinations)
            name = built_target.chain
            draft.references[name] = draft.references.get(name, 0) + jumps
            draft.edges.setdefault(chain.name, []).extend([(name, where.line)] * jumps)
        for src in sources:
            for dst in destinations:
                chain.rules.append(
                    Rule(
                        source=src,
                        destination=dst,
                        in_interface=in_interface,
                        out_interface=out_interface,
                        protocol=protocol,
                        is_fragment=fragment,
                        matches=matches,
                        target=built_target,
                        goto=goto,
                        counters=counters,
                        line=where.line,
                    )
                )

    def load_target(
        self, draft: _TableDraft, name: str, goto: bool, option: str
    ) -> tuple[_Module, bool]:
        where = self.where
        if not goto and name in TARGET_OPTIONS:
            check_target_table(name, draft.name, option, where.fail)
            return _Module(name, TARGET_OPTIONS[name]), False
        if name in BUILTIN_CHAINS[draft.name] or name in TARGET_OPTIONS:
            where.fail(f"{option} {name}: {option} takes a user-defined chain", option)
        if name not in draft.chains:
            where.fail(
                f"{option} {name}: no chain {name} is declared (above this rule) in table "
                f"{draft.name}"
                + ("" if goto else f", and netsim does not model a target called {name}"),
                option,
            )
        return _Module(name, {}), goto

    def network(self, text: str, option: str) -> IPv4Network:
        found = self.networks.get(text)
        if found is None:
            try:
                found = parse_network(text)
            except ValueError as exc:
                self.where.fail(str(exc), option)
            self.networks[text] = found
        return found

    def address(self, network: IPv4Network, negated: bool) -> Negatable[IPv4Network] | None:
        """``-s``/``-d``; ``0.0.0.0/0`` is no test, and negated it matches nothing."""
        if network.prefixlen == 0:
            if negated:
                self.where.fail("! 0.0.0.0/0 matches no packet (the kernel refuses it)")
            return None
        key = (network, negated)
        found = self.wrapped.get(key)
        if found is None:
            found = self.wrapped[key] = Negatable(network, negated)
        return cast(Negatable[IPv4Network], found)

    def interface(self, name: str, negated: bool, option: str) -> Negatable[str] | None:
        """``-i``/``-o``; a bare ``+`` (any interface) is no test, as iptables-nft stores it."""
        key = (name, negated)
        found = self.wrapped.get(key)
        if found is None:
            try:
                parse_ifname(name)
            except ValueError as exc:
                self.where.fail(str(exc), option)
            found = self.wrapped[key] = Negatable(self.intern(name), negated)
        if name == "+" and not negated:
            return None
        return cast(Negatable[str], found)

    def protocol(self, text: str, negated: bool, option: str) -> Negatable[int] | None:
        try:
            number = parse_protocol(text)
        except ValueError as exc:
            self.where.fail(str(exc), option)
        if number == 0:
            if negated:
                self.where.fail("! -p all matches no packet", option)
            return None
        key = (number, negated)
        found = self.wrapped.get(key)
        if found is None:
            found = self.wrapped[key] = Negatable(number, negated)
        return cast(Negatable[int], found)

    def build_match(self, module: _Module) -> Match:
        key = (module.name, *module.options)
        found = self.built.get(key)
        if found is None:
            option_map = {name: (neg, args) for name, neg, args in module.options}
            found = MATCH_BUILDERS[module.name](option_map, self.where.fail)
            if isinstance(found, CommentMatch):
                found = CommentMatch(self.intern(found.comment))
            self.built[key] = found
        return cast(Match, found)

    def build_target(self, module: _Module) -> Target:
        key = ("-j", module.name, *module.options)
        found = self.built.get(key)
        if found is None:
            builder = TARGET_BUILDERS.get(module.name)
            if builder is None:
                found = JumpTarget(self.intern(module.name))
            else:
                option_map = {name: (neg, args) for name, neg, args in module.options}
                found = builder(option_map, self.where.fail)
            self.built[key] = found
        return cast(Target, found)

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
