"""Parsing a restore payload chain by chain, each chain when it is first read.

kube-proxy's payload for a cluster at Kubernetes' limits holds some 470,000
rules in 170,000 chains, and parsing it whole takes about 20 s; one trace
reads a few dozen chains. :func:`parse_by_chain` makes one pass over the
lines, sorting each table's ``:CHAIN`` declarations and each chain's ``-A``
lines by chain without reading a rule, and :class:`ChainsByName` parses a
chain the first time it is read: the parser of
:func:`~netsim.netfilter.parse.parse_iptables_save`, on a payload of that
chain's declaration and rules and the declarations of the chains they name.
A chain so parsed is equal to the same chain of the payload parsed whole.

What the parser checks across a whole table at ``COMMIT`` — jump loops, and
rules only some hooks allow reached through user chains — needs every chain
of it, so reading chains one by one does not check it; :meth:`ByChain.whole`
parses the payload whole, and every error is reported from there, with the
payload's own line numbers (a chain that fails to parse alone makes its
payload parse whole, and raise).

Only plain payloads, as kube-proxy's full sync writes them, are split: table
headers, each chain declared once, ``-A CHAIN`` rules after their chain's
declaration, ``COMMIT``, comments and blank lines. Any other payload
(counters, ``-N``, ``-X``, a chain declared again, a table twice, a missing
``COMMIT``) is parsed whole at once, so its errors come where they always did.

Not here: the parser itself (``parse``), the order ``iptables-save`` lists
tables and chains in (``render``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

from netsim.errors import RulesetError
from netsim.netfilter.parse import parse_iptables_save
from netsim.netfilter.render import in_save_order, save_chain_order, save_table_key
from netsim.netfilter.ruleset import BUILTIN_CHAINS, Chain, Counters, Ruleset
from netsim.netfilter.ruleset import chain as find_chain

__all__ = ["ByChain", "ChainsByName", "parse_by_chain"]


class ChainsByName(Mapping[str, Chain]):
    """A table's chains by name, in save order, each parsed the first time it is read.

    A built-in chain the payload does not declare reads as the kernel creates
    it: empty, policy ACCEPT.

    >>> payload = parse_by_chain('''*nat
    ... :PREROUTING ACCEPT [0:0]
    ... :KUBE-SERVICES - [0:0]
    ... :KUBE-MARK-MASQ - [0:0]
    ... -A PREROUTING -j KUBE-SERVICES
    ... -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
    ... COMMIT''')
    >>> nat = payload.tables["nat"]
    >>> list(nat)
    ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING', 'KUBE-MARK-MASQ', 'KUBE-SERVICES']
    >>> nat.parsed_count(), len(nat["PREROUTING"].rules), nat.parsed_count()
    (0, 1, 1)
    """

    __slots__ = ("_declarations", "_lines", "_names", "_parsed", "_payload", "_table")

    def __init__(
        self,
        payload: ByChain,
        table: str,
        declarations: Mapping[str, str],
        lines: Mapping[str, list[str]],
    ) -> None:
        self._payload = payload
        self._table = table
        self._declarations = declarations
        self._lines = lines
        self._names = save_chain_order(table, declarations)
        self._parsed: dict[str, Chain] = {}

    def __getitem__(self, name: str) -> Chain:
        found = self._parsed.get(name)
        if found is None:
            found = self._parsed[name] = self._parse(name)
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._declarations or name in BUILTIN_CHAINS[self._table]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def parsed_count(self) -> int:
        """How many chains are parsed so far."""
        return len(self._parsed)

    def _parse(self, name: str) -> Chain:
        declaration = self._declarations.get(name)
        if declaration is None:
            if name in BUILTIN_CHAINS[self._table]:
                return Chain(name, "ACCEPT", Counters(0, 0))
            raise KeyError(f"table {self._table} has no chain {name!r}")
        lines = self._lines[name]
        declared = self._declarations
        named = {word for line in lines for word in line.split() if word in declared}
        named.discard(name)
        text = "\n".join(
            [
                f"*{self._table}",
                declaration,
                *(declared[other] for other in sorted(named)),
                *lines,
                "COMMIT",
            ]
        )
        try:
            parsed = parse_iptables_save(text, self._payload.source)
        except RulesetError:
            self._payload.whole()  # raises the error, placed in the payload
            raise  # the payload loads whole: a chain alone is never stricter (not reached)
        return find_chain(parsed, self._table, name)


class ByChain:
    """A restore payload whose chains are parsed one by one, when read.

    ``tables`` maps each table, in save order, to its chains by name in save
    order (:class:`ChainsByName`; for a payload that is not plain, its chains
    as parsed whole). :meth:`whole` is the payload parsed whole, as
    ``in_save_order(parse_iptables_save(text, source))``.

    Raises:
        RulesetError: a payload that is not plain and does not parse.
    """

    __slots__ = ("_ruleset", "_text", "source", "tables")

    source: str
    tables: Mapping[str, Mapping[str, Chain]]

    def __init__(self, text: str, source: str = "<string>") -> None:
        self._text = text
        self.source = source
        self._ruleset: Ruleset | None = None
        split = _split(text)
        if split is None:
            self.tables = MappingProxyType(
                {
                    table.name: MappingProxyType({chain.name: chain for chain in table.chains})
                    for table in self.whole().tables
                }
            )
            return
        ordered = sorted(split.items(), key=lambda item: save_table_key(item[0]))
        self.tables = MappingProxyType(
            {name: ChainsByName(self, name, *found) for name, found in ordered}
        )

    def whole(self) -> Ruleset:
        """The payload parsed whole (once, then kept), tables and chains in save order.

        Raises:
            RulesetError: as :func:`~netsim.netfilter.parse.parse_iptables_save`.
        """
        if self._ruleset is None:
            self._ruleset = in_save_order(parse_iptables_save(self._text, self.source))
        return self._ruleset


def _split(text: str) -> dict[str, tuple[dict[str, str], dict[str, list[str]]]] | None:
    """Per table, its declarations and each chain's ``-A`` lines; None when not plain."""
    tables: dict[str, tuple[dict[str, str], dict[str, list[str]]]] = {}
    declarations: dict[str, str] | None = None
    lines: dict[str, list[str]] = {}
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        if line.startswith("-A "):
            words = line.split(None, 2)
            if declarations is None or len(words) < 2 or words[1] not in declarations:
                return None
            lines[words[1]].append(line)
        elif line[0] == ":":
            name = line[1:].split(None, 1)[0] if len(line) > 1 else ""
            if declarations is None or not name or name in declarations:
                return None
            declarations[name] = line
            lines[name] = []
        elif line[0] == "*":
            name = line[1:].strip()
            if declarations is not None or name in tables or name not in BUILTIN_CHAINS:
                return None
            declarations, lines = {}, {}
            tables[name] = declarations, lines
        elif line == "COMMIT" and declarations is not None:
            declarations = None
        else:
            return None
    return tables if declarations is None else None


def parse_by_chain(text: str, source: str = "<string>") -> ByChain:
    """``text``, a restore payload, to be parsed chain by chain as its chains are read.

    Raises:
        RulesetError: a payload that is not plain (see the module docstring)
            and does not parse.
    """
    return ByChain(text, source)
