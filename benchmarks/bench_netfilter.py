"""Benchmark: the first matching rule of a 10,000-service ``KUBE-SERVICES`` chain.

The ruleset is what kube-proxy writes (``generate_rules`` + ``node_restore_text``)
for ``n_services`` ClusterIP services of one TCP port and one endpoint each,
parsed by ``parse_iptables_save`` and compiled once by ``compile_ruleset``:
nat ``KUBE-SERVICES`` holds one rule per service plus the NodePort tail
rule. Packets are half to a random service's clusterIP:port (the service
rule matches), a quarter to the node's own address (only the ``addrtype
LOCAL`` tail rule matches) and a quarter to unused service addresses (no
rule matches). Each round times ``first_match_index`` for every packet with
the garbage collector off, as ``timeit`` does.

Run ``python3 benchmarks/bench_netfilter.py`` for one JSON object on stdout.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netsim.control.kubeproxy import generate_rules
from netsim.control.kubeproxy_ports import EndpointInfo, KubeProxyNode, ServicePortInfo
from netsim.control.kubeproxy_restore import node_restore_text
from netsim.netfilter.compiled import CompiledRuleset, compile_ruleset, first_match_index
from netsim.netfilter.matching import HookContext
from netsim.netfilter.packet import TCP, Packet
from netsim.netfilter.parse import parse_iptables_save

TARGET_SECONDS_PER_MATCH = 2e-6  # the evaluator's speed target for one first-match lookup
SEED = 20240611  # any fixed seed: the same services and packets on every run
ROUNDS = 7
SERVICE_CIDR = IPv4Network("10.96.0.0/12")  # kube-apiserver's default --service-cluster-ip-range
NODE_IP = IPv4Address("192.168.56.11")
CONTEXT = HookContext(
    "PREROUTING",
    "eth0",
    None,
    frozenset({NODE_IP, IPv4Address("10.244.1.1"), IPv4Address("127.0.0.1")}),
    frozenset(),
    None,
    None,
)


def services_ruleset(n_services: int, rng: random.Random) -> tuple[CompiledRuleset, list[Packet]]:
    """kube-proxy's compiled ruleset for ``n_services`` services, and one packet per service."""
    first = int(SERVICE_CIDR.network_address)
    addresses = rng.sample(range(first + 1, first + SERVICE_CIDR.num_addresses - 1), n_services)
    ports = []
    for i, address in enumerate(addresses):
        endpoint = EndpointInfo(
            IPv4Address(f"10.{244 + i // 65536 % 8}.{i // 256 % 256}.{i % 256}"), 8080
        )
        ports.append(
            ServicePortInfo(
                "default",
                f"svc-{i}",
                "http",
                "tcp",
                IPv4Address(address),
                rng.choice((80, 443, 8080)),
                endpoints=(endpoint,),
            )
        )
    node = KubeProxyNode("node-1", NODE_IP, IPv4Network("10.244.0.0/16"))
    text = node_restore_text(generate_rules(ports, node))
    compiled = compile_ruleset(parse_iptables_save(text, "bench"))
    hits = [Packet(sp.cluster_ip, sp.cluster_ip, TCP, 40000, sp.port) for sp in ports]
    return compiled, hits


def packets_for(hits: list[Packet], n: int, rng: random.Random) -> list[Packet]:
    """Half service hits, a quarter NodePorts on the node, a quarter misses."""
    taken = {int(p.dst) for p in hits}
    first = int(SERVICE_CIDR.network_address)
    packets = []
    for i in range(n):
        kind = i % 4
        if kind < 2:
            hit = rng.choice(hits)
            packets.append(Packet(IPv4Address("10.244.1.9"), hit.dst, TCP, 40000, hit.dport))
        elif kind == 2:
            packets.append(Packet(IPv4Address("192.168.56.100"), NODE_IP, TCP, 40000, 30080))
        else:
            address = rng.randrange(first + 1, first + SERVICE_CIDR.num_addresses - 1)
            while address in taken:
                address += 1
            packets.append(Packet(IPv4Address("10.244.1.9"), IPv4Address(address), TCP, 40000, 80))
    return packets


def _time_round(compiled: CompiledRuleset, packets: list[Packet]) -> float:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for packet in packets:
            first_match_index(compiled, "nat", "KUBE-SERVICES", packet, CONTEXT)
        return time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def bench_first_match(n_services: int = 10_000, n_lookups: int = 100_000) -> dict[str, object]:
    """Time ``first_match_index`` on kube-proxy's ``KUBE-SERVICES`` for ``n_services``.

    Args:
        n_services: ClusterIP services (one rule each in ``KUBE-SERVICES``).
        n_lookups: lookups per round; the figures are the median and worst of 7 rounds.

    Returns:
        ``name``, ``size`` (rules in the chain), ``median_s`` and ``worst_s``
        (seconds per lookup), ``lookups`` (per round), ``compile_s`` (parse and
        compile once) and ``target`` (seconds per lookup).
    """
    rng = random.Random(SEED)
    start = time.perf_counter()
    compiled, hits = services_ruleset(n_services, rng)
    compile_s = time.perf_counter() - start
    packets = packets_for(hits, n_lookups, rng)
    chain = compiled.tables["nat"].chains["KUBE-SERVICES"]
    expected_tail = len(chain.rules) - 1
    assert first_match_index(compiled, "nat", "KUBE-SERVICES", packets[2], CONTEXT) == expected_tail
    _time_round(compiled, packets[: n_lookups // 10])  # warm up
    times = [_time_round(compiled, packets) / n_lookups for _ in range(ROUNDS)]
    return {
        "name": "netfilter.first_match_index",
        "size": len(chain.rules),
        "median_s": statistics.median(times),
        "worst_s": max(times),
        "lookups": n_lookups,
        "compile_s": compile_s,
        "target": TARGET_SECONDS_PER_MATCH,
    }


if __name__ == "__main__":
    print(json.dumps(bench_first_match()))
