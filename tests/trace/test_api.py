"""The public API of netsim.trace is small and pinned."""

from __future__ import annotations

import netsim.trace
from netsim.trace.model import Disposition


def test_public_api() -> None:
    assert sorted(netsim.trace.__all__) == sorted(
        [
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
    )
    for name in netsim.trace.__all__:
        assert hasattr(netsim.trace, name)


def test_dispositions() -> None:
    assert {d.value for d in Disposition} == {
        "DELIVERED",
        "NO_ROUTE",
        "NEIGHBOR_UNREACHABLE",
        "REJECTED_NO_ENDPOINTS",
        "DROPPED_NO_LOCAL_ENDPOINT",
        "DENIED_BY_NETWORKPOLICY",
        "DROPPED_BY_NETFILTER",
        "PORT_NOT_LISTENING",
        "MTU_EXCEEDED",
        "TTL_EXCEEDED",
        "LOOP",
        "EXITS_CLUSTER",
    }
