"""Tests of netsim.dataplane.routing: LPM against a brute-force oracle, hand
cases, exact ``ip route show`` lines, and the same cases on the real kernel.

The kernel test (``test_model_agrees_with_kernel_*``) builds a private network
namespace, installs every route of :data:`CASES` with ``ip``, and compares
``ip route show table all``, ``ip route get`` and the errors of
:data:`ERROR_CASES` with the model. The strings pinned here were captured from
iproute2 6.1 on Linux 6.18.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_network,
)

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.dataplane import routing
from netsim.dataplane.routing import (
    Route,
    RouteScope,
    RouteType,
    RoutingTable,
    TableName,
    address_routes,
    build_routing_table,
    check_nexthop,
    lookup_route,
    lookup_route_int,
    render_ip_route,
    resolve_nexthop,
)
from netsim.errors import InputError, NetsimError, UnsupportedError

A4 = IPv4Address
A6 = IPv6Address
N4 = IPv4Network
N6 = IPv6Network


def test_public_api_is_pinned() -> None:
    assert routing.__all__ == [
        "DEFAULT_DST",
        "IP6_RT_PRIO_ADDRCONF",
        "IP6_RT_PRIO_USER",
        "IP_MAX_MTU",
        "LOOPBACK_DEV",
        "REJECT_TYPES",
        "Route",
        "RouteScope",
        "RouteType",
        "RoutingTable",
        "TableName",
        "address_routes",
        "build_routing_table",
        "check_nexthop",
        "lookup_route",
        "lookup_route_int",
        "render_ip_route",
        "resolve_nexthop",
    ]


# --- the oracle: the kernel's rule, written as a scan -------------------------


def brute_force_lookup(
    routes: Sequence[Route], dst: IPv4Address | IPv6Address, *, has_custom_rules: bool
) -> Route | None:
    """The kernel's pick, by scanning every route.

    IPv4 without custom rules: longest prefix of either table, ``local`` wins a
    tie of prefix, then lowest metric, then first installed. IPv4 with custom
    rules and IPv6: any ``local`` route before any ``main`` route, then the same.
    """
    local_first = has_custom_rules or dst.version == 6
    best: Route | None = None
    best_key: tuple[int, int, int, int] | None = None
    for order, route in enumerate(routes):
        if route.dst.version != dst.version or dst not in route.dst:
            continue
        is_local = int(route.table is TableName.LOCAL)
        plen = route.dst.prefixlen
        major, minor = (is_local, plen) if local_first else (plen, is_local)
        key = (major, minor, -route.metric, -order)
        if best_key is None or key > best_key:
            best, best_key = route, key
    return best


V4_SEEDS = (0x0A000000, 0x0AF40000, 0x0AF40100, 0xC0A80100, 0x00000000, 0xFFFFFFFF)
V6_SEEDS = (
    int(A6("2001:db8::")),
    int(A6("2001:db8:0:1::")),
    int(A6("fd00:10:244::")),
    0,
    2**128 - 1,
)
DEVS = ("eth0", "cni0", "flannel.1", "lo")
KINDS = (
    "unicast",
    "unicast in local",
    "local",
    "broadcast",
    "blackhole",
    "unreachable",
    "prohibit",
)


def make_route(kind: str, dst: IPv4Network | IPv6Network, metric: int, dev: str) -> Route:
    """A gateway-less route of one of :data:`KINDS`."""
    if kind == "unicast":
        return Route(dst, dev=dev, metric=metric)
    if kind == "unicast in local":
        return Route(dst, dev=dev, metric=metric, table=TableName.LOCAL)
    if kind in ("local", "broadcast"):
        return Route(dst, type=kind, dev=dev, metric=metric)
    return Route(dst, type=kind, metric=metric)


def addresses(version: int) -> st.SearchStrategy[int]:
    seeds = V4_SEEDS if version == 4 else V6_SEEDS
    bits = 32 if version == 4 else 128
    near_seed = st.tuples(st.sampled_from(seeds), st.integers(0, 2**16)).map(
        lambda t: t[0] ^ t[1] if t[0] < 2**bits // 2 else t[0] - t[1]
    )
    return st.one_of(st.sampled_from(seeds), near_seed, st.integers(0, 2**bits - 1))


@st.composite
def random_routes(draw: st.DrawFn, version: int) -> Route:
    bits = 32 if version == 4 else 128
    network_type = N4 if version == 4 else N6
    address = draw(addresses(version))
    prefixlen = draw(st.one_of(st.sampled_from((0, bits // 2, bits)), st.integers(0, bits)))
    dst = network_type((address, prefixlen), strict=False)
    metric = draw(st.sampled_from((0, 1, 50, 1024)))
    return make_route(draw(st.sampled_from(KINDS)), dst, metric, draw(st.sampled_from(DEVS)))


def edge_addresses(routes: Sequence[Route]) -> Iterator[int]:
    """For each route: its first and last address and the addresses just outside."""
    for route in routes:
        first = int(route.dst.network_address)
        last = int(route.dst.broadcast_address)
        top = 2**route.dst.max_prefixlen - 1
        yield from (first, last, max(first - 1, 0), min(last + 1, top))


def check_against_oracle(table: RoutingTable, version: int, destinations: Sequence[int]) -> None:
    address_type = A4 if version == 4 else A6
    for value in destinations:
        dst = address_type(value)
        expected = brute_force_lookup(table.routes, dst, has_custom_rules=table.has_custom_rules)
        assert lookup_route(table, dst) is expected, dst
        if version == 4:
            assert lookup_route_int(table, value) is expected, dst
            assert lookup_route(table, value) is expected, dst


@pytest.mark.parametrize("version", [4, 6], ids=["ipv4", "ipv6"])
@settings(deadline=None, max_examples=150)
@given(data=st.data(), has_custom_rules=st.booleans())
def test_lookup_equals_brute_force(
    version: int, data: st.DataObject, has_custom_rules: bool
) -> None:
    routes = data.draw(st.lists(random_routes(version), max_size=40), label="routes")
    table = build_routing_table(routes, has_custom_rules=has_custom_rules)
    assert table.routes == tuple(routes)
    extra = data.draw(st.lists(addresses(version), max_size=20), label="destinations")
    check_against_oracle(table, version, [*edge_addresses(routes), *extra])


@pytest.mark.parametrize("has_custom_rules", [False, True], ids=["merged", "custom-rules"])
def test_lookup_equals_brute_force_on_a_large_table(has_custom_rules: bool) -> None:
    """Deep tries: 1,500 nested and overlapping prefixes, every level split and overwritten."""
    rng = random.Random(7)
    routes = []
    for _ in range(1500):
        base = rng.choice((0x0AF40000, 0x0A000000, rng.getrandbits(32)))
        address = base ^ rng.getrandbits(rng.choice((4, 12, 20, 32)))
        dst = N4((address, rng.randint(0, 32)), strict=False)
        kind = rng.choice(KINDS)
        routes.append(make_route(kind, dst, rng.choice((0, 1, 50)), rng.choice(DEVS)))
    table = build_routing_table(routes, has_custom_rules=has_custom_rules)
    destinations = [*edge_addresses(routes[:400]), *(rng.getrandbits(32) for _ in range(400))]
    check_against_oracle(table, 4, destinations)


# --- hand cases ---------------------------------------------------------------

NODE = (
    *address_routes(IPv4Interface("10.244.0.1/24"), "cni0"),
    *address_routes(IPv4Interface("192.168.1.10/24"), "eth0"),
    Route(gateway=A4("192.168.1.1"), dev="eth0"),
)


def lookup(table: RoutingTable, dst: str) -> str | None:
    route = lookup_route(table, ip_address(dst))
    return None if route is None else render_ip_route(route)


def test_connected_route_beats_default() -> None:
    table = build_routing_table(NODE)
    assert (
        lookup(table, "10.244.0.7")
        == "10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1"
    )
    assert lookup(table, "8.8.8.8") == "default via 192.168.1.1 dev eth0"


def test_trie_is_built_on_the_first_lookup() -> None:
    """A table's IPv4 trie is made when first looked up (most node tables never are)."""
    table = build_routing_table(NODE)
    with pytest.raises(AttributeError):
        object.__getattribute__(table, "_trie4")
    assert lookup(table, "8.8.8.8") == "default via 192.168.1.1 dev eth0"
    assert object.__getattribute__(table, "_trie4") is table._trie4  # kept
    assert table == build_routing_table(NODE)


def test_no_route_is_none() -> None:
    table = build_routing_table(NODE[:-1])
    assert lookup(table, "8.8.8.8") is None
    assert lookup(table, "2001:db8::1") is None


def test_blackhole_is_returned_as_such() -> None:
    table = build_routing_table([*NODE, Route(N4("10.244.0.0/26"), type="blackhole", proto="bird")])
    route = lookup_route(table, A4("10.244.0.5"))
    assert route is not None
    assert route.type is RouteType.BLACKHOLE
    assert (
        lookup(table, "10.244.0.70")
        == "10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1"
    )


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("unreachable", RouteType.UNREACHABLE), ("prohibit", RouteType.PROHIBIT)],
    ids=["unreachable", "prohibit"],
)
def test_reject_routes_are_returned_as_such(kind: str, expected: RouteType) -> None:
    table = build_routing_table([*NODE, Route(N4("10.50.0.0/16"), type=kind)])
    route = lookup_route(table, A4("10.50.3.4"))
    assert route is not None
    assert route.type is expected


def test_lowest_metric_wins_then_first_installed() -> None:
    table = build_routing_table(
        [
            *NODE,
            Route(N4("10.52.0.0/16"), dev="eth0", metric=100),
            Route(N4("10.52.0.0/16"), dev="cni0", metric=50),
            Route(N4("10.6.0.0/16"), gateway=A4("10.244.0.7"), dev="cni0", metric=5),
            Route(N4("10.6.0.0/16"), gateway=A4("10.244.0.8"), dev="cni0", metric=5),
        ]
    )
    assert lookup(table, "10.52.1.1") == "10.52.0.0/16 dev cni0 scope link metric 50"
    assert lookup(table, "10.6.1.1") == "10.6.0.0/16 via 10.244.0.7 dev cni0 metric 5"


def test_longer_prefix_beats_lower_metric() -> None:
    table = build_routing_table(
        [
            Route(N4("10.0.0.0/8"), dev="eth0", metric=0),
            Route(N4("10.1.0.0/16"), dev="cni0", metric=9),
        ]
    )
    assert lookup(table, "10.1.2.3") == "10.1.0.0/16 dev cni0 scope link metric 9"


def test_onlink_gateway_resolves_through_its_device() -> None:
    flannel = Route(N4("10.244.1.0/24"), gateway=A4("10.244.1.0"), dev="flannel.1", onlink=True)
    table = build_routing_table(
        [*NODE, *address_routes(IPv4Interface("10.244.0.0/32"), "flannel.1"), flannel]
    )
    dst = A4("10.244.1.5")
    route = lookup_route(table, dst)
    assert route == flannel
    assert resolve_nexthop(table, flannel, dst) == ("flannel.1", A4("10.244.1.0"))


def test_gateway_route_gets_the_device_of_its_connected_route() -> None:
    table = build_routing_table([*NODE, Route(N4("10.62.0.0/16"), gateway=A4("192.168.1.2"))])
    assert table.routes[-1].dev == "eth0"
    assert lookup(table, "10.62.0.1") == "10.62.0.0/16 via 192.168.1.2 dev eth0"


def test_resolve_nexthop_on_link_is_the_destination() -> None:
    table = build_routing_table(NODE)
    dst = A4("10.244.0.7")
    route = lookup_route(table, dst)
    assert route is not None
    assert resolve_nexthop(table, route, dst) == ("cni0", dst)
    default = lookup_route(table, A4("1.1.1.1"))
    assert default is not None
    assert resolve_nexthop(table, default, A4("1.1.1.1")) == ("eth0", A4("192.168.1.1"))


def test_resolve_nexthop_of_a_route_outside_the_table_resolves_its_dev() -> None:
    table = build_routing_table(NODE)
    route = Route(N4("10.9.0.0/16"), gateway=A4("10.244.0.9"))
    assert resolve_nexthop(table, route, A4("10.9.1.1")) == ("cni0", A4("10.244.0.9"))


def test_resolve_nexthop_of_a_reject_route_is_an_error() -> None:
    table = build_routing_table(NODE)
    with pytest.raises(InputError, match="a blackhole route has no next hop"):
        resolve_nexthop(table, Route(N4("10.9.0.0/16"), type="blackhole"), A4("10.9.0.1"))


def test_resolve_nexthop_checks_the_route_covers_the_destination() -> None:
    table = build_routing_table(NODE)
    route = lookup_route(table, A4("10.244.0.7"))
    assert route is not None
    with pytest.raises(InputError, match=r"does not cover 10\.9\.0\.1"):
        resolve_nexthop(table, route, A4("10.9.0.1"))


def test_local_table_before_main_at_equal_prefix() -> None:
    table = build_routing_table(
        [
            Route(N4("10.244.0.1/32"), dev="eth0", metric=0),  # main, installed first
            *NODE,
            Route(N4("10.92.0.0/16"), dev="eth0", metric=0),
            Route(N4("10.92.0.0/16"), type="local", dev="lo", metric=10),
        ]
    )
    assert (
        lookup(table, "10.244.0.1")
        == "local 10.244.0.1 dev cni0 proto kernel scope host src 10.244.0.1"
    )
    assert lookup(table, "10.92.3.3") == "local 10.92.0.0/16 dev lo scope host metric 10"


@pytest.mark.parametrize(
    ("has_custom_rules", "expected"),
    [
        (False, "10.90.1.0/24 dev eth0 scope link"),
        (True, "local 10.90.0.0/16 dev lo scope host"),
    ],
    ids=["merged-longest-prefix-wins", "custom-rules-local-first"],
)
def test_shorter_local_route_against_longer_main_route(
    has_custom_rules: bool, expected: str
) -> None:
    routes = [
        *NODE,
        Route(N4("10.90.0.0/16"), type="local", dev="lo"),
        Route(N4("10.90.1.0/24"), dev="eth0"),
    ]
    table = build_routing_table(routes, has_custom_rules=has_custom_rules)
    assert lookup(table, "10.90.1.5") == expected
    assert lookup(table, "10.90.2.5") == "local 10.90.0.0/16 dev lo scope host"


NODE6 = (
    *address_routes(IPv6Interface("2001:db8:1::10/64"), "eth0"),
    Route(N6("::/0"), gateway=A6("2001:db8:1::1"), dev="eth0"),
)


def test_ipv6_connected_default_and_metric() -> None:
    table = build_routing_table(
        [
            *NODE6,
            Route(N6("2001:db8:2::/64"), gateway=A6("2001:db8:1::2"), dev="eth0", metric=100),
            Route(N6("2001:db8:2::/64"), gateway=A6("2001:db8:1::3"), dev="eth0"),
        ]
    )
    assert (
        lookup(table, "2001:db8:1::5")
        == "2001:db8:1::/64 dev eth0 proto kernel metric 256 pref medium"
    )
    assert (
        lookup(table, "2001:db8:1::10")
        == "local 2001:db8:1::10 dev eth0 proto kernel metric 0 pref medium"
    )
    assert (
        lookup(table, "2001:db8:99::1")
        == "default via 2001:db8:1::1 dev eth0 metric 1024 pref medium"
    )
    assert (
        lookup(table, "2001:db8:2::7")
        == "2001:db8:2::/64 via 2001:db8:1::2 dev eth0 metric 100 pref medium"
    )


def test_ipv6_always_consults_local_first() -> None:
    table = build_routing_table(
        [
            *NODE6,
            Route(N6("2001:db8:50::/48"), type="local", dev="lo"),
            Route(N6("2001:db8:50:1::/64"), dev="eth0"),
        ]
    )
    assert (
        lookup(table, "2001:db8:50:1::5") == "local 2001:db8:50::/48 dev lo metric 1024 pref medium"
    )


def test_ipv6_gateway_route_gets_its_device() -> None:
    table = build_routing_table(
        [*NODE6, Route(N6("2001:db8:62::/64"), gateway=A6("2001:db8:1::7"))]
    )
    assert table.routes[-1].dev == "eth0"


def test_lookup_route_takes_ints_as_ipv4() -> None:
    table = build_routing_table(NODE)
    assert lookup_route(table, int(A4("10.244.0.7"))) is lookup_route(table, A4("10.244.0.7"))
    with pytest.raises(
        InputError, match="is not an IPv4Address, IPv6Address or IPv4 address as int"
    ):
        lookup_route(table, 2**32)


def test_table_is_frozen_and_replace_rechecks() -> None:
    table = build_routing_table(NODE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.routes = ()  # type: ignore[misc]
    bigger = dataclasses.replace(
        table, routes=(*table.routes, Route(N4("10.7.0.0/16"), gateway=A4("10.244.0.2")))
    )
    assert bigger.routes[-1].dev == "cni0"
    assert lookup(bigger, "10.7.0.1") == "10.7.0.0/16 via 10.244.0.2 dev cni0"
    assert lookup(table, "10.7.0.1") == "default via 192.168.1.1 dev eth0"
    with pytest.raises(InputError, match="Nexthop has invalid gateway"):
        dataclasses.replace(table, routes=(Route(N4("10.7.0.0/16"), gateway=A4("10.9.0.2")),))
    assert bigger == build_routing_table(bigger.routes)
    assert hash(bigger) == hash(build_routing_table(bigger.routes))


def test_route_defaults_follow_ip_route_add() -> None:
    assert Route(N4("10.0.0.0/8"), dev="eth0").scope is RouteScope.LINK
    assert Route(N4("10.0.0.0/8"), gateway=A4("10.0.0.1")).scope is RouteScope.GLOBAL
    assert Route(N4("10.0.0.1/32"), type="local", dev="eth0").scope is RouteScope.HOST
    assert Route(N4("10.0.0.255/32"), type="broadcast", dev="eth0").scope is RouteScope.LINK
    assert Route(N4("10.0.0.0/8"), type="blackhole").scope is RouteScope.GLOBAL
    assert Route(N4("10.0.0.1/32"), type="local", dev="eth0").table is TableName.LOCAL
    assert Route(N4("10.0.0.255/32"), type="broadcast", dev="eth0").table is TableName.LOCAL
    assert Route(N4("10.0.0.0/8"), dev="eth0").table is TableName.MAIN
    assert Route(N4("10.0.0.0/8"), dev="eth0").proto == "boot"
    assert Route(N6("2001:db8::/64"), dev="eth0").metric == 1024
    assert Route(N6("2001:db8::/64"), dev="eth0").scope is RouteScope.GLOBAL
    assert Route(gateway=A4("192.168.1.1")).dst == N4("0.0.0.0/0")


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: Route("10.0.0.0/8", dev="eth0"),  # type: ignore[arg-type]
            InputError,
            "dst must be an IPv4Network",
        ),
        (
            lambda: Route(N4("10.0.0.0/8"), dev="eth0", gateway="10.0.0.1"),  # type: ignore[arg-type]
            InputError,
            "gateway: must be",
        ),
        (
            lambda: Route(N4("10.0.0.0/8"), dev="eth0", onlink=1),  # type: ignore[arg-type]
            InputError,
            "onlink: must be True or False, got 1",
        ),
        (
            lambda: Route(N4("10.0.0.0/8"), type="nat", dev="eth0"),
            InputError,
            "'nat' is not one of: unicast",
        ),
        (
            lambda: Route(N4("10.0.0.0/8"), dev="eth0", scope="site"),
            InputError,
            "'site' is not one of",
        ),
        (
            lambda: Route(N4("10.0.0.0/8"), dev="eth0", table="default"),
            InputError,
            "'default' is not one",
        ),
        (
            lambda: Route(N4("10.0.0.0/8")),
            InputError,
            "No such device: a unicast route needs a dev or a gateway",
        ),
        (
            lambda: Route(N4("10.0.0.1/32"), type="local"),
            InputError,
            "No such device: a local route needs a dev",
        ),
        (
            lambda: Route(N4("10.0.0.0/8"), dev="a very long name"),
            InputError,
            "is not a device name",
        ),
        (
            lambda: Route(N4("10.0.0.0/8"), dev="eth0", proto=""),
            InputError,
            "is not a protocol name",
        ),
        (
            lambda: Route(N4("10.0.0.0/8"), dev="eth0", metric=2**32),
            InputError,
            "must be an integer 0-4294967295",
        ),
        (lambda: Route(N4("10.0.0.0/8"), dev="eth0", mtu=70000), InputError, "IP_MAX_MTU"),
        (
            lambda: Route(N4("10.0.0.0/8"), dev="eth0", mtu=0),
            InputError,
            "mtu: must be an integer 1-65520",
        ),
        (lambda: Route(N4("10.0.0.0/8"), gateway=A4("0.0.0.0")), InputError, "means no gateway"),
        (
            lambda: Route(N4("10.0.0.0/8"), dev="eth0", src=A6("::1")),
            InputError,
            "IPv6 src ::1 on an IPv4",
        ),
        (lambda: Route(N6("2001:db8::/64"), gateway=A4("10.0.0.1")), InputError, "IPv4 gateway"),
        (
            lambda: Route(N4("10.0.0.0/8"), gateway=A6("fe80::1"), dev="eth0"),
            UnsupportedError,
            "via inet6",
        ),
        (
            lambda: Route(N6("2001:db8::/64"), dev="eth0", scope="link"),
            InputError,
            "IPv6 routes have no scope",
        ),
    ],
    ids=[
        "dst-str",
        "gateway-str",
        "onlink-int",
        "unknown-type",
        "unknown-scope",
        "unknown-table",
        "unicast-without-dev",
        "local-without-dev",
        "long-dev",
        "empty-proto",
        "metric-too-big",
        "mtu-too-big",
        "mtu-zero",
        "gateway-unspecified",
        "src-family",
        "gateway-family",
        "ipv4-via-inet6",
        "ipv6-scope",
    ],
)
def test_route_rejects_bad_fields(
    make: Callable[[], Route], error: type[NetsimError], match: str
) -> None:
    with pytest.raises(error, match=re.escape(match)):
        make()


def test_table_holds_only_routes() -> None:
    with pytest.raises(InputError, match=re.escape("not a Route: '10.0.0.0/8'")):
        build_routing_table(["10.0.0.0/8"])  # type: ignore[list-item]


def test_check_nexthop_returns_routes_without_gateway_unchanged() -> None:
    table = build_routing_table(NODE)
    route = Route(N4("10.9.0.0/16"), dev="eth0")
    assert check_nexthop(table, route) is route


def test_invalid_gateway_message_names_the_route_and_the_fix() -> None:
    with pytest.raises(InputError) as caught:
        build_routing_table(
            [*NODE, Route(N4("10.244.2.0/24"), gateway=A4("10.244.2.0"), dev="flannel.1")]
        )
    assert str(caught.value) == (
        "route 10.244.2.0/24 via 10.244.2.0 dev flannel.1: gateway: Nexthop has invalid gateway: "
        "no route of scope link or host covers 10.244.2.0 on dev flannel.1; "
        "add an address on flannel.1 whose prefix covers it, or set onlink"
    )


# --- the cases checked against the kernel -------------------------------------


@dataclass(frozen=True)
class Case:
    """One ``ip`` command, the route the model builds for it, the line the kernel shows."""

    command: str
    route: Route
    line: str  # ``ip route show table all``, without iproute2's trailing space


ADDRESSES = (
    ("10.244.0.1/24", "cni0"),
    ("192.168.1.10/24", "eth0"),
    ("10.244.0.0/32", "flannel.1"),
    ("2001:db8:1::10/64", "eth0"),
    ("fd00:10:244::1/64", "cni0"),
)
LOOPBACK_ADDRESSES = (("127.0.0.1/8", "lo"), ("::1/128", "lo"))  # there once lo is up


def address_routes_of(addresses: Sequence[tuple[str, str]]) -> list[Route]:
    routes: list[Route] = []
    for text, dev in addresses:
        interface = IPv4Interface(text) if ":" not in text else IPv6Interface(text)
        routes += address_routes(interface, dev)
    return routes


ADDRESS_LINES = {
    "127.0.0.1/8": [
        "local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1",
        "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1",
        "broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1",
    ],
    "::1/128": ["local ::1 dev lo table local proto kernel metric 0 pref medium"],
    "10.244.0.1/24": [
        "local 10.244.0.1 dev cni0 table local proto kernel scope host src 10.244.0.1",
        "10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1",
        "broadcast 10.244.0.255 dev cni0 table local proto kernel scope link src 10.244.0.1",
    ],
    "192.168.1.10/24": [
        "local 192.168.1.10 dev eth0 table local proto kernel scope host src 192.168.1.10",
        "192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.10",
        "broadcast 192.168.1.255 dev eth0 table local proto kernel scope link src 192.168.1.10",
    ],
    "10.244.0.0/32": [
        "local 10.244.0.0 dev flannel.1 table local proto kernel scope host src 10.244.0.0"
    ],
    "2001:db8:1::10/64": [
        "2001:db8:1::/64 dev eth0 proto kernel metric 256 pref medium",
        "local 2001:db8:1::10 dev eth0 table local proto kernel metric 0 pref medium",
    ],
    "fd00:10:244::1/64": [
        "fd00:10:244::/64 dev cni0 proto kernel metric 256 pref medium",
        "local fd00:10:244::1 dev cni0 table local proto kernel metric 0 pref medium",
    ],
}


@pytest.mark.parametrize(
    ("address", "dev"), [*LOOPBACK_ADDRESSES, *ADDRESSES], ids=lambda v: str(v)
)
def test_address_routes_render_as_the_kernel_shows_them(address: str, dev: str) -> None:
    routes = address_routes_of([(address, dev)])
    assert [render_ip_route(r, show_table=True) for r in routes] == ADDRESS_LINES[address]


def test_address_routes_of_small_prefixes() -> None:
    lines = [render_ip_route(r) for r in address_routes(IPv4Interface("192.168.1.10/31"), "eth0")]
    assert lines == [
        "local 192.168.1.10 dev eth0 proto kernel scope host src 192.168.1.10",
        "192.168.1.10/31 dev eth0 proto kernel scope link src 192.168.1.10",
    ]
    lines = [render_ip_route(r) for r in address_routes(IPv4Interface("10.9.9.9/24"), "lo")]
    assert lines == [
        "local 10.9.9.9 dev lo proto kernel scope host src 10.9.9.9",
        "local 10.9.9.0/24 dev lo proto kernel scope host src 10.9.9.9",
        "broadcast 10.9.9.255 dev lo proto kernel scope link src 10.9.9.9",
    ]
    lines = [render_ip_route(r) for r in address_routes(IPv6Interface("2001:db8:2::1/128"), "eth0")]
    assert lines == [
        "2001:db8:2::1 dev eth0 proto kernel metric 256 pref medium",
        "local 2001:db8:2::1 dev eth0 proto kernel metric 0 pref medium",
    ]


def n(text: str) -> IPv4Network | IPv6Network:
    return ip_network(text)


def a(text: str) -> IPv4Address | IPv6Address:
    return ip_address(text)


CASES = (
    Case(
        "route add default via 192.168.1.1 dev eth0",
        Route(gateway=a("192.168.1.1"), dev="eth0"),
        "default via 192.168.1.1 dev eth0",
    ),
    Case(
        "route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink",
        Route(n("10.244.1.0/24"), gateway=a("10.244.1.0"), dev="flannel.1", onlink=True),
        "10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink",
    ),
    Case(
        "route add blackhole 10.244.0.0/26 proto bird",
        Route(n("10.244.0.0/26"), type="blackhole", proto="bird"),
        "blackhole 10.244.0.0/26 proto bird",
    ),
    Case(
        "route add unreachable 10.50.0.0/16",
        Route(n("10.50.0.0/16"), type="unreachable"),
        "unreachable 10.50.0.0/16",
    ),
    Case(
        "route add prohibit 10.51.0.0/16",
        Route(n("10.51.0.0/16"), type="prohibit"),
        "prohibit 10.51.0.0/16",
    ),
    Case(
        "route add 10.52.0.0/16 dev eth0 metric 100",
        Route(n("10.52.0.0/16"), dev="eth0", metric=100),
        "10.52.0.0/16 dev eth0 scope link metric 100",
    ),
    Case(
        "route add 10.52.0.0/16 dev cni0 metric 50",
        Route(n("10.52.0.0/16"), dev="cni0", metric=50),
        "10.52.0.0/16 dev cni0 scope link metric 50",
    ),
    Case(
        "route add 10.53.0.0/16 dev eth0 src 192.168.1.10 mtu 1450 proto static",
        Route(n("10.53.0.0/16"), dev="eth0", src=a("192.168.1.10"), mtu=1450, proto="static"),
        "10.53.0.0/16 dev eth0 proto static scope link src 192.168.1.10 mtu 1450",
    ),
    Case(
        "route add 10.55.0.0/16 dev eth0 scope host",
        Route(n("10.55.0.0/16"), dev="eth0", scope="host"),
        "10.55.0.0/16 dev eth0 scope host",
    ),
    Case(
        "route add 10.58.0.0/16 dev eth0 proto bird",
        Route(n("10.58.0.0/16"), dev="eth0", proto="bird"),
        "10.58.0.0/16 dev eth0 proto bird scope link",
    ),
    Case(
        "route add 10.62.0.0/16 via 192.168.1.2",
        Route(n("10.62.0.0/16"), gateway=a("192.168.1.2")),
        "10.62.0.0/16 via 192.168.1.2 dev eth0",
    ),
    Case(
        "route add 10.63.0.0/16 via 192.168.1.2 dev eth0 metric 7 mtu 1400 src 192.168.1.10 onlink",
        Route(
            n("10.63.0.0/16"),
            gateway=a("192.168.1.2"),
            dev="eth0",
            metric=7,
            mtu=1400,
            src=a("192.168.1.10"),
            onlink=True,
        ),
        "10.63.0.0/16 via 192.168.1.2 dev eth0 src 192.168.1.10 metric 7 onlink mtu 1400",
    ),
    Case(
        "route add 10.66.0.5/32 dev eth0",
        Route(n("10.66.0.5/32"), dev="eth0"),
        "10.66.0.5 dev eth0 scope link",
    ),
    Case(
        "route add 10.70.0.0/16 dev cni0 scope global",
        Route(n("10.70.0.0/16"), dev="cni0", scope="global"),
        "10.70.0.0/16 dev cni0",
    ),
    Case(
        "route add 10.71.0.0/16 via 10.55.0.1 dev eth0",
        Route(n("10.71.0.0/16"), gateway=a("10.55.0.1"), dev="eth0"),
        "10.71.0.0/16 via 10.55.0.1 dev eth0",
    ),
    Case(
        "route add 10.80.0.0/16 via 10.244.0.1 dev cni0",
        Route(n("10.80.0.0/16"), gateway=a("10.244.0.1"), dev="cni0"),
        "10.80.0.0/16 via 10.244.0.1 dev cni0",
    ),
    Case(
        "route add 10.6.0.0/16 via 10.244.0.7 dev cni0 metric 5",
        Route(n("10.6.0.0/16"), gateway=a("10.244.0.7"), dev="cni0", metric=5),
        "10.6.0.0/16 via 10.244.0.7 dev cni0 metric 5",
    ),
    Case(
        "route append 10.6.0.0/16 via 10.244.0.8 dev cni0 metric 5",
        Route(n("10.6.0.0/16"), gateway=a("10.244.0.8"), dev="cni0", metric=5),
        "10.6.0.0/16 via 10.244.0.8 dev cni0 metric 5",
    ),
    Case(
        "route add broadcast 10.60.0.255 dev eth0",
        Route(n("10.60.0.255/32"), type="broadcast", dev="eth0"),
        "broadcast 10.60.0.255 dev eth0 table local scope link",
    ),
    Case(
        "route add local 10.61.0.1 dev eth0",
        Route(n("10.61.0.1/32"), type="local", dev="eth0"),
        "local 10.61.0.1 dev eth0 table local scope host",
    ),
    Case(
        "route add local 10.90.0.0/16 dev lo",
        Route(n("10.90.0.0/16"), type="local", dev="lo"),
        "local 10.90.0.0/16 dev lo table local scope host",
    ),
    Case(
        "route add 10.90.1.0/24 dev eth0",
        Route(n("10.90.1.0/24"), dev="eth0"),
        "10.90.1.0/24 dev eth0 scope link",
    ),
    Case(
        "route add 10.91.1.0/24 dev eth0 table local",
        Route(n("10.91.1.0/24"), dev="eth0", table="local"),
        "10.91.1.0/24 dev eth0 table local scope link",
    ),
    Case(
        "route add 10.91.0.0/16 dev cni0",
        Route(n("10.91.0.0/16"), dev="cni0"),
        "10.91.0.0/16 dev cni0 scope link",
    ),
    Case(
        "route add blackhole 10.255.0.0/16 metric 3",
        Route(n("10.255.0.0/16"), type="blackhole", metric=3),
        "blackhole 10.255.0.0/16 metric 3",
    ),
    Case(
        "route add blackhole 10.31.0.0/16 scope link",
        Route(n("10.31.0.0/16"), type="blackhole", scope="link"),
        "blackhole 10.31.0.0/16 scope link",
    ),
    Case(
        "-6 route add default via 2001:db8:1::1 dev eth0",
        Route(n("::/0"), gateway=a("2001:db8:1::1"), dev="eth0"),
        "default via 2001:db8:1::1 dev eth0 metric 1024 pref medium",
    ),
    Case(
        "-6 route add 2001:db8:2::/64 via 2001:db8:1::2 dev eth0 metric 100",
        Route(n("2001:db8:2::/64"), gateway=a("2001:db8:1::2"), dev="eth0", metric=100),
        "2001:db8:2::/64 via 2001:db8:1::2 dev eth0 metric 100 pref medium",
    ),
    Case(
        "-6 route add 2001:db8:4::/64 dev cni0",
        Route(n("2001:db8:4::/64"), dev="cni0"),
        "2001:db8:4::/64 dev cni0 metric 1024 pref medium",
    ),
    Case(
        "-6 route add blackhole 2001:db8:6::/64",
        Route(n("2001:db8:6::/64"), type="blackhole"),
        "blackhole 2001:db8:6::/64 dev lo metric 1024 pref medium",
    ),
    Case(
        "-6 route add 2001:db8:7::/64 dev cni0 proto static mtu 1400 src 2001:db8:1::10",
        Route(n("2001:db8:7::/64"), dev="cni0", proto="static", mtu=1400, src=a("2001:db8:1::10")),
        "2001:db8:7::/64 dev cni0 proto static src 2001:db8:1::10 metric 1024 mtu 1400 pref medium",
    ),
    Case(
        "-6 route add 2001:db8:8::1/128 dev cni0",
        Route(n("2001:db8:8::1/128"), dev="cni0"),
        "2001:db8:8::1 dev cni0 metric 1024 pref medium",
    ),
    Case(
        "-6 route add unreachable 2001:db8:a::/64",
        Route(n("2001:db8:a::/64"), type="unreachable"),
        "unreachable 2001:db8:a::/64 dev lo metric 1024 pref medium",
    ),
    Case(
        "-6 route add 2001:db8:b::/64 via 2001:db8:1::2 dev eth0 onlink",
        Route(n("2001:db8:b::/64"), gateway=a("2001:db8:1::2"), dev="eth0", onlink=True),
        "2001:db8:b::/64 via 2001:db8:1::2 dev eth0 metric 1024 onlink pref medium",
    ),
    Case(
        "-6 route add 2001:db8:c::/64 via fe80::1 dev eth0",
        Route(n("2001:db8:c::/64"), gateway=a("fe80::1"), dev="eth0"),
        "2001:db8:c::/64 via fe80::1 dev eth0 metric 1024 pref medium",
    ),
    Case(
        "-6 route add 2001:db8:62::/64 via 2001:db8:1::7",
        Route(n("2001:db8:62::/64"), gateway=a("2001:db8:1::7")),
        "2001:db8:62::/64 via 2001:db8:1::7 dev eth0 metric 1024 pref medium",
    ),
    Case(
        "-6 route add local 2001:db8:50::/48 dev lo",
        Route(n("2001:db8:50::/48"), type="local", dev="lo"),
        "local 2001:db8:50::/48 dev lo table local metric 1024 pref medium",
    ),
    Case(
        "-6 route add 2001:db8:50:1::/64 dev eth0",
        Route(n("2001:db8:50:1::/64"), dev="eth0"),
        "2001:db8:50:1::/64 dev eth0 metric 1024 pref medium",
    ),
)


def model_table(*, has_custom_rules: bool = False) -> RoutingTable:
    """The model of the namespace the kernel test builds."""
    routes = [
        *address_routes_of([*LOOPBACK_ADDRESSES, *ADDRESSES]),
        *(case.route for case in CASES),
    ]
    return build_routing_table(routes, has_custom_rules=has_custom_rules)


def case_routes(table: RoutingTable) -> tuple[Route, ...]:
    """The routes of :data:`CASES` as stored in ``table`` (gateway devs filled in)."""
    return table.routes[len(table.routes) - len(CASES) :]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.command for c in CASES])
def test_render_ip_route_matches_the_kernel_line(index: int) -> None:
    route = case_routes(model_table())[index]
    case = CASES[index]
    assert render_ip_route(route, show_table=True) == case.line
    # ``ip route show [table local]`` omits the table word
    assert render_ip_route(route) == case.line.replace(" table local", "")


@dataclass(frozen=True)
class ErrorCase:
    """An ``ip`` command the kernel refuses, and the model's route for it."""

    id: str
    command: str
    make: Callable[[], Route]
    kernel_says: str  # what ``ip`` prints on stderr

    @property
    def message(self) -> str:
        """The kernel's text without ``ip``'s framing."""
        text = self.kernel_says.removeprefix("RTNETLINK answers: ").removeprefix("Error: ")
        return text.removesuffix(".")


ERROR_CASES = (
    ErrorCase(
        "gateway-on-32-device",
        "route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1",
        lambda: Route(n("10.244.2.0/24"), gateway=a("10.244.2.0"), dev="flannel.1"),
        "Error: Nexthop has invalid gateway.",
    ),
    ErrorCase(
        "gateway-not-covered",
        "route add 10.99.0.0/16 via 10.99.0.1",
        lambda: Route(n("10.99.0.0/16"), gateway=a("10.99.0.1")),
        "Error: Nexthop has invalid gateway.",
    ),
    ErrorCase(
        "gateway-on-other-device",
        "route add 10.78.0.0/16 via 192.168.1.99 dev cni0",
        lambda: Route(n("10.78.0.0/16"), gateway=a("192.168.1.99"), dev="cni0"),
        "Error: Nexthop has invalid gateway.",
    ),
    ErrorCase(
        "scope-link-with-gateway",
        "route add 10.54.0.0/16 via 192.168.1.2 dev eth0 scope link",
        lambda: Route(n("10.54.0.0/16"), gateway=a("192.168.1.2"), dev="eth0", scope="link"),
        "Error: Nexthop has invalid gateway.",
    ),
    ErrorCase(
        "gateway-is-broadcast",
        "route add 10.85.0.0/16 via 10.60.0.255",
        lambda: Route(n("10.85.0.0/16"), gateway=a("10.60.0.255")),
        "Error: Nexthop has invalid gateway.",
    ),
    ErrorCase(
        "gateway-behind-reject-route",
        "route add 10.87.0.0/16 via 10.50.0.1",
        lambda: Route(n("10.87.0.0/16"), gateway=a("10.50.0.1")),
        "Error: Nexthop has invalid gateway.",
    ),
    ErrorCase(
        "gateway-behind-link-scope-blackhole",
        "route add 10.32.0.0/16 via 10.31.0.1",
        lambda: Route(n("10.32.0.0/16"), gateway=a("10.31.0.1")),
        "Error: Nexthop has invalid gateway.",
    ),
    ErrorCase(
        "gateway-scope-global-route",
        "route add 10.30.0.0/16 via 10.70.0.1 dev cni0",
        lambda: Route(n("10.30.0.0/16"), gateway=a("10.70.0.1"), dev="cni0"),
        "Error: Nexthop has invalid gateway.",
    ),
    ErrorCase(
        "onlink-gateway-is-local",
        "route add 10.1.0.0/16 via 10.244.0.1 dev cni0 onlink",
        lambda: Route(n("10.1.0.0/16"), gateway=a("10.244.0.1"), dev="cni0", onlink=True),
        "Error: Nexthop has invalid gateway.",
    ),
    ErrorCase(
        "onlink-gateway-is-local-elsewhere",
        "route add 10.28.0.0/16 via 10.244.0.1 dev eth0 onlink",
        lambda: Route(n("10.28.0.0/16"), gateway=a("10.244.0.1"), dev="eth0", onlink=True),
        "Error: Nexthop has invalid gateway.",
    ),
    ErrorCase(
        "onlink-gateway-is-multicast",
        "route add 10.25.0.0/16 via 224.0.0.1 dev cni0 onlink",
        lambda: Route(n("10.25.0.0/16"), gateway=a("224.0.0.1"), dev="cni0", onlink=True),
        "Error: Nexthop has invalid gateway.",
    ),
    ErrorCase(
        "onlink-scope-link",
        "route add 10.4.0.0/16 via 10.244.0.7 dev cni0 onlink scope link",
        lambda: Route(
            n("10.4.0.0/16"), gateway=a("10.244.0.7"), dev="cni0", onlink=True, scope="link"
        ),
        "Error: Nexthop has invalid scope.",
    ),
    ErrorCase(
        "onlink-without-dev",
        "route add 10.3.0.0/16 via 10.244.0.7 onlink",
        lambda: Route(n("10.3.0.0/16"), gateway=a("10.244.0.7"), onlink=True),
        "Error: Nexthop device required for onlink.",
    ),
    ErrorCase(
        "onlink-without-gateway",
        "route add 10.2.0.0/16 dev eth0 onlink",
        lambda: Route(n("10.2.0.0/16"), dev="eth0", onlink=True),
        "Error: Invalid flags for nexthop - PERVASIVE and ONLINK can not be set.",
    ),
    ErrorCase(
        "host-scope-with-gateway",
        "route add 10.68.0.0/16 via 10.244.0.5 dev cni0 scope host",
        lambda: Route(n("10.68.0.0/16"), gateway=a("10.244.0.5"), dev="cni0", scope="host"),
        "Error: Route with host scope can not have a gateway.",
    ),
    ErrorCase(
        "local-with-gateway",
        "route add local 10.10.0.0/16 via 10.244.0.5 dev cni0",
        lambda: Route(n("10.10.0.0/16"), type="local", gateway=a("10.244.0.5"), dev="cni0"),
        "Error: Route with host scope can not have a gateway.",
    ),
    ErrorCase(
        "blackhole-with-dev",
        "route add blackhole 10.81.0.0/16 dev eth0",
        lambda: Route(n("10.81.0.0/16"), type="blackhole", dev="eth0"),
        "Error: Gateway, device and multipath can not be specified for this route type.",
    ),
    ErrorCase(
        "no-dev-no-gateway",
        "route add 10.0.0.0/8",
        lambda: Route(n("10.0.0.0/8")),
        "RTNETLINK answers: No such device",
    ),
    ErrorCase(
        "ipv6-gateway-not-covered",
        "-6 route add 2001:db8:3::/64 via 2001:db8:9::2 dev eth0",
        lambda: Route(n("2001:db8:3::/64"), gateway=a("2001:db8:9::2"), dev="eth0"),
        "RTNETLINK answers: No route to host",
    ),
    ErrorCase(
        "ipv6-gateway-on-other-device",
        "-6 route add 2001:db8:63::/64 via 2001:db8:1::7 dev cni0",
        lambda: Route(n("2001:db8:63::/64"), gateway=a("2001:db8:1::7"), dev="cni0"),
        "RTNETLINK answers: No route to host",
    ),
    ErrorCase(
        "ipv6-gateway-is-local",
        "-6 route add 2001:db8:60::/64 via 2001:db8:1::10 dev eth0",
        lambda: Route(n("2001:db8:60::/64"), gateway=a("2001:db8:1::10"), dev="eth0"),
        "Error: Gateway can not be a local address.",
    ),
    ErrorCase(
        "ipv6-link-local-without-dev",
        "-6 route add 2001:db8:61::/64 via fe80::1",
        lambda: Route(n("2001:db8:61::/64"), gateway=a("fe80::1")),
        "Error: Egress device not specified.",
    ),
)


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.id for c in ERROR_CASES])
def test_model_refuses_what_the_kernel_refuses(case: ErrorCase) -> None:
    table = model_table()
    with pytest.raises(InputError, match=re.escape(case.message)):
        build_routing_table([*table.routes, case.make()])


# Destinations for ``ip route get``, one per behaviour.
GET_DESTINATIONS = (
    "10.244.1.5",  # flannel onlink route
    "10.244.0.5",  # blackhole /26 inside the connected /24
    "10.244.0.99",  # connected
    "10.244.0.1",  # local address
    "10.244.0.255",  # broadcast
    "8.8.8.8",  # default
    "10.50.0.1",  # unreachable
    "10.51.0.1",  # prohibit
    "10.52.1.1",  # lower metric
    "10.6.1.1",  # equal metric: first installed
    "10.90.1.5",  # main /24 inside local /16: depends on custom rules
    "10.90.2.5",  # local /16
    "10.91.1.5",  # unicast route in the local table
    "10.62.0.1",  # gateway route whose dev was resolved
    "10.66.0.5",  # /32
    "10.255.1.1",  # blackhole with metric
    "127.0.0.5",  # loopback /8
    "2001:db8:1::5",  # connected
    "2001:db8:1::10",  # local address
    "2001:db8:2::1",  # via, metric 100
    "2001:db8:6::1",  # blackhole
    "2001:db8:a::1",  # unreachable
    "2001:db8:50:1::5",  # local /48 before main /64
    "2001:db8:c::1",  # via link-local
    "2001:db8:99::1",  # default
)

# ``ip route get`` errors for the reject route types (and for no route at all).
GET_ERRORS = {
    RouteType.BLACKHOLE: "Invalid argument",  # EINVAL
    RouteType.UNREACHABLE: "No route to host",  # EHOSTUNREACH
    RouteType.PROHIBIT: "Permission denied",  # EACCES
    None: "Network is unreachable",  # ENETUNREACH
}

RouteGet = tuple[str, str | None, str | None]  # (type or error, dev, gateway)


def model_route_get(table: RoutingTable, dst: str) -> RouteGet:
    """What ``ip route get`` reports for the model's pick."""
    route = lookup_route(table, ip_address(dst))
    if route is None or route.type in routing.REJECT_TYPES:
        return ("error: " + GET_ERRORS[None if route is None else route.type], None, None)
    dev = "lo" if route.type is RouteType.LOCAL else route.dev  # local delivery goes via lo
    gateway = None if route.gateway is None else str(route.gateway)
    return (route.type.value, dev, gateway)


# --- the real kernel, in a private network namespace ---------------------------


@dataclass(frozen=True)
class KernelCapture:
    """What the kernel showed for the namespace built from :data:`ADDRESSES` and :data:`CASES`."""

    table_all: tuple[str, ...]  # ``ip -4`` and ``ip -6 route show table all``, no multicast
    table_local: tuple[str, ...]  # ``ip -4`` and ``ip -6 route show table local``, no multicast
    errors: dict[str, str]  # ErrorCase.id -> stderr
    gets: dict[str, RouteGet]  # dst -> route get, default rules
    gets_with_custom_rules: dict[str, RouteGet]  # dst -> route get, after ``ip rule add``


def ip(netns: str, args: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["ip", "-n", netns, *args.split()], capture_output=True, text=True, timeout=30, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"ip {args}: {result.stderr.strip()}")
    return result


def kernel_route_get(netns: str, dst: str) -> RouteGet:
    family = "-6" if ":" in dst else "-4"
    result = ip(netns, f"{family} -j route get {dst}", check=False)
    if result.returncode != 0:
        return ("error: " + result.stderr.strip().removeprefix("RTNETLINK answers: "), None, None)
    (answer,) = json.loads(result.stdout)
    return (answer.get("type", "unicast"), answer.get("dev"), answer.get("gateway"))


def shown_routes(netns: str, table: str) -> tuple[str, ...]:
    lines: list[str] = []
    for family in ("-4", "-6"):
        output = ip(netns, f"{family} route show table {table}").stdout
        lines += [
            line.rstrip() for line in output.splitlines() if not line.startswith("multicast ")
        ]
    return tuple(lines)


def capture_kernel(netns: str) -> KernelCapture:
    ip(netns, "link set lo up")
    for dev in ("eth0", "cni0", "flannel.1"):  # veths: always carrier, so never linkdown
        ip(netns, f"link add {dev} type veth peer name {dev}p")
        for end in (dev, f"{dev}p"):
            ip(netns, f"link set {end} addrgenmode none")  # no fe80:: routes to filter
            ip(netns, f"link set {end} up")
    for address, dev in ADDRESSES:
        ip(netns, f"addr add {address} dev {dev}" + (" nodad" if ":" in address else ""))
    for case in CASES:
        ip(netns, case.command)
    errors = {case.id: ip(netns, case.command, check=False).stderr.strip() for case in ERROR_CASES}
    table_all = shown_routes(netns, "all")
    table_local = shown_routes(netns, "local")
    gets = {dst: kernel_route_get(netns, dst) for dst in GET_DESTINATIONS}
    ip(netns, "rule add from 192.0.2.99 lookup 100 pref 100")  # unmerges local and main for good
    gets_with_custom_rules = {dst: kernel_route_get(netns, dst) for dst in GET_DESTINATIONS}
    return KernelCapture(table_all, table_local, errors, gets, gets_with_custom_rules)


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelCapture]:
    netns = f"nsimr-{uuid.uuid4().hex[:8]}"
    try:
        added = subprocess.run(
            ["ip", "netns", "add", netns], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        added = None
    if added is None or added.returncode != 0:
        reason = "no ip binary" if added is None else added.stderr.strip()
        print(f"skipping kernel comparison: ip netns add {netns} failed: {reason}")
        pytest.skip(f"ip netns add failed: {reason}")
    try:
        yield capture_kernel(netns)
    finally:
        subprocess.run(["ip", "netns", "delete", netns], capture_output=True, check=False)


@pytest.mark.kernel
def test_model_agrees_with_kernel_route_show(kernel: KernelCapture) -> None:
    table = model_table()
    for case in CASES:
        assert case.line in kernel.table_all, case.command
    model_all = sorted(render_ip_route(r, show_table=True) for r in table.routes)
    assert model_all == sorted(kernel.table_all)
    model_local = sorted(render_ip_route(r) for r in table.routes if r.table is TableName.LOCAL)
    assert model_local == sorted(kernel.table_local)


@pytest.mark.kernel
def test_model_agrees_with_kernel_errors(kernel: KernelCapture) -> None:
    assert kernel.errors == {case.id: case.kernel_says for case in ERROR_CASES}


@pytest.mark.kernel
@pytest.mark.parametrize("has_custom_rules", [False, True], ids=["default-rules", "custom-rules"])
def test_model_agrees_with_kernel_route_get(kernel: KernelCapture, has_custom_rules: bool) -> None:
    table = model_table(has_custom_rules=has_custom_rules)
    gets = kernel.gets_with_custom_rules if has_custom_rules else kernel.gets
    assert {dst: model_route_get(table, dst) for dst in GET_DESTINATIONS} == gets
