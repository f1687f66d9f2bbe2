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
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from ipaddress import IPv4Address
from typing import Final

from netsim.dataplane.devices import (
    Interface,
    InterfaceKind,
    InterfaceRef,
    NamespaceKind,
    NetworkNamespace,
    SysctlName,
)
from netsim.dataplane.routing import RouteType, lookup_route, render_ip_route, resolve_nexthop
from netsim.model.objects import Protocol as K8sProtocol
from netsim.netfilter.matching import Hook
from netsim.trace.hooks import HookRequest, HookResult, TraceSession
from netsim.trace.index import TraceIndex, namespace_tables
from netsim.trace.l2 import arp_owner, bridge_port, cable_peer
from netsim.trace.model import (
    Arp,
    Bridge,
    Decapsulate,
    Deliver,
    DeliveredTo,
    Disposition,
    Drop,
    Encapsulate,
    Flow,
    Header,
    L4Protocol,
    Policy,
    Received,
    RouteStep,
    Step,
    Transmit,
    Ttl,
    Veth,
)
from netsim.trace.policy import PolicyJudge

__all__ = ["MAX_ACTIONS", "Walk", "WalkEnded", "run_walk", "vxlan_source_port"]

LOCALHOST: Final = IPv4Address("127.0.0.1")  # where REDIRECT sends locally generated packets
MAX_ACTIONS: Final = 256  # bound on the steps of one walk (a trace never runs away)
EPHEMERAL_LOW: Final = 32768  # net.ipv4.ip_local_port_range default, low end
EPHEMERAL_HIGH: Final = 60999  # ... high end (the VXLAN source port range)
VXLAN_OVERHEAD: Final = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 (RFC 7348)
OUTER_IP_UDP_VXLAN: Final = 36  # outer IPv4 20 + UDP 8 + VXLAN 8; + inner Ethernet 14 = 50


def vxlan_source_port(inner: Header) -> int:
    """The outer UDP source port: a direction-symmetric flow hash scaled into 32768-60999.

    Linux hashes the inner flow (``skb_get_hash``) and scales it into
    ``ip_local_port_range``; netsim uses a deterministic stand-in hash over the
    sorted endpoints, so a reply uses the same port (as observed on Linux).

    >>> h = Header(IPv4Address("10.244.0.2"), IPv4Address("10.244.1.3"), L4Protocol.TCP, 1, 2)
    >>> vxlan_source_port(h) == vxlan_source_port(h.reversed())
    True
    """
    a = (int(inner.src), inner.sport)
    b = (int(inner.dst), inner.dport)
    low, high = sorted((a, b))
    value = 2166136261
    for number in (*low, *high, len(inner.protocol.value)):
        value = ((value ^ number) * 16777619) & 0xFFFFFFFF
    return EPHEMERAL_LOW + value % (EPHEMERAL_HIGH - EPHEMERAL_LOW + 1)


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


class Walk:
    """One run of the walk with the statistic choices fixed (mutable; only the engine uses it)."""

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

    # -- NetworkPolicy -------------------------------------------------------

    def judge_egress(self, ns: NetworkNamespace, header: Header) -> None:
        """The sending pod's egress check, at the first hop outside it (once per walk)."""
        pod = self.egress_pending
        if pod is None or ns.kind is NamespaceKind.POD:
            return
        self.egress_pending = None
        decision = self.judge.egress(pod, header)
        self.step(Policy(pod, "egress", decision.is_allowed, decision.reason))
        if not decision.is_allowed:
            raise self.end(
                Disposition.DENIED_BY_NETWORKPOLICY,
                f"DENIED_BY_NETWORKPOLICY: egress of {pod}: {decision.reason}",
            )

    def judge_ingress(self, ns: NetworkNamespace, header: Header) -> None:
        """The receiving pod's ingress check (not for replies, nor a pod talking to itself)."""
        if self.reply_to is not None or len(self.hops) == 1:
            return
        decision = self.judge.ingress(ns.owner, header)
        self.step(Policy(ns.owner, "ingress", decision.is_allowed, decision.reason))
        if not decision.is_allowed:
            raise self.end(
                Disposition.DENIED_BY_NETWORKPOLICY,
                f"DENIED_BY_NETWORKPOLICY: ingress of {ns.owner}: {decision.reason}",
            )

    # -- netfilter -----------------------------------------------------------

    def hook(
        self,
        ns: NetworkNamespace,
        hook: Hook,
        header: Header,
        *,
        in_if: str | None,
        out_if: str | None,
        next_hop: IPv4Address | None = None,
        bridged: bool = False,
        physdev_in: str | None = None,
        physdev_out: str | None = None,
    ) -> Header:
        """Run one hook; the header after it (raises WalkEnded on DROP/REJECT)."""
        if not self.index.netfilter.has_rules(ns.id):
            return header
        request = HookRequest(
            netns=ns.id,
            hook=hook,
            in_interface=in_if,
            out_interface=out_if,
            local_addresses=self.index.local_addresses[ns.id],
            broadcast_addresses=self.index.broadcast_addresses[ns.id],
            masquerade_source=_source_address(ns, out_if, next_hop) if out_if else None,
            redirect_address=(LOCALHOST if in_if is None else _source_address(ns, in_if, None)),
            bridged=bridged,
            physdev_in=physdev_in,
            physdev_out=physdev_out,
            is_reply_direction=self.reply_to is not None,
        )
        results = self.index.netfilter.run(
            request, header, self.skb, self.states.get(ns.id), self.now, self.rng
        )
        picked = self.choose(results)
        self.step(picked.step)
        for nat in picked.nat:
            self.step(nat)
            if nat.nat in ("DNAT", "REDIRECT"):
                self.dnat_namespaces.add(ns.id)
        self.states[ns.id] = picked.state
        self.skb = picked.skb
        if picked.verdict != "ACCEPT":
            raise self.end(*_netfilter_disposition(picked, hook))
        return picked.header

    # -- local origin --------------------------------------------------------

    def originate(self, ns: NetworkNamespace, header: Header) -> None:
        """A packet sent by a socket of ``ns``."""
        self.check_loop(ns.id, "out", header)
        dev, next_hop, kind = self.route(ns, header.dst, "output")
        header = self.hook(ns, "OUTPUT", header, in_if=None, out_if=dev, next_hop=next_hop)
        if header.dst != self.last_routed:
            dev, next_hop, kind = self.route(ns, header.dst, "output", again=True)
        header = self.hook(ns, "POSTROUTING", header, in_if=None, out_if=dev, next_hop=next_hop)
        self.transmit(ns, dev, next_hop, header, local=kind == RouteType.LOCAL)

    def route(
        self, ns: NetworkNamespace, dst: IPv4Address, result: str, *, again: bool = False
    ) -> tuple[str, IPv4Address, RouteType]:
        """Route ``dst`` (raises WalkEnded when nothing matches)."""
        self.last_routed = dst
        route = lookup_route(ns.routes, dst)
        prefix = "re-route after DNAT: " if again else ""
        if route is None or route.type in (
            RouteType.BLACKHOLE,
            RouteType.UNREACHABLE,
            RouteType.PROHIBIT,
        ):
            text = render_ip_route(route) if route is not None else None
            self.step(RouteStep(dst, text, "none", None, None, f"{prefix}{dst}: no route"))
            if ns.kind is NamespaceKind.ROUTER and not any(
                dst in space for space in self.index.cluster_spaces
            ):
                raise self.end(
                    Disposition.EXITS_CLUSTER,
                    f"EXITS_CLUSTER: {dst} is outside every cluster address space",
                )
            raise self.end(Disposition.NO_ROUTE, f"NO_ROUTE: no route to {dst} in {ns.id}")
        dev, next_hop = resolve_nexthop(ns.routes, route, dst)
        assert isinstance(next_hop, IPv4Address)
        text = render_ip_route(route).strip()
        kind = "local" if route.type is RouteType.LOCAL else result
        self.step(
            RouteStep(
                dst,
                text,
                "local" if kind == "local" else ("output" if result == "output" else "forward"),
                dev,
                next_hop,
                f"{prefix}{dst} -> {kind}: {text}",
            )
        )
        return dev, next_hop, route.type

    # -- transmit ------------------------------------------------------------

    def transmit(
        self,
        ns: NetworkNamespace,
        dev: str,
        next_hop: IPv4Address,
        header: Header,
        *,
        local: bool = False,
    ) -> None:
        """Send ``header`` out of ``dev`` towards ``next_hop``."""
        iface = ns.interfaces[dev]
        if ns.kind is NamespaceKind.POD and self.reply_to is None and not self.encap:
            self.egress_pending = ns.owner  # judged at the first node hop (after DNAT)
        if local or iface.kind is InterfaceKind.LOOPBACK:
            dev = "lo"  # a packet to a local address loops back through lo
            self.step(Transmit(dev, header, None, f"{header.text} on {dev} (local)"))
            self.step(Received(dev, header, f"{header.text} on {dev}"))
            self.ip_receive(ns, dev, header)
            return
        if iface.kind is InterfaceKind.VXLAN:
            self.vxlan_transmit(ns, iface, next_hop, header)
            return
        mac = self.resolve_mac(ns, dev, next_hop)
        self.step(Transmit(dev, header, mac, f"{header.text} on {dev} to {mac}"))
        self.frame_out(ns, iface, mac, header)

    def resolve_mac(self, ns: NetworkNamespace, dev: str, ip: IPv4Address) -> str:
        neighbor = namespace_tables(self.index, ns.id).neighbor(dev, ip)
        if neighbor is not None:
            self.step(
                Arp(
                    ip,
                    neighbor.lladdr,
                    "neighbor",
                    None,
                    f"neighbour {ip} dev {dev} lladdr {neighbor.lladdr} {neighbor.state}",
                )
            )
            return neighbor.lladdr
        owner = arp_owner(self.index.l2, InterfaceRef(ns.id, dev), ip)
        if owner is None:
            self.step(Arp(ip, None, "arp", None, f"ARP who-has {ip} on {dev}: no answer"))
            raise self.end(
                Disposition.NEIGHBOR_UNREACHABLE,
                f"NEIGHBOR_UNREACHABLE: nobody answers ARP for {ip} on {ns.id} {dev}",
            )
        mac = self.dp.namespaces[owner.netns].interfaces[owner.ifname].mac
        where = f"{owner.netns}/{owner.ifname}"
        self.step(Arp(ip, mac, "arp", where, f"ARP who-has {ip}: is-at {mac} (from {where})"))
        return mac

    def frame_out(self, ns: NetworkNamespace, iface: Interface, mac: str, header: Header) -> None:
        """A frame leaves ``iface`` (a bridge picks a port first)."""
        if iface.kind is InterfaceKind.BRIDGE:
            port = self.bridge_lookup(ns, iface.name, mac)
            iface = ns.interfaces[port]
        if iface.kind is InterfaceKind.VETH and iface.peer is not None:
            peer = iface.peer
            self.step(
                Veth(
                    iface.name,
                    peer.netns,
                    peer.ifname,
                    f"{iface.name} -> {peer.netns} {peer.ifname}",
                )
            )
            self.arrive(self.dp.namespaces[peer.netns], peer.ifname, mac, header)
            return
        other = cable_peer(self.index.l2, InterfaceRef(ns.id, iface.name))
        if other is None:
            raise self.end(
                Disposition.NEIGHBOR_UNREACHABLE,
                f"NEIGHBOR_UNREACHABLE: {ns.id} {iface.name} is not cabled",
            )
        self.arrive(self.dp.namespaces[other.netns], other.ifname, mac, header)

    def bridge_lookup(self, ns: NetworkNamespace, bridge: str, mac: str) -> str:
        ref = InterfaceRef(ns.id, bridge)
        entry = namespace_tables(self.index, ns.id).bridge_entry(bridge, mac)
        port = bridge_port(self.index.l2, ref, mac)
        if port is None:
            raise self.end(
                Disposition.NEIGHBOR_UNREACHABLE,
                f"NEIGHBOR_UNREACHABLE: {bridge} has no port for {mac}",
            )
        if entry is not None:
            text = f"FDB {mac} dev {entry.dev} master {bridge} {entry.state}"
            self.step(Bridge(bridge, mac, port, "permanent", f"{bridge}: {text}"))
        else:
            self.step(
                Bridge(bridge, mac, port, "learned", f"{bridge}: learned: {mac} behind port {port}")
            )
        return port

    # -- receive -------------------------------------------------------------

    def arrive(self, ns: NetworkNamespace, ifname: str, mac: str, header: Header) -> None:
        """A frame reaches ``ifname`` of ``ns`` (a new hop; the skb mark is cleared)."""
        self.enter(ns.id)
        if header.mark:
            header = replace(header, mark=0)
        self.step(Received(ifname, header, f"{header.text} on {ifname}"))
        iface = ns.interfaces[ifname]
        if iface.master is None:
            if mac != iface.mac:
                raise self.end(
                    Disposition.NEIGHBOR_UNREACHABLE,
                    f"NEIGHBOR_UNREACHABLE: frame for {mac} not accepted by {ifname}",
                )
            self.ip_receive(ns, ifname, header)
            return
        bridge = ns.interfaces[iface.master]
        if mac == bridge.mac:
            self.step(
                Bridge(bridge.name, mac, None, "local", f"{bridge.name}: {mac} is the bridge's own")
            )
            self.ip_receive(ns, bridge.name, header)
            return
        port = self.bridge_lookup(ns, bridge.name, mac)
        if port == ifname and not iface.is_hairpin:
            raise self.end(
                Disposition.NEIGHBOR_UNREACHABLE,
                f"NEIGHBOR_UNREACHABLE: {mac} is behind the ingress port {ifname} (no hairpin)",
            )
        self.check_loop(ns.id, f"bridge to {mac}", header)
        if self.index.netfilter.has_rules(ns.id) and ns.sysctls.get(
            SysctlName.BRIDGE_NF_CALL_IPTABLES
        ):
            before = header
            header = self.hook(
                ns,
                "PREROUTING",
                header,
                in_if=bridge.name,
                out_if=None,
                bridged=True,
                physdev_in=ifname,
            )
            if header.dst != before.dst:
                # br_netfilter: a DNAT to another destination is routed, not bridged
                self.route_received(ns, bridge.name, header)
                return
            self.judge_egress(ns, header)
            header = self.hook(
                ns,
                "FORWARD",
                header,
                in_if=bridge.name,
                out_if=bridge.name,
                bridged=True,
                physdev_in=ifname,
                physdev_out=port,
            )
            header = self.hook(
                ns,
                "POSTROUTING",
                header,
                in_if=None,
                out_if=bridge.name,
                bridged=True,
                physdev_in=ifname,
                physdev_out=port,
            )
        self.judge_egress(ns, header)
        self.step(Transmit(port, header, mac, f"{header.text} on {port} to {mac}"))
        self.frame_out(ns, ns.interfaces[port], mac, header)

    def ip_receive(self, ns: NetworkNamespace, ifname: str, header: Header) -> None:
        """Layer 3 receive: PREROUTING, then the routing decision."""
        self.check_loop(ns.id, "ip", header)
        header = self.hook(ns, "PREROUTING", header, in_if=ifname, out_if=None)
        self.route_received(ns, ifname, header)

    def route_received(self, ns: NetworkNamespace, ifname: str, header: Header) -> None:
        """The routing decision for a received packet, then INPUT or forwarding."""
        if header.dst in self.index.local_addresses[ns.id]:
            dev, _, _ = self.route(ns, header.dst, "forward")
            self.judge_egress(ns, header)
            header = self.hook(ns, "INPUT", header, in_if=ifname, out_if=None)
            self.socket(ns, header)
            return
        if not ns.sysctls.get(SysctlName.IP_FORWARD):
            self.step(RouteStep(header.dst, None, "none", None, None, "ip_forward=0"))
            raise self.end(
                Disposition.NO_ROUTE,
                f"NO_ROUTE: {header.dst} is not local to {ns.id} and ip_forward is 0",
            )
        dev, next_hop, _ = self.route(ns, header.dst, "forward")
        if header.ttl <= 1:
            raise self.end(
                Disposition.TTL_EXCEEDED,
                f"TTL_EXCEEDED: ttl {header.ttl} (ICMP time exceeded to {header.src})",
            )
        mtu = ns.interfaces[dev].mtu
        if header.length > mtu:
            raise self.end(
                Disposition.MTU_EXCEEDED,
                f"MTU_EXCEEDED: {header.length} bytes > mtu {mtu} of {dev} with DF set"
                f" (ICMP frag needed to {header.src})",
            )
        after = Header(
            header.src,
            header.dst,
            header.protocol,
            header.sport,
            header.dport,
            header.ttl - 1,
            header.length,
            header.mark,
        )
        self.step(Ttl(header.ttl, after.ttl, after, f"ttl {header.ttl} -> {after.ttl}"))
        self.judge_egress(ns, after)
        header = self.hook(ns, "FORWARD", after, in_if=ifname, out_if=dev, next_hop=next_hop)
        header = self.hook(ns, "POSTROUTING", header, in_if=ifname, out_if=dev, next_hop=next_hop)
        self.transmit(ns, dev, next_hop, header)

    # -- VXLAN ---------------------------------------------------------------

    def vxlan_transmit(
        self, ns: NetworkNamespace, iface: Interface, next_hop: IPv4Address, inner: Header
    ) -> None:
        params = iface.vxlan
        assert params is not None
        mac = self.resolve_mac(ns, iface.name, next_hop)
        remote = namespace_tables(self.index, ns.id).vtep(iface.name, mac)
        self.step(Transmit(iface.name, inner, mac, f"{inner.text} on {iface.name} to {mac}"))
        if remote is None:
            raise self.end(
                Disposition.NEIGHBOR_UNREACHABLE,
                f"NEIGHBOR_UNREACHABLE: no FDB entry for {mac} on {iface.name}",
            )
        outer = Header(
            params.local,
            remote,
            L4Protocol.UDP,
            vxlan_source_port(inner),
            params.dstport,
            length=inner.length + OUTER_IP_UDP_VXLAN + 14,
            mark=inner.mark,
        )
        self.step(
            Encapsulate(
                iface.name,
                params.vni,
                remote,
                inner,
                outer,
                f"VXLAN encapsulate (FDB {mac} dst {remote}): outer {outer.src}:{outer.sport}"
                f" -> {outer.dst}:{outer.dport} udp vni {params.vni}, +{VXLAN_OVERHEAD} bytes",
            )
        )
        self.encap.append(_Encap(inner, params.vni, params.dstport))
        self.skb = None  # iptunnel_xmit: nf_reset_ct (the mark stays: same netns)
        self.originate(ns, outer)

    def decapsulate(self, ns: NetworkNamespace, header: Header) -> bool:
        """Decapsulate when ``header`` reaches a VXLAN device's UDP port here."""
        if header.protocol is not L4Protocol.UDP or not self.encap:
            return False
        for iface in ns.interfaces.values():
            params = iface.vxlan
            if params is None or params.dstport != header.dport:
                continue
            encap = self.encap.pop()
            if encap.vni != params.vni:
                raise self.end(
                    Disposition.DROPPED_BY_NETFILTER,
                    f"VXLAN VNI {encap.vni} does not match {iface.name} (vni {params.vni})",
                )
            self.step(
                Decapsulate(
                    iface.name,
                    params.vni,
                    header,
                    encap.inner,
                    f"VXLAN decapsulate vni {params.vni} on {iface.name}: {encap.inner.text}",
                )
            )
            self.step(Received(iface.name, encap.inner, f"{encap.inner.text} on {iface.name}"))
            self.skb = None  # the inner packet is a fresh skb for conntrack
            self.ip_receive(ns, iface.name, encap.inner)
            return True
        return False

    # -- sockets -------------------------------------------------------------

    def socket(self, ns: NetworkNamespace, header: Header) -> None:
        """The socket check of a packet delivered locally."""
        if self.decapsulate(ns, header):
            return
        if self.reply_to is not None and ns.id == self.reply_to:
            expected = self.expected_reply
            if expected is None or header.tuple5() == expected.tuple5():
                self.deliver(ns, None, header, "the reply reaches the connecting socket")
            assert expected is not None
            self.deliver(
                ns,
                None,
                header,
                f"the client receives {header.src}:{header.sport} but waits for"
                f" {expected.src}:{expected.sport} (its stack answers with a reset)",
            )
        if ns.kind is NamespaceKind.POD:
            self.judge_ingress(ns, header)
            pod = self.dp.state.pods[ns.owner]
            if _declares(pod.pod.template.containers, header):
                self.deliver(ns, ns.owner, header, f"pod {ns.owner} listens")
        elif ns.kind is NamespaceKind.NODE:
            for key in self.index.host_network_pods.get(ns.owner, ()):
                pod = self.dp.state.pods[key]
                if _declares(pod.pod.template.containers, header):
                    self.deliver(ns, pod.key, header, f"hostNetwork pod {pod.key} listens")
        elif ns.kind is NamespaceKind.CLIENT:
            self.deliver(ns, None, header, f"external client {ns.owner} accepts")
        raise self.end(
            Disposition.PORT_NOT_LISTENING,
            f"PORT_NOT_LISTENING: nothing in {ns.id} listens on"
            f" {header.dport}/{header.protocol.value}",
        )

    def deliver(self, ns: NetworkNamespace, pod: str | None, header: Header, why: str) -> None:
        to = DeliveredTo(ns.id, pod, header.dst, header.dport)
        self.delivered_header = header
        self.step(Deliver(to, f"DELIVERED to {header.dst}:{header.dport} in {ns.id}: {why}"))
        raise WalkEnded(Disposition.DELIVERED, to)


def _declares(containers: tuple[object, ...], header: Header) -> bool:
    """Whether a container declares ``header.dport`` with the header's protocol."""
    protocol = K8sProtocol(header.protocol.value.upper())
    return any(
        port.container_port == header.dport and port.protocol is protocol
        for container in containers
        for port in getattr(container, "ports", ())
    )


def _source_address(
    ns: NetworkNamespace, dev: str | None, next_hop: IPv4Address | None
) -> IPv4Address | None:
    """The address of ``dev`` the kernel picks (same subnet as ``next_hop`` first)."""
    if dev is None:
        return None
    addresses = ns.interfaces[dev].addresses
    if next_hop is not None:
        for address in addresses:
            if next_hop in address.interface.network:
                return address.ip
    if addresses:
        return addresses[0].ip
    # a device without an address (flannel.1 has a /32): the first global address
    for iface in ns.interfaces.values():
        if iface.kind is not InterfaceKind.LOOPBACK and iface.addresses:
            return iface.addresses[0].ip
    return None


def _netfilter_disposition(picked: HookResult, hook: str) -> tuple[Disposition, str]:
    """The disposition of a DROP or REJECT, from the deciding rule's comment."""
    reason = picked.reason
    if picked.verdict == "REJECT" and "has no endpoints" in reason:
        return Disposition.REJECTED_NO_ENDPOINTS, f"REJECTED_NO_ENDPOINTS in {hook}: {reason}"
    if picked.verdict == "DROP" and "has no local endpoints" in reason:
        return (
            Disposition.DROPPED_NO_LOCAL_ENDPOINT,
            f"DROPPED_NO_LOCAL_ENDPOINT in {hook}: {reason}",
        )
    return (
        Disposition.DROPPED_BY_NETFILTER,
        f"DROPPED_BY_NETFILTER: {picked.verdict} in {hook}: {reason}",
    )


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
