"""Writing a trace's frames to a pcapng file (Scapy's ``PcapNgWriter``), one comment per frame.

Modelled: pcapng with one Ethernet interface, each frame's timestamp and its
comment (an Enhanced Packet Block ``opt_comment``), outcomes in order. Not
modelled: per-device interface blocks (the comment names the device),
nanosecond timestamps, the FCS.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter

from netsim.capture.frames import CAPTURE_START, FRAME_INTERVAL, trace_packets
from netsim.dataplane.devices import Dataplane
from netsim.trace.model import Trace

__all__ = ["write_pcapng"]


def write_pcapng(
    traces: Sequence[Trace],
    path: Path | str,
    dataplane: Dataplane | None = None,
    *,
    start: float = CAPTURE_START,
    interval: float = FRAME_INTERVAL,
) -> int:
    """Write every frame of ``traces`` to ``path`` as pcapng; return how many.

    Args:
        traces: the outcomes of one flow (what ``trace_flow`` returns).
        path: the file to write (replaced if it exists).
        dataplane: the dataplane traced, for the devices' MACs and MTUs (see
            :func:`netsim.capture.frames.trace_packets`).
        start: the first frame's timestamp (seconds since the epoch).
        interval: the time between consecutive frames.

    Returns:
        The number of frames written.

    Raises:
        OSError: the file cannot be written.
    """
    frames = trace_packets(traces, dataplane, start=start, interval=interval)
    with PcapNgWriter(str(path)) as writer:
        for frame in frames:
            packet = Ether(frame.frame)
            packet.time = frame.timestamp
            packet.comments = [frame.comment.encode()]
            writer.write(packet)
    return len(frames)
