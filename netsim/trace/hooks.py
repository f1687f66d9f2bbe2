"""The netfilter seam of the tracer: per-namespace rulesets, hook evaluation, sessions.

The engine asks one question of netfilter — "what happens to this packet at
this hook in this namespace?" — through :class:`NetfilterSeam`. The answer is
one or more :class:`HookResult` (several when a ``statistic`` rule splits the
traffic), each with its probability, verdict, the rewritten header, the step
to show and the namespace's new conntrack/``recent`` state.

:func:`netfilter_for` picks the implementation: :class:`IptablesNetfilter`
(kube-proxy's rules of each node, ``node_restore_text(node_rules(state,
node))``, with flannel's chains and rules from the dataplane appended to each
table — ``netsim.netfilter.node.kube_proxy_ruleset``, compiled by
``NodeRulesets``, which shares what the nodes have alike and lays a node's
own lines over them the first time a hook runs there — evaluated by
``netsim.netfilter.evaluate``) when that evaluator is installed, else
:class:`NoNetfilter`, which accepts everything and says so in every step.

Which namespaces have rules: node root namespaces. Pods, the router,
external clients and switches have none (every hook accepts, and no
netfilter step is shown).

:class:`TraceSession` carries the per-namespace conntrack and ``recent`` state
from one trace to the next, so that a second connection from the same client
meets the sessionAffinity its first one set up.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

from netsim.dataplane.devices import Dataplane
from netsim.naming import node_netns_id
from netsim.netfilter.compiled import CompiledRuleset, compile_all
from netsim.netfilter.conntrack import ConntrackTable
from netsim.netfilter.matching import Hook, HookContext
from netsim.netfilter.node import NodeRulesets
from netsim.netfilter.packet import SCTP, TCP, UDP, Packet
from netsim.netfilter.recent import RecentState
from netsim.netfilter.ruleset import TcpFlag
from netsim.trace.model import Header, L4Protocol, Nat, Netfilter, RuleVisitRecord

__all__ = [
    "HookRequest",
    "HookResult",
    "IptablesNetfilter",
    "NetfilterSeam",
    "NoNetfilter",
    "TraceSession",
    "netfilter_for",
]

PROTOCOL_NUMBERS: Final = {L4Protocol.TCP: TCP, L4Protocol.UDP: UDP, L4Protocol.SCTP: SCTP}


@dataclass(frozen=True, slots=True)
class TraceSession:
    """Conntrack and ``recent`` state per netns id (opaque to the engine), and the clock."""

    states: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class HookRequest:
    """Where a hook runs: the hook, devices, bridge ports and the addresses NAT needs."""

    netns: str
    hook: Hook
    in_interface: str | None
    out_interface: str | None
    local_addresses: frozenset[IPv4Address]
    broadcast_addresses: frozenset[IPv4Address]
    masquerade_source: IPv4Address | None
    redirect_address: IPv4Address | None
    bridged: bool = False
    physdev_in: str | None = None
    physdev_out: str | None = None
    is_reply_direction: bool = False  # the packet is a reply (TCP SYN-ACK)


@dataclass(frozen=True, slots=True)
class HookResult:
    """One outcome of a hook.

    ``reason`` is the text of the rule that gave a DROP or REJECT ('' otherwise).
    ``nat`` are the rewrite steps, in order, ending at ``header``.
    """

    probability: float
    verdict: str  # ACCEPT, DROP, REJECT
    reason: str
    header: Header
    step: Netfilter
    nat: tuple[Nat, ...]
    state: object
    skb: object | None = None  # the evaluator's packet, passed to the next hook of the netns


class NetfilterSeam(Protocol):
    """What the engine needs from netfilter."""

    def has_rules(self, netns: str) -> bool:
        """Whether the namespace has rules (hooks of others are not shown)."""
        ...

    def run(
        self,
        request: HookRequest,
        header: Header,
        skb: object | None,
        state: object | None,
        now: float,
        rng: random.Random | None,
    ) -> tuple[HookResult, ...]:
        """Evaluate one hook.

        ``skb`` is what the previous hook of this namespace returned for the
        packet (None: the packet just entered the namespace); ``state`` is the
        namespace's conntrack and ``recent`` state (None: fresh).
        """
        ...


class NoNetfilter:
    """Accept everything: the stand-in while no evaluator is available."""

    def has_rules(self, netns: str) -> bool:
        """No namespace has rules."""
        return False

    def run(
        self,
        request: HookRequest,
        header: Header,
        skb: object | None,
        state: object | None,
        now: float,
        rng: random.Random | None,
    ) -> tuple[HookResult, ...]:
        """ACCEPT with a step saying that netfilter is not evaluated."""
        step = Netfilter(
            request.hook, "ACCEPT", (), None, request.bridged, "netfilter not evaluated: ACCEPT"
        )
        return (HookResult(1.0, "ACCEPT", "", header, step, (), state),)


def netfilter_for(dataplane: Dataplane) -> NetfilterSeam:
    """The evaluator of the node rulesets, or :class:`NoNetfilter` when it is not installed."""
    try:
        from netsim.netfilter import evaluate  # noqa: F401
    except ImportError:  # pragma: no cover - until the evaluator lands
        return NoNetfilter()
    return IptablesNetfilter(dataplane)


@dataclass(frozen=True, slots=True)
class NetnsState:
    """What netfilter keeps per namespace between packets."""

    conntrack: ConntrackTable
    recent: RecentState


def _endpoint(value: object) -> tuple[IPv4Address | None, int | None]:
    """A NAT change's value as (address, port): ``ip``, ``ip:port``, ``(ip, port)`` or a port."""
    if isinstance(value, tuple) and len(value) == 2:
        return _endpoint(value[0])[0], int(value[1])
    if isinstance(value, IPv4Address):
        return value, None
    if isinstance(value, int):
        return None, value
    text = str(value)
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit():
        return IPv4Address(host) if host else None, int(port)
    return IPv4Address(text), None


def _by(text: str) -> str:
    """Who made a NAT change, shortly: the rule's chain, or ``conntrack``.

    >>> _by('-A KUBE-SEP-X -p tcp -j DNAT --to-destination 10.244.1.3:8080')
    'rule of KUBE-SEP-X'
    >>> _by("conntrack")
    'conntrack'
    """
    words = text.split()
    if len(words) > 1 and words[0] == "-A":
        return f"rule of {words[1]}"
    return text


def _endpoint_text(header: Header, field_name: str) -> str:
    if field_name == "src":
        return f"{header.src}:{header.sport}"
    return f"{header.dst}:{header.dport}"


def _nat_steps(header: Header, after: Header, changes: tuple[Any, ...]) -> tuple[Nat, ...]:
    """One step per NAT change, each from the running header; the last ends at ``after``."""
    steps: list[Nat] = []
    current = header
    if not changes and header.tuple5() != after.tuple5():
        # a rewrite the evaluator did not itemise: name it by conntrack
        field_name: Literal["src", "dst"]
        for field_name in ("src", "dst"):
            new = (
                replace(current, src=after.src, sport=after.sport)
                if field_name == "src"
                else replace(current, dst=after.dst, dport=after.dport)
            )
            if new.tuple5() == current.tuple5():
                continue
            old_text, new_text = (
                _endpoint_text(current, field_name),
                _endpoint_text(new, field_name),
            )
            steps.append(
                Nat(
                    "conntrack",
                    field_name,
                    old_text,
                    new_text,
                    "conntrack",
                    current,
                    new,
                    f"conntrack {field_name} {old_text} -> {new_text}",
                )
            )
            current = new
        return tuple(steps)
    for number, change in enumerate(changes):
        field_name = "src" if str(getattr(change, "field", "dst")).startswith("s") else "dst"
        address, port = _endpoint(getattr(change, "new", ""))
        c = current
        if number == len(changes) - 1:  # the last one ends at ``after``
            new = Header(
                after.src,
                after.dst,
                c.protocol,
                after.sport,
                after.dport,
                c.ttl,
                c.length,
                after.mark,
            )
        elif field_name == "src":
            sport = c.sport if port is None else port
            new = Header(
                address or c.src, c.dst, c.protocol, sport, c.dport, c.ttl, c.length, c.mark
            )
        else:
            dport = c.dport if port is None else port
            new = Header(
                c.src, address or c.dst, c.protocol, c.sport, dport, c.ttl, c.length, c.mark
            )
        kind = str(getattr(change, "kind", "NAT"))
        by = str(getattr(change, "by", None) or "")
        old_text, new_text = _endpoint_text(current, field_name), _endpoint_text(new, field_name)
        detail = f"{kind} {field_name} {old_text} -> {new_text}" + (f" ({_by(by)})" if by else "")
        steps.append(Nat(kind, field_name, old_text, new_text, by, current, new, detail))
        current = new
    return tuple(steps)


class IptablesNetfilter:
    """Each node's kube-proxy and flannel rules, evaluated by ``netsim.netfilter.evaluate``."""

    def __init__(self, dataplane: Dataplane) -> None:
        state = dataplane.state
        namespaces = dataplane.namespaces
        self._rulesets = NodeRulesets(state, lambda node: namespaces[node_netns_id(node)].iptables)
        self._node_of: dict[str, str] = {node_netns_id(node): node for node in state.nodes}
        self._compiled: dict[str, CompiledRuleset] = {}

    def has_rules(self, netns: str) -> bool:
        """Node root namespaces have rules."""
        return netns in self._node_of

    def compiled(self, netns: str) -> CompiledRuleset:
        """The namespace's compiled ruleset (the node's own lines laid over on first use)."""
        found = self._compiled.get(netns)
        if found is None:
            found = self._compiled[netns] = self._rulesets.compiled(self._node_of[netns])
        return found

    def warm(self, netns: str) -> None:
        """Compile the namespace's ruleset, every chain, now rather than on its first hook."""
        compile_all(self.compiled(netns))

    def run(
        self,
        request: HookRequest,
        header: Header,
        skb: object | None,
        state: object | None,
        now: float,
        rng: random.Random | None,
    ) -> tuple[HookResult, ...]:
        """Evaluate the hook with the namespace's conntrack and ``recent`` state."""
        from netsim.netfilter.evaluate import evaluate_hook

        current = (
            state if isinstance(state, NetnsState) else NetnsState(ConntrackTable(), RecentState())
        )
        if isinstance(skb, Packet) and (
            skb.src == header.src
            and skb.dst == header.dst
            and skb.sport == header.sport
            and skb.dport == header.dport
            and skb.ttl == header.ttl
            and skb.length == header.length
            and skb.mark == header.mark
        ):
            packet = skb
        elif isinstance(skb, Packet):
            packet = replace(
                skb,
                src=header.src,
                dst=header.dst,
                sport=header.sport,
                dport=header.dport,
                ttl=header.ttl,
                length=header.length,
                mark=header.mark,
            )
        else:
            flags = TcpFlag.SYN | TcpFlag.ACK if request.is_reply_direction else TcpFlag.SYN
            packet = Packet(
                header.src,
                header.dst,
                PROTOCOL_NUMBERS[header.protocol],
                header.sport,
                header.dport,
                mark=header.mark,
                tcp_flags=flags,
                ttl=header.ttl,
                length=header.length,
            )
        ctx = HookContext(
            hook=request.hook,
            in_interface=request.in_interface,
            out_interface=request.out_interface,
            local_addresses=request.local_addresses,
            broadcast_addresses=request.broadcast_addresses,
            masquerade_source=request.masquerade_source,
            redirect_address=request.redirect_address,
            now=now,
            bridged=request.bridged,
            physdev_in=request.physdev_in,
            physdev_out=request.physdev_out,
        )
        outcomes = evaluate_hook(
            self.compiled(request.netns), packet, ctx, current.conntrack, current.recent, rng=rng
        )
        results: list[HookResult] = []
        for outcome in outcomes:
            out = outcome.packet
            after = Header(
                out.src,
                out.dst,
                header.protocol,
                out.sport,
                out.dport,
                out.ttl,
                out.length,
                out.mark,
            )
            visits = tuple(
                RuleVisitRecord(
                    v.table,
                    v.chain,
                    v.index + 1 if v.index < v.count else None,
                    v.count,
                    v.text,
                    v.matched,
                    v.action,
                    v.probability,
                )
                for v in outcome.visits
            )
            reason = next(
                (v.text for v in reversed(visits) if v.matched and v.action == outcome.verdict),
                "",
            )
            ct_state = getattr(outcome, "ct_state", None)
            detail = f"{request.hook}: {outcome.verdict}"
            if ct_state:
                detail += f" (ctstate {ct_state}{', reply' if outcome.is_reply else ''})"
            if request.bridged:
                detail += f" (bridged: physdev-in {request.physdev_in}"
                if request.physdev_out is not None:
                    detail += f", physdev-out {request.physdev_out}"
                detail += ")"
            if outcome.verdict == "REJECT" and outcome.reject_with:
                detail += f" --reject-with {outcome.reject_with}"
            step = Netfilter(
                request.hook,
                outcome.verdict,
                visits,
                None if ct_state is None else str(ct_state),
                request.bridged,
                detail,
            )
            results.append(
                HookResult(
                    outcome.probability,
                    outcome.verdict,
                    reason,
                    after,
                    step,
                    _nat_steps(header, after, tuple(outcome.nat)),
                    NetnsState(outcome.conntrack, outcome.recent),
                    out,
                )
            )
        return tuple(results)
