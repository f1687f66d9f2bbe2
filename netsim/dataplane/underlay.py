"""The underlay: one switch per L2 segment, the router between segments, external clients.

* Each underlay subnet is an L2 segment with a switch: a namespace holding the
  bridge ``br0`` and one port ``swp<n>`` per attached host (nodes in topology
  order, then clients, then the router), each cabled (:class:`Link`) to that
  host's NIC. Ports and ``br0`` have the underlay MTU.
* External clients: a client whose IP is inside an underlay subnet sits on that
  segment; every other client sits on the /24 around its IP, clients of one
  /24 sharing a segment ``external-<cidr>``. Each client has ``eth0`` with its
  IP and the segment's prefix and ``default via <router address>``.
* The router exists when there is more than one underlay subnet or any
  external client: one interface ``eth<i>`` per underlay subnet carrying the
  subnet's ``gateway``, then one per external segment carrying the first host
  address of the /24 that is not a client's. It forwards (``ip_forward=1``),
  has no NAT and no default route; the pod-network mode may add routes (BGP).

Not modelled: several routers, routing protocols between routers, VLANs, the
Internet beyond the external clients, MAC learning limits of the switches.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Final

from netsim.dataplane.devices import (
    InterfaceKind,
    InterfaceRef,
    NamespaceKind,
    Segment,
)
from netsim.dataplane.draft import BuildContext, NamespaceDraft
from netsim.dataplane.routing import DEFAULT_DST, Route
from netsim.model.topology import ExternalClient
from netsim.naming import (
    ROUTER_NETNS_ID,
    client_netns_id,
    external_segment_name,
    switch_netns_id,
    switch_port_name,
)

__all__ = [
    "CLIENT_NIC",
    "EXTERNAL_PREFIX",
    "SWITCH_BRIDGE",
    "add_clients",
    "add_router",
    "add_segments",
    "attach",
    "has_router",
]

SWITCH_BRIDGE: Final = "br0"  # the bridge of a switch namespace
CLIENT_NIC: Final = "eth0"
EXTERNAL_PREFIX: Final = 24  # an external client sits on the /24 around its IP
ROUTER_OWNER: Final = "router"


def has_router(ctx: BuildContext) -> bool:
    """Whether the underlay has a router: several subnets or any external client."""
    topology = ctx.state.topology
    return len(topology.underlay.subnets) > 1 or bool(topology.external_clients)


def add_segments(ctx: BuildContext) -> None:
    """One segment and switch per underlay subnet and per external clients' /24.

    Raises:
        TopologyError: an external client's address clashes with a router address,
            or its /24 overlaps an underlay subnet or the cluster or service CIDR.
    """
    topology = ctx.state.topology
    for subnet in topology.underlay.subnets:
        switch = switch_netns_id(subnet.name)
        _add_segment(ctx, Segment(subnet.name, subnet.cidr, subnet.gateway, switch, False))
    external: dict[IPv4Network, list[IPv4Address]] = {}
    for client in topology.external_clients:
        cidr = _external_cidr(ctx, client)
        if cidr is not None:
            external.setdefault(cidr, []).append(client.ip)
    for cidr, clients in external.items():
        gateway = next((ip for ip in cidr.hosts() if ip not in clients), None)
        if gateway is None:
            ctx.fail(
                f"segment {cidr} holds only clients; the router needs one of its addresses",
                path="external_clients",
            )
        name = external_segment_name(str(cidr))
        if name in ctx.segments:
            ctx.fail(
                f"subnet name {name!r} is reserved for external clients; rename it",
                path="underlay.subnets",
            )
        _add_segment(ctx, Segment(name, cidr, gateway, switch_netns_id(name), True))


def _external_cidr(ctx: BuildContext, client: ExternalClient) -> IPv4Network | None:
    """The /24 an external client sits on, or None when it is inside an underlay subnet."""
    topology = ctx.state.topology
    obj = f"external client {client.name}"
    inside = next((s for s in topology.underlay.subnets if client.ip in s.cidr), None)
    if inside is not None:
        if client.ip in (
            inside.gateway,
            inside.cidr.network_address,
            inside.cidr.broadcast_address,
        ):
            ctx.fail(
                f"{client.ip} is the network, broadcast or router address of underlay"
                f" subnet {inside.name} {inside.cidr}; pick another address",
                obj=obj,
                path="ip",
            )
        return None
    cidr = IPv4Network(f"{client.ip}/{EXTERNAL_PREFIX}", strict=False)
    if client.ip in (cidr.network_address, cidr.broadcast_address):
        ctx.fail(
            f"{client.ip} is the network or broadcast address of its segment {cidr}",
            obj=obj,
            path="ip",
        )
    spaces = [(f"underlay subnet {s.name}", s.cidr) for s in topology.underlay.subnets]
    spaces += [("cluster_cidr", topology.cluster_cidr), ("service_cidr", topology.service_cidr)]
    for what, space in spaces:
        if cidr.overlaps(space):
            ctx.fail(
                f"its segment {cidr} (the /{EXTERNAL_PREFIX} around {client.ip}) overlaps"
                f" {what} {space}; give the client an address in another /{EXTERNAL_PREFIX}",
                obj=obj,
                path="ip",
            )
    return cidr


def _add_segment(ctx: BuildContext, segment: Segment) -> None:
    ctx.segments[segment.name] = segment
    switch = ctx.new_namespace(segment.switch, NamespaceKind.SWITCH, segment.name)
    ctx.add_device(switch, SWITCH_BRIDGE, InterfaceKind.BRIDGE, ctx.state.topology.underlay.mtu)


def attach(ctx: BuildContext, host: NamespaceDraft, ifname: str, segment: str) -> None:
    """Cable ``host``'s device ``ifname`` to a new port of ``segment``'s switch."""
    switch = ctx.namespaces[ctx.segments[segment].switch]
    port = switch_port_name(len(switch.interfaces) - 1)  # lo and br0 come first
    ctx.add_device(switch, port, InterfaceKind.ETHERNET, ctx.state.topology.underlay.mtu)
    switch.enslave(port, SWITCH_BRIDGE)
    ctx.cable(InterfaceRef(host.id, ifname), InterfaceRef(switch.id, port), segment)


def add_clients(ctx: BuildContext) -> None:
    """Every external client: ``eth0`` on its segment and a default route via the router."""
    mtu = ctx.state.topology.underlay.mtu
    for client in ctx.state.topology.external_clients:
        segment = next(s for s in ctx.segments.values() if client.ip in s.cidr)
        ns = ctx.new_namespace(client_netns_id(client.name), NamespaceKind.CLIENT, client.name)
        ctx.add_device(ns, CLIENT_NIC, InterfaceKind.ETHERNET, mtu)
        ns.add_address(CLIENT_NIC, IPv4Interface(f"{client.ip}/{segment.cidr.prefixlen}"))
        ns.add_route(Route(DEFAULT_DST, gateway=segment.gateway, dev=CLIENT_NIC))
        attach(ctx, ns, CLIENT_NIC, segment.name)


def add_router(
    ctx: BuildContext, mode_routes: Callable[[BuildContext, NamespaceDraft], None]
) -> None:
    """The router, when there is one, with ``mode_routes`` adding the mode's routes."""
    if not has_router(ctx):
        return
    mtu = ctx.state.topology.underlay.mtu
    ns = ctx.new_namespace(ROUTER_NETNS_ID, NamespaceKind.ROUTER, ROUTER_OWNER, ip_forward=True)
    for index, segment in enumerate(ctx.segments.values()):
        ifname = f"eth{index}"
        ctx.add_device(ns, ifname, InterfaceKind.ETHERNET, mtu)
        ns.add_address(ifname, IPv4Interface(f"{segment.gateway}/{segment.cidr.prefixlen}"))
        attach(ctx, ns, ifname, segment.name)
    mode_routes(ctx, ns)
