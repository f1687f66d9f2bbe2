"""The typed model of an IPv4 iptables ruleset, as ``iptables-save`` lists it.

``Ruleset`` (tables in file order) → ``Table`` (chains in order) → ``Chain``
(policy, counters, rules) → ``Rule`` (the built-in ``-s/-d/-i/-o/-p/-f`` tests,
``matches`` in rule order, a ``target``). Every match module and every target
netsim understands is one frozen dataclass whose fields are the module's options
under their iptables names (``netsim.netfilter.matches``,
``netsim.netfilter.targets``, built from the values of
``netsim.netfilter.values``); an option that iptables lets you negate is held as
``Negatable(value, negated)``. This module re-exports all of them, so
``from netsim.netfilter.ruleset import TcpMatch, DnatTarget`` is the one import
a user of the model needs. Values are kept in the form the kernel stores
them, so the two spellings of one rule (kube-proxy's restore input and
``iptables-save``'s normalised output) compare equal:

* addresses are ``ipaddress`` networks (``10.0.0.1`` is ``10.0.0.1/32``, host
  bits are cleared as the kernel does) — except conntrack's, which the kernel
  keeps unmasked, so they are ``IPv4Interface`` values; protocols are IANA
  numbers;
* ``MARK``/``CONNMARK`` keep the kernel's (value, mask) "xmark" pair whatever
  option set it (``--or-mark 0x4000`` is ``MarkTarget(0x4000, 0x4000)``);
* ``--syn`` is ``--tcp-flags FIN,SYN,RST,ACK SYN``; ``-m limit`` keeps the
  kernel's period; icmp type names are numbers; lists of states and address
  types are sets kept in the kernel's bit order.

Only one spelling is kept as written: a statistic probability's text, besides
its float (so kube-proxy's ``0.3333333333`` and iptables-save's
``0.33333333349`` stay distinguishable; ``probability_threshold`` is what the
kernel compares). Everything else a renderer needs is derived from the values.
Equality is structural; ``Rule.line`` is not compared.

The matches and targets modelled are listed in ``netsim.netfilter.matches`` and
``netsim.netfilter.targets``. Not modelled: IPv6 (ip6tables), every other match
or target (the parser refuses them by name), QUEUE/NFQUEUE, and how rules are
evaluated (that is the tracer's job).

Lookups: ``table(ruleset, "nat")``, ``chain(ruleset, "nat", "KUBE-SERVICES")``
are O(1); a rule's place is its index in ``Chain.rules`` (``rule_position``) and
``Rule.line`` is the line of the dump it came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from types import MappingProxyType
from typing import Literal, TypeAlias

from netsim.netfilter.matches import (
    ADDRESS_TYPES,
    CTSTATES,
    CTSTATUSES,
    DEFAULT_LIMIT_AVG,
    DEFAULT_LIMIT_BURST,
    PKT_TYPES,
    RECENT_DEFAULT_MASK,
    STATES,
    STATISTIC_SCALE,
    XT_LIMIT_SCALE,
    AddressType,
    AddrtypeMatch,
    CommentMatch,
    ConnmarkMatch,
    ConntrackMatch,
    CtState,
    CtStatus,
    IcmpMatch,
    LimitMatch,
    MacMatch,
    MarkMatch,
    Match,
    MultiportMatch,
    NfacctMatch,
    OwnerMatch,
    PhysdevMatch,
    PktType,
    PkttypeMatch,
    RecentMatch,
    SctpMatch,
    SetMatch,
    SocketMatch,
    State,
    StateMatch,
    StatisticMatch,
    TcpMatch,
    UdpMatch,
)
from netsim.netfilter.targets import (
    LOG_DEFAULT_LEVEL,
    REJECT_WITH,
    AcceptTarget,
    ConnmarkTarget,
    CtTarget,
    DnatTarget,
    DropTarget,
    JumpTarget,
    LogTarget,
    MarkTarget,
    MasqueradeTarget,
    NatRange,
    NotrackTarget,
    RedirectTarget,
    RejectTarget,
    RejectWith,
    ReturnTarget,
    SnatTarget,
    Target,
)
from netsim.netfilter.values import (
    ALL_ONES,
    Counters,
    Negatable,
    PortRange,
    TcpFlag,
    TcpFlags,
)

__all__ = [
    "ADDRESS_TYPES",
    "ALL_ONES",
    "BUILTIN_CHAINS",
    "CTSTATES",
    "CTSTATUSES",
    "DEFAULT_LIMIT_AVG",
    "DEFAULT_LIMIT_BURST",
    "LOG_DEFAULT_LEVEL",
    "PKT_TYPES",
    "PROTOCOL_NAMES",
    "RECENT_DEFAULT_MASK",
    "REJECT_WITH",
    "STATES",
    "STATISTIC_SCALE",
    "XT_LIMIT_SCALE",
    "AcceptTarget",
    "AddressType",
    "AddrtypeMatch",
    "Chain",
    "CommentMatch",
    "ConnmarkMatch",
    "ConnmarkTarget",
    "ConntrackMatch",
    "Counters",
    "CtState",
    "CtStatus",
    "CtTarget",
    "DnatTarget",
    "DropTarget",
    "IcmpMatch",
    "JumpTarget",
    "LimitMatch",
    "LogTarget",
    "MacMatch",
    "MarkMatch",
    "MarkTarget",
    "MasqueradeTarget",
    "Match",
    "MultiportMatch",
    "NatRange",
    "Negatable",
    "NfacctMatch",
    "NotrackTarget",
    "OwnerMatch",
    "PhysdevMatch",
    "PktType",
    "PkttypeMatch",
    "Policy",
    "PortRange",
    "RecentMatch",
    "RedirectTarget",
    "RejectTarget",
    "RejectWith",
    "ReturnTarget",
    "Rule",
    "Ruleset",
    "SctpMatch",
    "SetMatch",
    "SnatTarget",
    "SocketMatch",
    "State",
    "StateMatch",
    "StatisticMatch",
    "Table",
    "Target",
    "TcpFlag",
    "TcpFlags",
    "TcpMatch",
    "UdpMatch",
    "chain",
    "has_chain",
    "interface_matches",
    "is_builtin_chain",
    "iter_rules",
    "protocol_name",
    "rule_position",
    "table",
]

# --- constants, each with its source -------------------------------------------------

#: Built-in chains of each IPv4 table, in hook order (as ``iptables-save`` lists them).
BUILTIN_CHAINS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "filter": ("INPUT", "FORWARD", "OUTPUT"),
        "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
        "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
        "raw": ("PREROUTING", "OUTPUT"),
        "security": ("INPUT", "FORWARD", "OUTPUT"),
    }
)

#: IP protocol numbers to the name ``iptables-save`` prints for them: the first
#: name of /etc/protocols (Debian 12 netbase 6.4, IANA), as getprotobynumber(3)
#: returns it. Numbers not listed print as numbers.
PROTOCOL_NAMES: Mapping[int, str] = MappingProxyType(
    {
        1: "icmp",
        2: "igmp",
        3: "ggp",
        4: "ipencap",
        5: "st",
        6: "tcp",
        8: "egp",
        9: "igp",
        12: "pup",
        17: "udp",
        20: "hmp",
        22: "xns-idp",
        27: "rdp",
        29: "iso-tp4",
        33: "dccp",
        36: "xtp",
        37: "ddp",
        38: "idpr-cmtp",
        41: "ipv6",
        43: "ipv6-route",
        44: "ipv6-frag",
        45: "idrp",
        46: "rsvp",
        47: "gre",
        50: "esp",
        51: "ah",
        57: "skip",
        58: "ipv6-icmp",
        59: "ipv6-nonxt",
        60: "ipv6-opts",
        73: "rspf",
        81: "vmtp",
        88: "eigrp",
        89: "ospf",
        93: "ax.25",
        94: "ipip",
        97: "etherip",
        98: "encap",
        103: "pim",
        108: "ipcomp",
        112: "vrrp",
        115: "l2tp",
        124: "isis",
        132: "sctp",
        133: "fc",
        135: "mobility-header",
        136: "udplite",
        137: "mpls-in-ip",
        138: "manet",
        139: "hip",
        140: "shim6",
        141: "wesp",
        142: "rohc",
        143: "ethernet",
    }
)

Policy: TypeAlias = Literal["ACCEPT", "DROP"]

# --- rules, chains, tables ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule; its chain is the ``Chain`` holding it.

    ``protocol`` is an IP protocol number (``-p tcp`` is 6); ``is_fragment`` is
    True for ``-f``, False for ``! -f`` and None when absent; interface names
    ending in ``+`` are prefixes. ``target`` None is a rule without ``-j``
    (counts, then falls through). ``line`` is the dump line it came from, kept
    for messages and not compared.
    """

    source: Negatable[IPv4Network] | None = None
    destination: Negatable[IPv4Network] | None = None
    in_interface: Negatable[str] | None = None
    out_interface: Negatable[str] | None = None
    protocol: Negatable[int] | None = None
    is_fragment: bool | None = None
    matches: tuple[Match, ...] = ()
    target: Target | None = None
    goto: bool = False
    counters: Counters | None = None
    line: int | None = field(default=None, compare=False)

    @property
    def comment(self) -> str | None:
        """The text of the rule's first ``-m comment``, if any."""
        for match in self.matches:
            if isinstance(match, CommentMatch):
                return match.comment
        return None


@dataclass(frozen=True, slots=True)
class Chain:
    """A chain: built-in ones have a ``policy``, user chains have None."""

    name: str
    policy: Policy | None = None
    counters: Counters | None = None
    rules: tuple[Rule, ...] = ()

    @property
    def is_builtin(self) -> bool:
        """Whether this is a built-in chain (it has a policy)."""
        return self.policy is not None


@dataclass(frozen=True, slots=True)
class Table:
    """A table (``filter``, ``nat``, ``mangle``, ``raw``, ``security``) and its chains in order."""

    name: str
    chains: tuple[Chain, ...] = ()
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {c.name: i for i, c in enumerate(self.chains)}
        object.__setattr__(self, "_index", MappingProxyType(index))


@dataclass(frozen=True, slots=True)
class Ruleset:
    """Every table of one ``iptables-save`` dump, in file order."""

    tables: tuple[Table, ...] = ()
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {t.name: i for i, t in enumerate(self.tables)}
        object.__setattr__(self, "_index", MappingProxyType(index))


# --- helpers --------------------------------------------------------------------------


def table(ruleset: Ruleset, name: str) -> Table:
    """The table called ``name``.

    Raises:
        KeyError: the ruleset has no such table.

    >>> table(Ruleset((Table("nat"),)), "nat").name
    'nat'
    """
    try:
        return ruleset.tables[ruleset._index[name]]
    except KeyError:
        present = ", ".join(t.name for t in ruleset.tables) or "none"
        raise KeyError(f"no table {name!r} (tables: {present})") from None


def chain(ruleset: Ruleset, table_name: str, name: str) -> Chain:
    """The chain ``name`` of table ``table_name``.

    Raises:
        KeyError: no such table or chain.

    >>> rs = Ruleset((Table("nat", (Chain("KUBE-SERVICES"),)),))
    >>> chain(rs, "nat", "KUBE-SERVICES").is_builtin
    False
    """
    found = table(ruleset, table_name)
    try:
        return found.chains[found._index[name]]
    except KeyError:
        raise KeyError(f"table {table_name} has no chain {name!r}") from None


def has_chain(found: Table, name: str) -> bool:
    """Whether the table has a chain called ``name``.

    >>> has_chain(Table("filter", (Chain("INPUT", "ACCEPT"),)), "INPUT")
    True
    """
    return name in found._index


def rule_position(found: Chain, index: int) -> str:
    """Where rule ``index`` (0-based) sits in its chain, as iptables counts (1-based).

    >>> rule_position(Chain("KUBE-SVC-X", rules=(Rule(), Rule(), Rule())), 1)
    'chain KUBE-SVC-X rule 2 of 3'
    """
    return f"chain {found.name} rule {index + 1} of {len(found.rules)}"


def iter_rules(ruleset: Ruleset) -> Iterator[tuple[Table, Chain, int, Rule]]:
    """Every rule with its table, chain and 0-based index, in ruleset order.

    >>> rs = Ruleset((Table("filter", (Chain("INPUT", "ACCEPT", rules=(Rule(),)),)),))
    >>> [(t.name, c.name, i) for t, c, i, _ in iter_rules(rs)]
    [('filter', 'INPUT', 0)]
    """
    for tbl in ruleset.tables:
        for chn in tbl.chains:
            for index, rule in enumerate(chn.rules):
                yield tbl, chn, index, rule


def is_builtin_chain(table_name: str, name: str) -> bool:
    """Whether ``name`` is a built-in chain of table ``table_name``.

    >>> is_builtin_chain("nat", "PREROUTING"), is_builtin_chain("filter", "PREROUTING")
    (True, False)
    """
    return name in BUILTIN_CHAINS.get(table_name, ())


def protocol_name(number: int) -> str:
    """The name ``iptables-save`` prints for IP protocol ``number`` (else the number).

    >>> protocol_name(6), protocol_name(132), protocol_name(253)
    ('tcp', 'sctp', '253')
    """
    return PROTOCOL_NAMES.get(number, str(number))


def interface_matches(pattern: str, name: str) -> bool:
    """Whether interface ``name`` matches ``-i``/``-o`` ``pattern`` (``+`` ends a prefix).

    >>> interface_matches("veth+", "veth1a2b"), interface_matches("eth0", "eth01")
    (True, False)
    """
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return name == pattern
