"""The frames of a trace: every transmit step as the Ethernet frame on that wire, built with Scapy.

Modelled: one frame per :class:`~netsim.trace.model.Transmit` step of every hop
of every outcome (then of its reply, when the trace has one), carrying the
IPv4 header the trace holds at that step (addresses and ports after the NAT
the trace applied, its TTL), DF set, and the first segment of the connection:
a TCP SYN with the options Linux sends (a SYN-ACK for a reply), a UDP
datagram padded to the header's length, or an SCTP INIT (INIT ACK) chunk.
Source MAC: the transmitting device's (from the dataplane, else
:func:`netsim.naming.interface_mac`), except on a bridge port that forwards
a frame, which keeps the sender's; destination MAC: the transmit step's
(all zeros on ``lo``). Between an :class:`~netsim.trace.model.Encapsulate`
and its :class:`~netsim.trace.model.Decapsulate`, the frames of the outer
UDP packet are the whole VXLAN frame (RFC 7348): outer Ethernet / IPv4 (DF
clear) / UDP (the step's ports, checksum computed as Linux does by default) /
VXLAN (flags ``0x08``, the VNI) / inner Ethernet (the VTEP's MAC to the remote
VTEP's) / the inner packet. Checksums are Scapy's (correct).

Not modelled: IP identification (0), TCP sequence numbers and timestamps
(fixed values), the MSS of anything but the sending device's MTU, payloads,
ARP frames, ICMP errors, frames a drop prevents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, assert_never

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.sctp import SCTP, SCTPChunkInit, SCTPChunkInitAck
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from netsim.dataplane.devices import Dataplane
from netsim.naming import interface_mac
from netsim.trace.model import (
    Bridge,
    Decapsulate,
    Encapsulate,
    Header,
    Hop,
    L4Protocol,
    Received,
    RouteStep,
    Trace,
    Transmit,
)

__all__ = [
    "CAPTURE_START",
    "DEFAULT_MSS",
    "FRAME_INTERVAL",
    "VXLAN_FLAG_I",
    "CapturedFrame",
    "trace_packets",
]

VXLAN_FLAG_I: Final = 0x08  # RFC 7348 §5: the I flag (valid VNI); Linux drops any other bit
CAPTURE_START: Final = 1_704_067_200.0  # 2024-01-01T00:00:00Z: a fixed instant so captures repeat
FRAME_INTERVAL: Final = 0.001  # seconds between consecutive frames of a capture
DEFAULT_MSS: Final = 1460  # MTU 1500 - 40: the MSS without a dataplane to read the MTU from
ZERO_MAC: Final = "00:00:00:00:00:00"  # what tcpdump shows on lo
IPV4_TCP_HEADERS: Final = 40  # the MSS is the MTU less 20 IPv4 + 20 TCP bytes
TCP_SYN_WINDOW: Final = 64240  # Linux's SYN window (tcp_rmem default, 44 * 1460)
TCP_SYNACK_WINDOW: Final = 65160  # Linux's SYN-ACK window for MSS 1460
TCP_WSCALE: Final = 7  # Linux's window scale for the default tcp_rmem
TCP_ISN: Final = 1_000_000  # stand-in initial sequence numbers (random in Linux)
TCP_REPLY_ISN: Final = 2_000_000
TCP_TSVAL: Final = 1_000  # stand-in TCP timestamp value
SCTP_INIT_TAG: Final = 0x1234_5678  # stand-in initiate tags (random in Linux)
SCTP_REPLY_INIT_TAG: Final = 0x8765_4321
SCTP_A_RWND: Final = 106_496  # Linux's advertised receiver window in INIT
SCTP_STREAMS: Final = 10  # Linux's default outbound streams (sctp_max_outstreams)
SCTP_MAX_STREAMS: Final = 65_535  # Linux's maximum inbound streams


class CapturedFrame(NamedTuple):
    """One captured frame: its bytes (Ethernet, no FCS), the pcapng comment, the time."""

    frame: bytes
    comment: str
    timestamp: float


@dataclass(frozen=True, slots=True)
class _Tunnel:
    """What an Encapsulate step put into the outer UDP packet."""

    inner: Header
    inner_src: str
    inner_dst: str
    vni: int
    outer: Header


def trace_packets(
    traces: Sequence[Trace],
    dataplane: Dataplane | None = None,
    *,
    start: float = CAPTURE_START,
    interval: float = FRAME_INTERVAL,
) -> list[CapturedFrame]:
    """Every frame of every outcome in order, each outcome followed by its reply's.

    Args:
        traces: the outcomes of one flow (what ``trace_flow`` returns).
        dataplane: the dataplane traced, for the devices' MACs and MTUs;
            without it the MACs are :func:`netsim.naming.interface_mac`'s and
            the MSS is :data:`DEFAULT_MSS`.
        start: the first frame's timestamp (seconds since the epoch).
        interval: the time between consecutive frames.

    Returns:
        One :class:`CapturedFrame` per transmit step, timestamps ``start``,
        ``start + interval``, ...
    """
    frames: list[CapturedFrame] = []
    for number, trace in enumerate(traces, 1):
        label = f"outcome {number}/{len(traces)} p={trace.probability:.4f}"
        walks = [(label, trace, False)]
        if trace.reply is not None:
            walks.append((f"{label} reply", trace.reply, True))
        for walk_label, walked, is_reply in walks:
            for frame, comment in _trace_frames(walked, walk_label, dataplane, is_reply):
                frames.append(CapturedFrame(frame, comment, start + interval * len(frames)))
    return frames


def _trace_frames(
    trace: Trace, label: str, dataplane: Dataplane | None, is_reply: bool
) -> list[tuple[bytes, str]]:
    """The frames of one trace: ``(bytes, comment)``."""
    mss = _mss(trace, dataplane)
    tunnels: list[_Tunnel] = []
    last_src = ZERO_MAC
    last_dst = ZERO_MAC
    out: list[tuple[bytes, str]] = []
    for number, hop in enumerate(trace.hops, 1):
        is_bridged = False
        for position, step in enumerate(hop.steps):
            if isinstance(step, Received | RouteStep):
                is_bridged = False
            elif isinstance(step, Bridge):
                is_bridged = step.port is not None
            elif isinstance(step, Encapsulate):
                src = _mac(dataplane, hop.netns, step.device)
                tunnels.append(_Tunnel(step.inner, src, last_dst, step.vni, step.outer))
            elif isinstance(step, Decapsulate):
                if tunnels:
                    tunnels.pop()
            elif isinstance(step, Transmit):
                src = last_src if is_bridged else _mac(dataplane, hop.netns, step.interface)
                dst = step.mac if step.mac is not None else ZERO_MAC
                tunnel = tunnels[-1] if tunnels and _carries(step.header, tunnels[-1]) else None
                packet = _frame(src, dst, step.header, tunnel, is_reply, mss)
                comment = (
                    f"{label} | hop {number} {hop.netns} | {step.interface} ->"
                    f" {_next_stop(trace, number, position)}"
                )
                if tunnel is not None:
                    comment += f" | VXLAN vni {tunnel.vni}: {tunnel.inner.text}"
                out.append((packet, comment))
                last_src, last_dst = src, dst
    return out


def _carries(header: Header, tunnel: _Tunnel) -> bool:
    """Whether ``header`` is the tunnel's outer UDP packet (the TTL may have dropped on the way)."""
    return header.protocol is L4Protocol.UDP and header.tuple5() == tunnel.outer.tuple5()


def _next_stop(trace: Trace, number: int, position: int) -> str:
    """Where the frame of step ``position`` of hop ``number`` (1-based) goes."""
    hop: Hop = trace.hops[number - 1]
    for step in hop.steps[position + 1 :]:
        if isinstance(step, Encapsulate):
            return f"VXLAN vni {step.vni} to {step.remote}"
        if isinstance(step, Received):
            return f"{hop.netns} (local)"
        if isinstance(step, Transmit):
            break
    if number < len(trace.hops):
        return trace.hops[number].netns
    return "(end of trace)"


def _mac(dataplane: Dataplane | None, netns: str, ifname: str) -> str:
    """The device's MAC: the dataplane's, else a stand-in (:func:`interface_mac`'s first
    attempt, which is not the MAC of a pod's veth pair: see :func:`netsim.naming.pod_mac`)."""
    if dataplane is not None:
        namespace = dataplane.namespaces.get(netns)
        if namespace is not None and ifname in namespace.interfaces:
            return namespace.interfaces[ifname].mac
    return interface_mac(netns, ifname)


def _mss(trace: Trace, dataplane: Dataplane | None) -> int:
    """The MSS the sender announces: its first transmitting device's MTU less 40."""
    if dataplane is None or not trace.hops:
        return DEFAULT_MSS
    first = trace.hops[0]
    namespace = dataplane.namespaces.get(first.netns)
    for step in first.steps:
        if isinstance(step, Transmit) and namespace is not None:
            iface = namespace.interfaces.get(step.interface)
            if iface is not None:
                return iface.mtu - IPV4_TCP_HEADERS
    return DEFAULT_MSS


def _frame(
    src: str, dst: str, header: Header, tunnel: _Tunnel | None, is_reply: bool, mss: int
) -> bytes:
    """The bytes of one frame (Scapy fills in lengths and checksums)."""
    if tunnel is None:
        return bytes(Ether(src=src, dst=dst) / _ip_packet(header, is_reply, mss))
    outer = (
        Ether(src=src, dst=dst)
        / IP(src=str(header.src), dst=str(header.dst), ttl=header.ttl, id=0, flags=0)
        / UDP(sport=header.sport, dport=header.dport)
        # flags passed explicitly: Scapy's VXLAN() would otherwise turn GPE-style (0x0C)
        / VXLAN(flags=VXLAN_FLAG_I, vni=tunnel.vni)
        / Ether(src=tunnel.inner_src, dst=tunnel.inner_dst)
        / _ip_packet(tunnel.inner, is_reply, mss)
    )
    return bytes(outer)


def _ip_packet(header: Header, is_reply: bool, mss: int) -> Any:
    """IPv4 (DF set) and the connection's first segment, padded to ``header.length`` if shorter."""
    ip = IP(src=str(header.src), dst=str(header.dst), ttl=header.ttl, id=0, flags="DF")
    sport, dport = header.sport, header.dport
    match header.protocol:
        case L4Protocol.TCP:
            options = [
                ("MSS", mss),
                ("SAckOK", b""),
                ("Timestamp", (TCP_TSVAL, TCP_TSVAL if is_reply else 0)),
                ("NOP", None),
                ("WScale", TCP_WSCALE),
            ]
            if is_reply:
                segment = TCP(
                    sport=sport,
                    dport=dport,
                    flags="SA",
                    seq=TCP_REPLY_ISN,
                    ack=TCP_ISN + 1,
                    window=TCP_SYNACK_WINDOW,
                    options=options,
                )
            else:
                segment = TCP(
                    sport=sport,
                    dport=dport,
                    flags="S",
                    seq=TCP_ISN,
                    window=TCP_SYN_WINDOW,
                    options=options,
                )
            packet = ip / segment
        case L4Protocol.UDP:
            packet = ip / UDP(sport=sport, dport=dport)
        case L4Protocol.SCTP:
            chunk = (
                SCTPChunkInitAck(
                    init_tag=SCTP_REPLY_INIT_TAG,
                    a_rwnd=SCTP_A_RWND,
                    n_out_streams=SCTP_STREAMS,
                    n_in_streams=SCTP_MAX_STREAMS,
                    init_tsn=SCTP_REPLY_INIT_TAG,
                )
                if is_reply
                else SCTPChunkInit(
                    init_tag=SCTP_INIT_TAG,
                    a_rwnd=SCTP_A_RWND,
                    n_out_streams=SCTP_STREAMS,
                    n_in_streams=SCTP_MAX_STREAMS,
                    init_tsn=SCTP_INIT_TAG,
                )
            )
            packet = ip / SCTP(sport=sport, dport=dport, tag=SCTP_INIT_TAG if is_reply else 0)
            packet = packet / chunk
            return packet  # chunks are padded to 4 bytes; extra bytes would be a malformed chunk
        case _:
            assert_never(header.protocol)
    missing = header.length - len(packet)
    if missing > 0:
        packet = packet / Raw(load=bytes(missing))
    return packet
