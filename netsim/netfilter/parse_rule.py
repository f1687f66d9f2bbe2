"""One ``-A CHAIN ...`` line read into rules: its options, matches and target.

What ``iptables-restore`` (1.8.9) does with the words of one rule, judged as the
kernel would judge the rule on its own:

* the built-in options ``-s``, ``-d``, ``-i``, ``-o``, ``-p``, ``-f``, ``-c``
  (and their long spellings);
* ``!`` before an option (``! -s``, ``! --mark``) and the pre-1.4.3 form after
  it (``-s ! 10.0.0.0/8``, ``--dport ! 80``; iptables 1.8.9 itself refuses it);
* ``-m NAME`` loads a match module; an option finds its module by name
  wherever it stands, as iptables gives it (the most recently first-loaded
  module type that knows it, that type's latest instance), so both
  kube-proxy's restore-input spelling (``-m comment ... -m tcp -p tcp -d
  10.0.0.1 --dport 80``, addresses without ``/32``, ``--or-mark``) and the
  normalised ``iptables-save`` spelling read; ``-p tcp --dport 80`` without
  ``-m tcp`` loads the protocol's match where the option appears;
* ``-j``/``-g``: a target netsim models, or a jump or goto to a user chain
  declared above the rule;
* ``-s a,b -d c`` expands to one rule per address pair, as iptables does;
* values as the kernel stores them: ``0.0.0.0/0``, ``-p all`` and a bare
  ``-i +`` are no test; equal values, strings and built matches and targets
  are shared across the dump (``RuleReader``).

Errors are ``RulesetError`` raised through ``Where.fail``, naming the file,
``line N (table T chain C rule K)``, the option and the fix: an unknown ``-m``
module, option or target, a bad address (hostnames and non-contiguous masks
included), a target outside its table, ``-i`` or ``-o`` in a chain without that
interface, ``-m tcp`` without ``-p tcp``.

Not here: lines, tables, chains, ``-N``, ``-X``, ``COMMIT`` and what is checked
only at ``COMMIT`` (jump loops, the hooks a rule's chain is reached from)
(``netsim.netfilter.parse``); words and shared option values
(``netsim.netfilter.lexer``); each module's and target's options
(``netsim.netfilter.parse_matches``, ``netsim.netfilter.parse_targets``); what
iptables and the kernel refuse about where a rule stands
(``netsim.netfilter.checks``).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import NoReturn, cast

from netsim.errors import RulesetError
from netsim.netfilter.checks import (
    NO_IN_INTERFACE,
    NO_OUT_INTERFACE,
    check_protocols,
    check_target_table,
)
from netsim.netfilter.lexer import (
    SHORT_OPTIONS,
    OptionSpec,
    parse_decimal,
    parse_ifname,
    parse_network,
    parse_protocol,
    take_args,
)
from netsim.netfilter.matches import CommentMatch, Match
from netsim.netfilter.parse_matches import IMPLICIT_MATCHES, MATCH_BUILDERS, MATCH_OPTIONS
from netsim.netfilter.parse_targets import TARGET_BUILDERS, TARGET_OPTIONS
from netsim.netfilter.ruleset import BUILTIN_CHAINS, Rule
from netsim.netfilter.targets import JumpTarget, Target
from netsim.netfilter.values import Counters, Negatable

__all__ = ["RuleReader", "Where", "interned", "read_rule"]

# --- where an error is ------------------------------------------------------------------


@dataclass(slots=True)
class Where:
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


# --- what reading rules shares across a dump ---------------------------------------------


@dataclass(slots=True)
class RuleReader:
    """The place being read and the values already made, shared by the dump's rules."""

    where: Where
    networks: dict[str, IPv4Network] = field(default_factory=dict)
    built: dict[tuple[object, ...], Match | Target] = field(default_factory=dict)
    wrapped: dict[tuple[object, bool], Negatable[object]] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Module:
    """A match or target being read: its options as given."""

    name: str
    spec: OptionSpec
    options: list[tuple[str, bool, tuple[str, ...]]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


def interned(reader: RuleReader, text: str) -> str:
    """The dump's one copy of ``text``."""
    return reader.strings.setdefault(text, text)


def _name_after(
    words: list[str], index: int, word: str, negate: bool, arg_inline: str | None, where: Where
) -> tuple[str, int]:
    """The module or target name ``-m``, ``-j`` or ``-g`` takes, and the index after it."""
    if arg_inline is None and index < len(words):
        return words[index], index + 1
    taken, _, _ = take_args(words, index, 1, word, negate, arg_inline, False, where.fail)
    return taken[0], index


# --- one rule ----------------------------------------------------------------------------


def read_rule(
    reader: RuleReader,
    table: str,
    declared: Container[str],
    chain: str,
    words: list[str],
    counters: Counters | None,
) -> list[Rule]:
    """The rules one ``-A`` line makes: one per ``-s``/``-d`` address pair.

    Args:
        reader: what the dump shares; ``reader.where`` names the line, table,
            chain and rule being read.
        table: the table's name.
        declared: the chains declared in the table so far, for ``-j`` and ``-g``.
        chain: the chain the rule is appended to.
        words: the words after ``-A CHAIN``.
        counters: the line's leading ``[packets:bytes]``, if any.

    Returns:
        The rules, all with the same matches and target.

    Raises:
        RulesetError: through ``reader.where``, naming the option and the fix.
    """
    where = reader.where
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
                name, index = _name_after(words, index, word, negate, arg_inline, where)
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
                name, index = _name_after(words, index, word, negate, arg_inline, where)
                target, goto = _load_target(reader, table, declared, name, short == "-g", word)
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
                    nets = [_address(reader, _network(reader, a, word), negate) for a in texts]
                    if short == "-s":
                        sources = nets
                    else:
                        destinations = nets
                elif short == "-p":
                    protocol = _protocol(reader, value, negate, word)
                elif short == "-i":
                    if chain in NO_IN_INTERFACE:
                        where.fail(f"Can't use -i with {chain}", word)
                    in_interface = _interface(reader, value, negate, word)
                else:
                    if chain in NO_OUT_INTERFACE:
                        where.fail(f"Can't use -o with {chain}", word)
                    out_interface = _interface(reader, value, negate, word)
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
    matches = tuple(_build_match(reader, m) for m in modules)
    built_target = _build_target(reader, target) if target is not None else None
    check_protocols(protocol, matches, built_target, where.fail)
    rules: list[Rule] = []
    for src in sources:
        for dst in destinations:
            rules.append(
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
    return rules


def _load_target(
    reader: RuleReader, table: str, declared: Container[str], name: str, goto: bool, option: str
) -> tuple[_Module, bool]:
    where = reader.where
    if not goto and name in TARGET_OPTIONS:
        check_target_table(name, table, option, where.fail)
        return _Module(name, TARGET_OPTIONS[name]), False
    if name in BUILTIN_CHAINS[table] or name in TARGET_OPTIONS:
        where.fail(f"{option} {name}: {option} takes a user-defined chain", option)
    if name not in declared:
        where.fail(
            f"{option} {name}: no chain {name} is declared (above this rule) in table "
            f"{table}" + ("" if goto else f", and netsim does not model a target called {name}"),
            option,
        )
    return _Module(name, {}), goto


def _network(reader: RuleReader, text: str, option: str) -> IPv4Network:
    found = reader.networks.get(text)
    if found is None:
        try:
            found = parse_network(text)
        except ValueError as exc:
            reader.where.fail(str(exc), option)
        reader.networks[text] = found
    return found


def _address(
    reader: RuleReader, network: IPv4Network, negated: bool
) -> Negatable[IPv4Network] | None:
    """``-s``/``-d``; ``0.0.0.0/0`` is no test, and negated it matches nothing."""
    if network.prefixlen == 0:
        if negated:
            reader.where.fail("! 0.0.0.0/0 matches no packet (the kernel refuses it)")
        return None
    key = (network, negated)
    found = reader.wrapped.get(key)
    if found is None:
        found = reader.wrapped[key] = Negatable(network, negated)
    return cast(Negatable[IPv4Network], found)


def _interface(reader: RuleReader, name: str, negated: bool, option: str) -> Negatable[str] | None:
    """``-i``/``-o``; a bare ``+`` (any interface) is no test, as iptables-nft stores it."""
    key = (name, negated)
    found = reader.wrapped.get(key)
    if found is None:
        try:
            parse_ifname(name)
        except ValueError as exc:
            reader.where.fail(str(exc), option)
        found = reader.wrapped[key] = Negatable(interned(reader, name), negated)
    if name == "+" and not negated:
        return None
    return cast(Negatable[str], found)


def _protocol(reader: RuleReader, text: str, negated: bool, option: str) -> Negatable[int] | None:
    try:
        number = parse_protocol(text)
    except ValueError as exc:
        reader.where.fail(str(exc), option)
    if number == 0:
        if negated:
            reader.where.fail("! -p all matches no packet", option)
        return None
    key = (number, negated)
    found = reader.wrapped.get(key)
    if found is None:
        found = reader.wrapped[key] = Negatable(number, negated)
    return cast(Negatable[int], found)


def _build_match(reader: RuleReader, module: _Module) -> Match:
    key = (module.name, *module.options)
    found = reader.built.get(key)
    if found is None:
        option_map = {name: (neg, args) for name, neg, args in module.options}
        found = MATCH_BUILDERS[module.name](option_map, reader.where.fail)
        if isinstance(found, CommentMatch):
            found = CommentMatch(interned(reader, found.comment))
        reader.built[key] = found
    return cast(Match, found)


def _build_target(reader: RuleReader, module: _Module) -> Target:
    key = ("-j", module.name, *module.options)
    found = reader.built.get(key)
    if found is None:
        builder = TARGET_BUILDERS.get(module.name)
        if builder is None:
            found = JumpTarget(interned(reader, module.name))
        else:
            option_map = {name: (neg, args) for name, neg, args in module.options}
            found = builder(option_map, reader.where.fail)
        reader.built[key] = found
    return cast(Target, found)
