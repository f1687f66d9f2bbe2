"""host-local's range sets: canonicalization, checks and membership, as the reference plugin.

A range set is a list of ranges ``{subnet, rangeStart?, rangeEnd?, gateway?}``
of one address family. :func:`canonicalize_range_set` applies the defaults of
containernetworking/plugins 1.1.1 (gateway and rangeStart = network+1,
rangeEnd = broadcast-1 for IPv4, last address for IPv6) and its checks, with
its messages word for word; :func:`check_range_sets_disjoint` refuses overlaps
across sets. Allocation itself is in :mod:`netsim.control.hostlocal`.

Not modelled: range sets given any other way than the reference's config keys.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TypeAlias

from netsim.control.goaddr import (
    IPAddress,
    IPNetwork,
    cidr_text,
    parse_cidr,
    parse_ip,
)
from netsim.control.ipamstore import ERR_INTERNAL
from netsim.errors import IPAMError

__all__ = [
    "Range",
    "RangeSet",
    "canonicalize_range_set",
    "canonicalize_range_sets",
    "check_range_sets_disjoint",
    "ipam_error",
    "range_contains",
    "range_for",
    "range_set_contains",
    "range_set_text",
    "range_text",
]


def ipam_error(message: str) -> IPAMError:
    """A host-local failure with the code Go's ``skel`` gives plain errors (999)."""
    return IPAMError(ERR_INTERNAL, message)


# ---------------------------------------------------------------------------------------------
# Ranges and range sets


@dataclass(frozen=True, slots=True)
class Range:
    """One canonicalized range of a range set.

    Attributes:
        subnet: the subnet; allocated addresses carry its prefix length.
        range_start: first allocatable address, inclusive.
        range_end: last allocatable address, inclusive.
        gateway: the gateway handed out with addresses of this range and never
            allocated from it (the reference does not require it to lie inside
            the subnet, nor to be of the same family).
    """

    subnet: IPNetwork
    range_start: IPAddress
    range_end: IPAddress
    gateway: IPAddress | None
    # Derived integers for the allocator's hot path; not part of the value.
    _first: int = field(init=False, repr=False, compare=False)
    _last: int = field(init=False, repr=False, compare=False)
    _gateway: int = field(init=False, repr=False, compare=False)
    _v4: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        version = self.subnet.version
        if self.range_start.version != version or self.range_end.version != version:
            raise ValueError(f"range {self.range_start}-{self.range_end} is not in {self.subnet}")
        gateway = self.gateway
        object.__setattr__(self, "_first", int(self.range_start))
        object.__setattr__(self, "_last", int(self.range_end))
        skipped = int(gateway) if gateway is not None and gateway.version == version else -1
        object.__setattr__(self, "_gateway", skipped)
        object.__setattr__(self, "_v4", version == 4)


RangeSet: TypeAlias = tuple[Range, ...]


def range_text(r: Range) -> str:
    """``<rangeStart>-<rangeEnd>``, the reference's ``Range.String``."""
    return f"{r.range_start}-{r.range_end}"


def range_set_text(rs: RangeSet) -> str:
    """The ranges of a set as the reference prints them in messages.

    >>> rs = canonicalize_range_set([{"subnet": "10.99.0.0/29"}, {"subnet": "10.98.1.0/30"}], 0)
    >>> range_set_text(rs)
    '10.99.0.1-10.99.0.6,10.98.1.1-10.98.1.2'
    """
    return ",".join(range_text(r) for r in rs)


def range_contains(r: Range, ip: IPAddress) -> bool:
    """Whether ``ip`` is allocatable from ``r``: same family, rangeStart <= ip <= rangeEnd."""
    return isinstance(ip, IPv4Address) == r._v4 and r._first <= int(ip) <= r._last


def range_set_contains(rs: RangeSet, ip: IPAddress) -> bool:
    """Whether any range of the set contains ``ip`` (``RangeSet.Contains``)."""
    return range_for(rs, ip) is not None


def range_for(rs: RangeSet, ip: IPAddress) -> Range | None:
    """The range of ``rs`` holding ``ip`` (same family), if any."""
    v4, n = isinstance(ip, IPv4Address), int(ip)
    for r in rs:
        if r._v4 == v4 and r._first <= n <= r._last:
            return r
    return None


def _overlaps(a: Range, b: Range) -> bool:
    """``Range.Overlaps``: either range contains an end of the other."""
    if a.subnet.version != b.subnet.version:
        return False
    return (
        range_contains(a, b.range_start)
        or range_contains(a, b.range_end)
        or range_contains(b, a.range_start)
        or range_contains(b, a.range_end)
    )


def _optional_ip(raw: Mapping[str, str], key: str) -> IPAddress | None:
    text = raw.get(key) or ""
    if not text:
        return None
    ip = parse_ip(text)
    if ip is None:
        raise ipam_error(f"invalid IP address: {text}")
    return ip


def _canonicalize_range(raw: Mapping[str, str]) -> Range:
    """``Range.Canonicalize``; raises IPAMError with the bare reference message."""
    subnet_text = raw.get("subnet") or ""
    if not subnet_text:
        raise ipam_error("IP <nil> not v4 nor v6")
    cidr = parse_cidr(subnet_text)
    if cidr is None:
        raise ipam_error(f"invalid CIDR address: {subnet_text}")
    if cidr.prefix_len > cidr.mask_bits - 2:
        raise ipam_error(f"Network {cidr_text(cidr)} too small to allocate from")
    if cidr.ip.max_prefixlen != cidr.mask_bits:
        raise ipam_error("IPNet IP and Mask version mismatch")
    # from the integer: an address object would be printed and parsed again
    network_type = ipaddress.IPv4Network if cidr.ip.version == 4 else ipaddress.IPv6Network
    subnet: IPNetwork = network_type((int(cidr.ip), cidr.prefix_len), strict=False)
    if subnet.network_address != cidr.ip:
        raise ipam_error(
            f"Network has host bits set. For a subnet mask of length {cidr.prefix_len}"
            f" the network address is {subnet.network_address}"
        )
    if int(subnet.network_address) >> (subnet.max_prefixlen - 8) == 0:
        raise ipam_error(
            f"Network {subnet} starts with a zero byte: host-local 1.1.1 hands out garbage"
            " addresses there (its ip.NextIP drops leading zero bytes); netsim refuses it,"
            " use a subnet outside 0.0.0.0/8 and ::/8"
        )
    first = subnet.network_address + 1
    gateway = _optional_ip(raw, "gateway")
    if gateway is None:
        gateway = first
    start = _optional_ip(raw, "rangeStart")
    end = _optional_ip(raw, "rangeEnd")
    if start is not None:
        # Go checks rangeStart with Range.Contains while a given rangeEnd is already set.
        if start not in subnet or (end is not None and int(start) > int(end)):
            raise ipam_error(f"RangeStart {start} not in network {subnet}")
    else:
        start = first
    if end is not None:
        if end not in subnet or int(end) < int(start):
            raise ipam_error(f"RangeEnd {end} not in network {subnet}")
    else:
        end = subnet.broadcast_address - 1 if subnet.version == 4 else subnet.broadcast_address
        if int(end) < int(start):
            raise ipam_error(
                f"rangeStart {start} is after the default rangeEnd {end}: host-local 1.1.1"
                " would allocate past the end of the subnet; netsim refuses it, set rangeEnd"
            )
    return Range(subnet, start, end, gateway)


def canonicalize_range_set(raw: Sequence[Mapping[str, str]], index: int) -> RangeSet:
    """Canonicalize one range set from its config dicts, as ``RangeSet.Canonicalize``.

    Args:
        raw: the ranges, each ``{subnet, rangeStart?, rangeEnd?, gateway?}``
            (address texts; a missing or empty value takes the default).
        index: the position of the set in the config, used in messages.

    Returns:
        The canonicalized ranges.

    Raises:
        IPAMError: code 999, ``invalid range set <index>: <reason>`` worded as
            the reference words it.

    >>> (r,) = canonicalize_range_set([{"subnet": "10.99.0.0/29"}], 0)
    >>> print(r.subnet, r.range_start, r.range_end, r.gateway)
    10.99.0.0/29 10.99.0.1 10.99.0.6 10.99.0.1
    >>> canonicalize_range_set([{"subnet": "10.97.0.0/31"}], 0)
    Traceback (most recent call last):
    ...
    netsim.errors.IPAMError: invalid range set 0: Network 10.97.0.0/31 too small to allocate from
    """
    try:
        if not raw:
            raise ipam_error("empty range set")
        ranges: list[Range] = []
        for item in raw:
            ranges.append(_canonicalize_range(item))
            if ranges[-1].subnet.version != ranges[0].subnet.version:
                raise ipam_error("mixed address families")
        for i, first in enumerate(ranges[:-1]):
            for second in ranges[i + 1 :]:
                if _overlaps(first, second):
                    raise ipam_error(
                        f"subnets {range_text(first)} and {range_text(second)} overlap"
                    )
    except IPAMError as exc:
        raise ipam_error(f"invalid range set {index}: {exc.msg}") from None
    return tuple(ranges)


def check_range_sets_disjoint(range_sets: Sequence[RangeSet]) -> None:
    """Refuse two range sets that overlap, as ``LoadIPAMConfig`` does.

    Raises:
        IPAMError: ``range set <i> overlaps with <j>`` for the first such pair.
    """
    for i, first in enumerate(range_sets[:-1]):
        for j, second in enumerate(range_sets[i + 1 :], start=i + 1):
            if any(_overlaps(a, b) for a in first for b in second):
                raise ipam_error(f"range set {i} overlaps with {j}")


def canonicalize_range_sets(raw: Sequence[Sequence[Mapping[str, str]]]) -> tuple[RangeSet, ...]:
    """Canonicalize every range set and refuse overlaps between sets.

    Raises:
        IPAMError: ``no IP ranges specified``, ``invalid range set <i>: ...`` or
            ``range set <i> overlaps with <j>``.
    """
    if not raw:
        raise ipam_error("no IP ranges specified")
    range_sets = tuple(canonicalize_range_set(rs, i) for i, rs in enumerate(raw))
    check_range_sets_disjoint(range_sets)
    return range_sets
