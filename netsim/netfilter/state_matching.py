"""Whether a rule's connection-state and meta tests hold: conntrack, marks, sockets, counters.

Each ``match_*`` function here decides a test that reads not the packet's
headers but its conntrack entry or what the kernel keeps beside it, the way
the kernel's match module does (``xt_conntrack``, ``xt_state``, ``xt_mark``,
``xt_connmark``, ``xt_owner`` …), with the signature ``MATCHERS`` calls. They
are pure: they never change state. Two matches are left to the evaluator
because they are not pure: ``statistic`` (a random draw:
``statistic_probability`` gives the chance it matches) and ``recent`` (its
lists are state: ``netsim.netfilter.recent``).

Decided with assumptions (each says so in the trace): ``-m limit`` is never
exceeded; ``-m nfacct`` only counts, so it always matches; ``-m owner
--socket-exists`` holds in OUTPUT (the packet comes from a local socket).

Refused with ``UnsupportedError`` because netsim lacks the state they read:
``-m set`` (ipset contents), ``-m socket`` (the socket table), ``-m owner``
with ``--uid-owner``/``--gid-owner`` or outside OUTPUT, and ``--ctexpire``
(conntrack timeouts).

Not here: ``HookContext``, the built-in and header tests (addresses,
interfaces, protocol, ports, tcp flags, icmp, multiport, addrtype, physdev,
pkttype, mac) and the ``MATCHERS`` table (``matching``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from netsim.errors import UnsupportedError
from netsim.netfilter.conntrack import DST_NAT_BIT, SRC_NAT_BIT, ConntrackEntry, ConntrackStatus
from netsim.netfilter.packet import Packet
from netsim.netfilter.ruleset import (
    CommentMatch,
    ConnmarkMatch,
    ConntrackMatch,
    LimitMatch,
    MarkMatch,
    Negatable,
    NfacctMatch,
    OwnerMatch,
    SetMatch,
    SocketMatch,
    StateMatch,
    StatisticMatch,
)

if TYPE_CHECKING:
    from netsim.netfilter.matching import HookContext

__all__ = [
    "ct_state_of",
    "match_comment",
    "match_connmark",
    "match_conntrack",
    "match_limit",
    "match_mark",
    "match_nfacct",
    "match_owner",
    "match_set",
    "match_socket",
    "match_state",
    "statistic_probability",
]


def match_comment(
    m: CommentMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m comment``: always matches.

    >>> match_comment(CommentMatch("x"), None, None, None)
    True
    """
    return True


def match_mark(
    m: MarkMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m mark [!] --mark V/M``: ``mark & M == V``.

    >>> from ipaddress import IPv4Address
    >>> p = Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), mark=0x4001)
    >>> match_mark(MarkMatch(0x4000, 0x4000), p, None, None)
    True
    """
    return ((packet.mark & m.mask) == m.value) != m.negated


def match_connmark(
    m: ConnmarkMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m connmark [!] --mark V/M`` on the conntrack mark; no entry never matches.

    >>> from ipaddress import IPv4Address
    >>> from netsim.netfilter.conntrack import ConnTuple, new_entry
    >>> e = new_entry(ConnTuple(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), 6, 4, 80))
    >>> match_connmark(ConnmarkMatch(0, negated=True), None, None, None)
    False
    >>> match_connmark(ConnmarkMatch(0), None, None, e)
    True
    """
    if entry is None:
        return False
    return ((entry.mark & m.mask) == m.value) != m.negated


_CTINFO_STATES: Mapping[str, str] = MappingProxyType(
    {
        "NEW": "NEW",
        "ESTABLISHED": "ESTABLISHED",
        "ESTABLISHED_REPLY": "ESTABLISHED",
        "UNTRACKED": "UNTRACKED",
    }
)


def ct_state_of(packet: Packet, entry: ConntrackEntry | None) -> str:
    """The conntrack state rules see: NEW, ESTABLISHED, UNTRACKED or INVALID (no entry).

    >>> from ipaddress import IPv4Address
    >>> ct_state_of(Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")), None)
    'INVALID'
    """
    if packet.ctinfo == "UNTRACKED":
        return "UNTRACKED"
    if entry is None or packet.ctinfo is None:
        return "INVALID"
    return _CTINFO_STATES[packet.ctinfo]


def _ct_states(packet: Packet, entry: ConntrackEntry | None) -> set[str]:
    states = {ct_state_of(packet, entry)}
    if entry is not None and packet.ctinfo != "UNTRACKED":
        status = int(entry.status)
        if status & SRC_NAT_BIT:
            states.add("SNAT")
        if status & DST_NAT_BIT:
            states.add("DNAT")
    return states


def _negatable_holds(test: Negatable[Any] | None, holds: Callable[[Any], bool]) -> bool:
    return test is None or holds(test.value) != test.negated


def match_conntrack(
    m: ConntrackMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m conntrack``: state (with the SNAT/DNAT virtual states), status, tuples, direction.

    Without an entry (INVALID, UNTRACKED) only ``--ctstate`` can match, as in
    ``conntrack_mt``.

    Raises:
        UnsupportedError: ``--ctexpire`` (netsim does not model timeouts).
    """
    if m.ctstate is not None:
        states = _ct_states(packet, entry)
        if bool(states.intersection(m.ctstate.value)) == m.ctstate.negated:
            return False
    if entry is None or packet.ctinfo in (None, "UNTRACKED"):
        return m.ctstate is not None
    is_reply = packet.ctinfo == "ESTABLISHED_REPLY"
    if m.ctdir is not None and (m.ctdir == "REPLY") != is_reply:
        return False
    orig, repl = entry.original, entry.reply
    checks = (
        _negatable_holds(m.ctproto, lambda p: orig.protocol == p),
        _negatable_holds(m.ctorigsrc, lambda n: orig.src in n.network),
        _negatable_holds(m.ctorigdst, lambda n: orig.dst in n.network),
        _negatable_holds(m.ctreplsrc, lambda n: repl.src in n.network),
        _negatable_holds(m.ctrepldst, lambda n: repl.dst in n.network),
        _negatable_holds(m.ctorigsrcport, lambda r: r.first <= orig.sport <= r.last),
        _negatable_holds(m.ctorigdstport, lambda r: r.first <= orig.dport <= r.last),
        _negatable_holds(m.ctreplsrcport, lambda r: r.first <= repl.sport <= r.last),
        _negatable_holds(m.ctrepldstport, lambda r: r.first <= repl.dport <= r.last),
        _negatable_holds(
            m.ctstatus,
            lambda names: any(entry.status & ConntrackStatus[name] for name in names),
        ),
    )
    if not all(checks):
        return False
    if m.ctexpire is not None:
        raise UnsupportedError("conntrack --ctexpire: netsim does not model conntrack timeouts")
    return True


def match_state(
    m: StateMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m state [!] --state LIST`` (no SNAT/DNAT virtual states)."""
    return (ct_state_of(packet, entry) in m.states) != m.negated


def match_limit(
    m: LimitMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m limit``: assumed never exceeded (netsim sends one packet at a time).

    >>> match_limit(LimitMatch(), None, None, None)
    True
    """
    return True


def match_nfacct(
    m: NfacctMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m nfacct``: counts the packet into an accounting object; always matches.

    >>> match_nfacct(NfacctMatch("x"), None, None, None)
    True
    """
    return True


def match_owner(
    m: OwnerMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m owner [!] --socket-exists`` in OUTPUT, where a local socket sent the packet.

    Raises:
        UnsupportedError: ``--uid-owner``/``--gid-owner`` (the sending process is
            unknown), or any owner test outside OUTPUT.
    """
    if ctx.hook != "OUTPUT":
        raise UnsupportedError(f"-m owner in {ctx.hook}: netsim knows sockets only in OUTPUT")
    if m.uid_owner is not None or m.gid_owner is not None:
        raise UnsupportedError("-m owner --uid-owner/--gid-owner: the sending process is unknown")
    return m.socket_exists is None or m.socket_exists


def match_set(m: SetMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None) -> bool:
    """``-m set``: refused, netsim does not hold ipset contents.

    Raises:
        UnsupportedError: always.
    """
    raise UnsupportedError(f"-m set --match-set {m.name}: netsim does not hold ipset contents")


def match_socket(
    m: SocketMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m socket``: refused, netsim has no socket table.

    Raises:
        UnsupportedError: always.
    """
    raise UnsupportedError("-m socket: netsim has no socket table")


def statistic_probability(m: StatisticMatch) -> float:
    """The chance ``-m statistic`` matches one packet.

    Random mode uses the probability the kernel stores, round(P·2³¹)/2³¹;
    nth mode counts packets, which netsim treats as a 1-in-``every`` chance.

    >>> statistic_probability(StatisticMatch("random", 0.5, "0.5"))
    0.5
    >>> round(statistic_probability(StatisticMatch("nth", every=4, packet=0, negated=True)), 2)
    0.75
    """
    chance = m.kernel_probability if m.mode == "random" else 1.0 / (m.every or 1)
    return 1.0 - chance if m.negated else chance
