"""host-local IPAM: the allocator of the CNI reference plugin, rebuilt exactly.

Models the ``host-local`` IPAM plugin of containernetworking/plugins 1.1.1
(``plugins/ipam/host-local/backend/allocator``):

* **Range sets.** A range set is a list of ranges ``{subnet, rangeStart?,
  rangeEnd?, gateway?}`` of one address family; one IP is handed out per set
  (a v4 set plus a v6 set is dual stack). :func:`canonicalize_range_set`
  applies the reference's defaults (gateway and rangeStart = network+1,
  rangeEnd = broadcast-1 for IPv4, last address for IPv6) and its checks, with
  its messages word for word.
* **Allocation.** :func:`allocate` walks round-robin from the address after
  ``last_reserved_ip`` (ranges in order, wrapping, each range's gateway
  skipped) and exclusively reserves the first free address; a second ADD of
  the same (container ID, ifname) is refused; requested IPs are checked;
  failures are wrapped ``failed to allocate for range <i>: ...`` and roll back
  the sets already allocated in the same call. :func:`release` (DEL) and
  :func:`check` (CHECK) complete the operations.
* **Stores.** Reservations live in a :class:`Store`: :class:`MemoryStore`
  for the cluster simulator or :class:`DiskStore`, the reference's on-disk
  layout (both in :mod:`netsim.control.ipamstore`). The lock is taken per
  range set and per release, as the reference takes it. On a MemoryStore the
  walk runs on integers; in sequential use it tries one address per ADD (no
  scan of the range). Addresses are read and printed as Go's ``net`` package
  does (:func:`parse_ip`, :func:`parse_cidr`, in :mod:`netsim.control.goaddr`).

This module is the public face of host-local IPAM: the store and address
names are re-exported here.

Not modelled: the CNI protocol (environment, JSON, result versions: see
``netsim.cni.plugin``), GC and STATUS (host-local 1.1.1 has neither), the
``GetByPodNsAndName`` extension of some forks. Two inputs on which the
reference misbehaves are rejected instead of imitated: subnets whose first
byte is zero (``0.0.0.0/8``, ``00xx::/8``; Go's ``ip.NextIP`` drops leading
zero bytes there and hands out garbage such as ``?01``), and an IPv4
``rangeStart`` equal to the broadcast address without a ``rangeEnd`` (the
reference then allocates past the end of the subnet).

Every failure is an :class:`netsim.errors.IPAMError` with code 999, the code
Go's ``skel`` gives plain errors.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from typing import Any, cast

from netsim.control.goaddr import (
    GO_SPACE,
    IPAddress,
    IPInterface,
    IPNetwork,
    ParsedCIDR,
    cidr_text,
    go_trim_space,
    parse_cidr,
    parse_ip,
)
from netsim.control.ipamstore import (
    DEFAULT_DATA_DIR,
    ERR_INTERNAL,
    LAST_RESERVED_IP_PREFIX,
    LINE_BREAK,
    LOCK_FILE,
    V6_TAG,
    DiskStore,
    MemoryStore,
    Store,
)
from netsim.control.iprange import (
    Range,
    RangeSet,
    canonicalize_range_set,
    canonicalize_range_sets,
    check_range_sets_disjoint,
    ipam_error,
    range_contains,
    range_for,
    range_set_contains,
    range_set_text,
    range_text,
)
from netsim.errors import IPAMError

__all__ = [
    "DEFAULT_DATA_DIR",
    "ERR_INTERNAL",
    "GO_SPACE",
    "LAST_RESERVED_IP_PREFIX",
    "LINE_BREAK",
    "LOCK_FILE",
    "Allocation",
    "DiskStore",
    "IPAddress",
    "IPInterface",
    "IPNetwork",
    "MemoryStore",
    "ParsedCIDR",
    "Range",
    "RangeSet",
    "Store",
    "allocate",
    "canonicalize_range_set",
    "canonicalize_range_sets",
    "check",
    "check_range_sets_disjoint",
    "cidr_text",
    "go_trim_space",
    "parse_cidr",
    "parse_ip",
    "range_contains",
    "range_set_contains",
    "range_set_text",
    "range_text",
    "release",
]
# ---------------------------------------------------------------------------------------------
# The allocator


@dataclass(frozen=True, slots=True)
class Allocation:
    """One address handed out by :func:`allocate`.

    Attributes:
        address: the IP with the prefix length of its range's subnet.
        gateway: the gateway of that range.
        range_set_index: the range set it came from.
    """

    address: IPInterface
    gateway: IPAddress | None
    range_set_index: int


_new_allocation = object.__new__
_allocation_slots: Any = vars(Allocation)
_set_address = _allocation_slots["address"].__set__
_set_gateway = _allocation_slots["gateway"].__set__
_set_range_set_index = _allocation_slots["range_set_index"].__set__


def _allocation(address: IPInterface, gateway: IPAddress | None, index: int) -> Allocation:
    """``Allocation(address, gateway, index)`` through the slots (a third of the cost of
    the frozen dataclass ``__init__``, which goes through ``object.__setattr__``)."""
    allocation: Allocation = _new_allocation(Allocation)
    _set_address(allocation, address)
    _set_gateway(allocation, gateway)
    _set_range_set_index(allocation, index)
    return allocation


def _slow_interface(n: int, subnet: IPNetwork) -> IPInterface:
    return ipaddress.ip_interface((n, subnet.prefixlen))


def _fast_interface(n: int, subnet: IPNetwork) -> IPInterface:
    """Build the interface without re-parsing (the constructor costs ~2 µs, this ~0.15 µs).

    It fills the attributes ``ipaddress.IPv4Interface.__init__`` sets; a check at
    import time falls back to the constructor if a Python version differs.
    """
    interface: Any
    if isinstance(subnet, IPv4Network):
        interface = _new_v4_interface(IPv4Interface)
    else:
        interface = _new_v6_interface(IPv6Interface)
        interface._scope_id = None
    interface._ip = n
    interface.network = subnet
    interface.netmask = subnet.netmask
    interface._prefixlen = subnet._prefixlen  # type: ignore[union-attr]
    return cast(IPInterface, interface)


_new_v4_interface = IPv4Interface.__new__
_new_v6_interface = IPv6Interface.__new__


def _fast_interface_works() -> bool:
    for text in ("10.1.2.3/24", "fd00::5/120"):
        expected = ipaddress.ip_interface(text)
        try:
            built = _fast_interface(int(expected.ip), expected.network)
            same = vars(built) == vars(expected) and built == expected and str(built) == text
        except (AttributeError, TypeError):  # pragma: no cover - other Python layouts
            return False
        if not same:  # pragma: no cover
            return False
    return True


_interface = _fast_interface if _fast_interface_works() else _slow_interface


def _walk_start(rs: RangeSet, last: IPAddress | None) -> tuple[int, int]:
    """Where the reference's ``RangeIter`` starts: (range index, address).

    After ``last`` if a range of the set holds it (from a rangeEnd, at the next
    range's rangeStart), else at range 0's rangeStart.
    """
    if last is not None:
        v4, n = isinstance(last, IPv4Address), int(last)
        for i, r in enumerate(rs):
            if r._v4 == v4 and r._first <= n <= r._last:
                if n != r._last:
                    return i, n + 1
                i = (i + 1) % len(rs)
                return i, rs[i]._first
    return 0, rs[0]._first


def _allocate_from_set(
    store: Store,
    rs: RangeSet,
    index: int,
    container_id: str,
    ifname: str,
    requested: IPAddress | None,
) -> Allocation:
    """``IPAllocator.Get`` for one range set (the caller holds the store lock)."""
    if requested is not None:
        r = range_for(rs, requested)
        if r is None:  # pragma: no cover - allocate() only passes contained IPs
            raise ipam_error(f"{requested} not in range set {range_set_text(rs)}")
        if requested == r.gateway:
            raise ipam_error(f"requested ip {requested} is subnet's gateway")
        if not store.reserve(container_id, ifname, requested, index):
            raise ipam_error(
                f"requested IP address {requested} is not available in range set"
                f" {range_set_text(rs)}"
            )
        return Allocation(_interface(int(requested), r.subnet), r.gateway, index)
    for held in store.get_by_id(container_id, ifname) or ():
        if range_for(rs, held) is not None:
            raise ipam_error(
                f"{held} has been allocated to {container_id}, duplicate allocation is not allowed"
            )
    # The reference's RangeIter: every address of the set once, round-robin: up each
    # range, from a rangeEnd to the next range's rangeStart (wrapping), skipping each
    # range's gateway, until back at the start.
    start_index, start = _walk_start(rs, store.last_reserved_ip(index))
    i, n, count = start_index, start, len(rs)
    while True:
        r = rs[i]
        if n != r._gateway:
            ip = IPv4Address(n) if r._v4 else IPv6Address(n)
            if store.reserve(container_id, ifname, ip, index):
                return _allocation(_interface(n, r.subnet), r.gateway, index)
        if n == r._last:
            i = (i + 1) % count
            n = rs[i]._first
        else:
            n += 1
        if n == start and i == start_index:
            break
    raise ipam_error(f"no IP addresses available in range set: {range_set_text(rs)}")


def _allocate_in_memory(
    store: MemoryStore, rs: RangeSet, index: int, container_id: str, ifname: str
) -> Allocation:
    """:func:`_allocate_from_set` without a requested IP, on a MemoryStore's integers.

    Same steps and answers (``test_memory_and_disk_stores_agree``), but no
    objects per candidate and no calls through the Store protocol: this keeps
    the simulator's 550,000 ADDs (5,000 nodes, 110 pods each) under a second.
    """
    n, r = _reserve_in_memory(store, rs, index, container_id, ifname)
    return _allocation(_interface(n, r.subnet), r.gateway, index)


def add_in_memory(
    store: MemoryStore, range_set: RangeSet, container_id: str, ifname: str
) -> tuple[int, Range]:
    """``allocate(store, [range_set], container_id, ifname)`` for the cluster simulator:
    the address as an integer (IPv6 ones untagged) and the range it came from.

    Same reservation and errors as :func:`allocate`, without the result's objects.

    Raises:
        IPAMError: ``failed to allocate for range 0: <reason>``.
    """
    with store._mutex:
        try:
            return _reserve_in_memory(store, range_set, 0, container_id, ifname)
        except IPAMError as exc:
            raise ipam_error(f"failed to allocate for range 0: {exc.msg}") from None


def _reserve_in_memory(
    store: MemoryStore, rs: RangeSet, index: int, container_id: str, ifname: str
) -> tuple[int, Range]:
    """The walk of :func:`_allocate_in_memory`: the address reserved and its range."""
    owner = (container_id.strip(GO_SPACE), ifname)
    held_by = store._held
    if owner in held_by:
        for held in store.get_by_id(container_id, ifname):
            if range_for(rs, held) is not None:
                raise ipam_error(
                    f"{held} has been allocated to {container_id},"
                    " duplicate allocation is not allowed"
                )
    i, n = 0, rs[0]._first
    last = store._last.get(index)
    if last is not None:
        v4 = last < V6_TAG
        if not v4:
            last -= V6_TAG
        for j, r in enumerate(rs):
            if r._v4 == v4 and r._first <= last <= r._last:
                if last != r._last:
                    i, n = j, last + 1
                else:
                    i = (j + 1) % len(rs)
                    n = rs[i]._first
                break
    owners = store._owners
    start_index, start, count = i, n, len(rs)
    while True:
        r = rs[i]
        key = n if r._v4 else n | V6_TAG
        if n != r._gateway and key not in owners:
            owners[key] = owner
            if owner in held_by:
                store._hold(owner, key)
            else:
                held_by[owner] = key
            store._last[index] = key
            return n, r
        if n == r._last:
            i = (i + 1) % count
            n = rs[i]._first
        else:
            n += 1
        if n == start and i == start_index:
            raise ipam_error(f"no IP addresses available in range set: {range_set_text(rs)}")


def allocate(
    store: Store,
    range_sets: Sequence[RangeSet],
    container_id: str,
    ifname: str,
    requested: Sequence[IPAddress] = (),
) -> tuple[Allocation, ...]:
    """Hand out one IP per range set to the attachment (container ID, ifname): CNI ADD.

    Each set is allocated under the store lock. A requested IP goes to the
    first set containing it (the reference picks in Go map order, i.e. at
    random, when several requested IPs fall in one set; netsim takes them in
    the order given).

    Args:
        store: where reservations live.
        range_sets: the canonicalized range sets, in config order.
        container_id: the CNI container ID.
        ifname: the interface name inside the container.
        requested: IPs asked for (CNI_ARGS ``IP=``, ``args.cni.ips``,
            ``runtimeConfig.ips``), duplicates ignored.

    Returns:
        One allocation per range set, in order.

    Raises:
        IPAMError: ``failed to allocate for range <i>: <reason>`` or
            ``failed to allocate all requested IPs: <ips>``; allocations made
            for earlier sets in this call are released first (as the reference
            does, by releasing everything the attachment holds).

    >>> rs = canonicalize_range_set([{"subnet": "10.99.0.0/29"}], 0)
    >>> store = MemoryStore()
    >>> [str(allocate(store, [rs], c, "eth0")[0].address) for c in ("c1", "c2")]
    ['10.99.0.2/29', '10.99.0.3/29']
    >>> try:
    ...     allocate(store, [rs], "c1", "eth0")
    ... except IPAMError as exc:
    ...     print(exc.msg)  # doctest: +NORMALIZE_WHITESPACE
    failed to allocate for range 0: 10.99.0.2 has been allocated to c1,
    duplicate allocation is not allowed
    """
    if not requested and type(store) is MemoryStore and len(range_sets) == 1:
        with store._mutex:  # the simulator's case, kept short
            try:
                return (_allocate_in_memory(store, range_sets[0], 0, container_id, ifname),)
            except IPAMError as exc:
                raise ipam_error(f"failed to allocate for range 0: {exc.msg}") from None
    done: list[Allocation] = []
    if not requested and type(store) is MemoryStore:
        index = 0
        try:
            for index, rs in enumerate(range_sets):
                with store._mutex:
                    done.append(_allocate_in_memory(store, rs, index, container_id, ifname))
        except IPAMError as exc:
            for _ in done:
                release(store, container_id, ifname)
            raise ipam_error(f"failed to allocate for range {index}: {exc.msg}") from None
        return tuple(done)
    wanted: dict[str, IPAddress] = {}
    for address in requested:
        wanted.setdefault(str(address), address)
    for index, rs in enumerate(range_sets):
        ip: IPAddress | None = None
        for key, candidate in wanted.items():
            if range_for(rs, candidate) is not None:
                ip = candidate
                del wanted[key]
                break
        try:
            with store.lock():
                allocation = _allocate_from_set(store, rs, index, container_id, ifname, ip)
        except IPAMError as exc:
            for _ in done:
                release(store, container_id, ifname)
            raise ipam_error(f"failed to allocate for range {index}: {exc.msg}") from None
        done.append(allocation)
    if wanted:
        for _ in done:
            release(store, container_id, ifname)
        raise ipam_error("failed to allocate all requested IPs: " + " ".join(wanted))
    return tuple(done)


def release(store: Store, container_id: str, ifname: str) -> None:
    """Free everything the attachment holds, under the store lock: CNI DEL.

    The reference calls this once per range set of the config; releasing what
    is not held is not an error. ``last_reserved_ip`` is not rewound.
    """
    with store.lock():
        store.release_by_id(container_id, ifname)


def check(store: Store, container_id: str, ifname: str) -> None:
    """Succeed if the attachment holds at least one IP: CNI CHECK.

    Raises:
        IPAMError: ``host-local: Failed to find address added by container <id>``.
    """
    with store.lock():
        found = store.find_by_id(container_id, ifname)
    if not found:
        raise ipam_error(f"host-local: Failed to find address added by container {container_id}")
