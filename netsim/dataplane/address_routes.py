"""The routes the kernel adds for an address: :func:`address_routes`.

Models what ``ip addr add <address> dev <dev>`` installs for a primary address
on a device that is up (``fib_add_ifaddr`` for IPv4, ``addrconf`` for IPv6):
the ``local`` route, the prefix's connected route and the IPv4 ``broadcast``
route, each as the kernel stores it (``proto kernel``). Speed: the build calls
it for every pod, so IPv4 routes on a valid device name are made by filling
:class:`~netsim.dataplane.routes.Route`'s slots directly, skipping the checks
they always pass.

Not here: the route value, its defaults and checks
(:mod:`netsim.dataplane.routes`); the line ``ip route show`` prints
(:mod:`netsim.dataplane.route_text`). Not modelled: secondary addresses,
devices that are down. Import :func:`address_routes` from
:mod:`netsim.dataplane.routing`.
"""

from __future__ import annotations

from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import Final

from netsim.dataplane.routes import (
    _ROUTE_SLOT_SETTERS,
    IP6_RT_PRIO_ADDRCONF,
    KERNEL_PROTO,
    LOOPBACK_DEV,
    Route,
    RouteType,
    TableName,
    _default_scope,
    _is_device_name,
)

__all__ = ["address_routes"]

_IPV4_THIS_NETWORK: Final = IPv4Network("0.0.0.0/8")  # fib_add_ifaddr: no prefix route


def address_routes(address: IPv4Interface | IPv6Interface, dev: str) -> tuple[Route, ...]:
    """The routes the kernel adds for ``ip addr add <address> dev <dev>``.

    For a primary address on a device that is up (``fib_add_ifaddr``,
    ``addrconf``): IPv4 gets a ``local`` route for the address, the prefix's
    connected route (``local`` and in table ``local`` on ``lo``; none for a /32)
    and, below /31, a ``broadcast`` route; IPv6 gets the prefix route (metric
    256) and a ``local`` route (metric 0). Secondary addresses are not modelled.

    Args:
        address: the address with its prefix length, e.g. ``10.244.0.1/24``.
        dev: the device.

    Returns:
        The routes, in the order the kernel installs them.

    >>> from netsim.dataplane.route_text import render_ip_route
    >>> for r in address_routes(IPv4Interface("10.244.0.1/24"), "cni0"):
    ...     print(render_ip_route(r, show_table=True))
    local 10.244.0.1 dev cni0 table local proto kernel scope host src 10.244.0.1
    10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1
    broadcast 10.244.0.255 dev cni0 table local proto kernel scope link src 10.244.0.1
    """
    if isinstance(address, IPv6Interface):
        local6 = Route(
            IPv6Network(address.ip),
            type=RouteType.LOCAL,
            dev=dev,
            proto=KERNEL_PROTO,
            metric=0,
        )
        if address.ip == IPv6Address("::1") and dev == LOOPBACK_DEV:
            return (local6,)  # init_loopback() adds ::1 without a prefix route
        prefix6 = Route(address.network, dev=dev, proto=KERNEL_PROTO, metric=IP6_RT_PRIO_ADDRCONF)
        return (prefix6, local6)
    ip = address.ip
    network = address.network
    # The kernel's own routes are valid whenever the device name is: skip the checks.
    make = _kernel_route if _is_device_name(dev) else _checked_kernel_route
    routes = [make(IPv4Network((int(ip), 32)), RouteType.LOCAL, dev, ip)]
    if network.prefixlen < 32 and network.network_address not in _IPV4_THIS_NETWORK:
        prefix_type = RouteType.LOCAL if dev == LOOPBACK_DEV else RouteType.UNICAST
        routes.append(make(network, prefix_type, dev, ip))
        if network.prefixlen < 31:
            routes.append(
                make(
                    IPv4Network((int(network.broadcast_address), 32)), RouteType.BROADCAST, dev, ip
                )
            )
    return tuple(routes)


# Route's slot setters in field order (netsim.dataplane.routes), unpacked once:
# _kernel_route fills them directly.
(
    _SET_DST,
    _SET_TYPE,
    _SET_DEV,
    _SET_GATEWAY,
    _SET_PROTO,
    _SET_SCOPE,
    _SET_SRC,
    _SET_METRIC,
    _SET_ONLINK,
    _SET_TABLE,
    _SET_MTU,
) = _ROUTE_SLOT_SETTERS


def _checked_kernel_route(
    dst: IPv4Network, route_type: RouteType, dev: str, src: IPv4Address
) -> Route:
    return Route(dst, type=route_type, dev=dev, proto=KERNEL_PROTO, src=src)


def _kernel_route(dst: IPv4Network, route_type: RouteType, dev: str, src: IPv4Address) -> Route:
    """``Route(dst, type=route_type, dev=dev, proto="kernel", src=src)`` without its checks,
    which a kernel route with a valid device name always passes."""
    route: Route = object.__new__(Route)
    _SET_DST(route, dst)
    _SET_TYPE(route, route_type)
    _SET_DEV(route, dev)
    _SET_GATEWAY(route, None)
    _SET_PROTO(route, KERNEL_PROTO)
    _SET_SCOPE(route, _default_scope(route_type, None))
    _SET_SRC(route, src)
    _SET_METRIC(route, 0)
    _SET_ONLINK(route, False)
    in_local = route_type is RouteType.LOCAL or route_type is RouteType.BROADCAST
    _SET_TABLE(route, TableName.LOCAL if in_local else TableName.MAIN)
    _SET_MTU(route, None)
    return route
