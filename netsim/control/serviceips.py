"""ClusterIP and NodePort allocation, as kube-apiserver's allocators do it, made deterministic.

kube-apiserver hands out ClusterIPs and NodePorts at random, preferring the
upper band of the range and leaving the lower band for explicit requests
(KEP-3070 for ClusterIPs: band size ``min(max(16, size/16), 256)``; KEP-3668
for NodePorts: ``min(max(16, size/32), 128)``). netsim keeps the bands but
replaces the random pick by a hash: a dynamic value starts at
``band_start + sha256(namespace/name[/port]) mod band_size`` and probes upward,
wrapping inside the upper band and then using the lower band. The same Service
therefore gets the same address whatever else the cluster holds.

Explicit values are honoured and checked: inside the range, not taken twice.
The ``kubernetes`` Service always gets the first address of the range.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field

from netsim.errors import AllocationError

__all__ = ["BandAllocator", "cluster_ip_allocator", "node_port_allocator"]


def _band_hash(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


@dataclass(slots=True)
class BandAllocator:
    """Integers in ``[first, last]`` with a reserved lower band of ``lower`` values.

    >>> a = BandAllocator(30000, 32767, 86)
    >>> a.take_dynamic("default/web:http") == a.take_dynamic("default/web:http")
    False
    >>> a.is_taken(30000), a.take(30000), a.is_taken(30000)
    (False, True, True)
    """

    first: int
    last: int
    lower: int
    used: set[int] = field(default_factory=set)

    def is_taken(self, value: int) -> bool:
        """Whether ``value`` is allocated."""
        return value in self.used

    def take(self, value: int) -> bool:
        """Allocate an explicit value; False when it was taken already."""
        if value in self.used:
            return False
        self.used.add(value)
        return True

    def take_dynamic(self, key: str) -> int | None:
        """Allocate a value for ``key`` (upper band first); None when exhausted."""
        upper_start = min(self.first + self.lower, self.last + 1)
        bands = [(upper_start, self.last), (self.first, upper_start - 1)]
        for start, end in bands:
            size = end - start + 1
            if size <= 0:
                continue
            origin = _band_hash(key) % size
            for step in range(size):
                value = start + (origin + step) % size
                if value not in self.used:
                    self.used.add(value)
                    return value
        return None


def cluster_ip_allocator(service_cidr: ipaddress.IPv4Network) -> BandAllocator:
    """The ClusterIP allocator of a service CIDR (integers are addresses).

    >>> a = cluster_ip_allocator(ipaddress.IPv4Network("10.96.0.0/12"))
    >>> str(ipaddress.IPv4Address(a.first)), a.lower
    ('10.96.0.1', 256)
    """
    first = int(service_cidr.network_address) + 1
    last = int(service_cidr.broadcast_address) - 1
    size = last - first + 1
    return BandAllocator(first, last, min(max(16, size // 16), 256))


def node_port_allocator(low: int, high: int) -> BandAllocator:
    """The NodePort allocator of a port range.

    >>> node_port_allocator(30000, 32767).lower
    86
    """
    size = high - low + 1
    return BandAllocator(low, high, min(max(16, size // 32), 128))


def allocation_error(message: str, source: str, obj: str, field_path: str) -> AllocationError:
    """An allocation failure located at a Service field."""
    return AllocationError(message, source=source, obj=obj, field=field_path)
