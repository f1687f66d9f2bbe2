"""One walk of a packet through the namespaces, hop by hop (the engine's state machine).

A trace is a sequence of table lookups in the namespaces a packet enters,
never a graph search:

* local origin: route lookup (the source address was chosen when the flow was
  made), ``OUTPUT``, a second route lookup when DNAT changed the destination,
  ``POSTROUTING``, transmit;
* transmit: the next hop's MAC from a PERMANENT neighbour entry or ARP in the
  device's broadcast domain; then the device: a veth hands the frame to its
  peer namespace, a bridge looks the MAC up in what it has learned, a NIC
  sends it down its cable to the switch, a VXLAN device encapsulates (its FDB
  entry names the remote VTEP) and the outer packet leaves like a local one;
* receive: a bridge port hands the frame to its bridge (forwarded at layer 2,
  through ``br_netfilter``'s PREROUTING/FORWARD/POSTROUTING when the
  namespace has rules, or up to layer 3 when the MAC is the bridge's own);
  at layer 3 ``PREROUTING``, the routing decision, then ``INPUT`` and the
  socket check for a local destination or, with ``ip_forward`` 1, the TTL
  check, the MTU check against the egress device (the kernel's order in
  ``ip_forward()``), the TTL decrement, ``FORWARD``, ``POSTROUTING`` and
  transmit. A VXLAN packet reaching its UDP port is decapsulated and the
  inner packet is received on the VXLAN device;
* the socket check: a pod's declared containerPorts, a node's hostNetwork
  pods' ports, an external client accepts everything.
* NetworkPolicy (:mod:`netsim.trace.policy`): a pod's first packet is judged
  for egress at the first node hop after the pod, after ``PREROUTING`` and
  the routing decision, before ``FORWARD``/``INPUT`` (where Calico-like CNIs
  enforce it, after kube-proxy's DNAT); for ingress before the receiving
  pod's socket check, after any SNAT. Replies and a pod's packets to itself
  over ``lo`` are not judged.

Branching: where a hook has several outcomes (a ``statistic`` rule) the walk
takes the branch its fixed choices name (the first one past them) and records
how many there were, so that :mod:`netsim.trace.engine` can enumerate every
branch by re-running it; with a seed the evaluator picks one branch itself.
Each outcome multiplies the walk's probability.

Replies: a reply walk delivers at the namespace of the forward flow's sender
(any port: the connecting socket), saying what the client receives when it
is not what it waits for (an asymmetric return).

Not modelled: ICMP errors sent back, fragmentation (``DF`` is assumed set:
a forwarded packet larger than the egress MTU is MTU_EXCEEDED; locally sent
packets are sized to the route by the sending stack), policy routing, ECMP,
reverse-path filtering, ``route_localnet`` checks, ARP for a broadcast
destination, the ``raw``/``mangle`` tables (none of the modelled software
writes them), and TCP beyond the first packet of each direction.

Where it lives: the walk's state and bookkeeping in :mod:`netsim.trace.walk_core`,
the NetworkPolicy and netfilter checks in :mod:`netsim.trace.walk_checks`,
sending in :mod:`netsim.trace.walk_send`, VXLAN in :mod:`netsim.trace.walk_vxlan`,
receiving and the socket check in :mod:`netsim.trace.walk_receive`; each
builds on the one before, and :class:`Walk` is the last.
"""

from __future__ import annotations

import random

from netsim.trace.hooks import TraceSession
from netsim.trace.index import TraceIndex
from netsim.trace.model import Flow, Header
from netsim.trace.policy import PolicyJudge
from netsim.trace.walk_core import MAX_ACTIONS, WalkEnded
from netsim.trace.walk_receive import WalkReceive
from netsim.trace.walk_vxlan import vxlan_source_port

__all__ = ["MAX_ACTIONS", "Walk", "WalkEnded", "run_walk", "vxlan_source_port"]


class Walk(WalkReceive):
    """One run of the walk with the statistic choices fixed (mutable; only the engine uses it)."""


def run_walk(
    index: TraceIndex,
    flow: Flow,
    judge: PolicyJudge,
    session: TraceSession,
    choices: list[int],
    rng: random.Random | None,
    reply_to: str | None,
    expected_reply: Header | None,
) -> tuple[Walk, WalkEnded]:
    walk = Walk(index, judge, session, choices, rng, reply_to)
    walk.expected_reply = expected_reply
    ns = index.dataplane.namespaces[flow.source_netns]
    walk.enter(ns.id)
    try:
        walk.originate(ns, flow.header)
    except WalkEnded as end:
        return walk, end
    raise AssertionError("the walk ended without a disposition")  # pragma: no cover
