"""Topology files: defaults, derived values and validation."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from netsim.errors import TopologyError
from netsim.model.topology import (
    L3Routing,
    PodNetworkMode,
    load_topology,
    parse_topology,
)
from tests.conftest import BASE_TOPOLOGY, EXAMPLES


def parse(**changes: object):  # type: ignore[no-untyped-def]
    return parse_topology({**BASE_TOPOLOGY, **changes}, source="t.yaml", base_dir=Path("."))


def test_defaults() -> None:
    t = parse()
    assert t.service_cidr == ipaddress.IPv4Network("10.96.0.0/12")
    assert t.node_cidr_mask_size == 24
    assert t.node_port_range == (30000, 32767)
    assert t.cluster_dns is True
    assert t.pod_network.routing is L3Routing.HOST_GW
    assert t.pod_network.vxlan.port == 8472
    assert t.pod_network.vxlan.device == "flannel.1"
    assert t.underlay.mtu == 1500
    assert [n.is_control_plane for n in t.nodes] == [True, False]
    assert t.nodes[0].labels["kubernetes.io/hostname"] == "node-1"
    assert "node-role.kubernetes.io/control-plane" in t.nodes[0].labels
    assert t.nodes[1].subnet == "lan"


def test_vxlan_options_and_zone_label() -> None:
    t = parse(
        pod_network={"mode": "vxlan", "vxlan": {"vni": 4096, "port": 4789}},
        nodes=[{"name": "a", "ip": "192.168.56.20", "zone": "z1", "mtu": 9000}],
    )
    assert t.pod_network.mode is PodNetworkMode.VXLAN
    assert (t.pod_network.vxlan.vni, t.pod_network.vxlan.port) == (4096, 4789)
    assert t.pod_network.vxlan.device == "flannel.4096"
    assert t.nodes[0].labels["topology.kubernetes.io/zone"] == "z1"
    assert t.nodes[0].mtu == 9000


def test_default_underlay_is_the_first_nodes_24() -> None:
    data = {k: v for k, v in BASE_TOPOLOGY.items() if k != "underlay"}
    t = parse_topology(data, source="t.yaml", base_dir=Path("."))
    assert [str(s.cidr) for s in t.underlay.subnets] == ["192.168.56.0/24"]
    assert str(t.underlay.subnets[0].gateway) == "192.168.56.1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"pod_network": {"mode": "l4"}},
            r"pod_network\.mode: 'l4' is not allowed; allowed values: l2, l3, vxlan",
            id="mode",
        ),
        pytest.param(
            {"pod_network": {"mode": "l3", "vxlan": {"vni": 2}}},
            r"pod_network\.vxlan: options for mode vxlan given but mode is l3",
            id="wrong-mode-options",
        ),
        pytest.param(
            {"pod_network": {"mode": "vxlan", "vxlan": {"device": "a-very-long-device-name"}}},
            r"longer than 15 characters",
            id="ifnamsiz",
        ),
        pytest.param(
            {"node_port_range": "30000:32767"},
            r"node_port_range: '30000:32767' must look like 30000-32767",
            id="port-range",
        ),
        pytest.param(
            {"node_cidr_mask_size": 8},
            r"node_cidr_mask_size: 8 is out of range 16-30",
            id="mask-too-short",
        ),
        pytest.param(
            {
                "cluster_cidr": "10.0.0.0/8",
                "service_cidr": "172.16.0.0/16",
                "node_cidr_mask_size": 25,
            },
            r"more than 16 bits longer",
            id="mask-gap",
        ),
        pytest.param(
            {"external_clients": [{"name": "x", "ip": "10.96.0.5"}]},
            r"external client x: ip: 10\.96\.0\.5 lies inside service_cidr",
            id="client-in-service-cidr",
        ),
        pytest.param(
            {"nodes": [{"name": "a", "ip": "192.168.56.1"}]},
            r"node a: 192\.168\.56\.1 is the network, broadcast or router address",
            id="node-is-router",
        ),
        pytest.param(
            {
                "nodes": [
                    {"name": "a", "ip": "192.168.56.5", "taints": [{"key": "k", "effect": "NoRun"}]}
                ]
            },
            r"taints\[0\]\.effect: 'NoRun' is not allowed",
            id="taint-effect",
        ),
        pytest.param({"nodes": []}, r"nodes: at least one node is required", id="no-nodes"),
        pytest.param(
            {"nodes": [{"name": "a", "ip": "192.168.56.5", "pod_cidr": "10.244.0.0/25"}]},
            r"node a: pod_cidr: 10\.244\.0\.0/25 is not a /24",
            id="pod-cidr-size",
        ),
        pytest.param(
            {"nodes": [{"name": "a", "ip": "192.168.56.5", "labels": {"x": 1}}]},
            r"labels\.x: must be a string \(quote it: '1'\)",
            id="label-not-string",
        ),
        pytest.param(
            {"kube_proxy": {"detect_local": "BridgeInterface"}},
            r"kube_proxy\.pod_bridge_interface: required field is missing",
            id="bridge-detector-without-bridge",
        ),
        pytest.param(
            {"kube_proxy": {"pod_interface_name_prefix": "veth"}},
            r"kube_proxy\.pod_interface_name_prefix: only used with detect_local"
            r" InterfaceNamePrefix",
            id="prefix-without-its-detector",
        ),
        pytest.param(
            {
                "kube_proxy": {
                    "detect_local": "InterfaceNamePrefix",
                    "pod_interface_name_prefix": "a-much-too-long-prefix",
                }
            },
            r"'a-much-too-long-prefix' is not an interface name \(at most 15 characters",
            id="prefix-too-long",
        ),
        pytest.param(
            {"kube_proxy": {"node_port_addresses": ["primary", "10.0.0.0/8"]}},
            r"kube_proxy\.node_port_addresses: 'primary' cannot be combined with CIDRs",
            id="nodeport-addresses-primary-and-cidrs",
        ),
        pytest.param(
            {"kube_proxy": {"node_port_addresses": ["10.20.30.40"]}},
            r"kube_proxy\.node_port_addresses: '10\.20\.30\.40' is not a valid CIDR",
            id="nodeport-addresses-not-a-cidr",
        ),
        pytest.param(
            {"kube_proxy": {"node_port_addresses": "192.168.56.0/24"}},
            r"kube_proxy\.node_port_addresses: must be a list, not a string",
            id="nodeport-addresses-not-a-list",
        ),
    ],
)
def test_invalid(changes: dict[str, object], message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        parse(**changes)


def test_several_subnets_and_router_addresses() -> None:
    t = parse(
        underlay={
            "subnets": [
                {"name": "a", "cidr": "192.168.10.0/24", "gateway": "192.168.10.254"},
                {"name": "b", "cidr": "192.168.20.0/24"},
            ]
        },
        nodes=[{"name": "n1", "ip": "192.168.10.5"}, {"name": "n2", "ip": "192.168.20.5"}],
    )
    assert not t.underlay.is_single_segment
    assert [n.subnet for n in t.nodes] == ["a", "b"]
    assert str(t.underlay.subnets[0].gateway) == "192.168.10.254"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_load(path: Path) -> None:
    t = load_topology(path)
    assert len(t.nodes) == 3
    assert t.external_clients


def test_topology_must_be_one_document(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: a\n---\nname: b\n")
    with pytest.raises(
        TopologyError, match=r"x\.yaml: a topology file holds exactly one YAML document, found 2"
    ):
        load_topology(path)


def test_missing_file() -> None:
    with pytest.raises(TopologyError, match=r"nope\.yaml: file not found"):
        load_topology("nope.yaml")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        pytest.param([], (), id="unset: every local address"),
        pytest.param(["primary"], ("primary",), id="primary"),
        pytest.param(
            ["192.168.56.5/24", "2001:db8::/64", "127.0.0.1/32"],
            ("192.168.56.0/24", "2001:db8::/64", "127.0.0.1/32"),
            id="cidrs, host bits allowed as kube-proxy allows them",
        ),
    ],
)
def test_kube_proxy_node_port_addresses(given: list[str], kept: tuple[str, ...]) -> None:
    topology = parse(kube_proxy={"node_port_addresses": given})
    assert topology.kube_proxy.node_port_addresses == kept


def test_kube_proxy_interface_detectors() -> None:
    bridge = parse(kube_proxy={"detect_local": "BridgeInterface", "pod_bridge_interface": "cni0"})
    assert bridge.kube_proxy.detect_local == "BridgeInterface"
    assert bridge.kube_proxy.pod_bridge_interface == "cni0"
    prefix = parse(
        kube_proxy={"detect_local": "InterfaceNamePrefix", "pod_interface_name_prefix": "veth"}
    )
    assert prefix.kube_proxy.pod_interface_name_prefix == "veth"
    assert prefix.kube_proxy.pod_bridge_interface == ""
