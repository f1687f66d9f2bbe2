"""The walk itself, with netfilter switched off or replaced by a small stand-in seam.

These tests pin the engine's own behaviour (layer 2, routing, VXLAN, sockets,
branching, dispositions) independently of the iptables evaluator.
"""

from __future__ import annotations

import random
from dataclasses import replace
from functools import cache
from ipaddress import IPv4Address

import pytest

from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import Dataplane
from netsim.errors import InputError
from netsim.model.spec import load_cluster
from netsim.trace import (
    Disposition,
    L4Protocol,
    PolicyDecision,
    TraceSession,
    make_flow,
    prepare,
    trace_flow,
)
from netsim.trace.hooks import HookRequest, HookResult, NoNetfilter
from netsim.trace.model import (
    Arp,
    Bridge,
    Decapsulate,
    Encapsulate,
    Header,
    Nat,
    Netfilter,
    Policy,
    Ttl,
    Veth,
)
from tests.conftest import TOPOLOGIES
from tests.trace import assert_well_formed

MODES = ("l2", "l3", "vxlan")


@cache
def dataplane(mode: str) -> Dataplane:
    return build_dataplane(realize(load_cluster(TOPOLOGIES / f"{mode}.yaml")))


def web_pods(dp: Dataplane) -> dict[str, str]:
    """node -> the web pod on it."""
    return {
        p.node: p.key for p in dp.state.pods.values() if p.key.startswith("shop/web-") and p.node
    }


def plain_index(mode: str):  # type: ignore[no-untyped-def]
    return prepare(dataplane(mode), netfilter=NoNetfilter())


@pytest.mark.parametrize("mode", MODES)
def test_pod_to_pod_same_node(mode: str) -> None:
    dp = dataplane(mode)
    target = web_pods(dp)["node-1"]
    traces = trace_flow(plain_index(mode), make_flow(dp, "client/curl", f"{target}:8080"))
    assert_well_formed(traces)
    (trace,) = traces
    assert trace.disposition is Disposition.DELIVERED
    assert trace.delivered_to is not None and trace.delivered_to.pod == target
    assert [h.netns for h in trace.hops] == ["pod:client/curl", "node:node-1", f"pod:{target}"]


@pytest.mark.parametrize("mode", MODES)
def test_pod_to_pod_cross_node(mode: str) -> None:
    dp = dataplane(mode)
    target = web_pods(dp)["node-2"]
    (trace,) = trace_flow(plain_index(mode), make_flow(dp, "client/curl", f"{target}:8080"))
    assert_well_formed([trace])
    assert trace.disposition is Disposition.DELIVERED
    path = [h.netns for h in trace.hops]
    assert path == [
        "pod:client/curl",
        "node:node-1",
        "switch:lan",
        "node:node-2",
        f"pod:{target}",
    ]
    kinds = {type(s) for s in trace.steps}
    if mode == "vxlan":
        assert Encapsulate in kinds and Decapsulate in kinds
        encap = next(s for s in trace.steps if isinstance(s, Encapsulate))
        assert encap.outer.dport == 8472 and encap.vni == 1
        assert 32768 <= encap.outer.sport <= 60999
        assert (str(encap.outer.src), str(encap.outer.dst)) == ("192.168.56.11", "192.168.56.12")
        assert encap.outer.length == encap.inner.length + 50
    else:
        assert Encapsulate not in kinds
    ttls = [s.new for s in trace.steps if isinstance(s, Ttl)]
    # l2 bridges all the way (no routing hop); l3 and vxlan route on both nodes
    assert ttls == ([] if mode == "l2" else [63, 62])


def test_l2_arp_and_bridge_steps_name_the_owner() -> None:
    dp = dataplane("l2")
    target = web_pods(dp)["node-2"]
    (trace,) = trace_flow(plain_index("l2"), make_flow(dp, "client/curl", f"{target}:8080"))
    arp = next(s for s in trace.steps if isinstance(s, Arp))
    assert arp.source == "arp" and arp.owner == f"pod:{target}/eth0"
    assert arp.detail.startswith("ARP who-has 10.244.1.3: is-at ")
    bridges = [s for s in trace.steps if isinstance(s, Bridge)]
    assert [b.port for b in bridges] == ["eth0", "swp2", bridges[2].port]
    assert all(b.entry == "learned" for b in bridges)
    assert any(isinstance(s, Veth) for s in trace.steps)


def test_vxlan_uses_the_permanent_neighbour() -> None:
    dp = dataplane("vxlan")
    target = web_pods(dp)["node-3"]
    (trace,) = trace_flow(plain_index("vxlan"), make_flow(dp, "client/curl", f"{target}:8080"))
    neighbour = [s for s in trace.steps if isinstance(s, Arp) and s.source == "neighbor"]
    assert len(neighbour) == 1 and "PERMANENT" in neighbour[0].detail
    assert str(neighbour[0].ip) == "10.244.2.0"


@pytest.mark.parametrize("mode", MODES)
def test_port_nothing_listens_on(mode: str) -> None:
    dp = dataplane(mode)
    target = web_pods(dp)["node-2"]
    traces = trace_flow(plain_index(mode), make_flow(dp, "client/curl", f"{target}:9999"))
    assert_well_formed(traces)
    assert [t.disposition for t in traces] == [Disposition.PORT_NOT_LISTENING]


def test_udp_is_not_tcp() -> None:
    dp = dataplane("l3")
    target = web_pods(dp)["node-2"]
    flow = make_flow(dp, "client/curl", f"{target}:8080", protocol=L4Protocol.UDP)
    (trace,) = trace_flow(plain_index("l3"), flow)
    assert trace.disposition is Disposition.PORT_NOT_LISTENING


@pytest.mark.parametrize("mode", MODES)
def test_external_client_to_a_pod_ip_finds_no_route(mode: str) -> None:
    """The router knows no podCIDR (only BGP would teach it)."""
    dp = dataplane(mode)
    target = web_pods(dp)["node-2"]
    traces = trace_flow(plain_index(mode), make_flow(dp, "ext:laptop", f"{target}:8080"))
    assert_well_formed(traces)
    assert traces[0].disposition is Disposition.NO_ROUTE
    assert traces[0].hops[-1].netns == "router"


@pytest.mark.parametrize("mode", MODES)
def test_internet_destination_exits_the_cluster(mode: str) -> None:
    dp = dataplane(mode)
    traces = trace_flow(plain_index(mode), make_flow(dp, "client/curl", "8.8.8.8:53"))
    assert_well_formed(traces)
    assert traces[0].disposition is Disposition.EXITS_CLUSTER


def test_unowned_underlay_address_is_unreachable() -> None:
    dp = dataplane("l3")
    (trace,) = trace_flow(plain_index("l3"), make_flow(dp, "node:node-1", "192.168.56.99:80"))
    assert_well_formed([trace])
    assert trace.disposition is Disposition.NEIGHBOR_UNREACHABLE
    assert "192.168.56.99" in trace.steps[-2].detail


def test_node_to_external_client_is_delivered() -> None:
    dp = dataplane("l3")
    (trace,) = trace_flow(plain_index("l3"), make_flow(dp, "node:node-2", "203.0.113.10:22"))
    assert_well_formed([trace])
    assert trace.disposition is Disposition.DELIVERED
    assert trace.delivered_to is not None and trace.delivered_to.namespace == "client:laptop"
    assert trace.flow.header.src == IPv4Address("192.168.56.12")


def test_node_to_its_own_hostnetwork_port() -> None:
    dp = dataplane("l3")
    host = [p for p in dp.state.pods.values() if p.is_host_network and p.node == "node-1"]
    ports = [cp.container_port for p in host for c in p.pod.template.containers for cp in c.ports]
    flow = make_flow(dp, "node:node-1", "node:node-1:1")
    (trace,) = trace_flow(plain_index("l3"), flow)
    assert_well_formed([trace])
    if 1 not in ports:
        assert trace.disposition is Disposition.PORT_NOT_LISTENING


def test_mtu_exceeded_when_forwarding_into_the_vxlan_device() -> None:
    dp = dataplane("vxlan")
    target = web_pods(dp)["node-2"]
    flow = make_flow(dp, "client/curl", f"{target}:8080")
    big = replace(flow, header=replace(flow.header, length=1480))
    # the pod's eth0 is 1450 too, but the sender's stack sizes its packets; the node checks
    (trace,) = trace_flow(plain_index("vxlan"), big)
    assert_well_formed([trace])
    assert trace.disposition is Disposition.MTU_EXCEEDED
    assert trace.hops[-1].netns == "node:node-1"


def test_ttl_exceeded() -> None:
    dp = dataplane("l3")
    target = web_pods(dp)["node-2"]
    flow = make_flow(dp, "client/curl", f"{target}:8080")
    (trace,) = trace_flow(plain_index("l3"), replace(flow, header=replace(flow.header, ttl=1)))
    assert_well_formed([trace])
    assert trace.disposition is Disposition.TTL_EXCEEDED


def test_reply_retraces_the_way_back() -> None:
    dp = dataplane("vxlan")
    target = web_pods(dp)["node-3"]
    (trace,) = trace_flow(
        plain_index("vxlan"), make_flow(dp, "client/curl", f"{target}:8080"), reply=True
    )
    assert_well_formed([trace])
    assert trace.reply is not None
    assert trace.reply.disposition is Disposition.DELIVERED
    assert trace.reply.delivered_to is not None
    assert trace.reply.delivered_to.namespace == "pod:client/curl"
    assert trace.reply.flow.header.src == IPv4Address("10.244.2.3")
    assert not trace.asymmetric_return


class Deny:
    """A judge that refuses one pod's ingress."""

    def __init__(self, pod: str) -> None:
        self.pod = pod

    def egress(self, pod_key: str, packet: Header) -> PolicyDecision:
        return PolicyDecision(True, "egress allowed")

    def ingress(self, pod_key: str, packet: Header) -> PolicyDecision:
        if pod_key == self.pod:
            return PolicyDecision(False, "denied by test")
        return PolicyDecision(True, "ingress allowed")


def test_policy_judge_is_asked_and_can_deny() -> None:
    dp = dataplane("l3")
    target = web_pods(dp)["node-2"]
    flow = make_flow(dp, "client/curl", f"{target}:8080")
    (allowed,) = trace_flow(plain_index("l3"), flow)
    policies = [s for s in allowed.steps if isinstance(s, Policy)]
    assert [(p.direction, p.detail) for p in policies] == [
        ("egress", "no NetworkPolicy engine: allowed"),
        ("ingress", "no NetworkPolicy engine: allowed"),
    ]
    (denied,) = trace_flow(plain_index("l3"), flow, judge=Deny(target))
    assert_well_formed([denied])
    assert denied.disposition is Disposition.DENIED_BY_NETWORKPOLICY


# -- a stand-in netfilter: DNAT of one "service" to endpoints, REJECT without any ----------


class FakeServiceNat:
    """DNATs ``vip:80`` on node namespaces to each endpoint (one branch each) in PREROUTING/OUTPUT."""

    def __init__(self, vip: str, endpoints: list[tuple[str, int]]) -> None:
        self.vip = IPv4Address(vip)
        self.endpoints = [(IPv4Address(ip), port) for ip, port in endpoints]

    def has_rules(self, netns: str) -> bool:
        return netns.startswith("node:")

    def run(
        self,
        request: HookRequest,
        header: Header,
        skb: object | None,
        state: object | None,
        now: float,
        rng: random.Random | None,
    ) -> tuple[HookResult, ...]:
        seen = dict(state) if isinstance(state, dict) else {}
        accept = Netfilter(request.hook, "ACCEPT", (), None, request.bridged, "ACCEPT")
        if request.hook not in ("PREROUTING", "OUTPUT") or header.dst != self.vip:
            return (HookResult(1.0, "ACCEPT", "", header, accept, (), state),)
        if not self.endpoints:
            step = Netfilter(request.hook, "REJECT", (), None, False, "REJECT")
            reason = '"default/svc has no endpoints" -j REJECT'
            return (HookResult(1.0, "REJECT", reason, header, step, (), state),)
        picks = self.endpoints
        if header.src in seen:
            picks = [seen[header.src]]
        elif rng is not None:
            picks = [rng.choice(picks)]
        results = []
        for ip, port in picks:
            after = replace(header, dst=ip, dport=port)
            nat = Nat(
                "DNAT",
                "dst",
                f"{header.dst}:{header.dport}",
                f"{ip}:{port}",
                "test",
                header,
                after,
                f"DNAT dst {header.dst}:{header.dport} -> {ip}:{port}",
            )
            new_state = {**seen, header.src: (ip, port)}
            results.append(
                HookResult(1 / len(picks), "ACCEPT", "", after, accept, (nat,), new_state)
            )
        return tuple(results)


def test_branches_are_enumerated_with_probabilities() -> None:
    dp = dataplane("l3")
    seam = FakeServiceNat(
        "10.96.7.7", [("10.244.0.3", 8080), ("10.244.1.3", 8080), ("10.244.2.3", 8080)]
    )
    index = prepare(dp, netfilter=seam)
    traces = trace_flow(index, make_flow(dp, "client/curl", "10.96.7.7:80"))
    assert_well_formed(traces)
    assert [t.probability for t in traces] == pytest.approx([1 / 3] * 3)
    assert [str(t.delivered_to.ip) for t in traces if t.delivered_to] == [
        "10.244.0.3",
        "10.244.1.3",
        "10.244.2.3",
    ]
    assert all(any(isinstance(s, Nat) for s in t.steps) for t in traces)


def test_seed_follows_one_branch_reproducibly() -> None:
    dp = dataplane("l3")
    seam = FakeServiceNat("10.96.7.7", [("10.244.0.3", 8080), ("10.244.1.3", 8080)])
    index = prepare(dp, netfilter=seam)
    flow = make_flow(dp, "client/curl", "10.96.7.7:80")
    first = trace_flow(index, flow, seed=7)
    assert len(first) == 1 and first == trace_flow(index, flow, seed=7)
    assert_well_formed(first, enumerated=False)


def test_session_carries_state_to_the_next_trace() -> None:
    dp = dataplane("l3")
    seam = FakeServiceNat("10.96.7.7", [("10.244.0.3", 8080), ("10.244.1.3", 8080)])
    index = prepare(dp, netfilter=seam)
    flow = make_flow(dp, "client/curl", "10.96.7.7:80")
    first = trace_flow(index, flow, seed=1)[0]
    assert isinstance(first.session, TraceSession)
    again = trace_flow(index, flow, session=first.session)
    assert len(again) == 1 and again[0].delivered_to == first.delivered_to


def test_reject_without_endpoints_is_its_own_disposition() -> None:
    dp = dataplane("l3")
    index = prepare(dp, netfilter=FakeServiceNat("10.96.7.7", []))
    traces = trace_flow(index, make_flow(dp, "client/curl", "10.96.7.7:80"))
    assert_well_formed(traces)
    assert traces[0].disposition is Disposition.REJECTED_NO_ENDPOINTS


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        (
            "ext:lapto",
            "node:node-1:30080",
            r"--from: no external client 'lapto' \(did you mean: laptop\)",
        ),
        ("client/curly", "node:node-1:30080", r"did you mean: client/curl"),
        ("node:node-9", "node:node-1:30080", r"no node 'node-9'"),
        ("client/curl", "node:node-1:0", r"--to: 'node:node-1:0': port '0' must be 1-65535"),
        (
            "client/curl",
            "svc:shop/web:81",
            r"Service shop/web has no tcp port '81' \(declared: 80/TCP \(http\)\)",
        ),
        ("client/curl", "svc:shop/wbe:80", r"did you mean: shop/web"),
        ("client/curl", "nonsense", r"--to: 'nonsense': use node:NODE:PORT"),
        ("curl", "node:node-1:1", r"--from: 'curl': use ext:NAME"),
    ],
)
def test_endpoint_errors_name_the_option(source: str, destination: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_flow(dataplane("l3"), source, destination)


def test_service_port_by_name_and_client_by_ip() -> None:
    dp = dataplane("l3")
    flow = make_flow(dp, "ext:203.0.113.10", "svc:shop/web:http", sport=41000)
    assert flow.source_netns == "client:laptop"
    assert flow.header.dport == 80 and flow.header.sport == 41000
    assert flow.header.dst == dp.state.services["shop/web"].cluster_ip


def test_reply_that_bypasses_the_dnat_node_is_asymmetric() -> None:
    """A NodePort DNAT on node-1 without SNAT: the endpoint on node-2 answers directly."""
    dp = dataplane("l3")
    seam = FakeServiceNat("192.168.56.11", [("10.244.1.3", 8080)])
    index = prepare(dp, netfilter=seam)
    (trace,) = trace_flow(index, make_flow(dp, "ext:laptop", "node:node-1:30080"), reply=True)
    assert_well_formed([trace])
    assert trace.disposition is Disposition.DELIVERED
    assert trace.asymmetric_return
    assert trace.reply is not None
    assert "node:node-1" not in [h.netns for h in trace.reply.hops]
    assert trace.reply.steps[-1].detail.endswith(
        "the client receives 10.244.1.3:8080 but waits for 192.168.56.11:30080"
        " (its stack answers with a reset)"
    )


def test_routing_loop_is_detected() -> None:
    """The router sends 10.99.0.0/16 to node-1, whose default route is the router."""
    from ipaddress import IPv4Network
    from types import MappingProxyType

    from netsim.dataplane.routing import Route, build_routing_table

    dp = dataplane("l3")
    router = dp.namespaces["router"]
    looped = build_routing_table(
        [
            *router.routes.routes,
            Route(IPv4Network("10.99.0.0/16"), gateway=IPv4Address("192.168.56.11")),
        ]
    )
    namespaces = dict(dp.namespaces)
    namespaces["router"] = replace(router, routes=looped)
    broken = replace(dp, namespaces=MappingProxyType(namespaces))
    (trace,) = trace_flow(
        prepare(broken, netfilter=NoNetfilter()), make_flow(broken, "ext:laptop", "10.99.0.1:80")
    )
    assert_well_formed([trace])
    assert trace.disposition is Disposition.LOOP
    assert [h.netns for h in trace.hops][-3:] == ["node:node-1", "switch:lan", "router"]


class DropForward:
    """Every FORWARD hook of a node drops (a firewall rule without a kube-proxy comment)."""

    def has_rules(self, netns: str) -> bool:
        return netns.startswith("node:")

    def run(
        self,
        request: HookRequest,
        header: Header,
        skb: object | None,
        state: object | None,
        now: float,
        rng: random.Random | None,
    ) -> tuple[HookResult, ...]:
        verdict = "DROP" if request.hook == "FORWARD" else "ACCEPT"
        step = Netfilter(request.hook, verdict, (), None, request.bridged, verdict)
        return (HookResult(1.0, verdict, "-A FORWARD -j DROP", header, step, (), state),)


def test_other_drops_are_dropped_by_netfilter() -> None:
    dp = dataplane("l3")
    index = prepare(dp, netfilter=DropForward())
    traces = trace_flow(index, make_flow(dp, "client/curl", "10.244.1.3:8080"))
    assert_well_formed(traces)
    assert traces[0].disposition is Disposition.DROPPED_BY_NETFILTER
    assert traces[0].steps[-1].detail == (
        "DROPPED_BY_NETFILTER: DROP in FORWARD: -A FORWARD -j DROP"
    )
