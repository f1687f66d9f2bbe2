"""The walk through VXLAN devices: the outer header on transmit, decapsulation on receive.

:class:`WalkVxlan` encapsulates a packet routed to a VXLAN device (its FDB
entry names the remote VTEP; the outer UDP packet then leaves like a local
one) and decapsulates an outer packet reaching a VXLAN device's UDP port.
:func:`vxlan_source_port` is the outer source port.

Not here: the routes and FDB entries flannel installs (``netsim.dataplane.vxlan``).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Final

from netsim.dataplane.devices import Interface, NetworkNamespace
from netsim.trace.index import namespace_tables
from netsim.trace.model import (
    Decapsulate,
    Disposition,
    Encapsulate,
    Header,
    L4Protocol,
    Received,
    Transmit,
)
from netsim.trace.walk_core import _Encap
from netsim.trace.walk_send import WalkSend

__all__ = ["WalkVxlan", "vxlan_source_port"]

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


class WalkVxlan(WalkSend):
    """VXLAN encapsulation and decapsulation."""

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
