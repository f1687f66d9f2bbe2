"""``NeighborTables`` answers what a scan of the namespace's tables answers."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address

import pytest

from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import FdbEntry, InterfaceRef, Neighbor, NetworkNamespace
from netsim.model.spec import load_cluster
from netsim.trace.l2 import NeighborTables, SharedBlock, fdb_entry


def _neighbor(ns: NetworkNamespace, dev: str, ip: IPv4Address) -> Neighbor | None:
    return next((n for n in ns.neighbors if n.dev == dev and n.ip == ip), None)


def _vtep(ns: NetworkNamespace, dev: str, mac: str) -> IPv4Address | None:
    return next((e.dst for e in ns.fdb if e.dev == dev and e.mac == mac and e.dst), None)


def _check(ns: NetworkNamespace, bridge_fdb: object) -> None:
    tables = NeighborTables(ns)
    devices = {n.dev for n in ns.neighbors} | {e.dev for e in ns.fdb} | {"cni0", "none"}
    for dev in devices:
        for n in ns.neighbors:
            assert tables.neighbor(dev, n.ip) == _neighbor(ns, dev, n.ip)
        assert tables.neighbor(dev, IPv4Address("192.0.2.1")) is None
        for e in ns.fdb:
            assert tables.vtep(dev, e.mac) == _vtep(ns, dev, e.mac)
            assert tables.bridge_entry(dev, e.mac) == bridge_fdb(ns, dev, e.mac)  # type: ignore[operator]


@pytest.mark.parametrize("mode", ["l2", "l3", "vxlan"])
def test_tables_equal_scans_on_the_examples(mode: str) -> None:
    dataplane = build_dataplane(realize(load_cluster(f"topologies/{mode}.yaml")))
    for ns in dataplane.namespaces.values():
        _check(ns, lambda ns, dev, mac: fdb_entry(dataplane, InterfaceRef(ns.id, dev), mac))


def test_duplicate_keys_keep_the_first_entry_of_the_right_device() -> None:
    dataplane = build_dataplane(realize(load_cluster("topologies/vxlan.yaml")))
    ns = next(ns for ns in dataplane.namespaces.values() if ns.neighbors and ns.fdb)
    ip, mac = ns.neighbors[0].ip, ns.fdb[-1].mac
    crowded = replace(
        ns,
        neighbors=(Neighbor(ip, "aa:aa:aa:aa:aa:aa", "other0"), *ns.neighbors, ns.neighbors[0]),
        fdb=(
            FdbEntry(mac, ns.fdb[-1].dev),
            FdbEntry(mac, "veth9", master="cni0"),
            *ns.fdb,
            FdbEntry(mac, "veth8", master="cni0"),
        ),
    )
    tables = NeighborTables(crowded)
    assert tables.neighbor(ns.neighbors[0].dev, ip) is ns.neighbors[0]
    assert tables.neighbor("other0", ip) == Neighbor(ip, "aa:aa:aa:aa:aa:aa", "other0")
    assert tables.vtep(ns.fdb[-1].dev, mac) == _vtep(crowded, ns.fdb[-1].dev, mac)
    assert tables.bridge_entry("cni0", mac) == FdbEntry(mac, "veth9", master="cni0")


def test_nodes_share_one_index_of_the_entries_they_share() -> None:
    dataplane = build_dataplane(realize(load_cluster("topologies/vxlan.yaml")))
    nodes = [ns for ns in dataplane.namespaces.values() if ns.id.startswith("node:")]
    assert all(ns.shared is not None for ns in nodes)
    blocks: dict[tuple[int, int], SharedBlock] = {}
    for ns in nodes:
        tables = NeighborTables(ns, blocks)
        for n in ns.neighbors:
            assert tables.neighbor(n.dev, n.ip) == _neighbor(ns, n.dev, n.ip)
        for e in ns.fdb:
            assert tables.vtep(e.dev, e.mac) == _vtep(ns, e.dev, e.mac)
        own = ns.shared
        assert own is not None
        # a node's own entry of the block is not in its tables, nor answered
        mine = own.neighbors[own.index]
        assert mine not in ns.neighbors and tables.neighbor(mine.dev, mine.ip) is None
    assert len(blocks) == 1  # indexed once for every node
    # a namespace changed by replace() shares nothing, and is scanned as it is
    assert replace(nodes[0], neighbors=()).shared is None
