"""The state of one walk and its bookkeeping: steps, hops, loop checks, branch choices.

:class:`WalkCore` is the base of :class:`netsim.trace.walk.Walk`: the
mutable record of one run (hops and their steps, the statistic choices and
branch sizes, conntrack and ``recent`` states per namespace, the VXLAN
encapsulation stack, the probability) and the few operations every stage of
the walk uses. :class:`WalkEnded` unwinds the walk with its disposition.

Not here: what happens to the packet (``walk_checks``, ``walk_send``,
``walk_vxlan``, ``walk_receive``; see :mod:`netsim.trace.walk`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Final

from netsim.dataplane.devices import Interface, NetworkNamespace
from netsim.trace.hooks import HookResult, TraceSession
from netsim.trace.index import TraceIndex
from netsim.trace.model import (
    DeliveredTo,
    Disposition,
    Drop,
    Header,
    Step,
)
from netsim.trace.policy import PolicyJudge

__all__ = ["MAX_ACTIONS", "WalkCore", "WalkEnded"]

MAX_ACTIONS: Final = 256  # bound on the steps of one walk (a trace never runs away)


class WalkEnded(Exception):  # noqa: N818 - an outcome, not an error
    """The walk ended with a disposition (raised to unwind from anywhere in the walk)."""

    def __init__(self, disposition: Disposition, delivered: DeliveredTo | None = None) -> None:
        super().__init__(disposition.value)
        self.disposition = disposition
        self.delivered = delivered


@dataclass(slots=True)
class _Encap:
    """An encapsulated inner packet travelling inside an outer UDP packet."""

    inner: Header
    vni: int
    port: int


class WalkCore:
    """The walk's state and bookkeeping (mutable; the stages build on it)."""

    def __init__(
        self,
        index: TraceIndex,
        judge: PolicyJudge,
        session: TraceSession,
        choices: list[int],
        rng: random.Random | None,
        reply_to: str | None,
    ) -> None:
        self.index = index
        self.dp = index.dataplane
        self.judge = judge
        self.states: dict[str, object] = dict(session.states)
        self.now = session.now
        self.choices = choices
        self.sizes: list[int] = []
        self.rng = rng
        self.reply_to = reply_to  # the forward flow's source netns when tracing a reply
        self.probability = 1.0
        self.hops: list[tuple[str | None, str, list[Step]]] = []
        self.seen: set[tuple[str, str, object]] = set()
        self.actions = 0
        self.encap: list[_Encap] = []
        self.dnat_namespaces: set[str] = set()
        self.delivered_header: Header | None = None
        self.last_routed: IPv4Address | None = None
        self.skb: object | None = None  # the evaluator's packet (conntrack reference) in this netns
        self.expected_reply: Header | None = None  # what the connecting socket waits for
        self.egress_pending: str | None = None  # the pod whose first packet awaits its egress check

    # -- bookkeeping ---------------------------------------------------------

    def step(self, step: Step) -> None:
        self.actions += 1
        if self.actions > MAX_ACTIONS:
            self.hops[-1][2].append(Drop(Disposition.LOOP, f"LOOP: more than {MAX_ACTIONS} steps"))
            raise WalkEnded(Disposition.LOOP)
        self.hops[-1][2].append(step)

    def end(self, disposition: Disposition, detail: str) -> WalkEnded:
        self.hops[-1][2].append(Drop(disposition, detail))
        return WalkEnded(disposition)

    def enter(self, netns: str) -> None:
        self.hops.append((self.index.node_of.get(netns), netns, []))
        self.skb = None  # skb_scrub_packet(xnet): no conntrack reference, no mark

    def check_loop(self, netns: str, stage: str, header: Header) -> None:
        key = (netns, stage, (header.tuple5(), tuple(e.inner.tuple5() for e in self.encap)))
        if key in self.seen:
            raise self.end(Disposition.LOOP, f"LOOP: {header.text} seen twice in {netns} ({stage})")
        self.seen.add(key)

    def choose(self, results: tuple[HookResult, ...]) -> HookResult:
        if len(results) == 1:
            picked = results[0]
        else:
            position = len(self.sizes)
            self.sizes.append(len(results))
            if position >= len(self.choices):
                self.choices.append(0)
            picked = results[self.choices[position]]
        self.probability *= picked.probability
        return picked

    if TYPE_CHECKING:
        # defined by the later stages (walk_vxlan, walk_receive), called by earlier ones

        def vxlan_transmit(
            self, ns: NetworkNamespace, iface: Interface, next_hop: IPv4Address, inner: Header
        ) -> None: ...

        def arrive(self, ns: NetworkNamespace, ifname: str, mac: str, header: Header) -> None: ...

        def ip_receive(self, ns: NetworkNamespace, ifname: str, header: Header) -> None: ...
