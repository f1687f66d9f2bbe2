"""The ``recent`` match's lists (xt_recent), as immutable state.

``-m recent`` keeps, per list name, the addresses it saw and when. netsim
keeps what the kernel keeps (net/netfilter/xt_recent.c): per address the
last ``RECENT_STAMPS`` time stamps (seconds, the caller's clock) and the TTL
of the last packet, and per list at most ``RECENT_LIST_MAX`` addresses in
least-recently-updated order, the oldest evicted when a new one arrives.

``check_recent`` is ``recent_mt``: ``--set`` adds or refreshes the address,
``--rcheck`` tests for a stamp within ``--seconds`` (and ``--hitcount`` of
them), ``--update`` does the same and refreshes on a hit, ``--remove``
forgets the address; ``--reap`` drops the least recently updated address
when its newest stamp is too old; ``--rttl`` also compares the TTL; ``!``
inverts the result. Session affinity (kube-proxy's ``--rcheck --seconds T
--reap`` then ``--set``) works when the caller passes the returned state
into the next evaluation.

Simplifications: the address is masked with the rule's ``--mask`` (the
kernel uses the mask of the first rule that created the list); the TTL is
raised by one for forwarded packets (``in`` and ``out`` interfaces known),
where the kernel raises it for packets with an out interface and no socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from types import MappingProxyType

from netsim.netfilter.ruleset import RecentMatch

__all__ = [
    "RECENT_LIST_MAX",
    "RECENT_STAMPS",
    "RecentEntry",
    "RecentState",
    "check_recent",
    "last_seen",
]

RECENT_LIST_MAX = 100  # xt_recent.c ip_list_tot: "number of IPs to remember per list"
RECENT_STAMPS = 32  # xt_recent.c: nstamps_max_mask 32 - 1 without ip_pkt_list_tot/--hitcount


@dataclass(frozen=True, slots=True)
class RecentEntry:
    """One address of a list: its time stamps (oldest first) and last TTL."""

    stamps: tuple[float, ...]
    ttl: int


@dataclass(frozen=True, slots=True)
class RecentState:
    """Every list: name → address → entry, addresses least recently updated first."""

    lists: Mapping[str, Mapping[IPv4Address, RecentEntry]] = field(
        default_factory=lambda: MappingProxyType({})
    )


def last_seen(state: RecentState, name: str, address: IPv4Address) -> float | None:
    """When ``address`` was last recorded in list ``name``, or None.

    >>> a = IPv4Address("10.0.0.1")
    >>> state = RecentState(MappingProxyType({"S": {a: RecentEntry((5.0,), 64)}}))
    >>> last_seen(state, "S", a), last_seen(state, "T", a)
    (5.0, None)
    """
    entry = state.lists.get(name, {}).get(address)
    return entry.stamps[-1] if entry else None


def _masked(address: IPv4Address, mask: IPv4Address) -> IPv4Address:
    return IPv4Address(int(address) & int(mask))


def _with_list(
    state: RecentState, name: str, entries: dict[IPv4Address, RecentEntry]
) -> RecentState:
    lists = dict(state.lists)
    lists[name] = MappingProxyType(entries)
    return RecentState(MappingProxyType(lists))


def check_recent(
    match: RecentMatch,
    src: IPv4Address,
    dst: IPv4Address,
    ttl: int,
    now: float,
    state: RecentState,
) -> tuple[bool, RecentState]:
    """Whether ``match`` matches a packet, and the lists after it looked.

    Args:
        match: the ``-m recent`` options.
        src: the packet's source address.
        dst: the packet's destination address.
        ttl: the TTL the kernel compares (see the module docstring).
        now: the current time in seconds.
        state: the lists before.

    Returns:
        The match result and the new state (the same object when unchanged).

    >>> from netsim.netfilter.ruleset import RecentMatch
    >>> a, b = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
    >>> hit, state = check_recent(RecentMatch("set", "S"), a, b, 64, 100.0, RecentState())
    >>> check = RecentMatch("rcheck", "S", seconds=10)
    >>> [check_recent(check, a, b, 64, now, state)[0] for now in (105.0, 111.0)]
    [True, False]
    """
    address = _masked(dst if match.side == "dest" else src, match.mask)
    entries = state.lists.get(match.name, {})
    entry = entries.get(address)
    if entry is not None and match.rttl and entry.ttl not in (ttl, 0) and ttl != 0:
        entry = None
    result = match.negated
    if entry is None:
        if match.command != "set":
            return result, state
        updated = dict(entries)
        if len(updated) >= RECENT_LIST_MAX:
            del updated[next(iter(updated))]
        updated[address] = RecentEntry((now,), ttl)
        return not result, _with_list(state, match.name, updated)
    if match.command == "set":
        result = not result
    elif match.command == "remove":
        updated = dict(entries)
        del updated[address]
        return not result, _with_list(state, match.name, updated)
    else:  # rcheck, update
        oldest = now - match.seconds if match.seconds else None
        hits = 0
        for stamp in entry.stamps:
            if oldest is not None and stamp < oldest:
                continue
            hits += 1
            if not match.hitcount or hits >= match.hitcount:
                result = not result
                break
        refresh = match.command == "update" and result
        if match.reap and oldest is not None:
            head = next(iter(entries))
            if entries[head].stamps[-1] < oldest and not (head == address and refresh):
                updated = dict(entries)
                del updated[head]
                state = _with_list(state, match.name, updated)
                entries = updated
    if match.command == "set" or (match.command == "update" and result):
        updated = dict(entries)
        del updated[address]
        updated[address] = RecentEntry((*entry.stamps, now)[-RECENT_STAMPS:], ttl)
        state = _with_list(state, match.name, updated)
    return result, state
