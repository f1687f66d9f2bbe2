"""The NetworkPolicy seam of the tracer: a judge asked at a pod's egress and ingress.

The engine asks :class:`PolicyJudge` when a packet leaves a pod's ``eth0``
(``egress``) and before the socket check of a pod (``ingress``); a denial
ends the trace with ``DENIED_BY_NETWORKPOLICY``. Replies are not asked
(NetworkPolicy is stateful: a reply of an allowed connection passes). The
default judge, :class:`AllowAll`, allows everything and says there is no
NetworkPolicy engine; the policy package plugs the real one in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from netsim.trace.model import Header

__all__ = ["ALLOW_ALL", "AllowAll", "PolicyDecision", "PolicyJudge"]


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """A NetworkPolicy verdict and its one-line reason."""

    is_allowed: bool
    reason: str


class PolicyJudge(Protocol):
    """The NetworkPolicy seam: asked when a packet leaves a pod and before a pod's socket."""

    def egress(self, pod_key: str, packet: Header) -> PolicyDecision:
        """May ``pod_key`` send ``packet``?"""
        ...

    def ingress(self, pod_key: str, packet: Header) -> PolicyDecision:
        """May ``packet`` reach ``pod_key``?"""
        ...


class AllowAll:
    """The default judge: no NetworkPolicy engine, everything allowed."""

    def egress(self, pod_key: str, packet: Header) -> PolicyDecision:
        """Allowed."""
        return PolicyDecision(True, "no NetworkPolicy engine: allowed")

    def ingress(self, pod_key: str, packet: Header) -> PolicyDecision:
        """Allowed."""
        return PolicyDecision(True, "no NetworkPolicy engine: allowed")


ALLOW_ALL: Final = AllowAll()
