"""Packet-path tracing: what happens, hop by hop, to one packet (and its reply).

``prepare(dataplane)`` builds the lookups once; ``make_flow(dataplane, "--from",
"--to")`` names the packet; ``trace_flow(index, flow)`` walks it and returns
one :class:`Trace` per load-balancing outcome. See docs/trace.md.
"""

from __future__ import annotations

from netsim.trace.endpoints import DEFAULT_SPORT, make_flow
from netsim.trace.engine import trace_flow
from netsim.trace.hooks import TraceSession
from netsim.trace.index import TraceIndex, prepare
from netsim.trace.model import DeliveredTo, Disposition, Flow, Header, Hop, L4Protocol, Step, Trace
from netsim.trace.policy import AllowAll, PolicyDecision, PolicyJudge

__all__ = [
    "DEFAULT_SPORT",
    "AllowAll",
    "DeliveredTo",
    "Disposition",
    "Flow",
    "Header",
    "Hop",
    "L4Protocol",
    "PolicyDecision",
    "PolicyJudge",
    "Step",
    "Trace",
    "TraceIndex",
    "TraceSession",
    "make_flow",
    "prepare",
    "trace_flow",
]
