"""``prepare`` reads no node group; the lazy indexes answer what the eager ones did."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from ipaddress import IPv4Address

import pytest

from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import Dataplane, Interface, InterfaceKind, InterfaceRef
from netsim.dataplane.lazy import LazyNamespaces
from netsim.model.spec import load_cluster
from netsim.policy.judge import node_addresses, policy_judge
from netsim.report.trace import render_trace_text, trace_json
from netsim.trace import make_flow, prepare, trace_flow
from netsim.trace.index import warm
from netsim.trace.l2 import L2Index, arp_owner, bridge_port

MODES = ("l2", "l3", "vxlan")


@cache
def _state(mode: str) -> ClusterState:
    return realize(load_cluster(f"topologies/{mode}.yaml"))


def _dataplane(mode: str) -> Dataplane:
    """A fresh dataplane (nothing frozen yet) of the example."""
    return build_dataplane(_state(mode))


# --- the eager index as it was, the oracle ------------------------------------------


def _adjacency(dataplane: Dataplane) -> dict[InterfaceRef, list[InterfaceRef]]:
    adjacent: dict[InterfaceRef, list[InterfaceRef]] = {}
    for ns in dataplane.namespaces.values():
        for iface in ns.interfaces.values():
            if iface.kind in (InterfaceKind.LOOPBACK, InterfaceKind.VXLAN):
                continue
            ref = InterfaceRef(ns.id, iface.name)
            links = adjacent.setdefault(ref, [])
            if iface.peer is not None:
                links.append(InterfaceRef(iface.peer.netns, iface.peer.ifname))
            if iface.master is not None:
                master = InterfaceRef(ns.id, iface.master)
                links.append(master)
                adjacent.setdefault(master, []).append(ref)
    for link in dataplane.links:
        adjacent.setdefault(link.a, []).append(link.b)
        adjacent.setdefault(link.b, []).append(link.a)
    return adjacent


def _eager(
    dataplane: Dataplane,
) -> tuple[
    dict[InterfaceRef, int],
    dict[tuple[int, IPv4Address], InterfaceRef],
    dict[InterfaceRef, dict[str, str]],
]:
    adjacent = _adjacency(dataplane)

    def iface(ref: InterfaceRef) -> Interface:
        return dataplane.namespaces[ref.netns].interfaces[ref.ifname]

    domain_of: dict[InterfaceRef, int] = {}
    for number, start in enumerate(adjacent):
        stack = [start]
        while stack:
            ref = stack.pop()
            if ref in domain_of:
                continue
            domain_of[ref] = number
            stack.extend(r for r in adjacent.get(ref, []) if r not in domain_of)
    responders: dict[tuple[int, IPv4Address], InterfaceRef] = {}
    for ref, domain in domain_of.items():
        if iface(ref).master is None:
            for address in iface(ref).addresses:
                responders.setdefault((domain, address.ip), ref)
    ports: dict[InterfaceRef, dict[str, str]] = {}
    for ns in dataplane.namespaces.values():
        for bridge in (i for i in ns.interfaces.values() if i.kind is InterfaceKind.BRIDGE):
            b = InterfaceRef(ns.id, bridge.name)
            table: dict[str, str] = {}
            for port in (i for i in ns.interfaces.values() if i.master == bridge.name):
                start = InterfaceRef(ns.id, port.name)
                seen = {b, start}
                queue = [r for r in adjacent.get(start, []) if r != b]
                while queue:
                    ref = queue.pop(0)
                    if ref in seen:
                        continue
                    seen.add(ref)
                    if iface(ref).master is None:
                        table.setdefault(iface(ref).mac, port.name)
                    if iface(ref).kind is InterfaceKind.BRIDGE or iface(ref).master is not None:
                        queue.extend(r for r in adjacent.get(ref, []) if r not in seen)
            ports[b] = table
    return domain_of, responders, ports


@pytest.mark.parametrize("mode", MODES)
def test_lazy_l2_answers_what_the_eager_index_answered(mode: str) -> None:
    domain_of, responders, ports = _eager(_dataplane(mode))
    addresses = {ip for _, ip in responders} | {IPv4Address("192.0.2.1")}
    macs = {mac for table in ports.values() for mac in table} | {"02:00:00:00:00:01"}
    devices = list(domain_of)
    for device in devices:  # each question on a fresh index: nothing read before helps
        for ip in addresses:
            expected = responders.get((domain_of[device], ip))
            assert arp_owner(L2Index(_dataplane(mode)), device, ip) == expected, (device, ip)
    index = L2Index(_dataplane(mode))  # and one index asked everything, in turn
    for device in devices:
        for ip in addresses:
            assert arp_owner(index, device, ip) == responders.get((domain_of[device], ip))
    for bridge, table in ports.items():
        fresh = L2Index(_dataplane(mode))
        for mac in macs:
            assert bridge_port(fresh, bridge, mac) == table.get(mac), (bridge, mac)
            assert bridge_port(index, bridge, mac) == table.get(mac), (bridge, mac)
    assert arp_owner(index, InterfaceRef(devices[0].netns, "lo"), IPv4Address("127.0.0.1")) is None


def _frozen(dataplane: Dataplane) -> int:
    namespaces = dataplane.namespaces
    assert isinstance(namespaces, LazyNamespaces)
    return namespaces.frozen_count()


@pytest.mark.parametrize("mode", MODES)
def test_prepare_and_the_judge_freeze_no_node_group(mode: str) -> None:
    dataplane = _dataplane(mode)
    before = _frozen(dataplane)
    prepare(dataplane)
    policy_judge(dataplane.state, dataplane)
    assert _frozen(dataplane) == before


@pytest.mark.parametrize("mode", MODES)
def test_lazy_node_addresses_equal_the_eager_scan(mode: str) -> None:
    dataplane = _dataplane(mode)
    lazy = node_addresses(dataplane.state, dataplane)
    eager = dict(node_addresses(dataplane.state, _dataplane(mode)))  # iterating reads all
    for ip, node in eager.items():
        assert lazy[ip] == node
    assert lazy.get(IPv4Address("192.0.2.1")) is None
    assert isinstance(lazy, Mapping) and dict(lazy) == eager


@pytest.mark.parametrize("mode", MODES)
def test_traces_are_the_same_lazy_or_warm(mode: str) -> None:
    flows = [("ext:laptop", "node:node-1:30080"), ("client/curl", "svc:shop/web:80")]
    for source, destination in flows:
        lazy_dp, warm_dp = _dataplane(mode), _dataplane(mode)
        warm_index = prepare(warm_dp)
        warm(warm_index)
        lazy = trace_flow(prepare(lazy_dp), make_flow(lazy_dp, source, destination), reply=True)
        warmed = trace_flow(warm_index, make_flow(warm_dp, source, destination), reply=True)
        assert render_trace_text(lazy) == render_trace_text(warmed)
        assert trace_json(lazy) == trace_json(warmed)
