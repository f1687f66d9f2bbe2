"""Whether one test of a rule holds for a packet: the hook context and the header tests.

Each ``match_*`` function decides one part of a rule the way the kernel's
match module does (``ip_packet_match`` for the built-in ``-s/-d/-i/-o/-p/-f``
tests, ``xt_tcpudp``, ``xt_addrtype``, ``xt_multiport``, ``xt_physdev`` …), from
the packet, the ``HookContext`` (what the network namespace knows at the
hook) and the packet's conntrack entry. They are pure: they never change
state. ``MATCHERS`` maps each pure match module's class straight to its
test function, here or in ``netsim.netfilter.state_matching``.

Decided with an assumption (it says so in the trace): ``-m pkttype``
derives the link-layer type from the destination address (``otherhost``
never matches).

Refused with ``UnsupportedError`` because netsim lacks the state they read:
``-m mac`` (the packet's MAC address), ``--tcp-option`` (TCP options) and
``addrtype --limit-iface-in/out`` (addresses per interface).

Not here: the connection-state and meta tests (conntrack, state, mark,
connmark, limit, nfacct, owner, set, socket, comment) and
``statistic_probability`` (``state_matching``); ``-m recent``, whose lists
are state (``recent``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from netsim.errors import UnsupportedError
from netsim.netfilter.conntrack import ConntrackEntry
from netsim.netfilter.packet import ICMP, PORT_PROTOCOLS, SCTP, TCP, UDP, Packet
from netsim.netfilter.ruleset import (
    AddressType,
    AddrtypeMatch,
    CommentMatch,
    ConnmarkMatch,
    ConntrackMatch,
    IcmpMatch,
    LimitMatch,
    MacMatch,
    MarkMatch,
    MultiportMatch,
    Negatable,
    NfacctMatch,
    OwnerMatch,
    PhysdevMatch,
    PkttypeMatch,
    PortRange,
    SctpMatch,
    SetMatch,
    SocketMatch,
    StateMatch,
    TcpMatch,
    UdpMatch,
    interface_matches,
)
from netsim.netfilter.state_matching import (
    match_comment,
    match_connmark,
    match_conntrack,
    match_limit,
    match_mark,
    match_nfacct,
    match_owner,
    match_set,
    match_socket,
    match_state,
)

__all__ = [
    "MATCHERS",
    "Hook",
    "HookContext",
    "address_type",
    "match_addrtype",
    "match_destination",
    "match_fragment",
    "match_icmp",
    "match_in_interface",
    "match_mac",
    "match_multiport",
    "match_out_interface",
    "match_physdev",
    "match_pkttype",
    "match_protocol",
    "match_sctp",
    "match_source",
    "match_tcp",
    "match_udp",
]

Hook: TypeAlias = Literal["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]

LOOPBACK = IPv4Network("127.0.0.0/8")  # the local route `ip addr add 127.0.0.1/8 dev lo` makes
LOOPBACK_ADDRESS = IPv4Address("127.0.0.1")
LIMITED_BROADCAST = IPv4Address("255.255.255.255")  # RFC 919
THIS_HOST = IPv4Address("0.0.0.0")  # RFC 1122 "this host": inet_addr_type says BROADCAST
MULTICAST = IPv4Network("224.0.0.0/4")  # RFC 5771
# the same as ints, for address_type, which runs for every addrtype test
THIS_HOST_INT, LIMITED_BROADCAST_INT = int(THIS_HOST), int(LIMITED_BROADCAST)
MULTICAST_INT, MULTICAST_MASK = int(MULTICAST.network_address), int(MULTICAST.netmask)
LOOPBACK_INT, LOOPBACK_MASK = int(LOOPBACK.network_address), int(LOOPBACK.netmask)
LOOPBACK_ADDRESS_INT = int(LOOPBACK_ADDRESS)


@dataclass(frozen=True, slots=True)
class HookContext:
    """What the network namespace knows when the packet reaches the hook.

    Args:
        hook: the netfilter hook.
        in_interface: the interface the packet came in on (None for local packets).
        out_interface: the interface routing chose (None before routing).
        local_addresses: every address of the namespace (addrtype LOCAL); with
            127.0.0.1 among them all of 127.0.0.0/8 is local, as lo's /8 makes it.
        broadcast_addresses: the subnet broadcast addresses (addrtype BROADCAST).
        masquerade_source: the address MASQUERADE uses (the caller picks it from
            the route and the egress interface); None drops, as the kernel does
            when the interface has no address.
        redirect_address: the in-interface's primary address (REDIRECT in PREROUTING).
        now: the time in seconds, for ``-m recent``.
        bridged: the packet is being bridged (physdev information exists).
        physdev_in: the bridge port it came in on.
        physdev_out: the bridge port it leaves by.
    """

    hook: Hook
    in_interface: str | None
    out_interface: str | None
    local_addresses: frozenset[IPv4Address]
    broadcast_addresses: frozenset[IPv4Address]
    masquerade_source: IPv4Address | None
    redirect_address: IPv4Address | None
    now: float = 0.0
    bridged: bool = False
    physdev_in: str | None = None
    physdev_out: str | None = None


# --- the built-in tests of ip_packet_match --------------------------------------------


def match_source(test: Negatable[IPv4Network], packet: Packet) -> bool:
    """``[!] -s NET``.

    >>> p = Packet(IPv4Address("10.244.1.5"), IPv4Address("10.96.0.10"))
    >>> match_source(Negatable(IPv4Network("10.244.0.0/16")), p)
    True
    >>> match_source(Negatable(IPv4Network("10.244.0.0/16"), negated=True), p)
    False
    """
    return (packet.src in test.value) != test.negated


def match_destination(test: Negatable[IPv4Network], packet: Packet) -> bool:
    """``[!] -d NET``.

    >>> p = Packet(IPv4Address("10.244.1.5"), IPv4Address("10.96.0.10"))
    >>> match_destination(Negatable(IPv4Network("10.96.0.10/32")), p)
    True
    """
    return (packet.dst in test.value) != test.negated


def match_in_interface(test: Negatable[str], ctx: HookContext) -> bool:
    """``[!] -i NAME`` (``+`` ends a prefix); no in-interface compares as an empty name.

    >>> ctx = HookContext("PREROUTING", "cni0", None, frozenset(), frozenset(), None, None)
    >>> match_in_interface(Negatable("cni+"), ctx), match_in_interface(Negatable("eth0"), ctx)
    (True, False)
    """
    return interface_matches(test.value, ctx.in_interface or "") != test.negated


def match_out_interface(test: Negatable[str], ctx: HookContext) -> bool:
    """``[!] -o NAME``; before routing (and in PREROUTING/INPUT) the name is empty.

    >>> ctx = HookContext("POSTROUTING", None, "eth0", frozenset(), frozenset(), None, None)
    >>> match_out_interface(Negatable("eth0", negated=True), ctx)
    False
    """
    return interface_matches(test.value, ctx.out_interface or "") != test.negated


def match_protocol(test: Negatable[int], packet: Packet) -> bool:
    """``[!] -p PROTO``; protocol 0 (``all``) is no test.

    >>> match_protocol(Negatable(6), Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")))
    True
    """
    if test.value == 0:
        return True
    return (packet.protocol == test.value) != test.negated


def match_fragment(is_fragment: bool, packet: Packet) -> bool:
    """``-f`` (a non-first fragment) or ``! -f``.

    >>> match_fragment(True, Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")))
    False
    """
    return packet.is_fragment == is_fragment


# --- match modules --------------------------------------------------------------------


def _in_range(ports: Negatable[PortRange] | None, port: int) -> bool:
    if ports is None:
        return True
    return (ports.value.first <= port <= ports.value.last) != ports.negated


def _ports_match(
    sport: Negatable[PortRange] | None,
    dport: Negatable[PortRange] | None,
    packet: Packet,
    protocol: int,
) -> bool:
    if packet.protocol != protocol or packet.is_fragment:
        return False
    return _in_range(sport, packet.sport) and _in_range(dport, packet.dport)


def match_tcp(m: TcpMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None) -> bool:
    """``-m tcp``: ports and ``--tcp-flags MASK COMP`` (flags in MASK set are exactly COMP).

    Raises:
        UnsupportedError: ``--tcp-option`` (netsim's packets carry no TCP options).

    >>> from netsim.netfilter.ruleset import TcpFlag, TcpFlags
    >>> syn_only = TcpFlags(TcpFlag.FIN | TcpFlag.SYN | TcpFlag.RST | TcpFlag.ACK, TcpFlag.SYN)
    >>> syn = Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), sport=4, dport=80)
    >>> match_tcp(TcpMatch(dport=Negatable(PortRange(80, 80)), tcp_flags=Negatable(syn_only)),
    ...     syn, None, None)
    True
    """
    if m.tcp_option is not None:
        raise UnsupportedError("--tcp-option: netsim's packets carry no TCP options")
    if not _ports_match(m.sport, m.dport, packet, TCP):
        return False
    if m.tcp_flags is None:
        return True
    flags = m.tcp_flags.value
    return ((packet.tcp_flags & flags.mask) == flags.comp) != m.tcp_flags.negated


def match_udp(m: UdpMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None) -> bool:
    """``-m udp``: ``--sport``, ``--dport``.

    >>> p = Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), protocol=17, dport=53)
    >>> match_udp(UdpMatch(dport=Negatable(PortRange(53, 53), negated=True)), p, None, None)
    False
    """
    return _ports_match(m.sport, m.dport, packet, UDP)


def match_sctp(
    m: SctpMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m sctp``: ``--sport``, ``--dport``.

    >>> p = Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), protocol=132, dport=80)
    >>> match_sctp(SctpMatch(dport=Negatable(PortRange(1, 1024))), p, None, None)
    True
    """
    return _ports_match(m.sport, m.dport, packet, SCTP)


def address_type(address: IPv4Address, ctx: HookContext) -> AddressType:
    """The route type the kernel's local table gives ``address`` (``inet_addr_type``).

    >>> ctx = HookContext("PREROUTING", "eth0", None, frozenset({IPv4Address("127.0.0.1"),
    ...     IPv4Address("192.168.56.11")}), frozenset({IPv4Address("192.168.56.255")}), None, None)
    >>> [address_type(IPv4Address(a), ctx) for a in ("192.168.56.11", "127.0.0.53",
    ...     "192.168.56.255", "224.0.0.1", "10.96.0.10")]
    ['LOCAL', 'LOCAL', 'BROADCAST', 'MULTICAST', 'UNICAST']
    """
    ip = int(address)
    if ip in (THIS_HOST_INT, LIMITED_BROADCAST_INT):
        return "BROADCAST"
    if ip & MULTICAST_MASK == MULTICAST_INT:
        return "MULTICAST"
    local = _as_ints(ctx.local_addresses)
    if ip in local or (ip & LOOPBACK_MASK == LOOPBACK_INT and LOOPBACK_ADDRESS_INT in local):
        return "LOCAL"
    if ip in _as_ints(ctx.broadcast_addresses):
        return "BROADCAST"
    return "UNICAST"


@lru_cache(maxsize=1024)
def _as_ints(addresses: frozenset[IPv4Address]) -> frozenset[int]:
    """A context's address set as ints, computed once per set (frozensets cache their hash)."""
    return frozenset(int(a) for a in addresses)


def match_addrtype(
    m: AddrtypeMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m addrtype [!] --src-type T,... [!] --dst-type T,...``.

    Raises:
        UnsupportedError: ``--limit-iface-in/out`` (netsim does not know which
            interface holds which address).
    """
    if m.limit_iface_in or m.limit_iface_out:
        raise UnsupportedError("addrtype --limit-iface-in/out: addresses per interface unknown")
    for types, address in ((m.src_type, packet.src), (m.dst_type, packet.dst)):
        if types is not None and (address_type(address, ctx) in types.value) == types.negated:
            return False
    return True


def match_multiport(
    m: MultiportMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m multiport [!] --sports|--dports|--ports LIST`` (``--ports``: either port).

    >>> p = Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), sport=40000, dport=443)
    >>> match_multiport(MultiportMatch("dports", (PortRange(80, 80), PortRange(443, 445))),
    ...     p, None, None)
    True
    """
    if packet.protocol not in PORT_PROTOCOLS or packet.is_fragment:
        return False
    if m.direction == "sports":
        candidates: tuple[int, ...] = (packet.sport,)
    elif m.direction == "dports":
        candidates = (packet.dport,)
    else:
        candidates = (packet.sport, packet.dport)
    hit = any(r.first <= port <= r.last for r in m.ports for port in candidates)
    return hit != m.negated


def match_physdev(
    m: PhysdevMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m physdev``, as ``physdev_mt``: a non-bridged packet matches only negated tests."""
    if not ctx.bridged:
        return all(
            value is None or value is False or (isinstance(value, Negatable) and value.negated)
            for value in (
                m.physdev_is_bridged,
                m.physdev_is_in,
                m.physdev_is_out,
                m.physdev_in,
                m.physdev_out,
            )
        )
    has_in, has_out = ctx.physdev_in is not None, ctx.physdev_out is not None
    for flag, present in (
        (m.physdev_is_bridged, has_out),
        (m.physdev_is_in, has_in),
        (m.physdev_is_out, has_out),
    ):
        if flag is not None and present != flag:
            return False
    if m.physdev_in is not None and ctx.physdev_in is not None:
        same = interface_matches(m.physdev_in.value, ctx.physdev_in)
        if same == m.physdev_in.negated:
            return False
    if m.physdev_out is not None:
        same = interface_matches(m.physdev_out.value, ctx.physdev_out or "")
        if same == m.physdev_out.negated:
            return False
    return True


def match_icmp(
    m: IcmpMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m icmp [!] --icmp-type T[/C]`` (``any`` is every type).

    >>> ping = Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), protocol=1)
    >>> match_icmp(IcmpMatch(8), ping, None, None), match_icmp(IcmpMatch(0), ping, None, None)
    (True, False)
    """
    if packet.protocol != ICMP or packet.is_fragment:
        return False
    hit = m.icmp_type is None or (
        packet.icmp_type == m.icmp_type and (m.code is None or packet.icmp_code == m.code)
    )
    return hit != m.negated


def match_pkttype(
    m: PkttypeMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None
) -> bool:
    """``-m pkttype``: the link-layer type, derived from the destination address.

    >>> ctx = HookContext("INPUT", "eth0", None, frozenset(), frozenset(), None, None)
    >>> p = Packet(IPv4Address("10.0.0.1"), IPv4Address("255.255.255.255"), protocol=17)
    >>> match_pkttype(PkttypeMatch("broadcast"), p, ctx, None)
    True
    """
    if packet.dst == LIMITED_BROADCAST or packet.dst in ctx.broadcast_addresses:
        kind = "broadcast"
    elif packet.dst in MULTICAST:
        kind = "multicast"
    else:
        kind = "unicast"
    return (kind == m.pkt_type) != m.negated


def match_mac(m: MacMatch, packet: Packet, ctx: HookContext, entry: ConntrackEntry | None) -> bool:
    """``-m mac``: refused, netsim's packets carry no MAC addresses.

    Raises:
        UnsupportedError: always.
    """
    raise UnsupportedError("-m mac --mac-source: netsim's packets carry no MAC address")


Matcher: TypeAlias = Callable[[Any, Packet, HookContext, ConntrackEntry | None], bool]

#: The pure match modules, by model class (statistic and recent are the evaluator's).
MATCHERS: Mapping[type, Matcher] = MappingProxyType(
    {
        TcpMatch: match_tcp,
        UdpMatch: match_udp,
        SctpMatch: match_sctp,
        CommentMatch: match_comment,
        MarkMatch: match_mark,
        ConnmarkMatch: match_connmark,
        AddrtypeMatch: match_addrtype,
        ConntrackMatch: match_conntrack,
        StateMatch: match_state,
        MultiportMatch: match_multiport,
        PhysdevMatch: match_physdev,
        IcmpMatch: match_icmp,
        LimitMatch: match_limit,
        NfacctMatch: match_nfacct,
        PkttypeMatch: match_pkttype,
        OwnerMatch: match_owner,
        SetMatch: match_set,
        SocketMatch: match_socket,
        MacMatch: match_mac,
    }
)
