"""Invariants of build_dataplane over random clusters (1-20 nodes, 0-30 pods)."""

from __future__ import annotations

from collections import Counter
from ipaddress import IPv4Address
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netsim.control.state import ClusterState
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import (
    LOOPBACK_MAC,
    Dataplane,
    InterfaceKind,
    InterfaceRef,
    NamespaceKind,
)
from netsim.dataplane.graph import broadcast_domains
from netsim.dataplane.routing import DEFAULT_DST, lookup_route
from netsim.naming import is_pod_mac, node_netns_id, pod_host_mac, pod_mac, pod_netns_id
from tests.dataplane.clusters import cluster, pod

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def clusters(draw: st.DrawFn, /, mode: str, **extra: Any) -> ClusterState:
    """A cluster of 1-20 nodes (MTUs 1500 or 9000) with 0-30 pods, some pinned, some hostNetwork."""
    count = draw(st.integers(1, 20))
    nodes = [
        {
            "name": f"node-{i + 1}",
            "ip": f"192.168.56.{11 + i}",
            "mtu": draw(st.sampled_from([1500, 9000])),
        }
        for i in range(count)
    ]
    manifests = []
    for index in range(draw(st.integers(0, 30))):
        pinned = draw(st.none() | st.integers(1, count))
        node = f"node-{pinned}" if pinned is not None else None
        manifests.append(pod(f"p{index}", node, host_network=draw(st.booleans())))
    return cluster(
        mode=mode,
        nodes=nodes,
        manifests=manifests,
        cluster_dns=draw(st.booleans()),
        **extra,
    )


def check_common(dataplane: Dataplane) -> None:
    """MACs and addresses unique, a pod's veth pair's MACs from its IP and no other MAC in
    their space; every pod attached with its IP and default route."""
    macs = Counter(
        d.mac
        for ns in dataplane.namespaces.values()
        for d in ns.interfaces.values()
        if d.mac != LOOPBACK_MAC
    )
    assert max(macs.values(), default=1) == 1
    pod_macs = {mac for mac in macs if is_pod_mac(mac)}  # each must be a pod's, below
    owners: dict[IPv4Address, str] = {}
    for ns in dataplane.namespaces.values():
        for device in ns.interfaces.values():
            if device.kind is InterfaceKind.LOOPBACK:
                continue
            for address in device.addresses:
                assert owners.setdefault(address.ip, ns.id) == ns.id, address
    state = dataplane.state
    for pod_state in state.pods.values():
        netns = pod_netns_id(pod_state.key)
        if pod_state.node is None or pod_state.is_host_network:
            assert netns not in dataplane.namespaces
            continue
        ns = dataplane.namespaces[netns]
        assert ns.interfaces["eth0"].addresses[0].ip == pod_state.ip
        assert pod_state.ip is not None
        eth0, ip = ns.interfaces["eth0"], int(pod_state.ip)
        assert eth0.mac == pod_mac(ip) and eth0.peer is not None
        host_end = dataplane.namespaces[eth0.peer.netns].interfaces[eth0.peer.ifname]
        assert host_end.mac == pod_host_mac(ip)
        pod_macs.discard(eth0.mac)
        pod_macs.discard(host_end.mac)
        default = lookup_route(ns.routes, IPv4Address("8.8.8.8"))
        assert default is not None and default.dst == DEFAULT_DST
        assert default.gateway == state.nodes[pod_state.node].gateway
    assert not pod_macs, f"devices other than pods' veths with pod MACs: {pod_macs}"


@SETTINGS
@given(clusters("l3"))
def test_host_gw_routes_every_remote_pod_cidr(state: ClusterState) -> None:
    dataplane = build_dataplane(state)
    check_common(dataplane)
    for node in state.nodes.values():
        ns = dataplane.namespaces[node_netns_id(node.name)]
        remote = {other.pod_cidr: other.ip for other in state.nodes.values() if other != node}
        routes = [r for r in ns.routes.routes if r.dst in remote]
        assert len(routes) == len(state.nodes) - 1
        assert all(r.gateway == remote[r.dst] and r.dev == "eth0" for r in routes)  # type: ignore[index]


@SETTINGS
@given(clusters("vxlan"))
def test_vxlan_entries_and_mtu(state: ClusterState) -> None:
    dataplane = build_dataplane(state)
    check_common(dataplane)
    for node in state.nodes.values():
        ns = dataplane.namespaces[node_netns_id(node.name)]
        vtep = ns.interfaces["flannel.1"]
        assert len([e for e in ns.fdb if e.dev == "flannel.1" and e.dst is not None]) == (
            len(state.nodes) - 1
        )
        assert len([n for n in ns.neighbors if n.dev == "flannel.1"]) == len(state.nodes) - 1
        inner = node.node.mtu - 50
        assert vtep.mtu == inner
        for device in ns.interfaces.values():
            if device.kind in (InterfaceKind.BRIDGE, InterfaceKind.VETH):
                assert device.mtu == inner
                if device.peer is not None:
                    peer = dataplane.namespaces[device.peer.netns]
                    assert peer.interfaces[device.peer.ifname].mtu == inner


@SETTINGS
@given(clusters("l2"))
def test_l2_is_one_broadcast_domain(state: ClusterState) -> None:
    dataplane = build_dataplane(state)
    check_common(dataplane)
    domains = broadcast_domains(dataplane)
    wanted = {InterfaceRef(node_netns_id(n), "cni0") for n in state.nodes}
    wanted |= {
        InterfaceRef(ns.id, "eth0")
        for ns in dataplane.namespaces.values()
        if ns.kind is NamespaceKind.POD
    }
    assert [d for d in domains if wanted & d] == [domains[0]]
    assert wanted <= domains[0]
    for ns in dataplane.namespaces.values():
        if ns.kind is NamespaceKind.NODE:
            assert not [
                r for r in ns.routes.routes if r.gateway is not None and r.dst != DEFAULT_DST
            ]


@SETTINGS
@given(
    clusters(
        "l3",
        pod_network={"mode": "l3", "l3": {"routing": "bgp"}},
        external_clients=[{"name": "laptop", "ip": "203.0.113.10"}],
    )
)
def test_bgp_router_routes_every_pod_cidr(state: ClusterState) -> None:
    dataplane = build_dataplane(state)
    check_common(dataplane)
    router = dataplane.namespaces["router"]
    for node in state.nodes.values():
        route = lookup_route(router.routes, node.pod_cidr.network_address + 2)
        assert route is not None and route.gateway == node.ip and route.proto == "bird"
