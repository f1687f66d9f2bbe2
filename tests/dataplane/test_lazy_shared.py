"""Lazy namespaces and shared remote routes are invisible: equal to freezing every plain table."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.dataplane import draft
from netsim.dataplane.build import build_dataplane, build_dataplane_eager
from netsim.dataplane.devices import Dataplane, namespaces_of_node
from netsim.dataplane.lazy import LazyNamespaces
from netsim.dataplane.routing import (
    RoutingTable,
    check_nexthop,
    lookup_route,
    lookup_route_int,
    render_ip_route,
)
from netsim.model.spec import load_cluster
from netsim.naming import interface_mac
from tests.dataplane.clusters import TOPOLOGIES, cluster
from tests.dataplane.test_invariants import clusters

PROBES = [
    *(IPv4Address(f"10.244.{i}.{j}") for i in range(4) for j in (0, 1, 2, 9, 255)),
    *(IPv4Address(f"192.168.56.{j}") for j in (0, 1, 11, 12, 13, 255)),
    IPv4Address("127.0.0.1"),
    IPv4Address("8.8.8.8"),
]


def assert_same(lazy: Dataplane, plain: Dataplane) -> None:
    assert isinstance(lazy.namespaces, LazyNamespaces)
    assert list(lazy.namespaces) == list(plain.namespaces)
    for key, expected in plain.namespaces.items():
        got = lazy.namespaces[key]
        assert got == expected, key
        assert got.routes.routes == expected.routes.routes
        assert [render_ip_route(r) for r in got.routes.routes] == [
            render_ip_route(r) for r in expected.routes.routes
        ]
        for dst in PROBES:
            assert lookup_route(got.routes, dst) == lookup_route(expected.routes, dst), (key, dst)
            assert lookup_route_int(got.routes, int(dst)) == lookup_route(expected.routes, dst)
        for route in expected.routes.routes:
            if route.gateway is not None:
                assert check_nexthop(got.routes, route) == check_nexthop(expected.routes, route)
    assert lazy.segments == plain.segments
    assert lazy.links == plain.links
    assert lazy == plain


@pytest.mark.parametrize("mode", ["l2", "l3", "vxlan"])
def test_examples_equal_the_plain_build(mode: str) -> None:
    state = realize(load_cluster(TOPOLOGIES / f"{mode}.yaml"))
    assert_same(build_dataplane(state), build_dataplane_eager(state, share=False))


@pytest.mark.parametrize("mode", ["l3", "vxlan"])
def test_tables_share_the_remote_routes(mode: str) -> None:
    dataplane = build_dataplane(cluster(mode=mode, count=3))
    node = dataplane.namespaces["node:node-1"]
    assert node.routes._shared4 is not None
    assert node.routes == RoutingTable(node.routes.routes)
    assert hash(node.routes) == hash(RoutingTable(node.routes.routes))


def test_namespaces_freeze_on_first_access() -> None:
    dataplane = build_dataplane(cluster(mode="vxlan", count=3))
    namespaces = dataplane.namespaces
    assert isinstance(namespaces, LazyNamespaces)
    before = namespaces.frozen_count()
    assert "node:node-2" in namespaces and "node:nowhere" not in namespaces
    assert namespaces.frozen_count() == before
    root, *_ = namespaces_of_node(dataplane, "node-2")
    assert root.id == "node:node-2"
    assert namespaces.keys_of_group("node-2")[0] == "node:node-2"
    assert namespaces.frozen_count() > before
    with pytest.raises(KeyError):
        namespaces["pod:nowhere/x"]
    assert "LazyNamespaces" in repr(namespaces)


def test_colliding_macs_are_handed_out_in_build_order(monkeypatch: Any) -> None:
    """With MACs from one byte of hash, many collide: the retries follow the build order."""
    real = interface_mac

    def narrow(netns: str, ifname: str, attempt: int = 0) -> str:
        return real(netns, ifname, attempt)[:-2] + "00"

    monkeypatch.setattr(draft, "interface_mac", lambda n, i, a=0: narrow(n, i, a)[:9] + "00:00:00")
    state = realize(load_cluster(TOPOLOGIES / "vxlan.yaml"))
    assert_same(build_dataplane(state), build_dataplane_eager(state, share=False))


@pytest.mark.parametrize("mode", ["l2", "l3", "vxlan"])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_random_clusters_equal_the_plain_build(mode: str, data: st.DataObject) -> None:
    state: ClusterState = data.draw(clusters(mode))
    assert_same(build_dataplane(state), build_dataplane_eager(state, share=False))
