"""The walk's sending side: local origin, route lookups, ARP, transmit, veths, cables, bridges.

:class:`WalkSend` routes a packet sent by a local socket through ``OUTPUT``
and ``POSTROUTING``, resolves the next hop's MAC (PERMANENT neighbour or
ARP), and hands the frame to a veth peer, a cable's far end or a bridge port.

Not here: VXLAN devices (``walk_vxlan``) and what the receiving namespace
does (``walk_receive``).
"""

from __future__ import annotations

from ipaddress import IPv4Address

from netsim.dataplane.devices import (
    Interface,
    InterfaceKind,
    InterfaceRef,
    NamespaceKind,
    NetworkNamespace,
)
from netsim.dataplane.routing import RouteType, lookup_route, render_ip_route, resolve_nexthop
from netsim.trace.index import namespace_tables
from netsim.trace.l2 import arp_owner, bridge_port, cable_peer
from netsim.trace.model import Arp, Bridge, Disposition, Header, Received, RouteStep, Transmit, Veth
from netsim.trace.walk_checks import WalkChecks

__all__ = ["WalkSend"]


class WalkSend(WalkChecks):
    """Local origin, routing and transmit."""

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
