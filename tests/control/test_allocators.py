"""Node IPAM, the scheduler, workload expansion and the Service allocators."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netsim.control.nodeipam import allocate_pod_cidrs
from netsim.control.scheduler import MAX_PODS_PER_NODE, schedule
from netsim.control.serviceips import cluster_ip_allocator, node_port_allocator
from netsim.control.workloads import expand_workload
from netsim.errors import AllocationError
from netsim.model.objects import (
    Container,
    LabelSelector,
    Pod,
    PodTemplate,
    Toleration,
    Workload,
    frozen_map,
)
from netsim.model.topology import Node, Taint

NET = ipaddress.IPv4Network


def node(
    name: str,
    i: int,
    *,
    pod_cidr: str | None = None,
    taints: tuple[Taint, ...] = (),
    labels: dict[str, str] | None = None,
) -> Node:
    return Node(
        name,
        ipaddress.IPv4Address(f"192.168.0.{i}"),
        NET(pod_cidr) if pod_cidr else None,
        frozen_map(labels or {}),
        taints,
        None,
        1500,
        False,
        "lan",
    )


def test_pod_cidrs_in_node_order_skipping_declared() -> None:
    nodes = [node("a", 1), node("b", 2, pod_cidr="10.244.1.0/24"), node("c", 3)]
    cidrs = allocate_pod_cidrs(NET("10.244.0.0/16"), 24, nodes, "t")
    assert {k: str(v) for k, v in cidrs.items()} == {
        "a": "10.244.0.0/24",
        "b": "10.244.1.0/24",
        "c": "10.244.2.0/24",
    }


def test_pod_cidrs_exhausted() -> None:
    nodes = [node(f"n{i}", i) for i in range(1, 6)]
    with pytest.raises(AllocationError, match=r"t: node n5: pod_cidr: CIDR allocation failed"):
        allocate_pod_cidrs(NET("10.244.0.0/22"), 24, nodes, "t")


@given(st.integers(1, 64), st.integers(24, 28))
def test_pod_cidrs_disjoint_and_inside(count: int, mask: int) -> None:
    cluster = NET("10.244.0.0/20")
    nodes = [node(f"n{i}", i) for i in range(count)]
    capacity = 1 << (mask - 20)
    if count > capacity:
        with pytest.raises(AllocationError):
            allocate_pod_cidrs(cluster, mask, nodes, "t")
        return
    cidrs = list(allocate_pod_cidrs(cluster, mask, nodes, "t").values())
    assert all(c.subnet_of(cluster) and c.prefixlen == mask for c in cidrs)
    assert len({c.network_address for c in cidrs}) == count
    assert sorted(cidrs) == cidrs  # first-fit in order


TEMPLATE = PodTemplate(containers=(Container("c"),))


def test_scheduler_honours_selector_taints_and_node_name() -> None:
    nodes = [
        node("a", 1, taints=(Taint("dedicated", "db", "NoSchedule"),)),
        node("b", 2, labels={"disk": "ssd"}),
        node("c", 3),
    ]
    pods = [
        Pod("ns", "pinned", TEMPLATE.__class__(containers=TEMPLATE.containers, node_name="a")),
        Pod(
            "ns",
            "ssd",
            PodTemplate(containers=TEMPLATE.containers, node_selector=frozen_map({"disk": "ssd"})),
        ),
        Pod(
            "ns",
            "db",
            PodTemplate(
                containers=TEMPLATE.containers,
                tolerations=(Toleration("dedicated", "Equal", "db", "NoSchedule"),),
            ),
        ),
        Pod("ns", "plain", TEMPLATE),
        Pod(
            "ns",
            "nowhere",
            PodTemplate(containers=TEMPLATE.containers, node_selector=frozen_map({"gpu": "yes"})),
        ),
    ]
    warnings: list[str] = []
    placement = schedule(pods, nodes, warnings)
    assert placement == {
        "ns/pinned": "a",
        "ns/ssd": "b",
        "ns/db": "c",
        "ns/plain": "b",
        "ns/nowhere": None,
    }
    assert placement["ns/plain"] != "a"  # the taint keeps untolerating pods off a
    assert warnings == [
        "Pod ns/nowhere: Pending: no node matches its nodeSelector, tolerates the node taints"
        f" and has room (max {MAX_PODS_PER_NODE} pods per node)"
    ]


def test_scheduler_spreads_replicas_of_one_owner() -> None:
    nodes = [node(n, i) for i, n in enumerate("abc", 1)]
    pods = [Pod("ns", "other", PodTemplate(containers=TEMPLATE.containers, node_name="a"))]
    pods += [Pod("ns", f"r{i}", TEMPLATE, owner="ReplicaSet ns/r") for i in range(3)]
    placement = schedule(pods, nodes, [])
    replicas = [placement[f"ns/r{i}"] for i in range(3)]
    assert sorted(r for r in replicas if r is not None) == ["a", "b", "c"]
    assert placement["ns/r0"] == "b"  # b and c have fewer pods than a


def test_workload_names() -> None:
    dep = Workload(
        "Deployment",
        "shop",
        "web",
        3,
        LabelSelector(frozen_map({"app": "web"})),
        PodTemplate(labels=frozen_map({"app": "web"}), containers=TEMPLATE.containers),
    )
    pods = expand_workload(dep, [])
    names = [p.name for p in pods]
    template_hash = pods[0].labels["pod-template-hash"]
    assert all(n.startswith(f"web-{template_hash}-") and len(n.split("-")[2]) == 5 for n in names)
    assert len(set(names)) == 3
    assert pods[0].owner == f"ReplicaSet shop/web-{template_hash}"
    assert set(template_hash) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert [p.name for p in expand_workload(dep, [])] == names  # deterministic


def test_daemonset_one_pod_per_accepting_node() -> None:
    nodes = [node("a", 1, taints=(Taint("k", "v", "NoExecute"),)), node("b", 2), node("c", 3)]
    ds = Workload("DaemonSet", "kube-system", "agent", 0, LabelSelector(), TEMPLATE)
    pods = expand_workload(ds, nodes)
    assert [p.template.node_name for p in pods] == ["b", "c"]
    tolerant = Workload(
        "DaemonSet",
        "kube-system",
        "agent",
        0,
        LabelSelector(),
        PodTemplate(containers=TEMPLATE.containers, tolerations=(Toleration(None, "Exists"),)),
    )
    assert [p.template.node_name for p in expand_workload(tolerant, nodes)] == ["a", "b", "c"]


def test_cluster_ip_allocator_bands_and_exhaustion() -> None:
    alloc = cluster_ip_allocator(NET("10.96.0.0/28"))  # 14 usable, lower band 16 > size
    assert alloc.lower == 16
    values = {alloc.take_dynamic(f"s{i}") for i in range(14)}
    assert len(values) == 14 and None not in values
    assert alloc.take_dynamic("one-more") is None


def test_dynamic_values_prefer_the_upper_band_and_are_stable() -> None:
    alloc = node_port_allocator(30000, 32767)
    first = alloc.take_dynamic("default/web:0")
    assert first is not None and first >= 30000 + 86
    again = node_port_allocator(30000, 32767)
    again.take_dynamic("default/other:0")
    # another service taking a different hash slot does not move this one
    assert again.take_dynamic("default/web:0") == first or again.is_taken(first)
