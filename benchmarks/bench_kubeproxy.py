"""Benchmark: kube-proxy rules for one node of the full-scale synthetic cluster.

Two figures, both on ``synthetic_spec()`` (10,000 services with 15 endpoints
each, about 470,000 nat rules) realized once:

* ``bench_node_rules``: ``node_rules(state, node)``, the whole payload from
  the realized cluster. The first round runs with the chain-hash cache empty
  (``cold_s``, what kube-proxy pays on its first sync); later rounds reuse the
  hashes, as kube-proxy reuses the chain names it computed.
* ``bench_one_service_update``: one endpoint added to one service, then the
  updated payload: ``chunked_ruleset(update_cache(cache, [port]))``. Joining
  the payload into flat tuples (``ruleset_from_cache``) is linear in its
  470,000 lines; it is reported as ``flat_median_s`` and is not held to the
  target.

Run ``python3 -m benchmarks.bench_kubeproxy`` for one JSON object per line on
stdout (realizing the cluster takes about 5 s).
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.synthetic import synthetic_spec
from netsim.control import kubeproxy
from netsim.control.kubeproxy import KubeProxyRuleset, node_rules
from netsim.control.kubeproxy_cache import (
    ChunkedRuleset,
    KubeProxyCache,
    build_cache,
    chunked_ruleset,
    ruleset_from_cache,
    update_cache,
)
from netsim.control.kubeproxy_ports import ServicePortInfo, cluster_service_ports, kube_proxy_node
from netsim.control.realize import realize
from netsim.control.state import ClusterState

TARGET_FULL_S = 2.0  # the scale issue: 10,000 services x 15 endpoints, one node
TARGET_UPDATE_S = 0.010  # the scale issue: the ruleset after one service or endpoint change
ROUNDS_FULL = 3
ROUNDS_UPDATE = 21


def _timed(work: Callable[[], Any]) -> float:
    """Seconds one call of ``work`` takes with the garbage collector off (its result is
    freed after the clock stops)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = work()
        elapsed = time.perf_counter() - start
        del result
        return elapsed
    finally:
        gc.enable()


def _size(state: ClusterState) -> str:
    endpoints = sum(len(s.endpoints) for s in state.endpoint_slices)
    return f"{len(state.services)} services, {endpoints} endpoints"


def bench_node_rules(
    state: ClusterState | None = None, rounds: int = ROUNDS_FULL
) -> dict[str, Any]:
    """Time ``node_rules`` for the first node of ``state`` (default: the full synthetic cluster).

    Returns:
        ``name``, ``size``, ``median_s`` and ``worst_s`` over ``rounds``
        rounds, ``cold_s`` (the first round, chain-hash cache empty) and
        ``target`` (seconds).
    """
    state = realize(synthetic_spec()) if state is None else state
    node = next(iter(state.nodes))
    kubeproxy._chain_hash.cache_clear()  # a cold start: no chain name hashed yet
    times = [_timed(lambda: node_rules(state, node)) for _ in range(rounds)]
    return {
        "name": "kube-proxy rules, one node (node_rules)",
        "size": _size(state),
        "median_s": statistics.median(times),
        "worst_s": max(times),
        "cold_s": times[0],
        "target": TARGET_FULL_S,
    }


def _with_one_more_endpoint(port: ServicePortInfo, n: int) -> ServicePortInfo:
    """``port`` with an extra endpoint, a copy of its first one at a new address."""
    first = port.endpoints[0]
    extra = dataclasses.replace(first, ip=first.ip + 1_000_000 + n)
    return dataclasses.replace(port, endpoints=(*port.endpoints, extra))


def _chunked_after(cache: KubeProxyCache, port: ServicePortInfo) -> ChunkedRuleset:
    return chunked_ruleset(update_cache(cache, [port]))


def _flat_after(cache: KubeProxyCache, port: ServicePortInfo) -> KubeProxyRuleset:
    return ruleset_from_cache(update_cache(cache, [port]))


def bench_one_service_update(
    state: ClusterState | None = None, rounds: int = ROUNDS_UPDATE
) -> dict[str, Any]:
    """Time the updated payload after one endpoint is added to one service.

    Each round adds an endpoint to a different service (spread over the
    service order) of the same starting cache.

    Returns:
        ``name``, ``size``, ``median_s`` and ``worst_s`` (update plus chunked
        payload), ``flat_median_s`` (update plus the payload joined into
        flat tuples), ``target`` (seconds).
    """
    state = realize(synthetic_spec()) if state is None else state
    ports = cluster_service_ports(state)
    cache = build_cache(ports, kube_proxy_node(state, next(iter(state.nodes))))
    with_endpoints = [p for p in cache.ports if p.endpoints]
    changes = [
        _with_one_more_endpoint(with_endpoints[i * len(with_endpoints) // rounds], i)
        for i in range(rounds)
    ]
    times = [_timed(functools.partial(_chunked_after, cache, port)) for port in changes]
    flat = [_timed(functools.partial(_flat_after, cache, port)) for port in changes]
    return {
        "name": "kube-proxy rules, one service changed (update_cache + chunked_ruleset)",
        "size": _size(state),
        "median_s": statistics.median(times),
        "worst_s": max(times),
        "flat_median_s": statistics.median(flat),
        "target": TARGET_UPDATE_S,
    }


if __name__ == "__main__":
    cluster = realize(synthetic_spec())
    print(json.dumps(bench_node_rules(cluster)))
    print(json.dumps(bench_one_service_update(cluster)))
