"""The walk's receiving side: bridges, layer 3 receive, forwarding, the socket check.

:class:`WalkReceive` takes a frame arriving on a device: a bridge port
forwards it at layer 2 (through ``br_netfilter`` when the namespace has
rules; a DNAT there stays bridged when the new destination's route leaves
the bridge itself) or passes it up; at layer 3 ``PREROUTING``, the routing decision,
then ``INPUT`` and the socket check, or the TTL and MTU checks, ``FORWARD``,
``POSTROUTING`` and transmit. The socket check delivers to a pod's declared
containerPorts, a node's hostNetwork pods' ports, or an external client.

Not here: the send side (``walk_send``), VXLAN (``walk_vxlan``).
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address

from netsim.dataplane.devices import NamespaceKind, NetworkNamespace, SysctlName
from netsim.dataplane.routing import RouteType, lookup_route, resolve_nexthop
from netsim.model.objects import Protocol as K8sProtocol
from netsim.trace.model import (
    Bridge,
    Deliver,
    DeliveredTo,
    Disposition,
    Header,
    Received,
    RouteStep,
    Transmit,
    Ttl,
)
from netsim.trace.walk_core import WalkEnded
from netsim.trace.walk_vxlan import WalkVxlan

__all__ = ["WalkReceive"]


class WalkReceive(WalkVxlan):
    """Receive, forward and deliver."""

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
        br_netfilter = bool(
            self.index.netfilter.has_rules(ns.id)
            and ns.sysctls.get(SysctlName.BRIDGE_NF_CALL_IPTABLES)
        )
        if mac == bridge.mac:
            self.step(
                Bridge(bridge.name, mac, None, "local", f"{bridge.name}: {mac} is the bridge's own")
            )
            if not br_netfilter:
                self.ip_receive(ns, bridge.name, header)
                return
            self.check_loop(ns.id, "ip", header)
            port = None
        else:
            port = self.bridge_lookup(ns, bridge.name, mac)
            if port == ifname and not iface.is_hairpin:
                raise self.end(
                    Disposition.NEIGHBOR_UNREACHABLE,
                    f"NEIGHBOR_UNREACHABLE: {mac} is behind the ingress port {ifname} (no hairpin)",
                )
            self.check_loop(ns.id, f"bridge to {mac}", header)
        if br_netfilter:
            # br_nf_pre_routing: iptables PREROUTING for every IPv4 frame a port takes in
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
            next_hop = header.dst  # a bridged skb's fake route has no gateway
            if header.dst != before.dst and self.stays_bridged(ns, bridge.name, header):
                mac, port, next_hop = self.bridged_dnat(ns, bridge.name, ifname, header)
            elif port is None or header.dst != before.dst:
                self.route_received(ns, bridge.name, header)  # up to layer 3 (PREROUTING done)
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
                next_hop=next_hop,
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
                next_hop=next_hop,
            )
        assert port is not None
        self.judge_egress(ns, header)
        self.step(Transmit(port, header, mac, f"{header.text} on {port} to {mac}"))
        self.frame_out(ns, ns.interfaces[port], mac, header)

    def bridged_dnat(
        self, ns: NetworkNamespace, bridge: str, ifname: str, header: Header
    ) -> tuple[str, str, IPv4Address]:
        """The MAC, bridge port and next hop of a bridged DNAT (no TTL decrement)."""
        dev, next_hop, _ = self.route(ns, header.dst, "forward", again=True)
        mac = self.resolve_mac(ns, dev, next_hop)
        port = self.bridge_lookup(ns, bridge, mac)
        if port == ifname and not ns.interfaces[ifname].is_hairpin:
            raise self.end(
                Disposition.NEIGHBOR_UNREACHABLE,
                f"NEIGHBOR_UNREACHABLE: br_netfilter keeps the DNATed packet bridged (its route"
                f" leaves {bridge} itself); {mac} is behind the ingress port {ifname}"
                f" (no hairpin), so {bridge} drops it",
            )
        return mac, port, next_hop

    def stays_bridged(self, ns: NetworkNamespace, bridge: str, header: Header) -> bool:
        """Whether br_netfilter bridges a packet DNATed in the bridge's PREROUTING.

        ``br_nf_pre_routing_finish`` routes the new destination: a route out of
        the bridge device itself keeps the packet bridged ("bridged DNAT", to
        the new destination's MAC, no TTL decrement); anything else (a local
        address, another device, no route) goes up to layer 3.
        """
        if header.dst in self.index.local_addresses[ns.id]:
            return False
        route = lookup_route(ns.routes, header.dst)
        if route is None or route.type is not RouteType.UNICAST:
            return False
        dev, _ = resolve_nexthop(ns.routes, route, header.dst)
        return dev == bridge

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
