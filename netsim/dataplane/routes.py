"""Kernel routes as values: :class:`Route`, its enums, its constants, and its checks.

Models a route as ``ip route`` shows it: type (``unicast``, ``local``,
``broadcast``, ``blackhole``, ``unreachable``, ``prohibit``), ``via``,
``dev``, ``proto``, ``scope``, ``src``, ``metric``, ``onlink``, ``table``,
``mtu``, with the defaults ``ip route add`` (iproute2 6.1) picks and the
checks it makes on a route by itself (the checks against a table are
:func:`netsim.dataplane.routing.check_nexthop`), and the kernel's constants
and error texts for routes.

Not here: the line ``ip route show`` prints for a route
(:func:`~netsim.dataplane.route_text.render_ip_route`) and the routes the
kernel adds for ``ip addr add``
(:func:`~netsim.dataplane.address_routes.address_routes`).

:class:`Route`, its enums and its defaults are re-exported by
:mod:`netsim.dataplane.routing`, the module to import them from. What is not
modelled is listed there.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Final, TypeAlias, TypeVar

from netsim.errors import InputError, UnsupportedError

__all__ = [
    "DEFAULT_DST",
    "DEFAULT_PROTO",
    "ERR_HOST_SCOPE_GATEWAY",
    "ERR_INVALID_GATEWAY",
    "ERR_INVALID_SCOPE",
    "ERR_LOCAL_GATEWAY6",
    "ERR_NO_EGRESS_DEV6",
    "ERR_NO_ROUTE_TO_HOST",
    "ERR_NO_SUCH_DEVICE",
    "ERR_ONLINK_NEEDS_DEV",
    "ERR_ONLINK_WITHOUT_GATEWAY",
    "ERR_REJECT_NEXTHOP",
    "IP6_RT_PRIO_ADDRCONF",
    "IP6_RT_PRIO_USER",
    "IPV4_LIMITED_BROADCAST",
    "IP_MAX_MTU",
    "KERNEL_PROTO",
    "LINK_LOCAL6",
    "LOOPBACK_DEV",
    "MAX_IPV4",
    "REJECT_TYPES",
    "SCOPE_NUMBERS",
    "IPAddress",
    "IPNetwork",
    "Route",
    "RouteScope",
    "RouteType",
    "TableName",
]

IPAddress: TypeAlias = IPv4Address | IPv6Address
IPNetwork: TypeAlias = IPv4Network | IPv6Network
_E = TypeVar("_E", bound=StrEnum)

DEFAULT_DST: Final = IPv4Network("0.0.0.0/0")  # what ``ip route`` prints as ``default``
IP6_RT_PRIO_USER: Final = 1024  # include/net/ip6_route.h: metric of ``ip -6 route add``
IP6_RT_PRIO_ADDRCONF: Final = 256  # include/net/ip6_route.h: metric of an address's prefix
IP_MAX_MTU: Final = 0xFFF0  # include/net/ip.h: the kernel caps a route's mtu at 65520
IFNAMSIZ: Final = 16  # include/uapi/linux/if.h: device names hold at most 15 bytes
LOOPBACK_DEV: Final = "lo"  # the loopback device of every network namespace
DEFAULT_PROTO: Final = "boot"  # RTPROT_BOOT: iproute2's default; ``ip route show`` hides it
KERNEL_PROTO: Final = "kernel"  # RTPROT_KERNEL: routes the kernel adds for an address
_MAX_METRIC: Final = 2**32 - 1  # RTA_PRIORITY is a u32
MAX_IPV4: Final = 2**32 - 1
IPV4_LIMITED_BROADCAST: Final = IPv4Address("255.255.255.255")
LINK_LOCAL6: Final = IPv6Network("fe80::/10")

# Error texts of net/ipv4/fib_semantics.c and net/ipv6/route.c (extack messages,
# printed by ``ip`` as ``Error: <text>.``) and of the errno ``ip`` prints as
# ``RTNETLINK answers: <text>`` when there is no extack message.
ERR_INVALID_GATEWAY: Final = "Nexthop has invalid gateway"
ERR_INVALID_SCOPE: Final = "Nexthop has invalid scope"
ERR_HOST_SCOPE_GATEWAY: Final = "Route with host scope can not have a gateway"
ERR_ONLINK_NEEDS_DEV: Final = "Nexthop device required for onlink"
ERR_ONLINK_WITHOUT_GATEWAY: Final = (
    "Invalid flags for nexthop - PERVASIVE and ONLINK can not be set"
)
ERR_REJECT_NEXTHOP: Final = "Gateway, device and multipath can not be specified for this route type"
ERR_NO_SUCH_DEVICE: Final = "No such device"  # ENODEV
ERR_NO_ROUTE_TO_HOST: Final = "No route to host"  # EHOSTUNREACH, IPv6 gateway checks
ERR_LOCAL_GATEWAY6: Final = "Gateway can not be a local address"
ERR_NO_EGRESS_DEV6: Final = "Egress device not specified"


class RouteType(StrEnum):
    """``rtm_type`` as ``ip route`` names it; ``unicast`` is printed as nothing."""

    UNICAST = "unicast"
    LOCAL = "local"
    BROADCAST = "broadcast"
    BLACKHOLE = "blackhole"
    UNREACHABLE = "unreachable"
    PROHIBIT = "prohibit"


REJECT_TYPES: Final = frozenset({RouteType.BLACKHOLE, RouteType.UNREACHABLE, RouteType.PROHIBIT})


class RouteScope(StrEnum):
    """``rtm_scope`` as ``ip route`` names it (``global`` is ``RT_SCOPE_UNIVERSE``)."""

    GLOBAL = "global"
    LINK = "link"
    HOST = "host"


# include/uapi/linux/rtnetlink.h: a larger number is a narrower scope.
SCOPE_NUMBERS: Final[Mapping[RouteScope, int]] = {
    RouteScope.GLOBAL: 0,  # RT_SCOPE_UNIVERSE
    RouteScope.LINK: 253,  # RT_SCOPE_LINK
    RouteScope.HOST: 254,  # RT_SCOPE_HOST
}


class TableName(StrEnum):
    """The kernel routing tables modelled: ``local`` (255) and ``main`` (254)."""

    LOCAL = "local"
    MAIN = "main"


@dataclass(frozen=True, slots=True, init=False)
class Route:
    """One route as the kernel stores it and ``ip route show`` prints it.

    Every argument but ``dst`` is keyword-only; those left out get the value
    ``ip route add`` (iproute2 6.1) would give them.

    Args:
        dst: the destination prefix; :data:`DEFAULT_DST` (``0.0.0.0/0``) is
            ``default``. For an IPv6 default route pass ``IPv6Network("::/0")``.
        type: the route type; a plain string such as ``"blackhole"`` is accepted.
        dev: the output device (``eth0``, ``cni0``, ``flannel.1``). A gateway
            route without it gets the device its gateway resolves through when
            the table is built. Reject routes have none (IPv6 prints ``dev lo``).
        gateway: the next hop (``via``); same address family as ``dst``.
        proto: who installed the route, as ``ip route`` names it: ``boot``
            (``ip route add``, hidden by ``ip route show``), ``kernel``,
            ``static``, ``bird``, ...
        scope: ``host`` for ``local`` routes, ``link`` for ``broadcast`` routes
            and for unicast routes without gateway, else ``global``. IPv6 routes
            have no scope: the kernel ignores it, so it is always ``global``.
        src: the preferred source address (``src``).
        metric: the priority, lower wins; ``ip route add`` gives 0 for IPv4 and
            :data:`IP6_RT_PRIO_USER` (1024) for IPv6. Give the value the kernel
            stores (IPv6 connected routes 256, IPv6 ``local`` routes 0).
        onlink: the gateway is on the link even if no connected route covers it
            (flannel's ``via 10.244.1.0 dev flannel.1 onlink``).
        table: ``local`` for ``local`` and ``broadcast`` routes, else ``main``.
        mtu: the route's ``mtu`` metric (1 to :data:`IP_MAX_MTU`), or ``None``.

    Raises:
        InputError: the route is one ``ip route add`` refuses on its own, with
            the kernel's message (e.g. ``Route with host scope can not have a
            gateway``).
        UnsupportedError: an IPv4 route via an IPv6 gateway.

    >>> r = Route(IPv4Network("10.244.0.0/24"), dev="cni0", proto="kernel",
    ...           src=IPv4Address("10.244.0.1"))
    >>> r.scope, r.table, r.metric
    (<RouteScope.LINK: 'link'>, <TableName.MAIN: 'main'>, 0)
    >>> Route(gateway=IPv4Address("192.168.1.1"), dev="eth0").scope
    <RouteScope.GLOBAL: 'global'>
    >>> Route(IPv6Network("2001:db8::/64"), dev="eth0").metric
    1024
    """

    dst: IPNetwork
    type: RouteType
    dev: str | None
    gateway: IPAddress | None
    proto: str
    scope: RouteScope
    src: IPAddress | None
    metric: int
    onlink: bool
    table: TableName
    mtu: int | None

    def __init__(
        self,
        dst: IPNetwork = DEFAULT_DST,
        *,
        type: RouteType | str = RouteType.UNICAST,  # the kernel's word, shadowing the builtin
        dev: str | None = None,
        gateway: IPAddress | None = None,
        proto: str = DEFAULT_PROTO,
        scope: RouteScope | str | None = None,
        src: IPAddress | None = None,
        metric: int | None = None,
        onlink: bool = False,
        table: TableName | str | None = None,
        mtu: int | None = None,
    ) -> None:
        values = _route_values(
            dst, type, dev, gateway, proto, scope, src, metric, onlink, table, mtu
        )
        for set_slot, value in zip(_ROUTE_SLOT_SETTERS, values, strict=True):
            set_slot(self, value)


def _route_values(
    dst: object,
    type_: object,
    dev: object,
    gateway: object,
    proto: object,
    scope: object,
    src: object,
    metric: object,
    onlink: object,
    table: object,
    mtu: object,
) -> tuple[object, ...]:
    """Check a route's fields as ``ip route add`` would and fill in its defaults (in the
    order of Route's fields)."""
    if not isinstance(dst, IPv4Network | IPv6Network):
        raise InputError(
            f"dst must be an IPv4Network or IPv6Network, got {dst!r}; "
            "parse it with ipaddress.ip_network()",
            obj="route",
            field="dst",
        )
    route_type = _enum_value(RouteType, type_, dst, "type")
    for name, address in (("gateway", gateway), ("src", src)):
        if address is not None and not isinstance(address, IPv4Address | IPv6Address):
            raise InputError(
                f"must be an IPv4Address or IPv6Address, got {address!r}; "
                "parse it with ipaddress.ip_address()",
                obj=_route_label(dst),
                field=name,
            )
    if isinstance(gateway, IPv4Address | IPv6Address) and gateway.version != dst.version:
        if dst.version == 4:
            raise UnsupportedError(
                f"{_route_label(dst)}: an IPv4 route via an IPv6 gateway"
                f" (via inet6 {gateway}) is not modelled"
            )
        raise InputError(
            f"IPv{gateway.version} gateway {gateway} on an IPv6 route",
            obj=_route_label(dst),
            field="gateway",
        )
    if isinstance(gateway, IPv4Address | IPv6Address) and gateway.is_unspecified:
        raise InputError(
            f"gateway {gateway} means no gateway to the kernel; leave gateway unset",
            obj=_route_label(dst),
            field="gateway",
        )
    if isinstance(src, IPv4Address | IPv6Address) and src.version != dst.version:
        raise InputError(
            f"IPv{src.version} src {src} on an IPv{dst.version} route",
            obj=_route_label(dst),
            field="src",
        )
    if dev is not None and not _is_device_name(dev):
        raise InputError(
            f"{dev!r} is not a device name (1 to {IFNAMSIZ - 1} characters, no whitespace or '/')",
            obj=_route_label(dst),
            field="dev",
        )
    if not isinstance(proto, str) or not proto or any(c.isspace() for c in proto):
        raise InputError(
            f"{proto!r} is not a protocol name such as 'boot', 'kernel' or 'static'",
            obj=_route_label(dst),
            field="proto",
        )
    if not isinstance(onlink, bool):
        raise InputError(
            f"must be True or False, got {onlink!r}", obj=_route_label(dst), field="onlink"
        )

    if route_type in REJECT_TYPES:
        if gateway is not None or dev is not None:
            raise InputError(
                f"{ERR_REJECT_NEXTHOP}; a {route_type} route has no gateway and no dev",
                obj=_route_label(dst),
                field="gateway" if gateway is not None else "dev",
            )
    elif dev is None and (gateway is None or route_type is not RouteType.UNICAST):
        raise InputError(
            f"{ERR_NO_SUCH_DEVICE}: a {route_type} route needs a dev"
            + (" or a gateway" if route_type is RouteType.UNICAST else ""),
            obj=_route_label(dst),
            field="dev",
        )

    if scope is None:
        route_scope = RouteScope.GLOBAL if dst.version == 6 else _default_scope(route_type, gateway)
    else:
        route_scope = _enum_value(RouteScope, scope, dst, "scope")
    if dst.version == 6 and route_scope is not RouteScope.GLOBAL:
        raise InputError(
            f"IPv6 routes have no scope (the kernel ignores scope {route_scope}); "
            "leave scope unset",
            obj=_route_label(dst),
            field="scope",
        )
    if dst.version == 4 and route_scope is RouteScope.HOST and gateway is not None:
        raise InputError(
            f"{ERR_HOST_SCOPE_GATEWAY}; drop the gateway or the scope",
            obj=_route_label(dst),
            field="scope",
        )
    if onlink and dev is None:
        raise InputError(
            f"{ERR_ONLINK_NEEDS_DEV}; name the dev the gateway is on",
            obj=_route_label(dst),
            field="dev",
        )
    if onlink and gateway is None and dst.version == 4:
        raise InputError(
            f"{ERR_ONLINK_WITHOUT_GATEWAY}; onlink only applies to a gateway",
            obj=_route_label(dst),
            field="onlink",
        )

    if metric is None:
        metric = IP6_RT_PRIO_USER if dst.version == 6 else 0
    if not isinstance(metric, int) or isinstance(metric, bool) or not 0 <= metric <= _MAX_METRIC:
        raise InputError(
            f"must be an integer 0-{_MAX_METRIC}, got {metric!r}",
            obj=_route_label(dst),
            field="metric",
        )
    if mtu is not None and (
        not isinstance(mtu, int) or isinstance(mtu, bool) or not 1 <= mtu <= IP_MAX_MTU
    ):
        raise InputError(
            f"must be an integer 1-{IP_MAX_MTU} (the kernel's IP_MAX_MTU) or None, got {mtu!r}",
            obj=_route_label(dst),
            field="mtu",
        )

    if table is None:
        in_local = route_type in (RouteType.LOCAL, RouteType.BROADCAST)
        route_table = TableName.LOCAL if in_local else TableName.MAIN
    else:
        route_table = _enum_value(TableName, table, dst, "table")

    return (
        dst,
        route_type,
        dev,
        gateway,
        proto,
        route_scope,
        src,
        metric,
        onlink,
        route_table,
        mtu,
    )


def _route_label(dst: IPNetwork) -> str:
    """The route as error messages name it: ``route 10.244.0.0/24``."""
    return f"route {_render_dst(dst)}"


def _enum_value(enum: type[_E], value: object, dst: IPNetwork, field_name: str) -> _E:
    """``value`` as a member of ``enum``, or an InputError about the route to ``dst``
    listing the choices.

    >>> _enum_value(RouteType, "blackhole", DEFAULT_DST, "type")
    <RouteType.BLACKHOLE: 'blackhole'>
    """
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        try:
            return enum(value)
        except ValueError:
            pass
    choices = ", ".join(member.value for member in enum)
    raise InputError(f"{value!r} is not one of: {choices}", obj=_route_label(dst), field=field_name)


def _is_device_name(dev: object) -> bool:
    """Whether ``dev`` is a name the kernel accepts for a device (``dev_valid_name``)."""
    return isinstance(dev, str) and _is_valid_name(dev)


@functools.lru_cache(maxsize=4096)
def _is_valid_name(dev: str) -> bool:
    """:func:`_is_device_name` of a string (the same few names come back: ``eth0``, ``cni0``)."""
    return (
        0 < len(dev.encode()) < IFNAMSIZ
        and dev not in (".", "..")
        and not any(c.isspace() or c in "/:" for c in dev)
    )


def _default_scope(route_type: RouteType, gateway: object) -> RouteScope:
    """The scope ``ip route add`` gives a route when none is named.

    >>> _default_scope(RouteType.UNICAST, None)
    <RouteScope.LINK: 'link'>
    >>> _default_scope(RouteType.BLACKHOLE, None)
    <RouteScope.GLOBAL: 'global'>
    """
    if route_type is RouteType.LOCAL:
        return RouteScope.HOST
    if route_type is RouteType.BROADCAST:
        return RouteScope.LINK
    if route_type is RouteType.UNICAST and gateway is None:
        return RouteScope.LINK
    return RouteScope.GLOBAL


def _render_dst(dst: IPNetwork) -> str:
    """``dst`` as iproute2 prints it: ``default``, an address, or a prefix.

    >>> _render_dst(IPv4Network("10.244.0.1/32")), _render_dst(IPv6Network("::/0"))
    ('10.244.0.1', 'default')
    """
    if dst.prefixlen == 0:
        return "default"
    if dst.prefixlen == dst.max_prefixlen:
        return str(dst.network_address)
    return str(dst)


# The setters of Route's slots in field order: Route.__init__ fills them, and
# netsim.dataplane.address_routes._kernel_route fills them directly.
_ROUTE_SLOT_SETTERS: Final = tuple(vars(Route)[f.name].__set__ for f in dataclasses.fields(Route))
