"""Benchmark: IPv4 longest-prefix-match lookups with ``lookup_route``.

The table holds ``n_routes`` random prefixes of lengths /8 to /32 (random
metrics, some reject routes) plus a connected route and a default route. Half
the destinations fall inside a random route of the table (so lookups go deep
into the trie), half are uniformly random addresses. Each round times
``n_lookups`` calls of ``lookup_route(table, IPv4Address)`` with the garbage
collector off, as ``timeit`` does.

Run ``python3 benchmarks/bench_routing.py`` for one JSON object on stdout.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from netsim.dataplane.routing import (
    Route,
    RouteType,
    RoutingTable,
    build_routing_table,
    lookup_route,
    lookup_route_int,
)

TARGET_LOOKUPS_PER_SECOND = 1_000_000  # the routing module's speed target
SEED = 20240611  # any fixed seed: the same table and destinations on every run
ROUNDS = 7
MIN_PREFIXLEN, MAX_PREFIXLEN = 8, 32
METRICS = (0, 0, 0, 50, 100, 1024)
UPLINK = IPv4Network("192.168.0.0/16")


def random_table(n_routes: int, rng: random.Random) -> RoutingTable:
    """A table of ``n_routes`` random prefixes plus a connected and a default route."""
    routes = [
        Route(UPLINK, dev="eth0", proto="kernel"),
        Route(gateway=IPv4Address("192.168.0.1"), dev="eth0"),
    ]
    for i in range(n_routes):
        prefixlen = rng.randint(MIN_PREFIXLEN, MAX_PREFIXLEN)
        network = IPv4Network((rng.getrandbits(32), prefixlen), strict=False)
        metric = rng.choice(METRICS)
        if i % 50 == 0:
            routes.append(Route(network, type=RouteType.BLACKHOLE, metric=metric, proto="bird"))
        else:
            routes.append(Route(network, dev=f"veth{i % 64}", metric=metric))
    return build_routing_table(routes)


def random_destinations(table: RoutingTable, n: int, rng: random.Random) -> list[int]:
    """``n`` addresses: half inside random routes of ``table``, half anywhere."""
    routes = table.routes
    destinations = []
    for i in range(n):
        if i % 2:
            destinations.append(rng.getrandbits(32))
        else:
            network = rng.choice(routes).dst
            host_bits = network.max_prefixlen - network.prefixlen
            destinations.append(int(network.network_address) | rng.getrandbits(host_bits))
    return destinations


def _time_round(
    lookup: Callable[[RoutingTable, Any], object], table: RoutingTable, dsts: list[Any]
) -> float:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for dst in dsts:
            lookup(table, dst)
        return time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def bench_lpm(
    n_routes: int = 10_000, n_lookups: int = 200_000, *, use_int: bool = False
) -> dict[str, object]:
    """Time IPv4 lookups on a random table of ``n_routes`` routes.

    Args:
        n_routes: random routes in the table (a default and a connected route
            come on top).
        n_lookups: lookups per round; the figure is the median of 7 rounds.
        use_int: time ``lookup_route_int`` on ``int`` destinations instead of
            ``lookup_route`` on ``IPv4Address`` ones.

    Returns:
        ``name``, ``size`` (routes), ``median_s`` and ``worst_s`` (seconds per
        round of ``n_lookups``), ``lookups_per_second`` (from the median) and
        ``target`` (lookups per second).
    """
    rng = random.Random(SEED)
    table = random_table(n_routes, rng)
    ints = random_destinations(table, n_lookups, rng)
    lookup: Callable[[RoutingTable, Any], object]
    dsts: list[Any]
    if use_int:
        name, lookup, dsts = "routing.lookup_route_int", lookup_route_int, ints
    else:
        name, lookup = "routing.lookup_route", lookup_route
        dsts = [IPv4Address(i) for i in ints]
    _time_round(lookup, table, dsts[: n_lookups // 10])  # warm up
    times = [_time_round(lookup, table, dsts) for _ in range(ROUNDS)]
    median = statistics.median(times)
    return {
        "name": name,
        "size": n_routes,
        "median_s": median,
        "worst_s": max(times),
        "lookups_per_second": round(n_lookups / median),
        "target": TARGET_LOOKUPS_PER_SECOND,
    }


if __name__ == "__main__":
    print(json.dumps(bench_lpm()))
