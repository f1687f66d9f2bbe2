"""Packet captures of traces: the frame on the wire at every hop, as pcapng (Scapy).

``trace_packets(traces, dataplane)`` turns each transmit step of a trace into
the Ethernet frame a capture on that device would show (VXLAN-encapsulated on
the underlay); ``write_pcapng(traces, path, dataplane)`` writes them, one
comment per frame. The only package that imports Scapy. See docs/capture.md.
"""

from __future__ import annotations

from netsim.capture.frames import (
    CAPTURE_START,
    FRAME_INTERVAL,
    VXLAN_FLAG_I,
    CapturedFrame,
    trace_packets,
)
from netsim.capture.pcap import write_pcapng

__all__ = [
    "CAPTURE_START",
    "FRAME_INTERVAL",
    "VXLAN_FLAG_I",
    "CapturedFrame",
    "trace_packets",
    "write_pcapng",
]
