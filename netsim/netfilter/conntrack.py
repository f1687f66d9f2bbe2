"""Connection tracking as the Linux kernel keeps it (nf_conntrack), immutable.

An entry (``struct nf_conn``) holds two tuples: the *original* one, the
direction of the packet that created it, and the *reply* one, what a reply is
expected to look like. Both are keys of the table: a packet whose tuple is an
entry's original tuple belongs to it in the original direction, one whose
tuple is its reply tuple is a reply. NAT is recorded by changing the reply
tuple: DNAT changes the reply's *source* (the backend answers), SNAT and
MASQUERADE change the reply's *destination* (the answer goes to the
translated source). The status bits say which translations happened
(``SRC_NAT``, ``DST_NAT``) and whether the NAT decision for each direction
is made (``SRC_NAT_DONE``, ``DST_NAT_DONE``: nat chains are consulted only
until then).

Tuples: TCP, UDP, SCTP, DCCP and UDP-Lite by addresses and ports; ICMP queries
by addresses, identifier (``sport``) and ``type << 8 | code`` (``dport``), the
reply tuple holding the reply type (echo-request 8 ↔ echo-reply 0); other
protocols by addresses only.

``ConntrackTable`` is a value: ``with_entry`` and ``without`` return new tables
(copy on write, O(n) per change, O(1) lookups), which suits traces of a few
flows. Not modelled: timeouts and expiry, the TCP state machine (a connection
may start with any TCP packet, as with the default ``nf_conntrack_tcp_loose=1``),
helpers and expectations (RELATED), zones, ICMP errors, the table's size limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import IntFlag
from ipaddress import IPv4Address
from operator import attrgetter
from types import MappingProxyType

from netsim.netfilter.packet import ICMP, PORT_PROTOCOLS, Packet
from netsim.netfilter.ruleset import protocol_name

__all__ = [
    "CONFIRMED_BIT",
    "DST_NAT_BIT",
    "DST_NAT_DONE_BIT",
    "ICMP_QUERY_REPLIES",
    "NO_STATUS",
    "SEEN_REPLY_BIT",
    "SRC_NAT_BIT",
    "SRC_NAT_DONE_BIT",
    "ConnTuple",
    "ConntrackEntry",
    "ConntrackStatus",
    "ConntrackTable",
    "can_start_connection",
    "conntrack_table",
    "inverted",
    "is_tuple_taken",
    "lookup",
    "new_entry",
    "render_entry",
    "tuple_of",
    "with_entry",
    "with_status",
    "without",
]

#: ICMP query types and the type of their reply (nf_conntrack_proto_icmp.c invmap).
ICMP_QUERY_REPLIES: Mapping[int, int] = MappingProxyType(
    {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17}
)
#: ICMP types that may start a tracked "connection" (icmp_new: requests only).
ICMP_QUERY_REQUESTS = frozenset({8, 13, 15, 17})


class ConntrackStatus(IntFlag):
    """Status bits of an entry, the kernel's ``IPS_*`` values (nf_conntrack_common.h)."""

    EXPECTED = 1 << 0
    SEEN_REPLY = 1 << 1
    ASSURED = 1 << 2
    CONFIRMED = 1 << 3
    SRC_NAT = 1 << 4
    DST_NAT = 1 << 5
    SRC_NAT_DONE = 1 << 7
    DST_NAT_DONE = 1 << 8


NO_STATUS = ConntrackStatus(0)  # a new, unconfirmed entry
_ip = attrgetter("_ip")  # the integer an ``IPv4Address`` keeps: ``int()`` without the call
# The status bits as plain ints, for the hot paths: ``int(entry.status) & BIT`` stays
# in C, where IntFlag's own ``&`` goes through Python.
CONFIRMED_BIT = int(ConntrackStatus.CONFIRMED)
SEEN_REPLY_BIT = int(ConntrackStatus.SEEN_REPLY)
SRC_NAT_BIT = int(ConntrackStatus.SRC_NAT)
DST_NAT_BIT = int(ConntrackStatus.DST_NAT)
SRC_NAT_DONE_BIT = int(ConntrackStatus.SRC_NAT_DONE)
DST_NAT_DONE_BIT = int(ConntrackStatus.DST_NAT_DONE)


@dataclass(frozen=True, slots=True)
class ConnTuple:
    """One direction of a connection (``struct nf_conntrack_tuple``)."""

    src: IPv4Address
    dst: IPv4Address
    protocol: int
    sport: int = 0
    dport: int = 0

    def __hash__(self) -> int:
        # equal tuples have equal addresses, so hashing the addresses' integers is
        # consistent with ``==``; ``IPv4Address.__hash__`` (via ``hex``) is the
        # slow part of every conntrack lookup otherwise
        return hash((_ip(self.src), _ip(self.dst), self.protocol, self.sport, self.dport))


@dataclass(frozen=True, slots=True)
class ConntrackEntry:
    """A tracked connection: its two tuples, status bits and conntrack mark."""

    original: ConnTuple
    reply: ConnTuple
    status: ConntrackStatus = NO_STATUS
    mark: int = 0


@dataclass(frozen=True, slots=True)
class ConntrackTable:
    """Entries by their tuples; build with ``conntrack_table``/``with_entry``.

    Confirmed entries are found by both tuples, as in the kernel's hash.
    An unconfirmed entry (a first packet still on its way through the hooks)
    is not in the kernel's hash: netsim finds it by its original tuple only,
    for the packet that carries it, and its reply tuple is not yet "taken".
    """

    _by_tuple: Mapping[ConnTuple, ConntrackEntry] = field(
        default_factory=lambda: MappingProxyType({})
    )
    _unconfirmed: Mapping[ConnTuple, ConntrackEntry] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def entries(self) -> tuple[ConntrackEntry, ...]:
        """Every entry once: confirmed ones in insertion order, then unconfirmed ones."""
        confirmed = (e for t, e in self._by_tuple.items() if t == e.original)
        return (*confirmed, *self._unconfirmed.values())

    def __len__(self) -> int:
        return len(self._unconfirmed) + sum(1 for t, e in self._by_tuple.items() if t == e.original)


def tuple_of(packet: Packet) -> ConnTuple | None:
    """The tuple conntrack files ``packet`` under; None for ICMP that is not a query.

    >>> t = tuple_of(Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), sport=4, dport=80))
    >>> (str(t.src), t.sport, str(t.dst), t.dport)
    ('10.0.0.1', 4, '10.0.0.2', 80)
    """
    if packet.protocol in PORT_PROTOCOLS:
        return ConnTuple(packet.src, packet.dst, packet.protocol, packet.sport, packet.dport)
    if packet.protocol == ICMP:
        if packet.icmp_type not in ICMP_QUERY_REPLIES:
            return None
        kind = packet.icmp_type << 8 | packet.icmp_code
        return ConnTuple(packet.src, packet.dst, ICMP, packet.sport, kind)
    return ConnTuple(packet.src, packet.dst, packet.protocol)


def inverted(t: ConnTuple) -> ConnTuple:
    """The tuple of the other direction (``nf_ct_invert_tuple``).

    >>> a, b = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
    >>> inverted(ConnTuple(a, b, 6, 40000, 80)) == ConnTuple(b, a, 6, 80, 40000)
    True
    >>> inverted(ConnTuple(a, b, 1, 7, 8 << 8)) == ConnTuple(b, a, 1, 7, 0)
    True
    """
    if t.protocol == ICMP:
        kind, code = t.dport >> 8, t.dport & 0xFF
        return ConnTuple(t.dst, t.src, ICMP, t.sport, ICMP_QUERY_REPLIES[kind] << 8 | code)
    return ConnTuple(t.dst, t.src, t.protocol, t.dport, t.sport)


def can_start_connection(t: ConnTuple) -> bool:
    """Whether a packet with tuple ``t`` may create an entry (ICMP: requests only)."""
    return t.protocol != ICMP or t.dport >> 8 in ICMP_QUERY_REQUESTS


def new_entry(t: ConnTuple) -> ConntrackEntry:
    """The entry a first packet creates: the reply tuple is the inverted original.

    >>> e = new_entry(ConnTuple(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), 17, 5, 53))
    >>> (str(e.reply.src), e.reply.sport, e.status)
    ('10.0.0.2', 53, <ConntrackStatus: 0>)
    """
    return ConntrackEntry(original=t, reply=inverted(t))


def conntrack_table(entries: Iterable[ConntrackEntry] = ()) -> ConntrackTable:
    """A table holding ``entries``.

    Raises:
        ValueError: two entries share a tuple (the kernel never inserts a clash).

    >>> len(conntrack_table())
    0
    """
    table = ConntrackTable()
    for entry in entries:
        table = with_entry(table, entry)
    return table


def _is_confirmed(entry: ConntrackEntry) -> bool:
    return bool(int(entry.status) & CONFIRMED_BIT)


def lookup(table: ConntrackTable, t: ConnTuple) -> tuple[ConntrackEntry, bool] | None:
    """The entry ``t`` belongs to and whether ``t`` is its reply direction, or None.

    >>> e = with_status(new_entry(ConnTuple(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"),
    ...     6, 4, 80)), ConntrackStatus.CONFIRMED)
    >>> table = with_entry(conntrack_table(), e)
    >>> lookup(table, e.reply) == (e, True), lookup(table, e.original) == (e, False)
    (True, True)
    """
    entry = table._by_tuple.get(t)
    if entry is not None:
        return entry, t != entry.original
    entry = table._unconfirmed.get(t)
    return None if entry is None else (entry, False)


def is_tuple_taken(table: ConntrackTable, t: ConnTuple, ignoring: ConntrackEntry | None) -> bool:
    """Whether a confirmed entry other than ``ignoring`` holds ``t`` in either direction.

    This is ``nf_conntrack_tuple_taken``, asked with a candidate reply tuple
    when NAT picks a translation that must stay unique.

    >>> e = with_status(new_entry(ConnTuple(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"),
    ...     6, 4, 80)), ConntrackStatus.CONFIRMED)
    >>> is_tuple_taken(with_entry(conntrack_table(), e), e.reply, None)
    True
    """
    held = table._by_tuple.get(t)
    return held is not None and (ignoring is None or held.original != ignoring.original)


def _removed(
    table: ConntrackTable, original: ConnTuple
) -> tuple[dict[ConnTuple, ConntrackEntry], dict[ConnTuple, ConntrackEntry]]:
    by_tuple, unconfirmed = dict(table._by_tuple), dict(table._unconfirmed)
    unconfirmed.pop(original, None)
    held = by_tuple.get(original)
    if held is not None and held.original == original:
        del by_tuple[original]
        by_tuple.pop(held.reply, None)
    return by_tuple, unconfirmed


def with_entry(table: ConntrackTable, entry: ConntrackEntry) -> ConntrackTable:
    """The table with ``entry`` added, or replacing the entry with the same original tuple.

    Raises:
        ValueError: a tuple of the (confirmed) entry belongs to another confirmed entry.

    >>> e = new_entry(ConnTuple(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), 6, 4, 80))
    >>> len(with_entry(with_entry(conntrack_table(), e), e))
    1
    """
    by_tuple, unconfirmed = _removed(table, entry.original)
    if not _is_confirmed(entry):
        unconfirmed[entry.original] = entry
    else:
        for t in (entry.original, entry.reply):
            if t in by_tuple:
                raise ValueError(f"conntrack: {_tuple_text(t)} already belongs to another entry")
        by_tuple[entry.original] = entry
        by_tuple[entry.reply] = entry
    return ConntrackTable(MappingProxyType(by_tuple), MappingProxyType(unconfirmed))


def without(table: ConntrackTable, entry: ConntrackEntry) -> ConntrackTable:
    """The table without the entry whose original tuple is ``entry.original``.

    >>> e = new_entry(ConnTuple(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), 6, 4, 80))
    >>> len(without(with_entry(conntrack_table(), e), e))
    0
    """
    by_tuple, unconfirmed = _removed(table, entry.original)
    return ConntrackTable(MappingProxyType(by_tuple), MappingProxyType(unconfirmed))


def with_status(entry: ConntrackEntry, bits: ConntrackStatus) -> ConntrackEntry:
    """The entry with status ``bits`` set too."""
    return replace(entry, status=entry.status | bits)


def _tuple_text(t: ConnTuple) -> str:
    text = f"src={t.src} dst={t.dst}"
    if t.protocol == ICMP:
        return f"{text} type={t.dport >> 8} code={t.dport & 0xFF} id={t.sport}"
    if t.protocol in PORT_PROTOCOLS:
        return f"{text} sport={t.sport} dport={t.dport}"
    return text


def render_entry(entry: ConntrackEntry) -> str:
    """The entry as ``conntrack -L`` prints it, without timeout and TCP state.

    ``[UNREPLIED]`` follows the original tuple until a reply is seen,
    ``[ASSURED]`` the reply tuple once the entry is assured.

    >>> a, b = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
    >>> render_entry(new_entry(ConnTuple(a, b, 6, 40000, 80)))
    'tcp 6 src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=80 [UNREPLIED] \
src=10.0.0.2 dst=10.0.0.1 sport=80 dport=40000 mark=0'
    """
    parts = [protocol_name(entry.original.protocol), str(entry.original.protocol)]
    parts.append(_tuple_text(entry.original))
    if not entry.status & ConntrackStatus.SEEN_REPLY:
        parts.append("[UNREPLIED]")
    parts.append(_tuple_text(entry.reply))
    if entry.status & ConntrackStatus.ASSURED:
        parts.append("[ASSURED]")
    parts.append(f"mark={entry.mark}")
    return " ".join(parts)
