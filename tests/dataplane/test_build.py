"""build_dataplane: golden tables of the examples, per-mode facts, build errors."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

import pytest

from netsim.dataplane.build import POD_NETWORK_MODES, build_dataplane
from netsim.dataplane.common import flannel_masquerade_rules
from netsim.dataplane.devices import (
    FdbEntry,
    InterfaceKind,
    NamespaceKind,
    Neighbor,
    NeighborState,
    SysctlName,
    VxlanParams,
    interfaces_with_address,
)
from netsim.dataplane.routing import lookup_route, render_ip_route
from netsim.errors import TopologyError
from netsim.model.topology import PodNetworkMode
from netsim.naming import node_netns_id, pod_netns_id
from netsim.report.tables import render_namespace_tables
from tests.dataplane.clusters import REPO, cluster, example, pod
from tests.dataplane.regen import GOLDEN, MODES, golden_text
from tests.golden import assert_golden

TWO_SUBNETS = [
    {"name": "rack-a", "cidr": "192.168.56.0/24"},
    {"name": "rack-b", "cidr": "192.168.57.0/24"},
]


def test_every_mode_has_a_builder() -> None:
    assert set(POD_NETWORK_MODES) == {m.value for m in PodNetworkMode}


@pytest.mark.parametrize("mode", MODES)
def test_example_tables_equal_golden_files(mode: str) -> None:
    assert_golden(GOLDEN / f"{mode}.txt", golden_text(mode))


def test_build_is_deterministic() -> None:
    first, second = example("vxlan"), example("vxlan")
    assert [render_namespace_tables(ns) for ns in first.namespaces.values()] == [
        render_namespace_tables(ns) for ns in second.namespaces.values()
    ]


def test_example_namespaces_in_order() -> None:
    dataplane = example("l3")
    kinds = [ns.kind for ns in dataplane.namespaces.values()]
    assert kinds == [NamespaceKind.NODE] * 3 + [NamespaceKind.POD] * 6 + [
        NamespaceKind.ROUTER,
        NamespaceKind.CLIENT,
        NamespaceKind.SWITCH,
        NamespaceKind.SWITCH,
    ]
    assert list(dataplane.segments) == ["lan", "external-203.0.113.0/24"]


def test_vxlan_vtep() -> None:
    node = example("vxlan").namespaces[node_netns_id("node-2")]
    vtep = node.interfaces["flannel.1"]
    assert vtep.kind is InterfaceKind.VXLAN
    assert vtep.vxlan == VxlanParams(1, IPv4Address("192.168.56.12"), 8472, "eth0", False)
    assert vtep.mtu == 1450
    assert [str(a.interface) for a in vtep.addresses] == ["10.244.1.0/32"]
    assert vtep.addresses[0].broadcast is None
    remote = example("vxlan").namespaces[node_netns_id("node-1")].interfaces["flannel.1"].mac
    assert node.neighbors[0] == Neighbor(IPv4Address("10.244.0.0"), remote, "flannel.1")
    assert node.neighbors[0].state is NeighborState.PERMANENT
    assert FdbEntry(remote, "flannel.1", is_self=True, dst=IPv4Address("192.168.56.11")) in node.fdb
    route = lookup_route(node.routes, IPv4Address("10.244.0.9"))
    assert route is not None
    assert render_ip_route(route) == "10.244.0.0/24 via 10.244.0.0 dev flannel.1 onlink"


def test_vxlan_options_from_topology() -> None:
    state = cluster(
        mode="vxlan",
        pod_network={
            "mode": "vxlan",
            "vxlan": {"vni": 4096, "port": 4789, "device": "vxlan.calico"},
        },
        nodes=[
            {"name": "node-1", "ip": "192.168.56.11", "mtu": 9000},
            {"name": "node-2", "ip": "192.168.56.12"},
        ],
        manifests=[pod("a", "node-1")],
    )
    node = build_dataplane(state).namespaces[node_netns_id("node-1")]
    vtep = node.interfaces["vxlan.calico"]
    assert vtep.vxlan is not None
    assert (vtep.vxlan.vni, vtep.vxlan.dstport, vtep.mtu) == (4096, 4789, 8950)
    assert node.interfaces["cni0"].mtu == 8950
    pod_ns = build_dataplane(state).namespaces[pod_netns_id("default/a")]
    assert pod_ns.interfaces["eth0"].mtu == 8950


def test_pod_namespace_l3() -> None:
    dataplane = example("l3")
    curl = dataplane.namespaces[pod_netns_id("client/curl")]
    assert curl.name is not None and curl.name.startswith("cni-")
    eth0 = curl.interfaces["eth0"]
    assert eth0.kind is InterfaceKind.VETH
    assert eth0.txqueuelen == 0
    assert eth0.peer is not None
    assert eth0.peer.netns == node_netns_id("node-1")
    host = dataplane.namespaces[eth0.peer.netns].interfaces[eth0.peer.ifname]
    assert host.name.startswith("veth") and len(host.name) == 12
    assert host.master == "cni0" and host.is_hairpin
    assert host.peer is not None and host.peer.ifindex == eth0.index == 2
    assert host.peer.link_netns == curl.name
    assert eth0.peer.link_netns is None and eth0.peer.link_netnsid == 0
    assert curl.sysctls[SysctlName.IP_FORWARD] == 0


def test_node_root_namespace() -> None:
    node = example("l3").namespaces[node_netns_id("node-1")]
    assert node.sysctls == {
        SysctlName.IP_FORWARD: 1,
        SysctlName.ROUTE_LOCALNET: 1,
        SysctlName.BRIDGE_NF_CALL_IPTABLES: 1,
        SysctlName.PROXY_ARP: 0,
        SysctlName.DISABLE_IPV6: 1,
    }
    assert node.iptables["nat"][0] == ":FLANNEL-POSTRTG - [0:0]"
    assert [d.name for d in node.interfaces.values()][:3] == ["lo", "eth0", "cni0"]


def test_flannel_masquerade_rules() -> None:
    rules = flannel_masquerade_rules(
        IPv4Network("10.244.1.0/24"), IPv4Network("10.244.0.0/16"), random_fully=False
    )
    assert rules == {
        "filter": [
            ":FLANNEL-FWD - [0:0]",
            '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
            '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
            '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
        ],
        "nat": [
            ":FLANNEL-POSTRTG - [0:0]",
            '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
            '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
            '-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
            '-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
            '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
            '-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE',
            '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE',
        ],
    }


def test_masquerade_rules_parse_as_a_ruleset() -> None:
    parse = pytest.importorskip("netsim.netfilter.parse")
    node = example("vxlan").namespaces[node_netns_id("node-2")]
    builtin = {
        "filter": ("INPUT", "FORWARD", "OUTPUT"),
        "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    }
    text = ""
    for table, lines in node.iptables.items():
        text += f"*{table}\n" + "".join(f":{c} ACCEPT [0:0]\n" for c in builtin[table])
        text += "".join(f"{line}\n" for line in lines) + "COMMIT\n"
    ruleset = parse.parse_iptables_save(text, "node-2")
    assert ruleset is not None


def test_l2_node_nic_enslaved() -> None:
    node = example("l2").namespaces[node_netns_id("node-2")]
    assert node.interfaces["eth0"].master == "cni0"
    assert node.interfaces["eth0"].addresses == ()
    assert [str(a.interface) for a in node.interfaces["cni0"].addresses] == [
        "192.168.56.12/24",
        "10.244.1.1/16",
    ]
    main = [render_ip_route(r) for r in node.routes.routes if r.table == "main"]
    assert "default via 192.168.56.1 dev cni0" in main
    assert not any("via 192.168.56.1" in r and "10.244" in r for r in main)
    curl = example("l2").namespaces[pod_netns_id("client/curl")]
    assert [str(a.interface) for a in curl.interfaces["eth0"].addresses] == ["10.244.0.2/16"]


def test_hostnetwork_and_pending_pods_have_no_namespace() -> None:
    state = cluster(
        manifests=[pod("host", "node-1", host_network=True), pod("plain", "node-2")],
    )
    dataplane = build_dataplane(state)
    assert pod_netns_id("default/host") not in dataplane.namespaces
    assert pod_netns_id("default/plain") in dataplane.namespaces


def test_cni0_appears_with_the_first_pod() -> None:
    dataplane = build_dataplane(cluster(mode="vxlan", manifests=[pod("a", "node-2")]))
    assert "cni0" not in dataplane.namespaces[node_netns_id("node-1")].interfaces
    assert "cni0" in dataplane.namespaces[node_netns_id("node-2")].interfaces


def test_no_router_on_a_single_segment_without_clients() -> None:
    dataplane = build_dataplane(cluster())
    assert "router" not in dataplane.namespaces
    assert [ns.kind for ns in dataplane.namespaces.values()].count(NamespaceKind.SWITCH) == 1
    node = dataplane.namespaces[node_netns_id("node-1")]
    route = lookup_route(node.routes, IPv4Address("8.8.8.8"))
    assert route is not None and str(route.gateway) == "192.168.56.1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"mode": "l3"},
            r"t\.yaml: pod_network\.l3\.routing: host-gw routes each podCIDR via its node's IP,"
            r" which must be on-link, but the underlay has 2 subnets \(rack-a 192\.168\.56\.0/24,"
            r" rack-b 192\.168\.57\.0/24\); use routing: bgp or mode: vxlan",
            id="host-gw",
        ),
        pytest.param(
            {"mode": "l2"},
            r"t\.yaml: pod_network\.mode: l2 puts every pod and node in one broadcast domain, but"
            r" the underlay has 2 subnets .*; use one underlay subnet, or mode: vxlan, or mode: l3"
            r" with routing: bgp",
            id="l2",
        ),
    ],
)
def test_modes_refuse_several_subnets(changes: dict[str, Any], message: str) -> None:
    state = cluster(subnets=TWO_SUBNETS, node_ips=["192.168.56.11", "192.168.57.11"], **changes)
    with pytest.raises(TopologyError, match=message):
        build_dataplane(state)


def test_bgp_across_subnets() -> None:
    state = cluster(
        subnets=TWO_SUBNETS,
        node_ips=["192.168.56.11", "192.168.56.12", "192.168.57.11"],
        pod_network={"mode": "l3", "l3": {"routing": "bgp"}},
    )
    dataplane = build_dataplane(state)
    node = dataplane.namespaces[node_netns_id("node-1")]
    main = [render_ip_route(r) for r in node.routes.routes if r.table == "main"]
    assert "10.244.1.0/24 via 192.168.56.12 dev eth0 proto bird" in main
    assert "10.244.2.0/24 via 192.168.56.1 dev eth0 proto bird" in main
    router = dataplane.namespaces["router"]
    assert [render_ip_route(r) for r in router.routes.routes if r.proto == "bird"] == [
        "10.244.0.0/24 via 192.168.56.11 dev eth0 proto bird",
        "10.244.1.0/24 via 192.168.56.12 dev eth0 proto bird",
        "10.244.2.0/24 via 192.168.57.11 dev eth1 proto bird",
    ]


def test_vxlan_across_subnets() -> None:
    state = cluster(mode="vxlan", subnets=TWO_SUBNETS, node_ips=["192.168.56.11", "192.168.57.11"])
    dataplane = build_dataplane(state)
    node = dataplane.namespaces[node_netns_id("node-2")]
    assert (
        FdbEntry(
            dataplane.namespaces[node_netns_id("node-1")].interfaces["flannel.1"].mac,
            "flannel.1",
            is_self=True,
            dst=IPv4Address("192.168.56.11"),
        )
        in node.fdb
    )
    router = dataplane.namespaces["router"]
    assert [str(a.interface) for d in router.interfaces.values() for a in d.addresses] == [
        "127.0.0.1/8",
        "192.168.56.1/24",
        "192.168.57.1/24",
    ]


def test_external_clients() -> None:
    state = cluster(
        external_clients=[
            {"name": "a", "ip": "203.0.113.1"},
            {"name": "b", "ip": "203.0.113.2"},
            {"name": "c", "ip": "198.51.100.7"},
            {"name": "lan-host", "ip": "192.168.56.200"},
        ]
    )
    dataplane = build_dataplane(state)
    router = dataplane.namespaces["router"]
    assert [str(a.interface) for d in router.interfaces.values() for a in d.addresses][1:] == [
        "192.168.56.1/24",
        "203.0.113.3/24",
        "198.51.100.1/24",
    ]
    lan_host = dataplane.namespaces["client:lan-host"]
    assert lan_host.interfaces["eth0"].addresses[0].interface == IPv4Interface("192.168.56.200/24")
    client = dataplane.namespaces["client:a"]
    default = lookup_route(client.routes, IPv4Address("10.244.0.2"))
    assert default is not None and str(default.gateway) == "203.0.113.3"
    switch = dataplane.namespaces["switch:external-203.0.113.0/24"]
    assert list(switch.interfaces) == ["lo", "br0", "swp1", "swp2", "swp3"]


@pytest.mark.parametrize(
    ("ip", "message"),
    [
        pytest.param(
            "192.168.56.1",
            r"t\.yaml: external client x: ip: 192\.168\.56\.1 is the network, broadcast or router"
            r" address of underlay subnet lan",
            id="router-address",
        ),
        pytest.param(
            "203.0.113.0",
            r"external client x: ip: 203\.0\.113\.0 is the network or broadcast address of its"
            r" segment 203\.0\.113\.0/24",
            id="network-address",
        ),
        pytest.param(
            "10.243.255.9",
            r"external client x: ip: its segment 10\.243\.255\.0/24 \(the /24 around"
            r" 10\.243\.255\.9\) overlaps underlay subnet lan 10\.243\.255\.128/25",
            id="overlap",
        ),
    ],
)
def test_bad_external_clients(ip: str, message: str) -> None:
    subnets = [{"name": "lan", "cidr": "192.168.56.0/24"}]
    if ip.startswith("10.243"):
        subnets.append({"name": "lan", "cidr": "10.243.255.128/25"})
        subnets[0]["name"] = "other"
    state = cluster(
        subnets=subnets, external_clients=[{"name": "x", "ip": ip}], pod_network={"mode": "vxlan"}
    )
    with pytest.raises(TopologyError, match=message):
        build_dataplane(state)


def test_docs_example_is_in_the_golden_file() -> None:
    text = (REPO / "docs" / "dataplane.md").read_text()
    marker = "<!-- example: the block below is checked against tests/dataplane/golden/vxlan.txt -->"
    block = text.split(marker)[1].split("```\n")[1]
    assert block.startswith("# pod client/curl\n")
    assert block in (GOLDEN / "vxlan.txt").read_text()


def test_docs_masquerade_rules_are_node_1s() -> None:
    text = (REPO / "docs" / "dataplane.md").read_text()
    block = text.split("checked with iptables 1.8.9). For node-1 of the examples:\n\n```\n")[1]
    block = block.split("```")[0]
    node = example("l3").namespaces[node_netns_id("node-1")]
    expected = "".join(
        f"{table}:\n" + "".join(f"{line}\n" for line in node.iptables[table])
        for table in ("nat", "filter")
    )
    assert block == expected


def test_docs_python_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (REPO / "docs" / "dataplane.md").read_text()
    code = text.split("```python\n")[1].split("```")[0]
    monkeypatch.chdir(REPO)
    exec(compile(code, "docs/dataplane.md", "exec"), {})
    out = capsys.readouterr().out
    assert "10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink \n" in out
    assert "pod:client/curl cni-" in out


def test_public_api_is_pinned() -> None:
    from netsim.dataplane import build, devices

    assert build.__all__ == ["POD_NETWORK_MODES", "build_dataplane", "cni_add_order"]
    assert devices.__all__ == [
        "BROADCAST_MAC",
        "LOOPBACK_MAC",
        "Address",
        "AddressScope",
        "Dataplane",
        "FdbEntry",
        "FdbState",
        "Interface",
        "InterfaceKind",
        "InterfaceRef",
        "Link",
        "NamespaceKind",
        "Neighbor",
        "NeighborState",
        "NetworkNamespace",
        "OperState",
        "Segment",
        "SharedEntries",
        "SysctlName",
        "VethPeer",
        "VxlanParams",
        "interfaces_with_address",
        "namespaces_of_node",
    ]


def test_interfaces_with_address() -> None:
    dataplane = example("vxlan")
    found = interfaces_with_address(dataplane, IPv4Address("10.244.1.1"))
    assert [(ns.id, device.name) for ns, device in found] == [("node:node-2", "cni0")]
    assert len(interfaces_with_address(dataplane, IPv4Address("127.0.0.1"))) == 13
    assert interfaces_with_address(dataplane, IPv4Address("10.96.0.1")) == ()


def test_a_route_the_kernel_refuses_is_a_topology_error() -> None:
    from netsim.dataplane.draft import BuildContext
    from netsim.dataplane.routing import Route

    ctx = BuildContext(cluster())
    ns = ctx.new_namespace("client:x", NamespaceKind.CLIENT, "x")
    ns.add_route(Route(gateway=IPv4Address("198.51.100.1"), dev="lo"))
    with pytest.raises(
        TopologyError,
        match=r"t\.yaml: client x: routes: the kernel would refuse it: route default via"
        r" 198\.51\.100\.1 dev lo: gateway: Nexthop has invalid gateway",
    ):
        ctx.freeze()
