"""The iproute2 renderers: exact strings, and the real tools on the same tables (kernel test)."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from types import MappingProxyType

import pytest

from netsim.dataplane.devices import (
    Address,
    AddressScope,
    Dataplane,
    FdbEntry,
    FdbState,
    Interface,
    InterfaceKind,
    NamespaceKind,
    Neighbor,
    NeighborState,
    NetworkNamespace,
    OperState,
    VethPeer,
    namespaces_of_node,
)
from netsim.dataplane.routing import Route, RoutingTable, address_routes
from netsim.lab.build import build_namespaces
from netsim.lab.kernel import settle
from netsim.lab.names import real_namespace_name
from netsim.report.tables import (
    render_bridge_fdb,
    render_ip_addr,
    render_ip_neigh,
    render_ip_route,
    render_namespace_tables,
    render_node_tables,
)
from tests.dataplane.clusters import example

LO = Interface(
    "lo",
    InterfaceKind.LOOPBACK,
    1,
    "00:00:00:00:00:00",
    65536,
    (Address(IPv4Interface("127.0.0.1/8"), AddressScope.HOST),),
    operstate=OperState.UNKNOWN,
)
ETH0 = Interface(
    "eth0",
    InterfaceKind.VETH,
    2,
    "02:00:00:00:00:02",
    1450,
    (Address(IPv4Interface("10.244.1.2/24"), broadcast=IPv4Address("10.244.1.255")),),
    txqueuelen=0,
    peer=VethPeer("node:node-2", "veth1234abcd", 7, 0, None),
)


def namespace(
    *devices: Interface, routes: tuple[Route, ...] = (), **tables: object
) -> NetworkNamespace:
    all_routes = [
        r for d in devices for a in d.addresses for r in address_routes(a.interface, d.name)
    ]
    return NetworkNamespace(
        "pod:default/x",
        NamespaceKind.POD,
        "default/x",
        None,
        MappingProxyType({d.name: d for d in devices}),
        RoutingTable((*all_routes, *routes)),
        tables.get("neighbors", ()),  # type: ignore[arg-type]
        tables.get("fdb", ()),  # type: ignore[arg-type]
        MappingProxyType({}),
        MappingProxyType({}),
    )


def test_ip_addr_of_a_pod() -> None:
    assert render_ip_addr(namespace(LO, ETH0)) == (
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n"
        "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
        "    inet 127.0.0.1/8 scope host lo\n"
        "       valid_lft forever preferred_lft forever\n"
        "2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP group default \n"
        "    link/ether 02:00:00:00:00:02 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n"
        "    inet 10.244.1.2/24 brd 10.244.1.255 scope global eth0\n"
        "       valid_lft forever preferred_lft forever\n"
    )


def test_ip_addr_of_bridge_port_nic_and_vxlan() -> None:
    devices = (
        Interface(
            "eth0",
            InterfaceKind.ETHERNET,
            2,
            "02:00:00:00:00:01",
            1500,
            qdisc="fq_codel",
            master="cni0",
        ),
        Interface(
            "flannel.1",
            InterfaceKind.VXLAN,
            3,
            "02:00:00:00:00:03",
            1450,
            (Address(IPv4Interface("10.244.1.0/32")),),
            operstate=OperState.UNKNOWN,
        ),
        Interface(
            "veth1",
            InterfaceKind.VETH,
            5,
            "02:00:00:00:00:05",
            1450,
            txqueuelen=0,
            master="cni0",
            peer=VethPeer("pod:a/b", "eth0", 2, 3, "cni-1234"),
        ),
    )
    assert render_ip_addr(namespace(*devices)) == (
        "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel master cni0 state UP group default qlen 1000\n"
        "    link/ether 02:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff\n"
        "3: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN group default qlen 1000\n"
        "    link/ether 02:00:00:00:00:03 brd ff:ff:ff:ff:ff:ff\n"
        "    inet 10.244.1.0/32 scope global flannel.1\n"
        "       valid_lft forever preferred_lft forever\n"
        "5: veth1@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master cni0 state UP group default \n"
        "    link/ether 02:00:00:00:00:05 brd ff:ff:ff:ff:ff:ff link-netns cni-1234\n"
    )


def test_ip_route_in_trie_order_with_trailing_space() -> None:
    gateway = IPv4Address("10.244.1.1")
    routes = (
        Route(IPv4Network("10.244.0.0/16"), gateway=gateway, dev="eth0"),
        Route(gateway=gateway, dev="eth0"),
    )
    assert render_ip_route(namespace(LO, ETH0, routes=routes)) == (
        "default via 10.244.1.1 dev eth0 \n"
        "10.244.0.0/16 via 10.244.1.1 dev eth0 \n"
        "10.244.1.0/24 dev eth0 proto kernel scope link src 10.244.1.2 \n"
    )


def test_ip_neigh() -> None:
    neighbors = (
        Neighbor(IPv4Address("10.244.2.0"), "02:00:00:00:00:09", "flannel.1"),
        Neighbor(IPv4Address("192.168.56.1"), "02:00:00:00:00:01", "eth0", NeighborState.REACHABLE),
    )
    assert render_ip_neigh(namespace(LO, neighbors=neighbors)) == (
        "10.244.2.0 dev flannel.1 lladdr 02:00:00:00:00:09 PERMANENT \n"
        "192.168.56.1 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE \n"
    )
    assert render_ip_neigh(namespace(LO)) == ""


def test_bridge_fdb() -> None:
    fdb = (
        FdbEntry("33:33:00:00:00:01", "eth0", is_self=True),
        FdbEntry("02:00:00:00:00:09", "flannel.1", is_self=True, dst=IPv4Address("192.168.56.13")),
        FdbEntry("02:00:00:00:00:05", "veth1", master="cni0"),
        FdbEntry("02:00:00:00:00:77", "veth1", master="cni0", state=FdbState.DYNAMIC),
    )
    assert render_bridge_fdb(namespace(LO, fdb=fdb)) == (
        "33:33:00:00:00:01 dev eth0 self permanent\n"
        "02:00:00:00:00:09 dev flannel.1 dst 192.168.56.13 self permanent\n"
        "02:00:00:00:00:05 dev veth1 master cni0 permanent\n"
        "02:00:00:00:00:77 dev veth1 master cni0 \n"
    )


def test_namespace_tables_headers() -> None:
    text = render_namespace_tables(namespace(LO))
    assert text.splitlines()[0] == "# pod default/x"
    assert [line for line in text.splitlines() if line.startswith("$ ")] == [
        "$ ip addr",
        "$ ip route",
        "$ ip neigh",
        "$ bridge fdb",
    ]


def test_node_tables() -> None:
    dataplane = example("vxlan")
    with_pods = render_node_tables(dataplane, "node-1")
    assert [line for line in with_pods.splitlines() if line.startswith("# ")] == [
        "# node node-1",
        "# pod client/curl",
        "# pod shop/web-78dc94cfd5-jb6lq",
    ]
    assert render_node_tables(dataplane, "node-1", with_pods=False) == with_pods.split("\n# pod")[0]
    with pytest.raises(KeyError):
        render_node_tables(dataplane, "node-9")


# --- the real tools -------------------------------------------------------------------------


def _run(command: str) -> str:
    return subprocess.run(command.split(), check=True, capture_output=True, text=True).stdout


@pytest.fixture
def netns_prefix() -> Iterator[str]:
    """A unique prefix for throw-away namespaces; every namespace under it is deleted after."""
    if shutil.which("ip") is None or shutil.which("bridge") is None:
        pytest.skip("iproute2 (ip, bridge) is not installed")
    prefix = f"nsimd-{secrets.token_hex(3)}"
    probe = subprocess.run(
        ["ip", "netns", "add", f"{prefix}-probe"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot create network namespaces: {probe.stderr.strip()}")
    try:
        yield prefix
    finally:
        for name in _run("ip netns list").split():
            if name.startswith(prefix):
                subprocess.run(["ip", "netns", "del", name], check=False)


def _realize(dataplane: Dataplane, prefix: str) -> dict[str, str]:
    """Build the whole dataplane in the kernel with the lab's builder; netns id -> real name."""
    real = {netns: real_namespace_name(f"{prefix}-", netns) for netns in dataplane.namespaces}
    build_namespaces(dataplane, real)
    settle(list(real.values()))
    return real


@pytest.mark.kernel
@pytest.mark.parametrize("mode", ["l2", "l3", "vxlan"])
def test_renderers_match_iproute2(mode: str, netns_prefix: str) -> None:
    """Node node-1 and its pods, built in real namespaces, print what the renderers print.

    Differences by construction, normalised away: the real namespaces have
    other names; the whole cluster is built (the lab's builder) and entries
    bridges learn from other hosts' frames are left out; the model's NIC (an Ethernet device, qdisc fq_codel, which
    not every kernel has) is a veth to a helper namespace here; the kernel
    lists neighbours in hash order.
    """
    dataplane = example(mode)
    real = _realize(dataplane, netns_prefix)
    names = {ns.id: ns.name for ns in namespaces_of_node(dataplane, "node-1")}
    switch = real[next(n for n in dataplane.namespaces if n.startswith("switch:"))]
    nic = re.compile(r"2: eth0@if\d+: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue")

    def normalize(text: str, here_id: str) -> str:
        for netns_id, name in names.items():
            model = f"link-netns {name}" if name is not None else "link-netnsid 0"
            text = text.replace(f"link-netns {real[netns_id]}", model)
        if here_id == "node:node-1":
            text = nic.sub(
                "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel", text
            )
        return text.replace(f" link-netns {switch}", "")

    for netns_id in names:
        ns, here = dataplane.namespaces[netns_id], real[netns_id]
        assert normalize(_run(f"ip -n {here} addr"), netns_id) == render_ip_addr(ns), netns_id
        assert _run(f"ip -n {here} route") == render_ip_route(ns), netns_id
        neigh = _run(f"ip -n {here} neigh").splitlines()
        assert sorted(neigh) == sorted(render_ip_neigh(ns).splitlines()), netns_id
        # other hosts of the segment are up too: drop what bridges learned from their frames
        fdb = _run(f"bridge -n {here} fdb show").splitlines(keepends=True)
        assert "".join(e for e in fdb if "permanent" in e) == render_bridge_fdb(ns), netns_id


def test_public_api_is_pinned() -> None:
    from netsim.report import tables

    assert tables.__all__ == [
        "render_bridge_fdb",
        "render_ip_addr",
        "render_ip_neigh",
        "render_ip_route",
        "render_namespace_tables",
        "render_node_tables",
    ]
