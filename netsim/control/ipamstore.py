"""host-local's storage: where reservations live, in memory or in the reference's disk layout.

Models ``plugins/ipam/host-local/backend`` of containernetworking/plugins
1.1.1: the ``backend.Store`` interface (:class:`Store`) and two stores with
the same answers.

* :class:`MemoryStore` keeps reservations in dicts, for the cluster
  simulator. Addresses are integers, IPv6 ones tagged with :data:`V6_TAG`;
  the allocator's fast path (``netsim.control.hostlocal``) works on these
  dicts directly.
* :class:`DiskStore` is ``backend/disk``, so that netsim and the Go plugin
  can share a data directory::

      <dataDir>/<network name>/
          10.99.0.2             "<containerID>\\r\\n<ifname>"   (one file per IP)
          last_reserved_ip.0    "10.99.0.4"                    (one per range set)
          lock                  flock(2)-ed around every operation

  Files are found as ``filepath.Walk`` finds them (byte-sorted, depth
  first), container IDs are trimmed as ``strings.TrimSpace`` trims them, and
  I/O failures are worded as Go's ``*os.PathError`` (``open <path>: <errno
  text>``).

Not modelled: which addresses to reserve (ranges, the round-robin walk and
the ADD/DEL/CHECK operations are :mod:`netsim.control.hostlocal`), the
``Error retrieving last reserved ip`` log line of the reference, and the
``GetByPodNsAndName`` extension of some forks.

Every failure is an :class:`netsim.errors.IPAMError` with code
:data:`ERR_INTERNAL` (999), the code Go's ``skel`` gives plain errors.
"""

from __future__ import annotations

import errno
import fcntl
import os
import posixpath
import stat
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from ipaddress import IPv4Address, IPv6Address
from types import TracebackType
from typing import Protocol

from netsim.control.goaddr import GO_SPACE, IPAddress, go_trim_space, parse_ip
from netsim.errors import IPAMError

__all__ = [
    "DEFAULT_DATA_DIR",
    "DIR_MODE",
    "ERR_INTERNAL",
    "FILE_MODE",
    "LAST_RESERVED_IP_PREFIX",
    "LINE_BREAK",
    "LOCK_FILE",
    "LOCK_MODE",
    "V6_TAG",
    "DiskStore",
    "MemoryStore",
    "Store",
]

ERR_INTERNAL = 999  # libcni types.ErrInternal: skel's code for every plain Go error
DEFAULT_DATA_DIR = "/var/lib/cni/networks"  # backend/disk/backend.go defaultDataDir
LAST_RESERVED_IP_PREFIX = "last_reserved_ip."  # backend/disk/backend.go lastIPFilePrefix
LINE_BREAK = "\r\n"  # backend/disk/backend.go LineBreak, between container ID and ifname
LOCK_FILE = "lock"  # backend/disk/lock.go: flock(2) on <dir>/lock
FILE_MODE = 0o644  # backend.go: os.OpenFile(..., 0644) for IP and last_reserved_ip files
DIR_MODE = 0o755  # backend.go: os.MkdirAll(dir, 0755)
LOCK_MODE = 0o750  # go-filemutex: syscall.Open(path, O_CREAT|O_RDONLY, 0750)


def _error(message: str) -> IPAMError:
    return IPAMError(ERR_INTERNAL, message)


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


V6_TAG = 1 << 128  # keeps IPv4 and IPv6 integers apart in one dict


class MemoryStore:
    """A store in dicts, for the cluster simulator; same answers as :class:`DiskStore`.

    ``netsim.control.hostlocal`` allocates on its private dicts directly (no
    objects per candidate address): keep the two in step.

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
    return int(ip) if isinstance(ip, IPv4Address) else int(ip) | V6_TAG


def _ip_of(key: int) -> IPAddress:
    return IPv6Address(key ^ V6_TAG) if key & V6_TAG else IPv4Address(key)


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
