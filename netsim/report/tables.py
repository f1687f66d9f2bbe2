"""A namespace's tables printed exactly as iproute2 6.1 prints them.

``render_ip_addr`` (``ip addr``), ``render_ip_route`` (``ip route``: the main
table), ``render_ip_neigh`` (``ip neigh``) and ``render_bridge_fdb``
(``bridge fdb show``) reproduce the tools' output byte for byte, trailing
spaces included (``ip route`` and ``ip neigh`` end each line with one; so does
``ip addr``'s first line of a device without ``qlen``). Checked against the
real tools in throw-away namespaces (``tests/report/test_tables.py``).

Orders: ``ip addr`` lists devices by ifindex; ``ip route`` lists routes in the
kernel's trie order (by destination, longer prefix first at the same address,
then metric); ``bridge fdb`` follows the namespace's table, which is kept in
the kernel's dump order. ``ip neigh`` lists entries in the order they were
added — the kernel lists them in hash-table order, which is random per boot.

:func:`render_namespace_tables` heads the four outputs with ``$ <command>``
lines; :func:`render_node_tables` prints a node's root namespace and its pods'
(``netsim show --node N --tables``).
"""

from __future__ import annotations

from netsim.dataplane.devices import (
    BROADCAST_MAC,
    Dataplane,
    FdbEntry,
    FdbState,
    Interface,
    InterfaceKind,
    NamespaceKind,
    NetworkNamespace,
    OperState,
    namespaces_of_node,
)
from netsim.dataplane.routing import Route, TableName
from netsim.dataplane.routing import render_ip_route as render_route

__all__ = [
    "render_bridge_fdb",
    "render_ip_addr",
    "render_ip_neigh",
    "render_ip_route",
    "render_namespace_tables",
    "render_node_tables",
]

COMMANDS = ("ip addr", "ip route", "ip neigh", "bridge fdb")


def _lines(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _link_header(ns: NetworkNamespace, device: Interface) -> list[str]:
    name = device.name
    peer = device.peer
    if peer is not None:
        name += f"@{peer.ifname}" if peer.netns == ns.id else f"@if{peer.ifindex}"
    if device.kind is InterfaceKind.LOOPBACK:
        flags = "LOOPBACK,UP,LOWER_UP"
    elif device.operstate is OperState.DOWN:
        flags = "NO-CARRIER,BROADCAST,MULTICAST,UP"
    else:
        flags = "BROADCAST,MULTICAST,UP,LOWER_UP"
    words = [f"{device.index}: {name}: <{flags}> mtu {device.mtu} qdisc {device.qdisc}"]
    if device.master is not None:
        words.append(f"master {device.master}")
    words.append(f"state {device.operstate.value} group default ")
    first = " ".join(words)
    if device.txqueuelen:
        first += f"qlen {device.txqueuelen}"
    if device.kind is InterfaceKind.LOOPBACK:
        link = f"    link/loopback {device.mac} brd {device.mac}"
    else:
        link = f"    link/ether {device.mac} brd {BROADCAST_MAC}"
    if peer is not None and peer.netns != ns.id:
        if peer.link_netns is not None:
            link += f" link-netns {peer.link_netns}"
        else:
            link += f" link-netnsid {peer.link_netnsid}"
    return [first, link]


def render_ip_addr(ns: NetworkNamespace) -> str:
    """``ip addr`` in ``ns``.

    >>> from netsim.dataplane.devices import Address, AddressScope
    >>> from netsim.dataplane.routing import RoutingTable
    >>> from ipaddress import IPv4Interface
    >>> lo = Interface("lo", InterfaceKind.LOOPBACK, 1, "00:00:00:00:00:00", 65536,
    ...                (Address(IPv4Interface("127.0.0.1/8"), AddressScope.HOST),),
    ...                operstate=OperState.UNKNOWN)
    >>> ns = NetworkNamespace("x", NamespaceKind.CLIENT, "x", None, {"lo": lo},
    ...                       RoutingTable(), (), (), {}, {})
    >>> print(render_ip_addr(ns), end="")
    1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
        link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
        inet 127.0.0.1/8 scope host lo
           valid_lft forever preferred_lft forever
    """
    lines: list[str] = []
    for device in sorted(ns.interfaces.values(), key=lambda d: d.index):
        lines += _link_header(ns, device)
        for address in device.addresses:
            text = f"    inet {address.interface}"
            if address.broadcast is not None:
                text += f" brd {address.broadcast}"
            lines.append(f"{text} scope {address.scope.value} {device.name}")
            lines.append("       valid_lft forever preferred_lft forever")
    return _lines(lines)


def _dump_key(route: Route) -> tuple[int, int, int]:
    """The kernel's trie dump order: destination, then longer prefix, then metric."""
    return (int(route.dst.network_address), -route.dst.prefixlen, route.metric)


def render_ip_route(ns: NetworkNamespace, table: TableName = TableName.MAIN) -> str:
    """``ip route`` (``ip route show table <table>``) in ``ns``, IPv4 routes only."""
    routes = [r for r in ns.routes.routes if r.table is table and r.dst.version == 4]
    return _lines([f"{render_route(r)} " for r in sorted(routes, key=_dump_key)])


def render_ip_neigh(ns: NetworkNamespace) -> str:
    """``ip neigh`` in ``ns``."""
    return _lines([f"{n.ip} dev {n.dev} lladdr {n.lladdr} {n.state.value} " for n in ns.neighbors])


def _fdb_line(entry: FdbEntry) -> str:
    words = [entry.mac, "dev", entry.dev]
    if entry.dst is not None:
        words += ["dst", str(entry.dst)]
    if entry.is_self:
        words.append("self")
    if entry.master is not None:
        words += ["master", entry.master]
    # iproute2 prints each word with a trailing space, then the state ("" when learned).
    words.append(entry.state.value if entry.state is FdbState.PERMANENT else "")
    return " ".join(words)


def render_bridge_fdb(ns: NetworkNamespace) -> str:
    """``bridge fdb show`` in ``ns``."""
    return _lines([_fdb_line(entry) for entry in ns.fdb])


def render_namespace_tables(ns: NetworkNamespace, header: str | None = None) -> str:
    """The four outputs of ``ns``, each after a ``$ <command>`` line, under ``# <header>``."""
    if header is None:
        kind = ns.kind.value
        header = kind if ns.owner == kind else f"{kind} {ns.owner}"
    outputs = (render_ip_addr(ns), render_ip_route(ns), render_ip_neigh(ns), render_bridge_fdb(ns))
    text = f"# {header}\n"
    for command, output in zip(COMMANDS, outputs, strict=True):
        text += f"$ {command}\n{output}"
    return text


def render_node_tables(dataplane: Dataplane, node: str, *, with_pods: bool = True) -> str:
    """A node's root namespace, then (``with_pods``) each of its pods', blank-line separated.

    Raises:
        KeyError: no such node.
    """
    blocks = [
        render_namespace_tables(ns)
        for ns in namespaces_of_node(dataplane, node)
        if with_pods or ns.kind is NamespaceKind.NODE
    ]
    return "\n".join(blocks)
