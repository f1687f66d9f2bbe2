"""Layer 2 for the tracer: broadcast domains, ARP answers and what each bridge has learned.

Built once per dataplane (:func:`build_l2_index`) from the typed tables:

* the devices joined at layer 2 (veth pairs, bridge ports and their bridge,
  the underlay cables): every device knows its broadcast domain;
* ARP: who answers ``who-has X`` in a domain — a device that is not a bridge
  port and carries ``X`` (``proxy_arp`` is 0 everywhere, so nobody answers for
  an address it does not hold);
* per bridge, MAC → port as the bridge would have learned it after the ARP
  exchanges of a converged network: the port behind which a device with that
  MAC sits. Configured (``permanent``) FDB entries are named as such.

Not modelled: flooding of unknown unicast (every MAC the tracer needs has been
resolved by ARP first, so it is known), FDB ageing, STP, VLAN filtering, MAC
limits, gratuitous ARP, multicast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from operator import attrgetter
from types import MappingProxyType

from netsim.dataplane.devices import (
    Dataplane,
    FdbEntry,
    InterfaceKind,
    InterfaceRef,
    Neighbor,
    NetworkNamespace,
)

__all__ = [
    "L2Index",
    "NeighborTables",
    "arp_owner",
    "bridge_port",
    "build_l2_index",
    "cable_peer",
    "fdb_entry",
]

_IP_INT = attrgetter("ip._ip")  # IPv4Address keeps its integer in the slot ``_ip``
_MAC = attrgetter("mac")


@dataclass(frozen=True, slots=True)
class L2Index:
    """The layer-2 lookups of a dataplane (see module docstring)."""

    domain_of: Mapping[InterfaceRef, int]
    responders: Mapping[tuple[int, IPv4Address], InterfaceRef]  # (domain, ip) -> device
    ports: Mapping[InterfaceRef, Mapping[str, str]]  # bridge -> MAC -> port
    cables: Mapping[InterfaceRef, InterfaceRef]


def _adjacency(dataplane: Dataplane) -> dict[InterfaceRef, list[InterfaceRef]]:
    """Layer-2 neighbours of every device (loopback and VXLAN devices stand alone)."""
    adjacent: dict[InterfaceRef, list[InterfaceRef]] = {}
    for ns in dataplane.namespaces.values():
        for iface in ns.interfaces.values():
            if iface.kind in (InterfaceKind.LOOPBACK, InterfaceKind.VXLAN):
                continue
            ref = InterfaceRef(ns.id, iface.name)
            links = adjacent.setdefault(ref, [])
            if iface.peer is not None:
                links.append(InterfaceRef(iface.peer.netns, iface.peer.ifname))
            if iface.master is not None:
                master = InterfaceRef(ns.id, iface.master)
                links.append(master)
                adjacent.setdefault(master, []).append(ref)
    for link in dataplane.links:
        adjacent.setdefault(link.a, []).append(link.b)
        adjacent.setdefault(link.b, []).append(link.a)
    return adjacent


def _is_terminal(dataplane: Dataplane, ref: InterfaceRef) -> bool:
    """A device that ends layer 2: neither a bridge nor a bridge port."""
    iface = dataplane.namespaces[ref.netns].interfaces[ref.ifname]
    return iface.kind is not InterfaceKind.BRIDGE and iface.master is None


def _learned(
    dataplane: Dataplane, adjacent: Mapping[InterfaceRef, list[InterfaceRef]], bridge: InterfaceRef
) -> dict[str, str]:
    """MAC -> port of one bridge: walk out of each port, away from the bridge."""
    table: dict[str, str] = {}
    ns = dataplane.namespaces[bridge.netns]
    for port in (i for i in ns.interfaces.values() if i.master == bridge.ifname):
        start = InterfaceRef(bridge.netns, port.name)
        seen = {bridge, start}
        queue = [r for r in adjacent.get(start, []) if r != bridge]
        while queue:
            ref = queue.pop(0)
            if ref in seen:
                continue
            seen.add(ref)
            iface = dataplane.namespaces[ref.netns].interfaces[ref.ifname]
            if iface.master is None:
                table.setdefault(iface.mac, port.name)
            if not _is_terminal(dataplane, ref):
                queue.extend(r for r in adjacent.get(ref, []) if r not in seen)
    return table


def build_l2_index(dataplane: Dataplane) -> L2Index:
    """Domains, ARP responders, learned bridge ports and cables of a dataplane."""
    adjacent = _adjacency(dataplane)
    domain_of: dict[InterfaceRef, int] = {}
    for number, start in enumerate(adjacent):
        if start in domain_of:
            continue
        stack = [start]
        while stack:
            ref = stack.pop()
            if ref in domain_of:
                continue
            domain_of[ref] = number
            stack.extend(r for r in adjacent.get(ref, []) if r not in domain_of)
    responders: dict[tuple[int, IPv4Address], InterfaceRef] = {}
    for ref, domain in domain_of.items():
        iface = dataplane.namespaces[ref.netns].interfaces[ref.ifname]
        if iface.master is not None:
            continue
        for address in iface.addresses:
            responders.setdefault((domain, address.ip), ref)
    ports = {
        InterfaceRef(ns.id, iface.name): MappingProxyType(
            _learned(dataplane, adjacent, InterfaceRef(ns.id, iface.name))
        )
        for ns in dataplane.namespaces.values()
        for iface in ns.interfaces.values()
        if iface.kind is InterfaceKind.BRIDGE
    }
    cables = {link.a: link.b for link in dataplane.links} | {
        link.b: link.a for link in dataplane.links
    }
    return L2Index(
        MappingProxyType(domain_of),
        MappingProxyType(responders),
        MappingProxyType(ports),
        MappingProxyType(cables),
    )


def arp_owner(index: L2Index, device: InterfaceRef, ip: IPv4Address) -> InterfaceRef | None:
    """The device answering ``who-has ip`` sent out of ``device``, or None."""
    domain = index.domain_of.get(device)
    if domain is None:
        return None
    return index.responders.get((domain, ip))


def bridge_port(index: L2Index, bridge: InterfaceRef, mac: str) -> str | None:
    """The port a bridge sends a frame for ``mac`` out of (None: unknown MAC)."""
    return index.ports.get(bridge, {}).get(mac)


def fdb_entry(dataplane: Dataplane, bridge: InterfaceRef, mac: str) -> FdbEntry | None:
    """The configured FDB entry of ``bridge`` for ``mac``, if any."""
    ns = dataplane.namespaces[bridge.netns]
    for entry in ns.fdb:
        is_ours = entry.master == bridge.ifname or entry.dev == bridge.ifname
        if entry.mac == mac and is_ours and not entry.is_self:
            return entry
    return None


def cable_peer(index: L2Index, device: InterfaceRef) -> InterfaceRef | None:
    """The device at the other end of an underlay cable."""
    return index.cables.get(device)


class NeighborTables:
    """One namespace's neighbour and FDB lookups, each indexed the first time it is asked.

    A node of a large overlay holds one neighbour and one FDB entry per other
    node (5,000 at full scale), and a trace usually asks one or two questions
    of it, so each table is indexed on its first question, with C-level passes
    only (``attrgetter``, ``zip``; addresses keyed by their integer, since
    hashing an ``IPv4Address`` goes through ``hex()``).
    """

    __slots__ = ("_bridge_fdb", "_by_ip", "_by_mac", "ns")

    def __init__(self, ns: NetworkNamespace) -> None:
        self.ns = ns
        self._by_ip: dict[int, Neighbor] | None = None
        self._by_mac: dict[str, FdbEntry] | None = None
        self._bridge_fdb: dict[tuple[str, str], FdbEntry] | None = None

    def neighbor(self, dev: str, ip: IPv4Address) -> Neighbor | None:
        """The first neighbour entry for ``ip`` on ``dev``."""
        if self._by_ip is None:
            backwards = self.ns.neighbors[::-1]  # the first entry of an address is kept
            self._by_ip = dict(zip(map(_IP_INT, backwards), backwards, strict=True))
        first = self._by_ip.get(int(ip))
        if first is None or first.dev == dev:
            return first
        return next((n for n in self.ns.neighbors if n.dev == dev and n.ip == ip), None)

    def vtep(self, dev: str, mac: str) -> IPv4Address | None:
        """The remote VTEP of the first FDB entry of ``dev`` for ``mac`` that has one."""
        if self._by_mac is None:
            backwards = self.ns.fdb[::-1]  # the first entry of a MAC is kept
            self._by_mac = dict(zip(map(_MAC, backwards), backwards, strict=True))
        first = self._by_mac.get(mac)
        if first is None:
            return None
        if first.dev == dev and first.dst is not None:
            return first.dst
        return next(
            (e.dst for e in self.ns.fdb if e.dev == dev and e.mac == mac and e.dst is not None),
            None,
        )

    def bridge_entry(self, bridge: str, mac: str) -> FdbEntry | None:
        """The configured entry of ``bridge`` for ``mac``, as :func:`fdb_entry` finds it."""
        if self._bridge_fdb is None:
            found: dict[tuple[str, str], FdbEntry] = {}
            for entry in [e for e in self.ns.fdb[::-1] if not e.is_self]:
                if entry.master is not None:
                    found[entry.master, entry.mac] = entry
                found[entry.dev, entry.mac] = entry
            self._bridge_fdb = found
        return self._bridge_fdb.get((bridge, mac))
