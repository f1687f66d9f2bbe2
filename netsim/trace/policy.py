"""The NetworkPolicy seam of the tracer: a judge asked at a pod's egress and ingress.

The walk asks :class:`PolicyJudge` where CNIs such as Calico enforce policy:

* ``egress``: at the first node hop after a pod sent the packet, after the
  node's ``PREROUTING`` (kube-proxy's DNAT) and routing decision, before
  ``FORWARD`` (or ``INPUT`` for the node itself; the bridged ``FORWARD`` when
  ``br_netfilter`` bridges it), so a call to a Service is judged against the
  endpoint pod and its targetPort;
* ``ingress``: before the socket check of the receiving pod, after any SNAT.

A denial ends the trace with ``DENIED_BY_NETWORKPOLICY``. Only the first
packet is judged: replies are not asked (NetworkPolicy is stateful: a reply of
an allowed connection passes), nor is a packet a pod sends to itself over
``lo``. :class:`AllowAll` allows everything (``netsim trace --no-policy``);
:func:`netsim.policy.policy_judge` is the real judge.
"""

from __future__ import annotations

from typing import Final, Protocol

from netsim.policy.semantics import PolicyDecision
from netsim.trace.model import Header

__all__ = ["ALLOW_ALL", "AllowAll", "PolicyDecision", "PolicyJudge"]


class PolicyJudge(Protocol):
    """The NetworkPolicy seam: asked for a pod's first packet out and before a pod's socket."""

    def egress(self, pod_key: str, packet: Header) -> PolicyDecision:
        """May ``pod_key`` send ``packet``?"""
        ...

    def ingress(self, pod_key: str, packet: Header) -> PolicyDecision:
        """May ``packet`` reach ``pod_key``?"""
        ...


class AllowAll:
    """The judge without a NetworkPolicy engine: everything allowed (``--no-policy``)."""

    def egress(self, pod_key: str, packet: Header) -> PolicyDecision:
        """Allowed."""
        return PolicyDecision(True, "no NetworkPolicy engine: allowed")

    def ingress(self, pod_key: str, packet: Header) -> PolicyDecision:
        """Allowed."""
        return PolicyDecision(True, "no NetworkPolicy engine: allowed")


ALLOW_ALL: Final = AllowAll()
