"""A :class:`~netsim.dataplane.devices.Dataplane` made of real network namespaces.

Every model namespace becomes a real one (names from :mod:`netsim.lab.names`),
with the model's devices at the model's ifindex, MAC and MTU:

* a NIC (``ethernet``: a node's ``eth0``, a client's, the router's ``eth<i>``)
  is a veth whose peer is the model's switch port ``swp<n>`` in the segment's
  switch namespace, where it is enslaved to the switch bridge ``br0``;
* bridges (``cni0``, ``br0``), VXLAN devices (``flannel.1``: ``local``, ``dev``,
  ``dstport``, ``nolearning`` as modelled) and the pods' veth pairs (created
  from the pod side with both ends' index, MAC and MTU);
* masters and hairpin mode, link state, addresses (with ``brd``), every route
  the model does not derive from an address (``ip route add`` of its
  ``ip route`` text), PERMANENT neighbours, VXLAN FDB entries (``bridge fdb
  append ... dst ... self permanent``, oldest first);
* the model's sysctls (``ip_forward``, ``route_localnet``,
  ``bridge-nf-call-iptables``, ``proxy_arp``, ``disable_ipv6``,
  ``send_redirects``), set inside the namespace only, before its devices exist
  (so the ``default`` values reach them).

The real devices then print what :mod:`netsim.report.tables` prints, but for
the NIC (a veth here, so ``eth0@ifN ... link-netns <switch>`` and qdisc
``noqueue`` instead of ``fq_codel``). Not built here: iptables rules
(:mod:`netsim.lab.rules`) and listeners (:mod:`netsim.lab.lifecycle`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from netsim.dataplane.devices import (
    Dataplane,
    InterfaceKind,
    Link,
    NamespaceKind,
    NeighborState,
    NetworkNamespace,
)
from netsim.dataplane.routes import KERNEL_PROTO
from netsim.dataplane.routing import render_ip_route
from netsim.lab.kernel import batch, in_namespace, run

__all__ = [
    "build_namespaces",
    "configure_commands",
    "create_namespace",
    "device_commands",
    "fdb_commands",
    "sysctl_settings",
]

IPV6_OFF: Final = (
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
)  # the model runs IPv4 only; also before any device exists, so none gets a link-local


def create_namespace(real: str) -> None:
    """``ip netns add`` with IPv6 off and ``lo`` up."""
    run(["ip", "netns", "add", real])
    in_namespace(real, "sysctl", "-qw", *IPV6_OFF)
    run(["ip", "-n", real, "link", "set", "lo", "up"])


def _link_of(dataplane: Dataplane, netns: str, ifname: str) -> Link | None:
    return next(
        (
            link
            for link in dataplane.links
            if (link.a.netns, link.a.ifname) == (netns, ifname)
            or (link.b.netns, link.b.ifname) == (netns, ifname)
        ),
        None,
    )


def device_commands(
    dataplane: Dataplane, ns: NetworkNamespace, real: Mapping[str, str]
) -> list[str]:
    """The ``ip`` commands (run in ``ns``) that create its devices in ifindex order.

    A cable is made from its host end; a pod's veth pair from the pod's end.
    """
    commands: list[str] = []
    for d in sorted(ns.interfaces.values(), key=lambda d: d.index):
        spec = f"{d.name} index {d.index} mtu {d.mtu} address {d.mac}"
        if d.kind is InterfaceKind.ETHERNET:
            link = _link_of(dataplane, ns.id, d.name)
            if link is None or link.a.netns != ns.id:
                continue  # a switch port: made with the host's NIC
            port = dataplane.namespaces[link.b.netns].interfaces[link.b.ifname]
            commands.append(
                f"link add {spec} type veth peer name {port.name} index {port.index}"
                f" mtu {port.mtu} address {port.mac} netns {real[link.b.netns]}"
            )
        elif d.kind is InterfaceKind.BRIDGE:
            commands.append(f"link add {spec} type bridge")
        elif d.kind is InterfaceKind.VXLAN:
            assert d.vxlan is not None
            vx = d.vxlan
            learning = "learning" if vx.is_learning else "nolearning"
            commands.append(
                f"link add {spec} type vxlan id {vx.vni} local {vx.local}"
                f" dev {vx.dev} dstport {vx.dstport} {learning}"
            )
        elif d.kind is InterfaceKind.VETH and ns.kind is NamespaceKind.POD:
            assert d.peer is not None
            host = dataplane.namespaces[d.peer.netns].interfaces[d.peer.ifname]
            commands.append(
                f"link add {spec} txqueuelen {d.txqueuelen} type veth peer name {host.name}"
                f" index {host.index} mtu {host.mtu} address {host.mac}"
                f" txqueuelen {host.txqueuelen} netns {real[d.peer.netns]}"
            )
    return commands


def configure_commands(ns: NetworkNamespace) -> list[str]:
    """The ``ip`` commands for masters, link state, addresses, routes and neighbours."""
    commands: list[str] = []
    for d in sorted(ns.interfaces.values(), key=lambda d: d.index):
        if d.master is not None:
            commands.append(f"link set {d.name} master {d.master}")
        commands.append(f"link set {d.name} up")
        for a in d.addresses if d.kind is not InterfaceKind.LOOPBACK else ():
            brd = f" brd {a.broadcast}" if a.broadcast is not None else ""
            commands.append(f"addr add {a.interface}{brd} dev {d.name}")
    for route in ns.routes.routes:
        if route.proto != KERNEL_PROTO:
            commands.append(f"route add {render_ip_route(route)}")
    for n in ns.neighbors:
        nud = "permanent" if n.state is NeighborState.PERMANENT else "reachable"
        commands.append(f"neigh add {n.ip} lladdr {n.lladdr} dev {n.dev} nud {nud}")
    return commands


def fdb_commands(ns: NetworkNamespace) -> list[str]:
    """The ``bridge`` commands: hairpin ports and VXLAN FDB entries (oldest first)."""
    commands = [
        f"link set dev {d.name} hairpin on"
        for d in sorted(ns.interfaces.values(), key=lambda d: d.index)
        if d.master is not None and d.is_hairpin
    ]
    # ns.fdb is in dump order, where a VXLAN device lists its newest entry first.
    for e in reversed([e for e in ns.fdb if e.dst is not None]):
        commands.append(f"fdb append {e.mac} dev {e.dev} dst {e.dst} self permanent")
    return commands


def sysctl_settings(ns: NetworkNamespace) -> list[str]:
    """``name=value`` of the model's sysctls of ``ns`` (set inside it only).

    >>> from netsim.dataplane.build import build_dataplane
    >>> from netsim.control.realize import realize
    >>> from netsim.model.spec import load_cluster
    >>> dp = build_dataplane(realize(load_cluster("topologies/l3.yaml")))
    >>> sysctl_settings(dp.namespaces["node:node-1"])[:2]
    ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.route_localnet=1']
    """
    return [f"{name.value}={value}" for name, value in ns.sysctls.items()]


def build_namespaces(
    dataplane: Dataplane,
    real: Mapping[str, str],
    made: Callable[[str, str], None] = lambda netns_id, name: None,
) -> None:
    """Create every namespace of ``real`` (netns id -> real name) with devices and tables.

    ``made(netns_id, real_name)`` is called right after each namespace exists
    (the caller records it, so that a failure later leaves nothing unknown).
    Namespaces of the model missing from ``real`` are not built (their
    devices must not be needed by the ones that are).

    Raises:
        LabError: a kernel command failed (named, with the kernel's message).
    """
    spaces = [ns for ns in dataplane.namespaces.values() if ns.id in real]
    for ns in spaces:
        create_namespace(real[ns.id])
        made(ns.id, real[ns.id])
        settings = sysctl_settings(ns)  # before the devices, so ``default`` values reach them
        if settings:
            in_namespace(real[ns.id], "sysctl", "-qw", *settings)
    for ns in spaces:
        batch("ip", real[ns.id], device_commands(dataplane, ns, real))
    for ns in spaces:
        batch("ip", real[ns.id], configure_commands(ns))
        batch("bridge", real[ns.id], fdb_commands(ns))
