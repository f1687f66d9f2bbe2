"""The walk's receiving side: bridges, layer 3 receive, forwarding, the socket check.

:class:`WalkReceive` takes a frame arriving on a device: a bridge port
forwards it at layer 2 (through ``br_netfilter`` when the namespace has
rules) or passes it up; at layer 3 ``PREROUTING``, the routing decision,
then ``INPUT`` and the socket check, or the TTL and MTU checks, ``FORWARD``,
``POSTROUTING`` and transmit. The socket check delivers to a pod's declared
containerPorts, a node's hostNetwork pods' ports, or an external client.

Not here: the send side (``walk_send``), VXLAN (``walk_vxlan``).
"""

from __future__ import annotations

from dataclasses import replace

from netsim.dataplane.devices import NamespaceKind, NetworkNamespace, SysctlName
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
