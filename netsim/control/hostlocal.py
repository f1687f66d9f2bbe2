"""host-local IPAM: the allocator of the CNI reference plugin, rebuilt exactly.

Models the ``host-local`` IPAM plugin of containernetworking/plugins 1.1.1
(``plugins/ipam/host-local/backend/allocator`` and ``backend/disk``):

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
  the sets already allocated in the same call.
* **Stores.** :class:`MemoryStore` (dicts, for the cluster simulator) and
  :class:`DiskStore` (the reference's on-disk layout, so that netsim and the Go
  plugin can share a data directory)::

      <dataDir>/<network name>/
          10.99.0.2             "<containerID>\\r\\n<ifname>"   (one file per IP)
          last_reserved_ip.0    "10.99.0.4"                    (one per range set)
          lock                  flock(2)-ed around every operation

  The lock is taken per range set and per release, as the reference takes it.
  On a MemoryStore the walk runs on integers; in sequential use it tries one
  address per ADD (no scan of the range). Addresses are read and printed as
  Go's ``net`` package does (:func:`parse_ip`, :func:`parse_cidr`).

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

import errno
import fcntl
import ipaddress
import os
import posixpath
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from types import TracebackType
from typing import Any, Protocol, TypeAlias, cast

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

IPAddress: TypeAlias = IPv4Address | IPv6Address
IPNetwork: TypeAlias = IPv4Network | IPv6Network
IPInterface: TypeAlias = IPv4Interface | IPv6Interface

ERR_INTERNAL = 999  # libcni types.ErrInternal: skel's code for every plain Go error
DEFAULT_DATA_DIR = "/var/lib/cni/networks"  # backend/disk/backend.go defaultDataDir
LAST_RESERVED_IP_PREFIX = "last_reserved_ip."  # backend/disk/backend.go lastIPFilePrefix
LINE_BREAK = "\r\n"  # backend/disk/backend.go LineBreak, between container ID and ifname
LOCK_FILE = "lock"  # backend/disk/lock.go: flock(2) on <dir>/lock
FILE_MODE = 0o644  # backend.go: os.OpenFile(..., 0644) for IP and last_reserved_ip files
DIR_MODE = 0o755  # backend.go: os.MkdirAll(dir, 0755)
LOCK_MODE = 0o750  # go-filemutex: syscall.Open(path, O_CREAT|O_RDONLY, 0750)

# unicode.IsSpace: Go's white space (Python's str.isspace also counts U+001C..U+001F).
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)


def go_trim_space(text: str) -> str:
    """Strip white space as Go's ``strings.TrimSpace`` does (not Python's ``str.strip``).

    >>> go_trim_space(" c1\\r\\neth0\\n")
    'c1\\r\\neth0'
    >>> go_trim_space("\\x1cid\\x1c")
    '\\x1cid\\x1c'
    """
    return text.strip(GO_SPACE)


def _error(message: str) -> IPAMError:
    return IPAMError(ERR_INTERNAL, message)


# ---------------------------------------------------------------------------------------------
# Addresses as Go's net package reads and prints them


def parse_ip(text: str) -> IPAddress | None:
    """Parse an address as Go's ``net.ParseIP`` followed by ``To4()`` canonicalisation.

    IPv4-mapped IPv6 addresses are IPv4 addresses to Go; zones are refused.

    Args:
        text: the address text.

    Returns:
        The address, or ``None`` where Go returns nil.

    >>> parse_ip("10.0.0.1"), parse_ip("::ffff:10.0.0.1"), parse_ip("fd00::1")
    (IPv4Address('10.0.0.1'), IPv4Address('10.0.0.1'), IPv6Address('fd00::1'))
    >>> parse_ip("010.0.0.1") is None, parse_ip("fe80::1%eth0") is None
    (True, True)
    """
    if "%" in text or not text.isascii():
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class ParsedCIDR:
    """A CIDR as Go's ``net.ParseCIDR`` reads it into a CNI ``types.IPNet``.

    The address keeps its host bits (CNI's ``types.ParseCIDR`` puts the parsed
    address back); ``mask_bits`` records whether the mask is 4 or 16 bytes long,
    which differs from the address family for ``::ffff:10.0.0.0/120``.

    Attributes:
        ip: the address as written, IPv4-mapped addresses read as IPv4.
        prefix_len: the prefix length as written.
        mask_bits: 32 or 128, the width of the mask.
    """

    ip: IPAddress
    prefix_len: int
    mask_bits: int


def _go_dtoi(text: str) -> int | None:
    """Go's ``net.dtoi`` as ParseCIDR uses it: ASCII digits only, whole string."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 8:
        return None
    return int(text)


def parse_cidr(text: str) -> ParsedCIDR | None:
    """Parse ``<ip>/<prefix>`` as Go's ``net.ParseCIDR``.

    Args:
        text: the CIDR text.

    Returns:
        The parsed CIDR, or ``None`` where Go reports ``invalid CIDR address``.

    >>> parse_cidr("10.1.0.5/016")
    ParsedCIDR(ip=IPv4Address('10.1.0.5'), prefix_len=16, mask_bits=32)
    >>> parse_cidr("10.0.0.0/33") is None, parse_cidr("10.0.0.0/+8") is None
    (True, True)
    """
    address_text, slash, prefix_text = text.partition("/")
    if not slash:
        return None
    ip: IPAddress | None
    try:
        ip = IPv4Address(address_text) if address_text.isascii() else None
        mask_bits = 32
    except ValueError:
        ip = parse_ip(address_text) if ":" in address_text else None
        mask_bits = 128
    prefix_len = _go_dtoi(prefix_text)
    if ip is None or prefix_len is None or prefix_len > mask_bits:
        return None
    return ParsedCIDR(ip, prefix_len, mask_bits)


def cidr_text(cidr: ParsedCIDR) -> str:
    """Print a CIDR as Go's ``net.IPNet.String`` does (host bits kept).

    >>> cidr_text(parse_cidr("10.1.0.5/16"))
    '10.1.0.5/16'
    >>> cidr_text(parse_cidr("::ffff:10.1.0.5/112"))
    '10.1.0.5/16'
    """
    prefix_len = cidr.prefix_len
    if cidr.ip.version == 4 and cidr.mask_bits == 128:
        prefix_len = max(prefix_len - 96, 0)
    return f"{cidr.ip}/{prefix_len}"


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
    return _range_for(rs, ip) is not None


def _range_for(rs: RangeSet, ip: IPAddress) -> Range | None:
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
        raise _error(f"invalid IP address: {text}")
    return ip


def _canonicalize_range(raw: Mapping[str, str]) -> Range:
    """``Range.Canonicalize``; raises IPAMError with the bare reference message."""
    subnet_text = raw.get("subnet") or ""
    if not subnet_text:
        raise _error("IP <nil> not v4 nor v6")
    cidr = parse_cidr(subnet_text)
    if cidr is None:
        raise _error(f"invalid CIDR address: {subnet_text}")
    if cidr.prefix_len > cidr.mask_bits - 2:
        raise _error(f"Network {cidr_text(cidr)} too small to allocate from")
    if cidr.ip.max_prefixlen != cidr.mask_bits:
        raise _error("IPNet IP and Mask version mismatch")
    subnet = ipaddress.ip_network((cidr.ip, cidr.prefix_len), strict=False)
    if subnet.network_address != cidr.ip:
        raise _error(
            f"Network has host bits set. For a subnet mask of length {cidr.prefix_len}"
            f" the network address is {subnet.network_address}"
        )
    if int(subnet.network_address) >> (subnet.max_prefixlen - 8) == 0:
        raise _error(
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
            raise _error(f"RangeStart {start} not in network {subnet}")
    else:
        start = first
    if end is not None:
        if end not in subnet or int(end) < int(start):
            raise _error(f"RangeEnd {end} not in network {subnet}")
    else:
        end = subnet.broadcast_address - 1 if subnet.version == 4 else subnet.broadcast_address
        if int(end) < int(start):
            raise _error(
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
            raise _error("empty range set")
        ranges: list[Range] = []
        for item in raw:
            ranges.append(_canonicalize_range(item))
            if ranges[-1].subnet.version != ranges[0].subnet.version:
                raise _error("mixed address families")
        for i, first in enumerate(ranges[:-1]):
            for second in ranges[i + 1 :]:
                if _overlaps(first, second):
                    raise _error(f"subnets {range_text(first)} and {range_text(second)} overlap")
    except IPAMError as exc:
        raise _error(f"invalid range set {index}: {exc.msg}") from None
    return tuple(ranges)


def check_range_sets_disjoint(range_sets: Sequence[RangeSet]) -> None:
    """Refuse two range sets that overlap, as ``LoadIPAMConfig`` does.

    Raises:
        IPAMError: ``range set <i> overlaps with <j>`` for the first such pair.
    """
    for i, first in enumerate(range_sets[:-1]):
        for j, second in enumerate(range_sets[i + 1 :], start=i + 1):
            if any(_overlaps(a, b) for a in first for b in second):
                raise _error(f"range set {i} overlaps with {j}")


def canonicalize_range_sets(raw: Sequence[Sequence[Mapping[str, str]]]) -> tuple[RangeSet, ...]:
    """Canonicalize every range set and refuse overlaps between sets.

    Raises:
        IPAMError: ``no IP ranges specified``, ``invalid range set <i>: ...`` or
            ``range set <i> overlaps with <j>``.
    """
    if not raw:
        raise _error("no IP ranges specified")
    range_sets = tuple(canonicalize_range_set(rs, i) for i, rs in enumerate(raw))
    check_range_sets_disjoint(range_sets)
    return range_sets


# ---------------------------------------------------------------------------------------------
# Stores


class Store(Protocol):
    """What the allocator needs from storage (``backend.Store`` of the reference)."""

    def lock(self) -> AbstractContextManager[object]:
        """Exclusive access for one allocation, release or lookup."""
        ...

    def reserve(self, container_id: str, ifname: str, ip: IPAddress, range_set_index: int) -> bool:
        """Claim ``ip``; False if it is taken. Records it as the set's last reserved IP."""
        ...

    def last_reserved_ip(self, range_set_index: int) -> IPAddress | None:
        """The last IP reserved for the set, or None."""
        ...

    def get_by_id(self, container_id: str, ifname: str) -> tuple[IPAddress, ...]:
        """The IPs held by the attachment, in the reference's (file name) order."""
        ...

    def find_by_id(self, container_id: str, ifname: str) -> bool:
        """Whether anything is held by the attachment (``FindByID``, used by CHECK)."""
        ...

    def release_by_id(self, container_id: str, ifname: str) -> None:
        """Free every IP held by the attachment."""
        ...


_V6_TAG = 1 << 128  # keeps IPv4 and IPv6 integers apart in one dict


class MemoryStore:
    """A store in dicts, for the cluster simulator; same answers as :class:`DiskStore`.

    >>> store = MemoryStore()
    >>> store.reserve("c1", "eth0", IPv4Address("10.0.0.2"), 0), len(store)
    (True, 1)
    >>> store.reserve("c2", "eth0", IPv4Address("10.0.0.2"), 0)
    False
    """

    __slots__ = ("_held", "_last", "_mutex", "_owners")

    def __init__(self) -> None:
        # Addresses as integers, IPv6 ones tagged with bit 128 (see _key).
        self._owners: dict[int, tuple[str, str]] = {}
        # One key, or a list once an attachment holds several (the list costs GC time).
        self._held: dict[tuple[str, str], int | list[int]] = {}
        self._last: dict[int, int] = {}
        self._mutex = threading.Lock()

    def __len__(self) -> int:
        return len(self._owners)

    def lock(self) -> AbstractContextManager[object]:
        """A process-local mutex (the simulator is single-threaded; this is cheap)."""
        return self._mutex

    def _claim(self, owner: tuple[str, str], key: int, range_set_index: int) -> bool:
        if key in self._owners:
            return False
        self._owners[key] = owner
        self._hold(owner, key)
        self._last[range_set_index] = key
        return True

    def _hold(self, owner: tuple[str, str], key: int) -> None:
        held = self._held.get(owner)
        if held is None:
            self._held[owner] = key
        elif isinstance(held, int):
            self._held[owner] = [held, key]
        else:
            held.append(key)

    def _keys(self, owner: tuple[str, str]) -> list[int]:
        held = self._held.get(owner)
        return [] if held is None else [held] if isinstance(held, int) else held

    def reserve(self, container_id: str, ifname: str, ip: IPAddress, range_set_index: int) -> bool:
        """Claim ``ip`` for the attachment."""
        return self._claim((container_id.strip(GO_SPACE), ifname), _key(ip), range_set_index)

    def last_reserved_ip(self, range_set_index: int) -> IPAddress | None:
        """The last IP reserved for the set."""
        key = self._last.get(range_set_index)
        return None if key is None else _ip_of(key)

    def get_by_id(self, container_id: str, ifname: str) -> tuple[IPAddress, ...]:
        """The IPs of the attachment, sorted as their file names would be."""
        keys = self._keys((container_id.strip(GO_SPACE), ifname))
        return tuple(sorted((_ip_of(key) for key in keys), key=str))

    def find_by_id(self, container_id: str, ifname: str) -> bool:
        """Whether the attachment holds any IP."""
        return (container_id.strip(GO_SPACE), ifname) in self._held

    def release_by_id(self, container_id: str, ifname: str) -> None:
        """Free the attachment's IPs (``last_reserved_ip`` is not rewound)."""
        owner = (container_id.strip(GO_SPACE), ifname)
        for key in self._keys(owner):
            del self._owners[key]
        self._held.pop(owner, None)


def _key(ip: IPAddress) -> int:
    return int(ip) if isinstance(ip, IPv4Address) else int(ip) | _V6_TAG


def _ip_of(key: int) -> IPAddress:
    return IPv6Address(key ^ _V6_TAG) if key & _V6_TAG else IPv4Address(key)


def _go_errno_text(exc: OSError) -> str:
    """Go's ``syscall.Errno`` text: glibc's message with a lower-case first letter."""
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return text[:1].lower() + text[1:]


def _path_error(op: str, path: str, exc: OSError) -> IPAMError:
    """An ``*os.PathError`` as Go prints it: ``<op> <path>: <errno text>``."""
    return _error(f"{op} {path}: {_go_errno_text(exc)}")


def _go_join(*parts: str) -> str:
    """Go's ``filepath.Join`` (joined, then cleaned)."""
    joined = posixpath.normpath(posixpath.join(*parts))
    return "/" + joined.lstrip("/") if joined.startswith("//") else joined


def _go_mkdir_all(path: str) -> None:
    """Go's ``os.MkdirAll(path, 0755)``, with its error texts."""
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            return
        raise _path_error("mkdir", path, OSError(errno.ENOTDIR, ""))
    except OSError:
        pass
    stripped = path.rstrip("/")
    parent = stripped[: stripped.rfind("/")] if "/" in stripped else ""
    if len(parent) > 0:
        _go_mkdir_all(parent)
    try:
        os.mkdir(path, DIR_MODE)
    except OSError as exc:
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                return
        except OSError:
            pass
        raise _path_error("mkdir", path, exc) from None


class DiskStore:
    """The reference's disk store: ``<dataDir>/<network>/``, one file per IP.

    Opening creates the directory and the lock file, as ``disk.New`` does. Use
    as a context manager (or call :meth:`close`) to release the lock file.

    Args:
        data_dir: the ``dataDir`` of the config; empty means
            ``/var/lib/cni/networks``.
        network: the network name (``name`` of the config).

    Raises:
        IPAMError: the directory or lock file cannot be created (Go's wording).
    """

    def __init__(self, data_dir: str | os.PathLike[str], network: str) -> None:
        self.directory = _go_join(os.fspath(data_dir) or DEFAULT_DATA_DIR, network)
        _go_mkdir_all(self.directory)
        try:
            os.stat(self.directory)
        except OSError as exc:
            raise _path_error("stat", self.directory, exc) from None
        try:
            self._lock_fd: int | None = os.open(
                os.path.join(self.directory, LOCK_FILE), os.O_CREAT | os.O_RDONLY, LOCK_MODE
            )
        except OSError as exc:
            raise _error(_go_errno_text(exc)) from None

    def close(self) -> None:
        """Close the lock file (``Store.Close``)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> DiskStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def lock(self) -> AbstractContextManager[object]:
        """``flock(LOCK_EX)`` on the lock file for the duration of the block."""
        return self._flocked()

    @contextmanager
    def _flocked(self) -> Iterator[object]:
        if self._lock_fd is None:
            raise ValueError("DiskStore is closed")
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield self
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def reserve(self, container_id: str, ifname: str, ip: IPAddress, range_set_index: int) -> bool:
        """Exclusively create the IP's file, then record ``last_reserved_ip.<index>``."""
        path = self._path(str(ip))
        try:
            fd = os.open(path, os.O_RDWR | os.O_EXCL | os.O_CREAT, FILE_MODE)
        except FileExistsError:
            return False
        except OSError as exc:
            raise _path_error("open", path, exc) from None
        content = _encode(go_trim_space(container_id) + LINE_BREAK + ifname)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(content)
        except OSError as exc:
            os.unlink(path)
            raise _path_error("write", path, exc) from None
        last_path = self._path(f"{LAST_RESERVED_IP_PREFIX}{range_set_index}")
        try:
            with open(last_path, "wb") as file:
                file.write(str(ip).encode())
        except OSError as exc:
            raise _path_error("open", last_path, exc) from None
        return True

    def last_reserved_ip(self, range_set_index: int) -> IPAddress | None:
        """The content of ``last_reserved_ip.<index>``, if it parses as an IP."""
        try:
            with open(self._path(f"{LAST_RESERVED_IP_PREFIX}{range_set_index}"), "rb") as file:
                text = file.read().decode("utf-8", "surrogateescape")
        except OSError:
            return None
        return parse_ip(text)

    def _contents(self) -> Iterator[tuple[str, str]]:
        """(path, trimmed content) of every file below the directory, as ``filepath.Walk``."""
        for path in _walk_files(self.directory):
            try:
                with open(path, "rb") as file:
                    data = file.read()
            except OSError:
                continue
            yield path, go_trim_space(data.decode("utf-8", "surrogateescape"))

    def get_by_id(self, container_id: str, ifname: str) -> tuple[IPAddress, ...]:
        """IPs whose file holds ``id\\r\\nifname`` (or just ``id``, an older format)."""
        match = go_trim_space(container_id) + LINE_BREAK + ifname
        old_match = go_trim_space(container_id)
        found: list[IPAddress] = []
        for path, content in self._contents():
            if content in (match, old_match):
                ip = parse_ip(os.path.basename(path))
                if ip is not None:
                    found.append(ip)
        return tuple(found)

    def find_by_id(self, container_id: str, ifname: str) -> bool:
        """Whether any file holds ``id\\r\\nifname``, else whether any holds ``id``."""
        match = go_trim_space(container_id) + LINE_BREAK + ifname
        if any(content == match for _, content in self._contents()):
            return True
        old_match = go_trim_space(container_id)
        return any(content == old_match for _, content in self._contents())

    def _release_matching(self, match: str) -> bool:
        found = False
        for path, content in self._contents():
            if content == match:
                try:
                    os.unlink(path)
                except OSError:
                    continue
                found = True
        return found

    def release_by_id(self, container_id: str, ifname: str) -> None:
        """Delete the attachment's files; if there are none, files holding just the ID."""
        if not self._release_matching(go_trim_space(container_id) + LINE_BREAK + ifname):
            self._release_matching(go_trim_space(container_id))


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _walk_files(directory: str) -> Iterator[str]:
    """Non-directories below ``directory`` in ``filepath.Walk`` order (byte-sorted, depth first)."""
    try:
        names = sorted(os.listdir(directory), key=_encode)
    except OSError:
        return
    for name in names:
        path = os.path.join(directory, name)
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode):
            yield from _walk_files(path)
        else:
            yield path


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
        r = _range_for(rs, requested)
        if r is None:  # pragma: no cover - allocate() only passes contained IPs
            raise _error(f"{requested} not in range set {range_set_text(rs)}")
        if requested == r.gateway:
            raise _error(f"requested ip {requested} is subnet's gateway")
        if not store.reserve(container_id, ifname, requested, index):
            raise _error(
                f"requested IP address {requested} is not available in range set"
                f" {range_set_text(rs)}"
            )
        return Allocation(_interface(int(requested), r.subnet), r.gateway, index)
    for held in store.get_by_id(container_id, ifname) or ():
        if _range_for(rs, held) is not None:
            raise _error(
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
    raise _error(f"no IP addresses available in range set: {range_set_text(rs)}")


def _allocate_in_memory(
    store: MemoryStore, rs: RangeSet, index: int, container_id: str, ifname: str
) -> Allocation:
    """:func:`_allocate_from_set` without a requested IP, on a MemoryStore's integers.

    Same steps and answers (``test_memory_and_disk_stores_agree``), but no
    objects per candidate and no calls through the Store protocol: this keeps
    the simulator's 550,000 ADDs (5,000 nodes, 110 pods each) under a second.
    """
    owner = (container_id.strip(GO_SPACE), ifname)
    if owner in store._held:
        for held in store.get_by_id(container_id, ifname):
            if _range_for(rs, held) is not None:
                raise _error(
                    f"{held} has been allocated to {container_id},"
                    " duplicate allocation is not allowed"
                )
    i, n = 0, rs[0]._first
    last = store._last.get(index)
    if last is not None:
        v4 = last < _V6_TAG
        if not v4:
            last -= _V6_TAG
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
        key = n if r._v4 else n | _V6_TAG
        if n != r._gateway and key not in owners:
            owners[key] = owner
            if owner in store._held:
                store._hold(owner, key)
            else:
                store._held[owner] = key
            store._last[index] = key
            return _allocation(_interface(n, r.subnet), r.gateway, index)
        if n == r._last:
            i = (i + 1) % count
            n = rs[i]._first
        else:
            n += 1
        if n == start and i == start_index:
            raise _error(f"no IP addresses available in range set: {range_set_text(rs)}")


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
                raise _error(f"failed to allocate for range 0: {exc.msg}") from None
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
            raise _error(f"failed to allocate for range {index}: {exc.msg}") from None
        return tuple(done)
    wanted: dict[str, IPAddress] = {}
    for address in requested:
        wanted.setdefault(str(address), address)
    for index, rs in enumerate(range_sets):
        ip: IPAddress | None = None
        for key, candidate in wanted.items():
            if _range_for(rs, candidate) is not None:
                ip = candidate
                del wanted[key]
                break
        try:
            with store.lock():
                allocation = _allocate_from_set(store, rs, index, container_id, ifname, ip)
        except IPAMError as exc:
            for _ in done:
                release(store, container_id, ifname)
            raise _error(f"failed to allocate for range {index}: {exc.msg}") from None
        done.append(allocation)
    if wanted:
        for _ in done:
            release(store, container_id, ifname)
        raise _error("failed to allocate all requested IPs: " + " ".join(wanted))
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
        raise _error(f"host-local: Failed to find address added by container {container_id}")
