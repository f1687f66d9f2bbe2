"""``--from`` and ``--to``: turning what the user names into a :class:`~netsim.trace.model.Flow`.

Sources (``--from``):

* ``ext:NAME`` or ``ext:IP``: an external client of the topology;
* ``NAMESPACE/POD``: a placed pod (a hostNetwork pod sends from its node);
* ``node:NODE``: the node's root namespace.

Destinations (``--to``):

* ``node:NODE:PORT``: the node's IP (a NodePort, or a hostNetwork port);
* ``svc:NAMESPACE/NAME:PORT``: a Service's ClusterIP; ``PORT`` is the Service
  port's number or name;
* ``NAMESPACE/POD:PORT``: the pod's IP;
* ``IP:PORT``: any IPv4 address.

The source port defaults to :data:`DEFAULT_SPORT`. The source address is the
one the kernel would pick for the destination: the route's ``src``, else the
egress device's address on the next hop's subnet, else its first address.
Unknown names are :class:`~netsim.errors.InputError` naming the option and
listing close matches.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from ipaddress import AddressValueError, IPv4Address
from typing import Final

from netsim.dataplane.devices import Dataplane, InterfaceKind, NetworkNamespace
from netsim.dataplane.routing import RouteType, lookup_route, resolve_nexthop
from netsim.errors import InputError
from netsim.naming import client_netns_id, node_netns_id, pod_netns_id
from netsim.trace.model import Flow, Header, L4Protocol

__all__ = ["DEFAULT_SPORT", "make_flow", "parse_destination", "parse_source"]

DEFAULT_SPORT: Final = 40000  # a fixed ephemeral port (inside 32768-60999) so traces repeat


def _close(name: str, candidates: Iterable[str]) -> str:
    """``; did you mean: a, b`` or the list of candidates.

    >>> _close("web", ["shop/web", "client/curl"])
    ' (known: client/curl, shop/web)'
    """
    known = sorted(candidates)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        return f" (did you mean: {', '.join(close)})"
    shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
    return f" (known: {shown})" if known else ""


def _port(text: str, option: str, value: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise InputError(f"{value!r}: port {text!r} must be 1-65535", field=option)
    return port


def _ip(text: str, option: str) -> IPv4Address | None:
    try:
        return IPv4Address(text)
    except (AddressValueError, ValueError):
        return None


def parse_source(dataplane: Dataplane, value: str) -> tuple[str, IPv4Address | None]:
    """The netns id a ``--from`` value sends from, and its fixed source IP (None: routed).

    Raises:
        InputError: an unknown client, pod or node, or a Pending pod.
    """
    state = dataplane.state
    if value.startswith("ext:"):
        name = value[4:]
        clients = state.topology.external_clients
        ip = _ip(name, "--from")
        for client in clients:
            if client.name == name or (ip is not None and client.ip == ip):
                return client_netns_id(client.name), client.ip
        raise InputError(
            f"no external client {name!r}{_close(name, [c.name for c in clients])}",
            field="--from",
        )
    if value.startswith("node:"):
        name = value[5:]
        if name not in state.nodes:
            raise InputError(f"no node {name!r}{_close(name, state.nodes)}", field="--from")
        return node_netns_id(name), None
    if "/" in value:
        pod = state.pods.get(value)
        if pod is None:
            raise InputError(f"no pod {value!r}{_close(value, state.pods)}", field="--from")
        if pod.node is None or pod.ip is None:
            raise InputError(f"pod {value} is Pending: it has no network", field="--from")
        if pod.is_host_network:
            return node_netns_id(pod.node), pod.ip
        return pod_netns_id(pod.key), pod.ip
    raise InputError(f"{value!r}: use ext:NAME, ext:IP, NAMESPACE/POD or node:NODE", field="--from")


def parse_destination(
    dataplane: Dataplane, value: str, protocol: L4Protocol
) -> tuple[IPv4Address, int]:
    """The destination IP and port of a ``--to`` value.

    Raises:
        InputError: an unknown node, Service, Service port or pod, or a bad port.
    """
    state = dataplane.state
    head, sep, port_text = value.rpartition(":")
    if not sep or not head:
        raise InputError(
            f"{value!r}: use node:NODE:PORT, svc:NAMESPACE/NAME:PORT, NAMESPACE/POD:PORT"
            " or IP:PORT",
            field="--to",
        )
    if head.startswith("node:"):
        name = head[5:]
        node = state.nodes.get(name)
        if node is None:
            raise InputError(f"no node {name!r}{_close(name, state.nodes)}", field="--to")
        return node.ip, _port(port_text, "--to", value)
    if head.startswith("svc:"):
        key = head[4:]
        service = state.services.get(key)
        if service is None:
            raise InputError(f"no Service {key!r}{_close(key, state.services)}", field="--to")
        if service.cluster_ip is None:
            raise InputError(f"Service {key} has no ClusterIP (headless)", field="--to")
        for sp in service.ports:
            if port_text in (str(sp.port.port), sp.port.name):
                if sp.port.protocol.value.lower() != protocol.value:
                    continue
                return service.cluster_ip, sp.port.port
        declared = ", ".join(
            f"{sp.port.port}/{sp.port.protocol.value}"
            + (f" ({sp.port.name})" if sp.port.name else "")
            for sp in service.ports
        )
        raise InputError(
            f"Service {key} has no {protocol.value} port {port_text!r} (declared: {declared})",
            field="--to",
        )
    ip = _ip(head, "--to")
    if ip is not None:
        return ip, _port(port_text, "--to", value)
    if "/" in head:
        pod = state.pods.get(head)
        if pod is None:
            raise InputError(f"no pod {head!r}{_close(head, state.pods)}", field="--to")
        if pod.ip is None:
            raise InputError(f"pod {head} is Pending: it has no IP", field="--to")
        return pod.ip, _port(port_text, "--to", value)
    raise InputError(
        f"{value!r}: use node:NODE:PORT, svc:NAMESPACE/NAME:PORT, NAMESPACE/POD:PORT or IP:PORT",
        field="--to",
    )


def _routed_source(ns: NetworkNamespace, dst: IPv4Address) -> IPv4Address | None:
    """The source address the kernel picks in ``ns`` for ``dst`` (None: no route)."""
    route = lookup_route(ns.routes, dst)
    if route is None or route.type not in (RouteType.UNICAST, RouteType.LOCAL):
        return None
    if isinstance(route.src, IPv4Address):
        return route.src
    dev, next_hop = resolve_nexthop(ns.routes, route, dst)
    if route.type is RouteType.LOCAL:
        return dst
    addresses = ns.interfaces[dev].addresses
    for address in addresses:
        if next_hop in address.interface.network:
            return address.ip
    if addresses:
        return addresses[0].ip
    for iface in ns.interfaces.values():
        if iface.kind is not InterfaceKind.LOOPBACK and iface.addresses:
            return iface.addresses[0].ip
    return None


def make_flow(
    dataplane: Dataplane,
    source: str,
    destination: str,
    *,
    protocol: L4Protocol = L4Protocol.TCP,
    sport: int = DEFAULT_SPORT,
) -> Flow:
    """The flow ``--from source --to destination``.

    Raises:
        InputError: see :func:`parse_source`, :func:`parse_destination`; a source
            port outside 1-65535.
    """
    if not 1 <= sport <= 65535:
        raise InputError(f"source port {sport} must be 1-65535", field="--sport")
    netns, src = parse_source(dataplane, source)
    dst, dport = parse_destination(dataplane, destination, protocol)
    if src is None:
        src = _routed_source(dataplane.namespaces[netns], dst)
    if src is None:
        # no route: any address of the namespace; the trace will say NO_ROUTE
        ns = dataplane.namespaces[netns]
        src = next(
            (
                a.ip
                for i in ns.interfaces.values()
                if i.kind is not InterfaceKind.LOOPBACK
                for a in i.addresses
            ),
            IPv4Address("127.0.0.1"),
        )
    header = Header(src, dst, protocol, sport, dport)
    return Flow(netns, header, source, destination)
