"""Render a ``Ruleset`` exactly as ``iptables-save`` (iptables 1.8.9, nf_tables) prints it.

Every print form here was read back from the real ``iptables-save`` after
``iptables-restore`` in a private network namespace
(``tests/netfilter/test_iptables_restore.py`` checks them against the kernel):

* rule order of parts: ``[!] -s``, ``[!] -d``, ``[!] -i``, ``[!] -o``, ``[!] -p``,
  ``[!] -f``, each ``-m`` with its options in the module's own print order,
  then ``-j``/``-g`` with the target's options;
* addresses always carry a prefix length (``10.0.0.1/32``), except in
  ``-m conntrack`` where ``/32`` is left off; protocols print by name;
* ``MARK``/``CONNMARK`` print as ``--set-xmark V/M`` (``0x%x``); a
  ``--log-prefix`` is quoted as ``quote`` does; defaults print where iptables
  prints them (``--reject-with icmp-port-unreachable``) and are left out where
  it leaves them out (``--log-level 4``).

``render_iptables_save`` prints tables and chains in the model's order;
``in_save_order`` reorders a ruleset as ``iptables-save`` lists a loaded one
(tables mangle, security, raw, filter, nat; built-in chains first, all of them;
user chains by name) so a restore payload renders like the dump of the node
that loaded it.

Not rendered: the legacy (``iptables-legacy-save``) differences (see
``render_matches``).

Not here: each ``-m`` match with its options, ``quote`` and ``limit_rate``
(``render_matches``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import assert_never

from netsim.netfilter.render_matches import _ports, quote, render_match
from netsim.netfilter.ruleset import (
    BUILTIN_CHAINS,
    LOG_DEFAULT_LEVEL,
    AcceptTarget,
    Chain,
    ConnmarkTarget,
    Counters,
    CtTarget,
    DnatTarget,
    DropTarget,
    JumpTarget,
    LogTarget,
    MarkTarget,
    MasqueradeTarget,
    NatRange,
    NotrackTarget,
    PortRange,
    RedirectTarget,
    RejectTarget,
    ReturnTarget,
    Rule,
    Ruleset,
    SnatTarget,
    Target,
    protocol_name,
)

__all__ = [
    "IPTABLES_VERSION",
    "SAVE_TABLE_ORDER",
    "in_save_order",
    "render_chain_line",
    "render_iptables_save",
    "render_rule",
    "render_target",
    "save_chain_order",
    "save_table_key",
]

IPTABLES_VERSION = "v1.8.9 (nf_tables)"  # the iptables whose print forms these are
#: Table order of iptables-nft-save (enum nft_table_type in iptables' nft.h).
SAVE_TABLE_ORDER = ("mangle", "security", "raw", "filter", "nat")
EPOCH = "Thu Jan  1 00:00:00 1970"  # ctime(3) of 0, the default date of the comments


# --- targets ------------------------------------------------------------------------------


def _nat_range(to: NatRange) -> str:
    text = ""
    if to.first_address is not None:
        text = str(to.first_address)
        if to.last_address is not None and to.last_address != to.first_address:
            text += f"-{to.last_address}"
    if to.first_port is not None:
        text += f":{to.first_port}"
        if to.last_port is not None and to.last_port != to.first_port:
            text += f"-{to.last_port}"
        if to.base_port is not None:
            text += f"/{to.base_port}"
    return text


def _nat_flags(random: bool, random_fully: bool = False, persistent: bool = False) -> str:
    return (
        (" --random" if random else "")
        + (" --random-fully" if random_fully else "")
        + (" --persistent" if persistent else "")
    )


def _to_ports(ports: PortRange | None) -> str:
    return "" if ports is None else f" --to-ports {_ports(ports, '-')}"


def _log(t: LogTarget) -> str:
    text = f" --log-prefix {quote(t.prefix)}" if t.prefix else ""
    if t.level != LOG_DEFAULT_LEVEL:
        text += f" --log-level {t.level}"
    for flag, name in (
        (t.tcp_sequence, "--log-tcp-sequence"),
        (t.tcp_options, "--log-tcp-options"),
        (t.ip_options, "--log-ip-options"),
        (t.uid, "--log-uid"),
        (t.macdecode, "--log-macdecode"),
    ):
        if flag:
            text += f" {name}"
    return text


def _connmark(t: ConnmarkTarget) -> str:
    if t.mode == "set":
        return f" --set-xmark 0x{t.value:x}/0x{t.ctmask:x}"
    return f" --{t.mode}-mark --nfmask 0x{t.nfmask:x} --ctmask 0x{t.ctmask:x}"


def _ct(t: CtTarget) -> str:
    return (
        (" --notrack" if t.notrack else "")
        + (f" --helper {t.helper}" if t.helper is not None else "")
        + (f" --zone {t.zone}" if t.zone is not None else "")
    )


def render_target(target: Target, goto: bool = False) -> str:
    """``-j TARGET`` (or ``-g CHAIN``) and its options, as iptables-save prints them.

    >>> render_target(MarkTarget(0x4000, 0x4000))
    '-j MARK --set-xmark 0x4000/0x4000'
    """
    match target:
        case JumpTarget():
            return f"{'-g' if goto else '-j'} {target.chain}"
        case AcceptTarget() | DropTarget() | ReturnTarget() | NotrackTarget():
            body = ""
        case RejectTarget():
            body = f" --reject-with {target.reject_with}"
        case DnatTarget():
            body = f" --to-destination {_nat_range(target.to_destination)}"
            body += _nat_flags(target.random, persistent=target.persistent)
        case SnatTarget():
            body = f" --to-source {_nat_range(target.to_source)}"
            body += _nat_flags(target.random, target.random_fully, target.persistent)
        case MasqueradeTarget():
            body = _to_ports(target.to_ports) + _nat_flags(target.random, target.random_fully)
        case RedirectTarget():
            body = _to_ports(target.to_ports) + _nat_flags(target.random)
        case MarkTarget():
            body = f" --set-xmark 0x{target.value:x}/0x{target.mask:x}"
        case ConnmarkTarget():
            body = _connmark(target)
        case LogTarget():
            body = _log(target)
        case CtTarget():
            body = _ct(target)
        case _:
            assert_never(target)
    return f"-j {target.name}{body}"


# --- rules, chains, tables ----------------------------------------------------------------


def render_rule(chain_name: str, rule: Rule) -> str:
    """One ``-A`` line (with ``[p:b]`` in front when the rule has counters).

    >>> from ipaddress import IPv4Network
    >>> from netsim.netfilter.ruleset import Negatable
    >>> render_rule("KUBE-SEP-X", Rule(source=Negatable(IPv4Network("10.244.1.5/32")),
    ...     target=JumpTarget("KUBE-MARK-MASQ")))
    '-A KUBE-SEP-X -s 10.244.1.5/32 -j KUBE-MARK-MASQ'
    """
    parts = [f"-A {chain_name}"]
    if rule.counters is not None:
        parts.insert(0, f"[{rule.counters.packets}:{rule.counters.bytes}]")
    if rule.source is not None:
        parts.append(f"{'! ' if rule.source.negated else ''}-s {rule.source.value}")
    if rule.destination is not None:
        parts.append(f"{'! ' if rule.destination.negated else ''}-d {rule.destination.value}")
    if rule.in_interface is not None:
        parts.append(f"{'! ' if rule.in_interface.negated else ''}-i {rule.in_interface.value}")
    if rule.out_interface is not None:
        parts.append(f"{'! ' if rule.out_interface.negated else ''}-o {rule.out_interface.value}")
    if rule.protocol is not None:
        name = protocol_name(rule.protocol.value)
        parts.append(f"{'! ' if rule.protocol.negated else ''}-p {name}")
    if rule.is_fragment is not None:
        parts.append("-f" if rule.is_fragment else "! -f")
    parts.extend(render_match(m) for m in rule.matches)
    if rule.target is not None:
        parts.append(render_target(rule.target, rule.goto))
    return " ".join(parts)


def render_chain_line(chain: Chain) -> str:
    """The ``:NAME POLICY [p:b]`` line; counters print ``[0:0]`` when unknown.

    >>> render_chain_line(Chain("KUBE-SERVICES")), render_chain_line(Chain("INPUT", "DROP"))
    (':KUBE-SERVICES - [0:0]', ':INPUT DROP [0:0]')
    """
    counters = chain.counters or Counters(0, 0)
    return f":{chain.name} {chain.policy or '-'} [{counters.packets}:{counters.bytes}]"


def render_iptables_save(
    ruleset: Ruleset,
    *,
    comments: bool = False,
    date: str = EPOCH,
    version: str = IPTABLES_VERSION,
) -> str:
    """The ruleset as ``iptables-save`` text, tables and chains in the model's order.

    Args:
        ruleset: what to print.
        comments: add the ``# Generated by ...`` / ``# Completed on ...`` lines.
        date: the date those comments carry (ctime format).
        version: the iptables version those comments name.

    Returns:
        The dump, one line per table header, chain, rule and COMMIT, ending in a newline.

    >>> from netsim.netfilter.ruleset import Table
    >>> print(render_iptables_save(Ruleset((Table("nat", (Chain("KUBE-MARK-MASQ",
    ...     rules=(Rule(target=MarkTarget(0x4000, 0x4000)),)),)),))), end="")
    *nat
    :KUBE-MARK-MASQ - [0:0]
    -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
    COMMIT
    """
    lines: list[str] = []
    for table in ruleset.tables:
        if comments:
            lines.append(f"# Generated by iptables-save {version} on {date}")
        lines.append(f"*{table.name}")
        lines.extend(render_chain_line(chain) for chain in table.chains)
        for chain in table.chains:
            name = chain.name
            lines.extend(render_rule(name, rule) for rule in chain.rules)
        lines.append("COMMIT")
        if comments:
            lines.append(f"# Completed on {date}")
    return "\n".join(lines) + "\n" if lines else ""


def in_save_order(ruleset: Ruleset) -> Ruleset:
    """The ruleset as ``iptables-save`` (nf_tables) lists it once loaded.

    Tables go in kernel order (mangle, security, raw, filter, nat); each table
    lists all its built-in chains first in hook order (a missing one is added
    with policy ACCEPT, as the kernel creates it), then user chains by name.

    >>> from netsim.netfilter.ruleset import Table
    >>> rs = in_save_order(Ruleset((Table("nat", (Chain("B"), Chain("A"))), Table("raw"))))
    >>> [(t.name, [c.name for c in t.chains]) for t in rs.tables]
    [('raw', ['PREROUTING', 'OUTPUT']), ('nat', ['PREROUTING', 'INPUT', 'OUTPUT', \
'POSTROUTING', 'A', 'B'])]
    """

    tables = []
    for table in sorted(ruleset.tables, key=lambda table: save_table_key(table.name)):
        by_name = {chain.name: chain for chain in table.chains}
        chains = [
            by_name.get(name) or Chain(name, "ACCEPT", Counters(0, 0))
            for name in save_chain_order(table.name, by_name)
        ]
        tables.append(replace(table, chains=tuple(chains)))
    return Ruleset(tuple(tables))


def save_table_key(name: str) -> tuple[int, str]:
    """Sorts tables as ``iptables-save`` (nf_tables) lists them: kernel order, unknown ones last.

    >>> sorted(["nat", "filter", "raw"], key=save_table_key)
    ['raw', 'filter', 'nat']
    """
    return (SAVE_TABLE_ORDER.index(name) if name in SAVE_TABLE_ORDER else 99), name


def save_chain_order(table_name: str, names: Iterable[str]) -> list[str]:
    """The chains of a table as ``iptables-save`` lists them once loaded.

    Every built-in chain of the table in hook order (the kernel creates those
    not named), then the user chains of ``names`` by name, bytewise.

    >>> save_chain_order("raw", ["b", "OUTPUT", "A"])
    ['PREROUTING', 'OUTPUT', 'A', 'b']
    """
    builtin = BUILTIN_CHAINS.get(table_name, ())
    return [*builtin, *sorted((name for name in names if name not in builtin), key=str.encode)]
