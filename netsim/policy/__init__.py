"""NetworkPolicy: networking.k8s.io/v1 semantics and the judge the tracer asks.

:mod:`netsim.policy.semantics` evaluates policies as Kubernetes defines them
(pure functions over the model); :mod:`netsim.policy.judge` builds a judge from
a realized cluster. See docs/networkpolicy.md.
"""

from __future__ import annotations

from netsim.policy.judge import NetworkPolicyJudge, PacketView, policy_judge
from netsim.policy.semantics import Peer, PodView, PolicyDecision, evaluate

__all__ = [
    "NetworkPolicyJudge",
    "PacketView",
    "Peer",
    "PodView",
    "PolicyDecision",
    "evaluate",
    "policy_judge",
]
