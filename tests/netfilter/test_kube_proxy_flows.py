"""kube-proxy's rules evaluated: the packet walks of spec §7-§9 on node-1.

Each ruleset is what kube-proxy writes (``generate_rules``) on a fresh node
(``node_restore_text``), read back by ``parse_iptables_save``. The node::

    client 192.168.56.100 ──eth0── node-1 192.168.56.11 ──cni0 10.244.1.1── pods 10.244.1.0/24
                                     │ (routes 10.244.2.0/24 via node-2 on eth0)

kube-proxy's local-traffic detector is ClusterCIDR 10.244.0.0/16.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

import pytest

from netsim.control.kubeproxy import generate_rules
from netsim.control.kubeproxy_ports import EndpointInfo, KubeProxyNode, ServicePortInfo
from netsim.control.kubeproxy_restore import node_restore_text
from netsim.netfilter.conntrack import ConntrackTable
from netsim.netfilter.evaluate import (
    CompiledRuleset,
    HookContext,
    HookOutcome,
    RecentState,
    compile_ruleset,
    evaluate_hook,
)
from netsim.netfilter.packet import Packet, reply_of, with_tcp_flags
from netsim.netfilter.parse import parse_iptables_save
from netsim.netfilter.recent import last_seen
from netsim.netfilter.ruleset import TcpFlag

A = IPv4Address
NODE_IP = A("192.168.56.11")
CNI0_IP = A("10.244.1.1")
LOCAL_PODS = IPv4Network("10.244.1.0/24")
LOCAL = frozenset({NODE_IP, CNI0_IP, A("127.0.0.1")})
BROADCASTS = frozenset({A("192.168.56.255"), A("10.244.1.255")})
CLIENT = A("192.168.56.100")
POD = A("10.244.1.9")
VIP = A("10.96.0.10")
LB_VIP = A("203.0.113.10")
EXTERNAL_IP = A("198.51.100.200")
MARK = 0x4000
NODE = KubeProxyNode("node-1", NODE_IP, IPv4Network("10.244.0.0/16"))

LOCAL_EP = EndpointInfo(A("10.244.1.5"), 8080, node_name="node-1")
REMOTE_EPS = (
    EndpointInfo(A("10.244.2.5"), 8080, node_name="node-2"),
    EndpointInfo(A("10.244.2.6"), 8080, node_name="node-2"),
)


def service(**changes: object) -> ServicePortInfo:
    values: dict[str, object] = {
        "namespace": "default",
        "name": "web",
        "port_name": "http",
        "protocol": "tcp",
        "cluster_ip": VIP,
        "port": 80,
        "endpoints": (LOCAL_EP, *REMOTE_EPS),
    }
    values.update(changes)
    return ServicePortInfo(**values)  # type: ignore[arg-type]


def node_ruleset(*ports: ServicePortInfo) -> CompiledRuleset:
    text = node_restore_text(generate_rules(ports, NODE))
    return compile_ruleset(parse_iptables_save(text, "kube-proxy node-1"))


INTERFACE_ADDRESS = {"eth0": NODE_IP, "cni0": CNI0_IP}


def route(dst: IPv4Address) -> tuple[str, IPv4Address]:
    """node-1's routing: local pods on cni0, everything else on eth0 (and its source)."""
    out_if = "cni0" if dst in LOCAL_PODS else "eth0"
    return out_if, INTERFACE_ADDRESS[out_if]


def ctx(hook: str, in_if: str | None, out_if: str | None, now: float = 0.0) -> HookContext:
    """What node-1 knows at ``hook``; MASQUERADE uses the out interface's address."""
    return HookContext(
        hook,  # type: ignore[arg-type]
        in_if,
        out_if,
        LOCAL,
        BROADCASTS,
        masquerade_source=INTERFACE_ADDRESS[out_if] if out_if else None,
        redirect_address=INTERFACE_ADDRESS[in_if] if in_if else None,
        now=now,
    )


@dataclass
class Path:
    """One way through node-1: the hooks passed and where the packet ended."""

    probability: float
    hooks: list[tuple[str, HookOutcome]] = field(default_factory=list)

    @property
    def last(self) -> HookOutcome:
        return self.hooks[-1][1]

    @property
    def verdict(self) -> str:
        return self.last.verdict

    def outcome(self, hook: str) -> HookOutcome:
        return dict(self.hooks)[hook]

    def visits(self, hook: str, table: str | None = None) -> list[str]:
        return [
            f"{v.chain}: {v.action}"
            for v in self.outcome(hook).visits
            if table is None or v.table == table
        ]

    @property
    def dnat(self) -> IPv4Address:
        return self.outcome(self.hooks[0][0]).packet.dst


def extend(path: Path, hook: str, outcomes: Iterable[HookOutcome]) -> list[Path]:
    return [Path(path.probability * o.probability, [*path.hooks, (hook, o)]) for o in outcomes]


def arrive(
    rules: CompiledRuleset,
    packet: Packet,
    in_if: str,
    conntrack: ConntrackTable | None = None,
    recent: RecentState | None = None,
    now: float = 0.0,
    rng: random.Random | None = None,
) -> list[Path]:
    """A packet coming in on ``in_if``: PREROUTING, then INPUT or FORWARD + POSTROUTING."""
    pre = evaluate_hook(
        rules,
        packet,
        ctx("PREROUTING", in_if, None, now),
        conntrack or ConntrackTable(),
        recent or RecentState(),
        rng=rng,
    )
    done: list[Path] = []
    for path in extend(Path(1.0), "PREROUTING", pre):
        out = path.last
        if out.verdict != "ACCEPT":
            done.append(path)
        elif out.packet.dst in LOCAL:
            done += extend(path, "INPUT", _hook(rules, out, "INPUT", in_if, None, now, rng))
        else:
            done += _forward(rules, path, in_if, now, rng)
    return done


def _hook(
    rules: CompiledRuleset,
    before: HookOutcome,
    hook: str,
    in_if: str | None,
    out_if: str | None,
    now: float,
    rng: random.Random | None,
) -> tuple[HookOutcome, ...]:
    return evaluate_hook(
        rules,
        before.packet,
        ctx(hook, in_if, out_if, now),
        before.conntrack,
        before.recent,
        rng=rng,
    )


def _forward(
    rules: CompiledRuleset, path: Path, in_if: str | None, now: float, rng: random.Random | None
) -> list[Path]:
    """FORWARD (for a routed packet, ``in_if`` set) and POSTROUTING, routed on the new destination."""
    out_if = route(path.last.packet.dst)[0]
    done: list[Path] = []
    paths = [path]
    if in_if is not None:
        paths = extend(path, "FORWARD", _hook(rules, path.last, "FORWARD", in_if, out_if, now, rng))
    for p in paths:
        if p.verdict != "ACCEPT":
            done.append(p)
            continue
        done += extend(
            p, "POSTROUTING", _hook(rules, p.last, "POSTROUTING", None, out_if, now, rng)
        )
    return done


def send_from_node(
    rules: CompiledRuleset, packet: Packet, rng: random.Random | None = None
) -> list[Path]:
    """A packet from a socket of node-1: OUTPUT, re-route after DNAT, POSTROUTING."""
    out_if = route(packet.dst)[0]
    first = evaluate_hook(
        rules, packet, ctx("OUTPUT", None, out_if), ConntrackTable(), RecentState(), rng=rng
    )
    done: list[Path] = []
    for path in extend(Path(1.0), "OUTPUT", first):
        if path.verdict != "ACCEPT":
            done.append(path)
        else:
            done += _forward(rules, path, None, 0.0, rng)
    return done


def syn(src: IPv4Address, dst: IPv4Address, dport: int, sport: int = 40000) -> Packet:
    return Packet(src, dst, sport=sport, dport=dport)


def endpoints_of(paths: list[Path]) -> dict[tuple[IPv4Address, int], float]:
    return {(p.dnat, p.outcome(p.hooks[0][0]).packet.dport): p.probability for p in paths}


# --- ClusterIP ------------------------------------------------------------------------


def test_cluster_ip_from_a_pod_goes_to_each_endpoint_with_a_third_and_is_not_masqueraded() -> None:
    paths = arrive(node_ruleset(service()), syn(POD, VIP, 80), "cni0")
    assert len(paths) == 3
    assert set(endpoints_of(paths)) == {
        (A("10.244.1.5"), 8080),
        (A("10.244.2.5"), 8080),
        (A("10.244.2.6"), 8080),
    }
    for path in paths:
        assert path.probability == pytest.approx(1 / 3, abs=1e-9)
        assert [h for h, _ in path.hooks] == ["PREROUTING", "FORWARD", "POSTROUTING"]
        assert path.verdict == "ACCEPT"
        post = path.outcome("POSTROUTING")
        assert post.packet.src == POD and post.packet.sport == 40000
        assert post.packet.mark == 0
        assert "KUBE-POSTROUTING: RETURN" in path.visits("POSTROUTING", "nat")
        (change,) = path.outcome("PREROUTING").nat
        assert change.kind == "DNAT" and change.old == (VIP, 80)
        assert change.by is not None and change.by.startswith("-A KUBE-SEP-")
    assert sum(p.probability for p in paths) == pytest.approx(1.0, abs=1e-12)


def test_cluster_ip_from_the_node_is_marked_and_masqueraded() -> None:
    paths = send_from_node(node_ruleset(service()), syn(NODE_IP, VIP, 80))
    assert len(paths) == 3
    for path in paths:
        output = path.outcome("OUTPUT")
        assert output.packet.mark == MARK
        assert "KUBE-MARK-MASQ: MARK set 0x4000/0x4000 (mark 0x4000)" in path.visits(
            "OUTPUT", "nat"
        )
        post = path.outcome("POSTROUTING")
        assert "KUBE-POSTROUTING: MASQUERADE to" in " ".join(path.visits("POSTROUTING", "nat"))
        assert post.packet.mark == 0  # KUBE-POSTROUTING's --xor-mark cleared the bit
        _, source = route(post.packet.dst)
        assert post.packet.src == source
    local = next(p for p in paths if p.dnat == LOCAL_EP.ip)
    (masquerade,) = local.outcome("POSTROUTING").nat
    assert (masquerade.kind, masquerade.old[0], masquerade.new[0]) == (
        "MASQUERADE",
        NODE_IP,
        CNI0_IP,
    )


# --- NodePort and external traffic policy ---------------------------------------------


def test_node_port_from_outside_with_etp_cluster_is_masqueraded() -> None:
    rules = node_ruleset(service(node_port=30080))
    paths = arrive(rules, syn(CLIENT, NODE_IP, 30080), "eth0")
    assert {p.dnat for p in paths} == {LOCAL_EP.ip, *(e.ip for e in REMOTE_EPS)}
    for path in paths:
        nat = path.visits("PREROUTING", "nat")
        assert nat[:4] == [
            "PREROUTING: jump KUBE-SERVICES",
            "KUBE-SERVICES: no match: -d 10.96.0.10/32",
            "KUBE-SERVICES: jump KUBE-NODEPORTS",
            "KUBE-NODEPORTS: jump KUBE-EXT-CDGGSHYLG3RE2FKL",
        ]
        assert "KUBE-EXT-CDGGSHYLG3RE2FKL: jump KUBE-MARK-MASQ" in nat
        post = path.outcome("POSTROUTING")
        masquerade = route(post.packet.dst)[1]
        assert post.packet.src == masquerade
        assert [c.kind for c in post.nat] == ["MASQUERADE"]
        assert path.outcome("FORWARD").verdict == "ACCEPT"
        assert "KUBE-FORWARD: ACCEPT" in path.visits("FORWARD")


def test_node_port_with_etp_local_and_a_local_endpoint_keeps_the_client_address() -> None:
    rules = node_ruleset(service(node_port=30080, external_policy_local=True))
    (path,) = arrive(rules, syn(CLIENT, NODE_IP, 30080), "eth0")
    assert path.probability == 1.0
    assert path.dnat == LOCAL_EP.ip
    assert "KUBE-EXT-CDGGSHYLG3RE2FKL: jump KUBE-SVL-CDGGSHYLG3RE2FKL" in path.visits("PREROUTING")
    post = path.outcome("POSTROUTING")
    assert post.packet.src == CLIENT and post.nat == ()
    assert path.verdict == "ACCEPT"


def etp_local_remote_only() -> CompiledRuleset:
    return node_ruleset(
        service(
            node_port=30080,
            external_policy_local=True,
            external_ips=(EXTERNAL_IP,),
            endpoints=REMOTE_EPS,
        )
    )


def test_node_port_with_etp_local_and_no_local_endpoint_is_dropped_in_input() -> None:
    (path,) = arrive(etp_local_remote_only(), syn(CLIENT, NODE_IP, 30080), "eth0")
    assert [h for h, _ in path.hooks] == ["PREROUTING", "INPUT"]
    assert path.outcome("PREROUTING").nat == ()
    assert path.verdict == "DROP"
    drop = path.last.visits[-1]
    assert drop.chain == "KUBE-EXTERNAL-SERVICES"
    assert '"default/web:http has no local endpoints"' in drop.text


def test_external_ip_with_etp_local_and_no_local_endpoint_is_dropped_in_forward() -> None:
    (path,) = arrive(etp_local_remote_only(), syn(CLIENT, EXTERNAL_IP, 80), "eth0")
    assert [h for h, _ in path.hooks] == ["PREROUTING", "FORWARD"]
    assert path.verdict == "DROP"
    assert "has no local endpoints" in path.last.visits[-1].text


def test_etp_local_traffic_from_a_pod_is_short_circuited_to_every_endpoint() -> None:
    paths = arrive(etp_local_remote_only(), syn(POD, NODE_IP, 30080), "cni0")
    assert {p.dnat for p in paths} == {e.ip for e in REMOTE_EPS}
    assert all(p.outcome("POSTROUTING").packet.src == POD for p in paths)


def test_internal_traffic_policy_local_uses_only_the_local_endpoint() -> None:
    (path,) = arrive(node_ruleset(service(internal_policy_local=True)), syn(POD, VIP, 80), "cni0")
    assert path.dnat == LOCAL_EP.ip
    assert "KUBE-SERVICES: jump KUBE-SVL-CDGGSHYLG3RE2FKL" in path.visits("PREROUTING")


def test_internal_traffic_policy_local_without_local_endpoints_is_dropped() -> None:
    rules = node_ruleset(service(internal_policy_local=True, endpoints=REMOTE_EPS))
    (path,) = arrive(rules, syn(POD, VIP, 80), "cni0")
    assert path.verdict == "DROP"
    assert path.last.visits[-1].chain == "KUBE-SERVICES"
    assert "has no local endpoints" in path.last.visits[-1].text


# --- session affinity -----------------------------------------------------------------


def test_session_affinity_sends_the_second_connection_to_the_same_endpoint() -> None:
    rules = node_ruleset(service(affinity_seconds=10800))
    (first,) = arrive(rules, syn(POD, VIP, 80), "cni0", rng=random.Random(7))
    picked = first.dnat
    pre = first.outcome("PREROUTING")
    sep = next(v.chain for v in pre.visits if v.action.startswith("DNAT"))
    assert last_seen(pre.recent, sep, POD) == 0.0
    state, table = first.last.recent, first.last.conntrack
    for rng in (random.Random(8), None):
        (again,) = arrive(rules, syn(POD, VIP, 80, sport=40001), "cni0", table, state, 60.0, rng)
        assert again.dnat == picked
        assert again.probability == 1.0
        assert any("--rcheck" in v.text and v.matched for v in again.outcome("PREROUTING").visits)
    expired = arrive(rules, syn(POD, VIP, 80, sport=40002), "cni0", table, state, 10861.0)
    assert len(expired) == 3  # past --seconds 10800 the affinity is gone


# --- no endpoints, source ranges, hairpin ---------------------------------------------


def test_a_service_without_endpoints_is_rejected_in_filter() -> None:
    (path,) = arrive(node_ruleset(service(endpoints=())), syn(POD, VIP, 80), "cni0")
    assert path.verdict == "REJECT"
    assert path.last.reject_with == "icmp-port-unreachable"
    reject = path.last.visits[-1]
    assert (reject.table, reject.chain, reject.action) == ("filter", "KUBE-SERVICES", "REJECT")
    assert '"default/web:http has no endpoints"' in reject.text
    assert path.outcome("PREROUTING").nat == ()


def test_load_balancer_source_ranges_let_allowed_sources_in_and_drop_the_rest() -> None:
    rules = node_ruleset(
        service(
            load_balancer_vips=(LB_VIP,),
            source_ranges=(IPv4Network("198.51.100.0/24"),),
            node_port=30080,
        )
    )
    allowed = arrive(rules, syn(A("198.51.100.7"), LB_VIP, 80), "eth0")
    assert len(allowed) == 3 and all(p.verdict == "ACCEPT" for p in allowed)
    assert all(
        "KUBE-FW-CDGGSHYLG3RE2FKL: jump KUBE-EXT-CDGGSHYLG3RE2FKL" in p.visits("PREROUTING")
        for p in allowed
    )
    (denied,) = arrive(rules, syn(A("192.0.2.9"), LB_VIP, 80), "eth0")
    assert denied.outcome("PREROUTING").nat == ()
    assert "KUBE-FW-CDGGSHYLG3RE2FKL: no target" in denied.visits("PREROUTING")
    assert denied.verdict == "DROP"
    drop = denied.last.visits[-1]
    assert drop.chain == "KUBE-PROXY-FIREWALL"
    assert "traffic not accepted by KUBE-FW-CDGGSHYLG3RE2FKL" in drop.text


def test_an_endpoint_calling_its_own_service_is_masqueraded_when_it_picks_itself() -> None:
    paths = arrive(node_ruleset(service()), syn(LOCAL_EP.ip, VIP, 80), "cni0")
    by_endpoint = {p.dnat: p for p in paths}
    hairpin = by_endpoint[LOCAL_EP.ip]
    assert any(
        v.startswith("KUBE-SEP-") and v.endswith(": jump KUBE-MARK-MASQ")
        for v in hairpin.visits("PREROUTING")
    )
    post = hairpin.outcome("POSTROUTING")
    assert post.packet.src == CNI0_IP
    assert [c.kind for c in post.nat] == ["MASQUERADE"]
    for endpoint in REMOTE_EPS:
        assert by_endpoint[endpoint.ip].outcome("POSTROUTING").packet.src == LOCAL_EP.ip


# --- replies and later packets --------------------------------------------------------


def test_the_backends_reply_is_un_dnatted_to_the_cluster_ip() -> None:
    rules = node_ruleset(service())
    path = next(p for p in arrive(rules, syn(POD, VIP, 80), "cni0") if p.dnat == REMOTE_EPS[0].ip)
    answer = reply_of(path.last.packet)
    (back,) = arrive(rules, answer, "eth0", path.last.conntrack, path.last.recent)
    post = back.outcome("POSTROUTING")
    assert (post.packet.src, post.packet.sport, post.packet.dst, post.packet.dport) == (
        VIP,
        80,
        POD,
        40000,
    )
    assert [(c.kind, c.by) for c in post.nat] == [("un-DNAT", "conntrack")]
    assert back.outcome("PREROUTING").is_reply
    assert all(v.table != "nat" for _, o in back.hooks for v in o.visits)


def test_a_masqueraded_reply_is_un_snatted_then_un_dnatted() -> None:
    rules = node_ruleset(service(node_port=30080))
    path = next(
        p for p in arrive(rules, syn(CLIENT, NODE_IP, 30080), "eth0") if p.dnat == REMOTE_EPS[1].ip
    )
    (back,) = arrive(
        rules, reply_of(path.last.packet), "eth0", path.last.conntrack, path.last.recent
    )
    pre, post = back.outcome("PREROUTING"), back.outcome("POSTROUTING")
    assert [c.kind for c in pre.nat] == ["un-SNAT"]
    assert pre.packet.dst == CLIENT
    assert [c.kind for c in post.nat] == ["un-DNAT"]
    assert (post.packet.src, post.packet.sport) == (NODE_IP, 30080)
    assert back.verdict == "ACCEPT"
    assert "KUBE-FORWARD: ACCEPT" in back.visits("FORWARD")  # RELATED,ESTABLISHED


def test_later_packets_of_a_flow_are_translated_by_conntrack_without_visiting_nat() -> None:
    rules = node_ruleset(service())
    path = next(p for p in arrive(rules, syn(POD, VIP, 80), "cni0") if p.dnat == REMOTE_EPS[0].ip)
    (back,) = arrive(
        rules, reply_of(path.last.packet), "eth0", path.last.conntrack, path.last.recent
    )
    ack = with_tcp_flags(syn(POD, VIP, 80), TcpFlag.ACK)
    (later,) = arrive(rules, ack, "cni0", back.last.conntrack, back.last.recent)
    pre = later.outcome("PREROUTING")
    assert pre.ct_state == "ESTABLISHED" and not pre.is_reply
    assert [v for _, o in later.hooks for v in o.visits if v.table == "nat"] == []
    assert [(c.kind, c.by, c.new) for c in pre.nat] == [
        ("DNAT", "conntrack", (REMOTE_EPS[0].ip, 8080))
    ]
    assert "KUBE-FORWARD: ACCEPT" in later.visits("FORWARD")
