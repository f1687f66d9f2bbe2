"""The packet netfilter looks at: IPv4 header fields, L4 ports and flags, skb metadata.

A ``Packet`` is one IPv4 datagram as the kernel holds it while it crosses the
netfilter hooks of one network namespace: the header fields rules test
(addresses, protocol, ports, TCP flags, ICMP type, TTL, length, whether it is
a non-first fragment) and two pieces of ``sk_buff`` metadata that travel with
it from hook to hook:

* ``mark``, the skb mark (``-m mark``, ``-j MARK``);
* ``ct`` and ``ctinfo``, the kernel's ``skb->_nfct``: the original-direction
  tuple of the conntrack entry the packet belongs to and how it relates to it
  (``NEW``, ``ESTABLISHED``, ``ESTABLISHED_REPLY``, or ``UNTRACKED`` after
  ``-j NOTRACK``). The conntrack hook sets them; later hooks of the same
  namespace find the entry through them even after NAT rewrote the addresses.

Ports: ``sport``/``dport`` are the TCP, UDP, SCTP, DCCP or UDP-Lite ports; for
ICMP ``sport`` is the echo (query) identifier and ``dport`` is unused; for
other protocols both are 0.

Not modelled: IP options, TOS/DSCP, the payload, IPv6, and the L2 header
(MAC addresses, VLAN tags): matches that need them are refused by the evaluator.

Helpers are pure and return new packets (``dataclasses.replace``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Literal, TypeAlias

from netsim.netfilter.ruleset import TcpFlag, protocol_name

if TYPE_CHECKING:
    from netsim.netfilter.conntrack import ConnTuple

__all__ = [
    "DCCP",
    "DEFAULT_TTL",
    "ICMP",
    "ICMP_ECHO_REPLY",
    "ICMP_ECHO_REQUEST",
    "PORT_PROTOCOLS",
    "SCTP",
    "TCP",
    "UDP",
    "UDPLITE",
    "CtInfo",
    "Packet",
    "entering_netns",
    "packet_text",
    "reply_of",
    "with_dst",
    "with_mark",
    "with_src",
    "with_tcp_flags",
]

ICMP, TCP, UDP, DCCP, SCTP, UDPLITE = 1, 6, 17, 33, 132, 136  # IANA protocol numbers
#: Protocols whose header starts with 16-bit source and destination ports.
PORT_PROTOCOLS = frozenset({TCP, UDP, DCCP, SCTP, UDPLITE})
ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST = 0, 8  # RFC 792
DEFAULT_TTL = 64  # Linux net.ipv4.ip_default_ttl
TCP_SYN_LENGTH = 60  # 20-byte IP header + 40-byte TCP header with Linux's SYN options

#: ``enum ip_conntrack_info`` (include/uapi/linux/netfilter/nf_conntrack_common.h)
#: as netsim produces it: RELATED is never produced (no helpers, no ICMP errors).
CtInfo: TypeAlias = Literal["NEW", "ESTABLISHED", "ESTABLISHED_REPLY", "UNTRACKED"]


@dataclass(frozen=True, slots=True)
class Packet:
    """One IPv4 packet at a netfilter hook.

    Args:
        src: source address.
        dst: destination address.
        protocol: IANA protocol number (6 tcp, 17 udp, 132 sctp, 1 icmp).
        sport: source port (ICMP: the echo identifier).
        dport: destination port (0 for ICMP).
        mark: the skb mark.
        tcp_flags: TCP flags (a connection's first packet is a SYN).
        ttl: time to live.
        length: total length in bytes.
        icmp_type: ICMP type (8 echo-request by default); only for ICMP.
        icmp_code: ICMP code; only for ICMP.
        is_fragment: a non-first fragment (fragment offset ≠ 0).
        ct: original tuple of the conntrack entry the packet is attached to.
        ctinfo: how the packet relates to that entry, or ``UNTRACKED``.
    """

    src: IPv4Address
    dst: IPv4Address
    protocol: int = TCP
    sport: int = 0
    dport: int = 0
    mark: int = 0
    tcp_flags: TcpFlag = TcpFlag.SYN
    ttl: int = DEFAULT_TTL
    length: int = TCP_SYN_LENGTH
    icmp_type: int = ICMP_ECHO_REQUEST
    icmp_code: int = 0
    is_fragment: bool = False
    ct: ConnTuple | None = None
    ctinfo: CtInfo | None = None


def with_dst(packet: Packet, address: IPv4Address, port: int | None = None) -> Packet:
    """The packet with a new destination (and port, when given).

    >>> p = Packet(IPv4Address("10.244.1.5"), IPv4Address("10.96.0.10"), sport=40000, dport=80)
    >>> packet_text(with_dst(p, IPv4Address("10.244.2.7"), 8080))
    'tcp 10.244.1.5:40000 > 10.244.2.7:8080'
    """
    return replace(packet, dst=address, dport=packet.dport if port is None else port)


def with_src(packet: Packet, address: IPv4Address, port: int | None = None) -> Packet:
    """The packet with a new source (and port, when given).

    >>> p = Packet(IPv4Address("10.244.1.5"), IPv4Address("10.96.0.10"), sport=40000, dport=80)
    >>> packet_text(with_src(p, IPv4Address("192.168.56.11")))
    'tcp 192.168.56.11:40000 > 10.96.0.10:80'
    """
    return replace(packet, src=address, sport=packet.sport if port is None else port)


def with_mark(packet: Packet, mark: int) -> Packet:
    """The packet with skb mark ``mark``.

    >>> with_mark(Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")), 0x4000).mark
    16384
    """
    return replace(packet, mark=mark)


def with_tcp_flags(packet: Packet, flags: TcpFlag) -> Packet:
    """The packet with other TCP flags (e.g. the ACK that follows a SYN).

    >>> with_tcp_flags(Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")),
    ...     TcpFlag.ACK).tcp_flags.name
    'ACK'
    """
    return replace(packet, tcp_flags=flags)


def reply_of(packet: Packet) -> Packet:
    """The packet the peer sends back: addresses and ports swapped, a fresh skb.

    A SYN is answered by SYN+ACK, anything else over TCP by ACK; an ICMP echo
    request by an echo reply with the same identifier. The reply carries no
    mark and no conntrack reference (it is a new packet from the other host).

    >>> syn = Packet(IPv4Address("10.244.1.5"), IPv4Address("10.244.2.7"), sport=40000, dport=80)
    >>> answer = reply_of(syn)
    >>> packet_text(answer), answer.tcp_flags == TcpFlag.SYN | TcpFlag.ACK
    ('tcp 10.244.2.7:80 > 10.244.1.5:40000', True)
    """
    flags = packet.tcp_flags
    if packet.protocol == TCP:
        flags = TcpFlag.SYN | TcpFlag.ACK if flags == TcpFlag.SYN else TcpFlag.ACK
    icmp_type = packet.icmp_type
    if packet.protocol == ICMP and icmp_type == ICMP_ECHO_REQUEST:
        icmp_type = ICMP_ECHO_REPLY
    sport, dport = (packet.sport, 0) if packet.protocol == ICMP else (packet.dport, packet.sport)
    return Packet(
        src=packet.dst,
        dst=packet.src,
        protocol=packet.protocol,
        sport=sport,
        dport=dport,
        tcp_flags=flags,
        length=packet.length,
        icmp_type=icmp_type,
        icmp_code=packet.icmp_code,
    )


def entering_netns(packet: Packet) -> Packet:
    """The packet as it arrives in another network namespace (veth, VXLAN).

    The kernel's ``skb_scrub_packet(skb, xnet=true)`` drops the conntrack
    reference and clears the mark: each namespace tracks the flow afresh.

    >>> p = Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), mark=0x4000, ctinfo="NEW")
    >>> q = entering_netns(p)
    >>> (q.mark, q.ct, q.ctinfo)
    (0, None, None)
    """
    return replace(packet, mark=0, ct=None, ctinfo=None)


def packet_text(packet: Packet) -> str:
    """A one-line description: protocol, source and destination.

    >>> packet_text(Packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), protocol=1,
    ...     sport=7))
    'icmp 10.0.0.1 > 10.0.0.2 type 8 code 0 id 7'
    """
    name = protocol_name(packet.protocol)
    if packet.protocol in PORT_PROTOCOLS:
        return f"{name} {packet.src}:{packet.sport} > {packet.dst}:{packet.dport}"
    if packet.protocol == ICMP:
        return (
            f"{name} {packet.src} > {packet.dst} type {packet.icmp_type}"
            f" code {packet.icmp_code} id {packet.sport}"
        )
    return f"{name} {packet.src} > {packet.dst}"
