"""kube-proxy's own unit tests (``pkg/proxy/iptables/proxier_test.go``) run against netsim.

Every test here reproduces an upstream test, named in its docstring or case id,
with netsim's inputs: Services and EndpointSlices become ``ServicePortInfo`` and
``EndpointInfo``, kube-proxy's fake proxier (``NewFakeProxier``) becomes
``TEST_NODE``. Upstream's expected dumps are data (``data/upstream_*.rules``,
its literal text, dedented); its packet-flow tables are transcribed below.

Expected dumps are compared as ``test_kubeproxy.py`` compares
TestOverallIPTablesRules: netsim's payload through ``canonical_restore_text``
against upstream's expected text, which upstream writes in the order of its
``sortIPTablesRules``.

Packet flows are judged the way upstream's tracer (``tracePacket``) judges them.
The first packet of a connection walks nat PREROUTING (a jump to
KUBE-SERVICES); then, with the DNATed destination, the filter chains
KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS and KUBE-PROXY-FIREWALL,
whatever the packet's origin. Rules that test marks, conntrack state or
``recent`` history never match (there were no earlier packets). The output is
the DNAT destinations of all statistic branches in rule order
(``"10.180.0.1:80, 10.180.2.1:80"``), or a filter verdict (an explicit
``ACCEPT``, ``DROP`` or ``REJECT``), or ``""`` when nothing matched; ``masq``
says whether some branch jumped to KUBE-MARK-MASQ. addrtype LOCAL means
127.0.0.1 or one of the node's IPs. :func:`trace` runs that walk with netsim's
evaluator on :func:`tracer_ruleset`, the payload whose built-in chains are
replaced by the tracer's.

Not here: IPv6, partial syncs and their ``-X`` stale-chain deletions, and
kube-proxy's change trackers, metrics and health-check server (netsim does
not model them); LoadBalancer ``ipMode: Proxy`` (TestLoadBalancerIngressRouteTypeProxy),
which the manifest loader handles by leaving such IPs out of the Service
(``tests/model/test_manifests.py``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from netsim.control.kubeproxy import (
    LARGE_CLUSTER_ENDPOINTS_THRESHOLD,
    MASQUERADE_MARK,
    generate_rules,
)
from netsim.control.kubeproxy_ports import EndpointInfo, KubeProxyNode, ServicePortInfo
from netsim.control.kubeproxy_restore import canonical_restore_text
from netsim.errors import ManifestError
from netsim.model.kube_proxy_config import KubeProxyConfig
from netsim.model.manifests import Manifests, parse_manifest_documents
from netsim.netfilter.conntrack import ConntrackTable
from netsim.netfilter.evaluate import (
    CompiledRuleset,
    HookContext,
    HookOutcome,
    RecentState,
    compile_ruleset,
    evaluate_hook,
)
from netsim.netfilter.matching import Hook
from netsim.netfilter.packet import SCTP, TCP, UDP, Packet
from netsim.netfilter.parse import parse_iptables_save

DATA = Path(__file__).parent / "data"
A = IPv4Address

# --- kube-proxy's fake proxier and its test conventions -------------------------------

TEST_NODE_NAME = "test-node"  # testNodeName
NODE_IP = A("192.168.0.2")  # testNodeIP
NODE_IP_ALT = A("192.168.1.2")  # testNodeIPAlt
EXTERNAL_IP = A("192.168.99.11")  # testExternalIP: a Service externalIP that is also a node IP
NODE_IPS = (NODE_IP, NODE_IP_ALT, EXTERNAL_IP)  # testNodeIPs (its IPv6 addresses left out)
LOCALHOST = A("127.0.0.1")
# NewFakeProxier: ClusterCIDR detector 10.0.0.0/8, no --random-fully (the fake
# iptables lacks it), both nfacct counters present, localhost NodePorts on, and its
# fake network: lo 127.0.0.1, eth0 the three node IPs.
TEST_NODE = KubeProxyNode(
    name=TEST_NODE_NAME,
    ip=NODE_IP,
    local_cidr=IPv4Network("10.0.0.0/8"),
    config=KubeProxyConfig(random_fully=False),
    nfacct=True,
    addresses=(LOCALHOST, *NODE_IPS),
)
POD = A("10.0.0.2")  # the pod source most flows use
EXTERNAL_CLIENT = A("203.0.113.2")  # testExternalClient
EXTERNAL_CLIENT_BLOCKED = A("203.0.113.130")  # testExternalClientBlocked

# --- building netsim's inputs ---------------------------------------------------------


def endpoint(
    ip: str,
    port: int = 80,
    node: str | None = None,
    *,
    ready: bool = True,
    serving: bool = True,
    terminating: bool = False,
) -> EndpointInfo:
    """One EndpointSlice endpoint (``node`` is its nodeName)."""
    return EndpointInfo(
        A(ip), port, ready=ready, serving=serving, terminating=terminating, node_name=node
    )


def serving_terminating(ip: str, node: str) -> EndpointInfo:
    """An endpoint with ready=false, serving=true, terminating=true."""
    return endpoint(ip, node=node, ready=False, serving=True, terminating=True)


def not_serving(ip: str, node: str) -> EndpointInfo:
    """An endpoint with ready=false, serving=false, terminating=true."""
    return endpoint(ip, node=node, ready=False, serving=False, terminating=True)


def service_port(
    service: str,
    cluster_ip: str,
    endpoints: Sequence[EndpointInfo] = (),
    *,
    port_name: str = "p80",
    protocol: str = "tcp",
    port: int = 80,
    node_port: int = 0,
    external_ips: tuple[str, ...] = (),
    load_balancer_ips: tuple[str, ...] = (),
    source_ranges: tuple[str, ...] = (),
    external_policy_local: bool = False,
    internal_policy_local: bool = False,
    health_check_node_port: int = 0,
) -> ServicePortInfo:
    """One port of Service ``namespace/name`` as kube-proxy's service map holds it.

    ``health_check_node_port`` is what kube-proxy keeps: the Service's value
    only for ``type: LoadBalancer`` with eTP Local (NeedsHealthCheck), else 0.
    """
    namespace, name = service.split("/")
    return ServicePortInfo(
        namespace=namespace,
        name=name,
        port_name=port_name,
        protocol=protocol,
        cluster_ip=A(cluster_ip),
        port=port,
        node_port=node_port,
        external_ips=tuple(A(ip) for ip in external_ips),
        load_balancer_vips=tuple(A(ip) for ip in load_balancer_ips),
        source_ranges=tuple(IPv4Network(cidr) for cidr in source_ranges),
        external_policy_local=external_policy_local,
        internal_policy_local=internal_policy_local,
        health_check_node_port=health_check_node_port,
        endpoints=tuple(endpoints),
    )


def payload(ports: Sequence[ServicePortInfo], node: KubeProxyNode = TEST_NODE) -> str:
    """The restore text netsim's kube-proxy writes for ``ports`` on ``node``."""
    return generate_rules(ports, node).restore_text()


def read(name: str) -> str:
    return (DATA / name).read_text()


# --- upstream's packet tracer, on netsim's evaluator ----------------------------------

BUILTIN_CHAINS = frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})
# tracePacket: nat PREROUTING, then these filter chains one after the other (here
# filter INPUT jumps to each in turn).
TRACER_JUMPS: Mapping[str, tuple[Hook, tuple[str, ...]]] = {
    "nat": ("PREROUTING", ("KUBE-SERVICES",)),
    "filter": (
        "INPUT",
        ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"),
    ),
}
MASQ_MARK = int(MASQUERADE_MARK, 16)  # what KUBE-MARK-MASQ sets
PROTOCOLS = {"tcp": TCP, "udp": UDP, "sctp": SCTP}
SOURCE_PORT = 40000  # any: kube-proxy's rules never test the source port
LOCAL_ADDRESSES = frozenset({LOCALHOST, *NODE_IPS})  # the tracer's localIPs


def _of_builtin_chain(words: Sequence[str]) -> bool:
    """A built-in chain's declaration (``:INPUT - [0:0]``) or rule (``-A INPUT ...``)."""
    if words[:1] == ["-A"]:
        return words[1] in BUILTIN_CHAINS
    return bool(words) and words[0].startswith(":") and words[0][1:] in BUILTIN_CHAINS


def tracer_ruleset(restore_text: str, source: str) -> CompiledRuleset:
    """``restore_text`` with its built-in chains replaced by the tracer's walk."""
    lines: list[str] = []
    hook: Hook | None = None
    jumps: tuple[str, ...] = ()
    for line in restore_text.splitlines():
        words = line.split()
        if line.startswith("*"):
            hook, jumps = TRACER_JUMPS.get(line[1:], (None, ()))
            lines.append(line)
            if hook is not None:
                lines.append(f":{hook} ACCEPT [0:0]")
        elif line == "COMMIT":
            lines += [f"-A {hook} -j {chain}" for chain in jumps]
            lines.append(line)
        elif not _of_builtin_chain(words):
            lines.append(line)
    return compile_ruleset(parse_iptables_save("\n".join(lines) + "\n", source))


@dataclass(frozen=True, slots=True)
class Flow:
    """One packetFlowTest: a first packet and what upstream's tracer says of it."""

    name: str
    source: IPv4Address
    destination: IPv4Address
    port: int
    output: str
    masq: bool = False
    protocol: str = "tcp"


def _context(hook: Hook) -> HookContext:
    return HookContext(hook, "eth0", None, LOCAL_ADDRESSES, frozenset(), None, None)


def _filter_verdict(outcome: HookOutcome) -> str:
    """``DROP``/``REJECT``, ``ACCEPT`` when a filter rule accepted, ``""`` for the policy."""
    if outcome.verdict != "ACCEPT":
        return outcome.verdict
    accepted = any(
        v.table == "filter" and v.matched and v.action.split(";")[0] == "ACCEPT"
        for v in outcome.visits
    )
    return "ACCEPT" if accepted else ""


def trace(rules: CompiledRuleset, flow: Flow) -> tuple[str, bool]:
    """(output, masq) for ``flow``'s first packet, as upstream's tracePacket reports them."""
    packet = Packet(
        flow.source,
        flow.destination,
        PROTOCOLS[flow.protocol],
        sport=SOURCE_PORT,
        dport=flow.port,
    )
    destinations: list[str] = []
    verdicts: list[str] = []
    masq = False
    nat_outcomes = evaluate_hook(
        rules, packet, _context("PREROUTING"), ConntrackTable(), RecentState()
    )
    for nat in nat_outcomes:
        masq = masq or bool(nat.packet.mark & MASQ_MARK)
        destinations += [f"{c.new[0]}:{c.new[1]}" for c in nat.nat if c.kind == "DNAT"]
        for filtered in evaluate_hook(
            rules, nat.packet, _context("INPUT"), nat.conntrack, nat.recent
        ):
            verdict = _filter_verdict(filtered)
            if verdict and verdict not in verdicts:
                verdicts.append(verdict)
    return ", ".join(destinations + verdicts), masq


@dataclass(frozen=True, slots=True)
class Scenario:
    """One upstream syncProxyRules state and the flows run against it."""

    test: str
    ports: tuple[ServicePortInfo, ...]
    flows: tuple[Flow, ...]
    node: KubeProxyNode = TEST_NODE


@functools.cache
def scenario_rules(scenario: Scenario) -> CompiledRuleset:
    return tracer_ruleset(payload(scenario.ports, scenario.node), scenario.test)


def with_overrides(
    flows: Sequence[Flow], outputs: Mapping[str, str], masqs: Mapping[str, bool]
) -> tuple[Flow, ...]:
    """``flows`` with some outputs and masq values replaced by name (packetFlowTestOverride)."""
    unknown = (set(outputs) | set(masqs)) - {f.name for f in flows}
    assert not unknown, f"overrides name no flow: {sorted(unknown)}"
    return tuple(
        dataclasses.replace(f, output=outputs.get(f.name, f.output), masq=masqs.get(f.name, f.masq))
        for f in flows
    )


# --- TestTracePacket: the tracer itself, on upstream's literal ruleset ----------------

TRACE_PACKET_FLOWS = (
    Flow("no match", POD, A("10.0.0.3"), 80, ""),
    Flow("single endpoint", POD, A("172.30.0.41"), 80, "10.180.0.1:80"),
    Flow("multiple endpoints", POD, A("172.30.0.44"), 80, "10.180.0.4:80, 10.180.0.5:80"),
    Flow("LOCAL, KUBE-MARK-MASQ", NODE_IP, A("192.168.99.22"), 80, "10.180.0.2:80", masq=True),
    Flow("DROP", EXTERNAL_CLIENT, A("192.168.99.22"), 80, "DROP"),
    Flow("ACCEPT (NodePortHealthCheck)", NODE_IP, NODE_IP, 30000, "ACCEPT"),
    Flow("REJECT", POD, A("172.30.0.46"), 80, "REJECT"),
)


@functools.cache
def trace_packet_rules() -> CompiledRuleset:
    return tracer_ruleset(read("upstream_trace_packet.rules"), "upstream_trace_packet.rules")


@pytest.mark.parametrize("flow", TRACE_PACKET_FLOWS, ids=[f.name for f in TRACE_PACKET_FLOWS])
def test_tracer_agrees_on_upstreams_static_ruleset(flow: Flow) -> None:
    """TestTracePacket: the tracer on upstream's literal ruleset (not netsim's output)."""
    assert trace(trace_packet_rules(), flow) == (flow.output, flow.masq)


# --- the packet-flow tests ------------------------------------------------------------


def _no_endpoints_reject() -> list[Scenario]:
    port = service_port(
        "ns1/svc1",
        "172.30.0.41",
        node_port=3001,
        external_ips=("192.168.99.11",),
        load_balancer_ips=("1.2.3.4",),
    )
    cluster_ip, lb_ip = A("172.30.0.41"), A("1.2.3.4")
    flows = (
        Flow("pod to cluster IP with no endpoints", POD, cluster_ip, 80, "REJECT"),
        Flow(
            "external to external IP with no endpoints", EXTERNAL_CLIENT, EXTERNAL_IP, 80, "REJECT"
        ),
        Flow("pod to NodePort with no endpoints", POD, NODE_IP, 3001, "REJECT"),
        Flow("external to NodePort with no endpoints", EXTERNAL_CLIENT, NODE_IP, 3001, "REJECT"),
        Flow("pod to LoadBalancer IP with no endpoints", POD, lb_ip, 80, "REJECT"),
        Flow("external to LoadBalancer IP with no endpoints", EXTERNAL_CLIENT, lb_ip, 80, "REJECT"),
    )
    return [Scenario("TestNoEndpointsReject", (port,), flows)]


def _cluster_ip_general() -> list[Scenario]:
    svc1 = service_port(
        "ns1/svc1", "172.30.0.41", [endpoint("10.180.0.1", node=TEST_NODE_NAME)], port_name="http"
    )
    svc2 = [
        service_port(
            "ns2/svc2",
            "172.30.0.42",
            [
                endpoint("10.180.0.1", target, TEST_NODE_NAME),
                endpoint("10.180.2.1", target, "node2"),
            ],
            port_name=name,
            protocol=protocol,
            port=port,
        )
        for name, protocol, port, target in (
            ("http", "tcp", 80, 80),
            ("https", "tcp", 443, 8443),
            ("dns-udp", "udp", 53, 53),
            ("dns-tcp", "tcp", 53, 5353),
            ("dns-sctp", "sctp", 53, 53),
        )
    ]
    client, svc1_ip, svc2_ip = A("10.180.0.2"), A("172.30.0.41"), A("172.30.0.42")
    same_port = "clusterIP with TCP, UDP, and SCTP on same port"
    flows = (
        Flow("simple clusterIP", client, svc1_ip, 80, "10.180.0.1:80"),
        Flow("hairpin to cluster IP", A("10.180.0.1"), svc1_ip, 80, "10.180.0.1:80", masq=True),
        Flow(
            "clusterIP with multiple endpoints", client, svc2_ip, 80, "10.180.0.1:80, 10.180.2.1:80"
        ),
        Flow("clusterIP with TargetPort", client, svc2_ip, 443, "10.180.0.1:8443, 10.180.2.1:8443"),
        Flow(f"{same_port} (TCP)", client, svc2_ip, 53, "10.180.0.1:5353, 10.180.2.1:5353"),
        Flow(
            f"{same_port} (UDP)",
            client,
            svc2_ip,
            53,
            "10.180.0.1:53, 10.180.2.1:53",
            protocol="udp",
        ),
        Flow(
            f"{same_port} (SCTP)",
            client,
            svc2_ip,
            53,
            "10.180.0.1:53, 10.180.2.1:53",
            protocol="sctp",
        ),
        Flow("TCP-only port does not match UDP traffic", client, svc2_ip, 80, "", protocol="udp"),
        Flow("svc1 does not accept svc2's ports", client, svc1_ip, 443, ""),
    )
    return [Scenario("TestClusterIPGeneral", (svc1, *svc2), flows)]


def _load_balancer() -> list[Scenario]:
    port = service_port(
        "ns1/svc1",
        "172.30.0.41",
        [endpoint("10.180.0.1")],
        node_port=3001,
        load_balancer_ips=("1.2.3.4", "5.6.7.8"),
        source_ranges=(
            "192.168.0.0/24",
            "203.0.113.0/25",
        ),  # upstream: " 203.0.113.0/25", trimmed by the loader
    )
    ep, lb1, lb2 = "10.180.0.1:80", A("1.2.3.4"), A("5.6.7.8")
    flows = (
        Flow("pod to cluster IP", POD, A("172.30.0.41"), 80, ep),
        Flow("external to nodePort", EXTERNAL_CLIENT, NODE_IP, 3001, ep, masq=True),
        Flow(
            "nodePort bypasses LoadBalancerSourceRanges",
            EXTERNAL_CLIENT_BLOCKED,
            NODE_IP,
            3001,
            ep,
            masq=True,
        ),
        Flow("accepted external to LB1", EXTERNAL_CLIENT, lb1, 80, ep, masq=True),
        Flow("accepted external to LB2", EXTERNAL_CLIENT, lb2, 80, ep, masq=True),
        Flow("blocked external to LB1", EXTERNAL_CLIENT_BLOCKED, lb1, 80, "DROP"),
        Flow("blocked external to LB2", EXTERNAL_CLIENT_BLOCKED, lb2, 80, "DROP"),
        Flow("pod to LB1 (blocked by LoadBalancerSourceRanges)", POD, lb1, 80, "DROP"),
        Flow("pod to LB2 (blocked by LoadBalancerSourceRanges)", POD, lb2, 80, "DROP"),
        Flow("node to LB1 (allowed by LoadBalancerSourceRanges)", NODE_IP, lb1, 80, ep, masq=True),
        Flow("node to LB2 (allowed by LoadBalancerSourceRanges)", NODE_IP, lb2, 80, ep, masq=True),
        Flow("same node to LB1, SNATted to LB1 (implicitly allowed)", lb1, lb1, 80, ep, masq=True),
        Flow("same node to LB2, SNATted to LB2 (implicitly allowed)", lb2, lb2, 80, ep, masq=True),
    )
    return [Scenario("TestLoadBalancer", (port,), flows)]


def _node_ports() -> list[Scenario]:
    port = service_port(
        "ns1/svc1",
        "172.30.0.41",
        [endpoint("10.180.0.1"), endpoint("10.180.2.1", node=TEST_NODE_NAME)],
        node_port=3001,
    )
    both = "10.180.0.1:80, 10.180.2.1:80"
    common = (
        Flow("pod to cluster IP", POD, A("172.30.0.41"), 80, both),
        Flow("external to nodePort", EXTERNAL_CLIENT, NODE_IP, 3001, both, masq=True),
        Flow("node to nodePort", NODE_IP, NODE_IP, 3001, both, masq=True),
        Flow(
            "external to nodePort on secondary IP",
            EXTERNAL_CLIENT,
            NODE_IP_ALT,
            3001,
            both,
            masq=True,
        ),
    )
    enabled = Flow(
        "localhost to nodePort gets masqueraded", LOCALHOST, LOCALHOST, 3001, both, masq=True
    )
    disabled = Flow("localhost to nodePort is ignored", LOCALHOST, LOCALHOST, 3001, "")
    alt_ignored = Flow("secondary nodeIP ignores NodePorts", EXTERNAL_CLIENT, NODE_IP_ALT, 3001, "")
    return [
        Scenario("TestNodePorts/ipv4, localhost-nodeports enabled", (port,), (*common, enabled)),
        Scenario(
            "TestNodePorts/ipv4, localhost-nodeports disabled",
            (port,),
            (*common, disabled),
            node_ports_node(False),
        ),
        Scenario(
            "TestNodePorts/ipv4, localhost-nodeports disabled, localhost in nodeport-addresses",
            (port,),
            (*common[:3], disabled, alt_ignored),
            node_ports_node(False, "192.168.0.0/24", "127.0.0.1/32"),
        ),
        Scenario(  # upstream's name says enabled; its case sets localhostNodePorts false
            "TestNodePorts/ipv4, localhost-nodeports enabled, multiple nodeport-addresses",
            (port,),
            (*common, disabled),
            node_ports_node(False, "192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"),
        ),
    ]


def node_ports_node(localhost_nodeports: bool, *node_port_addresses: str) -> KubeProxyNode:
    """TEST_NODE with TestNodePorts' --iptables-localhost-nodeports and --nodeport-addresses."""
    config = KubeProxyConfig(
        random_fully=False,
        localhost_nodeports=localhost_nodeports,
        node_port_addresses=node_port_addresses,
    )
    return dataclasses.replace(TEST_NODE, config=config)


def _health_check_node_port() -> list[Scenario]:
    # Upstream also sets --nodeport-addresses 127.0.0.0/8, which only changes the
    # KUBE-SERVICES -> KUBE-NODEPORTS rule; with no endpoints no flow here reaches it.
    port = service_port(
        "ns1/svc1",
        "172.30.0.42",
        node_port=3001,
        external_policy_local=True,
        health_check_node_port=30000,
    )
    accepted = Flow("firewall accepts HealthCheckNodePort", A("1.2.3.4"), NODE_IP, 30000, "ACCEPT")
    deleted = Flow("HealthCheckNodePort no longer has any rule", A("1.2.3.4"), NODE_IP, 30000, "")
    node = node_ports_node(True, "127.0.0.0/8")  # fp.nodePortAddresses
    return [
        Scenario("TestHealthCheckNodePort", (port,), (accepted,), node),
        Scenario("TestHealthCheckNodePort/service deleted", (), (deleted,), node),
    ]


def _external_traffic_policy() -> list[Scenario]:
    endpoints = [endpoint("10.180.0.1"), endpoint("10.180.2.1", node=TEST_NODE_NAME)]
    local = service_port(
        "ns1/svc1",
        "172.30.0.41",
        endpoints,
        node_port=3001,
        external_ips=("192.168.99.11",),
        load_balancer_ips=("1.2.3.4",),
        external_policy_local=True,
        health_check_node_port=30000,
    )
    # eTP Cluster: the two differ only in the policy and the health-check port
    cluster = dataclasses.replace(local, external_policy_local=False, health_check_node_port=0)
    both, local_only = "10.180.0.1:80, 10.180.2.1:80", "10.180.2.1:80"
    cluster_ip, lb_ip = A("172.30.0.41"), A("1.2.3.4")
    local_flows = (
        Flow("pod to cluster IP hits both endpoints, unmasqueraded", POD, cluster_ip, 80, both),
        Flow("pod to external IP hits both endpoints, unmasqueraded", POD, EXTERNAL_IP, 80, both),
        Flow(
            "external to external IP hits only local endpoint, unmasqueraded",
            EXTERNAL_CLIENT,
            EXTERNAL_IP,
            80,
            local_only,
        ),
        Flow("pod to LB IP hits only both endpoints, unmasqueraded", POD, lb_ip, 80, both),
        Flow(
            "external to LB IP hits only local endpoint, unmasqueraded",
            EXTERNAL_CLIENT,
            lb_ip,
            80,
            local_only,
        ),
        Flow("pod to NodePort hits both endpoints, unmasqueraded", POD, NODE_IP, 3001, both),
        Flow(
            "external to NodePort hits only local endpoint, unmasqueraded",
            EXTERNAL_CLIENT,
            NODE_IP,
            3001,
            local_only,
        ),
    )
    cluster_flows = (
        Flow("pod to cluster IP hits both endpoints, unmasqueraded", POD, cluster_ip, 80, both),
        Flow(
            "pod to external IP hits both endpoints, masqueraded",
            POD,
            EXTERNAL_IP,
            80,
            both,
            masq=True,
        ),
        Flow(
            "external to external IP hits both endpoints, masqueraded",
            EXTERNAL_CLIENT,
            EXTERNAL_IP,
            80,
            both,
            masq=True,
        ),
        Flow("pod to LB IP hits both endpoints, masqueraded", POD, lb_ip, 80, both, masq=True),
        Flow(
            "external to LB IP hits both endpoints, masqueraded",
            EXTERNAL_CLIENT,
            lb_ip,
            80,
            both,
            masq=True,
        ),
        Flow(
            "pod to NodePort hits both endpoints, masqueraded", POD, NODE_IP, 3001, both, masq=True
        ),
        Flow(
            "external to NodePort hits both endpoints, masqueraded",
            EXTERNAL_CLIENT,
            NODE_IP,
            3001,
            both,
            masq=True,
        ),
    )
    return [
        Scenario("TestExternalTrafficPolicyLocal", (local,), local_flows),
        Scenario("TestExternalTrafficPolicyCluster", (cluster,), cluster_flows),
    ]


def _internal_traffic_policy() -> list[Scenario]:
    cluster_ip = A("172.30.1.1")
    cases: list[tuple[str, bool, list[EndpointInfo], str]] = [
        (
            "internalTrafficPolicy is cluster",
            False,
            [
                endpoint("10.0.1.1", node=TEST_NODE_NAME),
                endpoint("10.0.1.2", node="node1"),
                endpoint("10.0.1.3", node="node2"),
            ],
            "pod to ClusterIP hits all endpoints",
        ),
        (
            "internalTrafficPolicy is local and there is one local endpoint",
            True,
            [
                endpoint("10.0.1.1", node=TEST_NODE_NAME),
                endpoint("10.0.1.2", node="node1"),
                endpoint("10.0.1.3", node="node2"),
            ],
            "pod to ClusterIP hits only local endpoint",
        ),
        (
            "internalTrafficPolicy is local and there are multiple local endpoints",
            True,
            [
                endpoint("10.0.1.1", node=TEST_NODE_NAME),
                endpoint("10.0.1.2", node=TEST_NODE_NAME),
                endpoint("10.0.1.3", node="node2"),
            ],
            "pod to ClusterIP hits all local endpoints",
        ),
        (
            "internalTrafficPolicy is local and there are no local endpoints",
            True,
            [
                endpoint("10.0.1.1", node="node0"),
                endpoint("10.0.1.2", node="node1"),
                endpoint("10.0.1.3", node="node2"),
            ],
            "no endpoints",
        ),
    ]
    outputs = {
        "pod to ClusterIP hits all endpoints": "10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80",
        "pod to ClusterIP hits only local endpoint": "10.0.1.1:80",
        "pod to ClusterIP hits all local endpoints": "10.0.1.1:80, 10.0.1.2:80",
        "no endpoints": "DROP",
    }
    scenarios: list[Scenario] = []
    for case, local, endpoints, flow in cases:
        port = service_port(
            "ns1/svc1", "172.30.1.1", endpoints, port_name="", internal_policy_local=local
        )
        test = f"TestInternalTrafficPolicy/{case}"
        flows = (Flow(flow, POD, cluster_ip, 80, outputs[flow]),)
        deleted = (Flow("endpoints deleted", POD, cluster_ip, 80, "REJECT"),)
        scenarios += [
            Scenario(test, (port,), flows),
            Scenario(
                f"{test}/endpoints deleted", (dataclasses.replace(port, endpoints=()),), deleted
            ),
        ]
    return scenarios


def _terminating_endpoints() -> list[Scenario]:
    cluster_ip, lb_ip = A("172.30.1.1"), A("1.2.3.4")
    local = service_port(
        "ns1/svc1",
        "172.30.1.1",
        port_name="",
        load_balancer_ips=("1.2.3.4",),
        external_policy_local=True,
        health_check_node_port=30000,
    )
    # eTP Cluster: the Service's healthCheckNodePort 30000 is not kept (NeedsHealthCheck)
    cluster = dataclasses.replace(local, external_policy_local=False, health_check_node_port=0)
    here = TEST_NODE_NAME

    def flows(pod: tuple[str, str], external: tuple[str, str, bool]) -> tuple[Flow, ...]:
        return (
            Flow(pod[0], POD, cluster_ip, 80, pod[1]),
            Flow(external[0], EXTERNAL_CLIENT, lb_ip, 80, external[1], masq=external[2]),
        )

    local_cases = [
        (
            "ready endpoints exist",
            [
                endpoint("10.0.1.1", node=here),
                endpoint("10.0.1.2", node=here),
                serving_terminating("10.0.1.3", here),
                not_serving("10.0.1.4", here),
                endpoint("10.0.1.5", node="node-1"),
            ],
            flows(
                ("pod to clusterIP", "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80"),
                ("external to LB", "10.0.1.1:80, 10.0.1.2:80", False),
            ),
        ),
        (
            "only terminating endpoints exist",
            [
                serving_terminating("10.0.1.2", here),
                serving_terminating("10.0.1.3", here),
                not_serving("10.0.1.4", here),
                endpoint("10.0.1.5", node="node-1"),
            ],
            flows(
                ("pod to clusterIP", "10.0.1.5:80"),
                ("external to LB", "10.0.1.2:80, 10.0.1.3:80", False),
            ),
        ),
        (
            "terminating endpoints on remote node",
            [serving_terminating("10.0.1.5", "node-1")],
            flows(
                ("pod to clusterIP", "10.0.1.5:80"),
                ("external to LB, no locally-usable endpoints", "DROP", False),
            ),
        ),
        (
            "no usable endpoints on any node",
            [not_serving("10.0.1.5", here), not_serving("10.0.1.5", "node-1")],
            flows(
                ("pod to clusterIP, no usable endpoints", "REJECT"),
                ("external to LB, no usable endpoints", "REJECT", False),
            ),
        ),
    ]
    cluster_cases = [
        (
            "ready endpoints exist",
            [
                endpoint("10.0.1.1", node=here),
                endpoint("10.0.1.2", node=here),
                serving_terminating("10.0.1.3", "another-node"),
                not_serving("10.0.1.4", "another-node"),
                endpoint("10.0.1.5", node="another-node"),
            ],
            flows(
                ("pod to clusterIP", "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80"),
                ("external to LB", "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", True),
            ),
        ),
        (
            "only terminating endpoints exist",
            [
                serving_terminating("10.0.1.2", here),
                serving_terminating("10.0.1.3", here),
                not_serving("10.0.1.4", "another-node"),
                serving_terminating("10.0.1.5", "another-node"),
            ],
            flows(
                ("pod to clusterIP", "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80"),
                ("external to LB", "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80", True),
            ),
        ),
        (
            "terminating endpoints on remote node",
            [serving_terminating("10.0.1.5", "node-1")],
            flows(("pod to clusterIP", "10.0.1.5:80"), ("external to LB", "10.0.1.5:80", True)),
        ),
        (
            "no usable endpoints on any node",
            [not_serving("10.0.1.5", here), not_serving("10.0.1.5", "node-1")],
            flows(("pod to clusterIP", "REJECT"), ("external to LB", "REJECT", False)),
        ),
    ]
    deleted = flows(
        ("pod to clusterIP after endpoints deleted", "REJECT"),
        ("external to LB after endpoints deleted", "REJECT", False),
    )
    scenarios: list[Scenario] = []
    for test, port, cases in (
        ("TestTerminatingEndpointsTrafficPolicyLocal", local, local_cases),
        ("TestTerminatingEndpointsTrafficPolicyCluster", cluster, cluster_cases),
    ):
        for case, endpoints, case_flows in cases:
            scenarios += [
                Scenario(
                    f"{test}/{case}",
                    (dataclasses.replace(port, endpoints=tuple(endpoints)),),
                    case_flows,
                ),
                Scenario(f"{test}/{case}/endpoints deleted", (port,), deleted),
            ]
    return scenarios


# TestInternalExternalMasquerade's flowTests: the base case (a working local
# detector, no --masquerade-all); the variants override some of them by name.
_SVC1 = ("10.180.0.1:80, 10.180.1.1:80", A("172.30.0.41"), 3001, A("1.2.3.4"))
_SVC2 = ("10.180.0.2:80, 10.180.1.2:80", A("172.30.0.42"), 3002, A("5.6.7.8"))
_SVC3 = ("10.180.0.3:80, 10.180.1.3:80", A("172.30.0.43"), 3003, A("9.10.11.12"))
MASQUERADE_FLOWS = (
    Flow("pod to ClusterIP", POD, _SVC1[1], 80, _SVC1[0]),
    Flow("pod to NodePort", POD, NODE_IP, 3001, _SVC1[0], masq=True),
    Flow("pod to LB", POD, _SVC1[3], 80, _SVC1[0], masq=True),
    Flow("node to ClusterIP", NODE_IP, _SVC1[1], 80, _SVC1[0], masq=True),
    Flow("node to NodePort", NODE_IP, NODE_IP, 3001, _SVC1[0], masq=True),
    Flow("localhost to NodePort", LOCALHOST, LOCALHOST, 3001, _SVC1[0], masq=True),
    Flow("node to LB", NODE_IP, _SVC1[3], 80, _SVC1[0], masq=True),
    Flow("external to ClusterIP", EXTERNAL_CLIENT, _SVC1[1], 80, _SVC1[0], masq=True),
    Flow("external to NodePort", EXTERNAL_CLIENT, NODE_IP, 3001, _SVC1[0], masq=True),
    Flow("external to LB", EXTERNAL_CLIENT, _SVC1[3], 80, _SVC1[0], masq=True),
    Flow("pod to ClusterIP with eTP:Local", POD, _SVC2[1], 80, _SVC2[0]),
    Flow("pod to NodePort with eTP:Local", POD, NODE_IP, 3002, _SVC2[0]),
    Flow("pod to LB with eTP:Local", POD, _SVC2[3], 80, _SVC2[0]),
    Flow("node to ClusterIP with eTP:Local", NODE_IP, _SVC2[1], 80, _SVC2[0], masq=True),
    # upstream's case uses svc1's NodePort 3001 here, and so expects svc1's endpoints
    Flow("node to NodePort with eTP:Local", NODE_IP, NODE_IP, 3001, _SVC1[0], masq=True),
    Flow("localhost to NodePort with eTP:Local", LOCALHOST, LOCALHOST, 3002, _SVC2[0], masq=True),
    Flow("node to LB with eTP:Local", NODE_IP, _SVC2[3], 80, _SVC2[0], masq=True),
    Flow(
        "external to ClusterIP with eTP:Local", EXTERNAL_CLIENT, _SVC2[1], 80, _SVC2[0], masq=True
    ),
    Flow("external to NodePort with eTP:Local", EXTERNAL_CLIENT, NODE_IP, 3002, "10.180.0.2:80"),
    Flow("external to LB with eTP:Local", EXTERNAL_CLIENT, _SVC2[3], 80, "10.180.0.2:80"),
    Flow("pod to ClusterIP with iTP:Local", POD, _SVC3[1], 80, "10.180.0.3:80"),
    Flow("pod to NodePort with iTP:Local", POD, NODE_IP, 3003, _SVC3[0], masq=True),
    Flow("pod to LB with iTP:Local", POD, _SVC3[3], 80, _SVC3[0], masq=True),
    Flow("node to ClusterIP with iTP:Local", NODE_IP, _SVC3[1], 80, "10.180.0.3:80", masq=True),
    Flow("node to NodePort with iTP:Local", NODE_IP, NODE_IP, 3003, _SVC3[0], masq=True),
    Flow("localhost to NodePort with iTP:Local", LOCALHOST, LOCALHOST, 3003, _SVC3[0], masq=True),
    Flow("node to LB with iTP:Local", NODE_IP, _SVC3[3], 80, _SVC3[0], masq=True),
    Flow(
        "external to ClusterIP with iTP:Local",
        EXTERNAL_CLIENT,
        _SVC3[1],
        80,
        "10.180.0.3:80",
        masq=True,
    ),
    Flow(
        "external to NodePort with iTP:Local", EXTERNAL_CLIENT, NODE_IP, 3003, _SVC3[0], masq=True
    ),
    Flow("external to LB with iTP:Local", EXTERNAL_CLIENT, _SVC3[3], 80, _SVC3[0], masq=True),
)
_NO_DETECTOR_MASQ = dict.fromkeys(
    (
        "node to ClusterIP",
        "node to ClusterIP with eTP:Local",
        "node to ClusterIP with iTP:Local",
        "external to ClusterIP",
        "external to ClusterIP with eTP:Local",
        "external to ClusterIP with iTP:Local",
    ),
    False,
)
_NO_DETECTOR_OUTPUT = {
    "pod to NodePort with eTP:Local": "10.180.0.2:80",
    "pod to LB with eTP:Local": "10.180.0.2:80",
}
_MASQUERADE_ALL_MASQ = dict.fromkeys(
    (
        "pod to ClusterIP",
        "pod to ClusterIP with eTP:Local",
        "pod to ClusterIP with iTP:Local",
    ),
    True,
)


def _internal_external_masquerade() -> list[Scenario]:
    here = TEST_NODE_NAME
    ports = (
        # svc1 and svc3 set healthCheckNodePort 30001/30003, which eTP Cluster ignores
        service_port(
            "ns1/svc1",
            "172.30.0.41",
            [endpoint("10.180.0.1", node=here), endpoint("10.180.1.1", node="remote")],
            node_port=3001,
            load_balancer_ips=("1.2.3.4",),
        ),
        service_port(
            "ns2/svc2",
            "172.30.0.42",
            [endpoint("10.180.0.2", node=here), endpoint("10.180.1.2", node="remote")],
            node_port=3002,
            load_balancer_ips=("5.6.7.8",),
            external_policy_local=True,
            health_check_node_port=30002,
        ),
        service_port(
            "ns3/svc3",
            "172.30.0.43",
            [endpoint("10.180.0.3", node=here), endpoint("10.180.1.3", node="remote")],
            node_port=3003,
            load_balancer_ips=("9.10.11.12",),
            internal_policy_local=True,
        ),
    )
    no_detector = dataclasses.replace(TEST_NODE, local_cidr=None)
    masquerade_all = KubeProxyConfig(random_fully=False, masquerade_all=True)
    variants: list[tuple[str, KubeProxyNode, Mapping[str, str], Mapping[str, bool]]] = [
        ("base", TEST_NODE, {}, {}),
        ("no LocalTrafficDetector", no_detector, _NO_DETECTOR_OUTPUT, _NO_DETECTOR_MASQ),
        (
            "masqueradeAll",
            dataclasses.replace(TEST_NODE, config=masquerade_all),
            {},
            _MASQUERADE_ALL_MASQ,
        ),
        (
            "masqueradeAll, no LocalTrafficDetector",
            dataclasses.replace(no_detector, config=masquerade_all),
            _NO_DETECTOR_OUTPUT,
            _MASQUERADE_ALL_MASQ,
        ),
    ]
    return [
        Scenario(
            f"TestInternalExternalMasquerade/{name}",
            ports,
            with_overrides(MASQUERADE_FLOWS, outputs, masqs),
            node,
        )
        for name, node, outputs, masqs in variants
    ]


SCENARIOS = [
    *_no_endpoints_reject(),
    *_cluster_ip_general(),
    *_load_balancer(),
    *_node_ports(),
    *_health_check_node_port(),
    *_external_traffic_policy(),
    *_internal_traffic_policy(),
    *_terminating_endpoints(),
    *_internal_external_masquerade(),
]


@pytest.mark.parametrize(
    ("scenario", "flow"),
    [pytest.param(s, f, id=f"{s.test}: {f.name}") for s in SCENARIOS for f in s.flows],
)
def test_packet_flow_matches_upstream(scenario: Scenario, flow: Flow) -> None:
    """The runPacketFlowTests cases of the upstream test named in the id, on netsim's rules."""
    assert trace(scenario_rules(scenario), flow) == (flow.output, flow.masq)


# --- expected dumps -------------------------------------------------------------------


def without_deleted_chains(text: str) -> str:
    """A dump without the chains its ``-X`` lines delete (declaration and deletion).

    netsim writes no stale-chain deletions (spec §10); upstream's full resync
    declares each stale chain and then deletes it.
    """
    lines = text.splitlines()
    deleted = {line.split()[1] for line in lines if line.startswith("-X ")}
    kept = [
        line
        for line in lines
        if not line.startswith("-X ")
        and not (line.startswith(":") and line.split()[0][1:] in deleted)
    ]
    return "".join(line + "\n" for line in kept)


def test_sync_proxy_rules_repeated_first_sync() -> None:
    """TestSyncProxyRulesRepeated: the first (full) sync of two ClusterIP services."""
    ports = [
        service_port("ns1/svc1", "172.30.0.41", [endpoint("10.0.1.1")]),
        service_port(
            "ns2/svc2", "172.30.0.42", [endpoint("10.0.2.1", 8080)], port_name="p8080", port=8080
        ),
    ]
    expected = read("upstream_sync_repeated_first.rules")
    assert canonical_restore_text(payload(ports)) == expected


def test_sync_proxy_rules_repeated_full_resync() -> None:
    """TestSyncProxyRulesRepeated: the full resync after the failed partial one.

    svc2 and svc4 are gone, svc3 has two endpoints. The partial syncs before it
    are not modelled; upstream's ``-X`` deletions of svc4's chains are dropped
    from its expected text.
    """
    ports = [
        service_port("ns1/svc1", "172.30.0.41", [endpoint("10.0.1.1")]),
        service_port("ns3/svc3", "172.30.0.43", [endpoint("10.0.3.2"), endpoint("10.0.3.3")]),
    ]
    expected = without_deleted_chains(read("upstream_sync_repeated_full_resync.rules"))
    assert canonical_restore_text(payload(ports)) == expected


def test_bad_ips_service_gives_upstreams_rules() -> None:
    """TestBadIPs, with its addresses written without leading zeros.

    Upstream's Service spells them ``172.30.0.041``, ``10.180.00.001``,
    ``192.168.099.022``, ``1.2.3.004`` and ``203.0.113.000/025``; kube-proxy
    reads them as decimal and writes them canonically. netsim's inputs are
    addresses, not text, so they are canonical by construction, and its
    manifest loader refuses the leading-zero spelling with a hint (as the API
    server does for new objects): see the next test. What is checked here is
    the rest of upstream's expected ruleset for that Service.
    """
    port = service_port(
        "ns1/svc1",
        "172.30.0.41",
        [endpoint("10.180.0.1")],
        node_port=3001,
        external_ips=("192.168.99.22",),
        load_balancer_ips=("1.2.3.4",),
        source_ranges=("203.0.113.0/25",),
    )
    assert canonical_restore_text(payload([port])) == read("upstream_bad_ips.rules")


@pytest.mark.parametrize(
    ("field", "value", "fixed"),
    [
        ("clusterIP", "172.30.0.041", "172.30.0.41"),
        ("externalIPs", ["192.168.099.022"], "192.168.99.22"),
        ("loadBalancerSourceRanges", ["203.0.113.000/025"], "203.0.113.0/25"),
    ],
)
def test_bad_ips_are_refused_by_the_loader_with_the_decimal_reading(
    field: str, value: object, fixed: str
) -> None:
    """TestBadIPs' spellings in a manifest: refused, naming the field and the decimal form."""
    spec: dict[str, object] = {"type": "LoadBalancer", "ports": [{"port": 80}], field: value}
    document = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc1", "namespace": "ns1"},
        "spec": spec,
    }
    with pytest.raises(ManifestError) as caught:
        parse_manifest_documents([document], "bad-ips.yaml", Manifests())
    message = str(caught.value)
    assert "bad-ips.yaml" in message and "Service ns1/svc1" in message
    assert f"spec.{field}" in message
    assert f"leading zero is ambiguous (decimal or octal); did you mean {fixed}?" in message


# --- single chains (assertIPTablesChainEqual) -----------------------------------------


def chain_rules(restore_text: str, table: str, chain: str) -> list[str]:
    """The rules of ``chain`` in ``table``, in order."""
    current: str | None = None
    rules: list[str] = []
    for line in restore_text.splitlines():
        if line.startswith("*"):
            current = line[1:]
        elif current == table and line.startswith(f"-A {chain} "):
            rules.append(line)
    return rules


LOCALNET_RULE = (
    '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections"'
    " -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
)


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        pytest.param(
            node_ports_node(True), [LOCALNET_RULE], id="ipv4, localhost-nodeports enabled"
        ),
        pytest.param(node_ports_node(False), [], id="ipv4, localhost-nodeports disabled"),
        pytest.param(
            node_ports_node(False, "192.168.0.0/24", "127.0.0.1/32"),
            [],
            id="ipv4, localhost-nodeports disabled, localhost in nodeport-addresses",
        ),
        pytest.param(
            node_ports_node(False, "192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"),
            [],
            id="ipv4, localhost-nodeports enabled, multiple nodeport-addresses",
        ),
    ],
)
def test_node_ports_kubelet_firewall_chain(node: KubeProxyNode, expected: list[str]) -> None:
    """TestNodePorts: KUBE-FIREWALL holds the anti-martian rule only with localhost NodePorts."""
    port = service_port(
        "ns1/svc1",
        "172.30.0.41",
        [endpoint("10.180.0.1"), endpoint("10.180.2.1", node=TEST_NODE_NAME)],
        node_port=3001,
    )
    assert chain_rules(payload([port], node), "filter", "KUBE-FIREWALL") == expected


FORWARD_ACCEPT_RULES = [
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
]


@pytest.mark.parametrize(
    ("nfacct", "tcp_be_liberal", "drop_rules"),
    [
        pytest.param(
            False,
            False,
            ["-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP"],
            id="tcpLiberal is false and nfacctEnsured is false",
        ),
        pytest.param(
            True,
            False,
            [
                "-A KUBE-FORWARD -m conntrack --ctstate INVALID"
                " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP"
            ],
            id="tcpLiberal is false and nfacctEnsured is true",
        ),
        pytest.param(False, True, [], id="tcpLiberal is true and nfacctEnsured is false"),
    ],
)
def test_drop_invalid_rule(nfacct: bool, tcp_be_liberal: bool, drop_rules: list[str]) -> None:
    """TestDropInvalidRule: the INVALID drop rule follows nfacct and nf_conntrack_tcp_be_liberal."""
    node = dataclasses.replace(TEST_NODE, nfacct=nfacct, tcp_be_liberal=tcp_be_liberal)
    assert chain_rules(payload([], node), "filter", "KUBE-FORWARD") == [
        *drop_rules,
        *FORWARD_ACCEPT_RULES,
    ]


@pytest.mark.parametrize(
    "random_fully", [False, True], ids=["randomFully false", "randomFully true"]
)
def test_masquerade_rule(random_fully: bool) -> None:
    """TestMasqueradeRule: MASQUERADE gets --random-fully when iptables supports it."""
    node = dataclasses.replace(TEST_NODE, config=KubeProxyConfig(random_fully=random_fully))
    assert chain_rules(payload([], node), "nat", "KUBE-POSTROUTING") == [
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT"'
        " -j MASQUERADE" + (" --random-fully" if random_fully else ""),
    ]


# --- large-cluster mode ---------------------------------------------------------------


def dnat_rules(restore_text: str) -> list[str]:
    """The endpoints' DNAT rules (countEndpointsAndComments)."""
    return [
        line
        for line in restore_text.splitlines()
        if line.startswith("-A KUBE-SEP-") and "-j DNAT" in line
    ]


def dnat_rule_to(rules: Sequence[str], ip: str) -> str:
    (rule,) = [r for r in rules if f"--to-destination {ip}:" in r]
    return rule


def test_sync_proxy_rules_large_cluster_mode() -> None:
    """TestSyncProxyRulesLargeClusterMode, its full syncs (partial syncs are not modelled).

    With 998 endpoints every DNAT rule has its comment; 1001 or more switch
    large-cluster mode on and every comment goes.
    """
    node = dataclasses.replace(
        TEST_NODE, config=KubeProxyConfig(random_fully=False, masquerade_all=True)
    )
    half = LARGE_CLUSTER_ENDPOINTS_THRESHOLD // 2 - 1
    svc1 = service_port(
        "ns1/svc1", "172.30.0.41", [endpoint(f"10.0.{i % 256}.{i // 256}") for i in range(half)]
    )
    svc2 = service_port(
        "ns2/svc2",
        "172.30.0.42",
        [endpoint(f"10.1.{i % 256}.{i // 256}", 8080) for i in range(half)],
        port_name="p8080",
        port=8080,
    )
    svc3 = service_port(
        "ns3/svc3",
        "172.30.0.43",
        [endpoint(ip, 8081) for ip in ("203.0.113.4", "203.0.113.8", "203.0.113.12")],
        port_name="p8081",
        port=8081,
    )
    svc4 = service_port(
        "ns4/svc4", "172.30.0.44", [endpoint("10.4.0.1", 8082)], port_name="p8082", port=8082
    )

    small = dnat_rules(payload([svc1, svc2, dataclasses.replace(svc3, endpoints=())], node))
    assert len(small) == 2 * half
    assert all("--comment" in rule for rule in small)
    assert dnat_rule_to(small, "10.0.0.0") == (
        "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m comment --comment ns1/svc1:p80"
        " -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80"
    )

    large = dnat_rules(payload([svc1, svc2, svc3], node))
    assert len(large) == 2 * half + 3
    assert not any("--comment" in rule for rule in large)
    assert dnat_rule_to(large, "10.0.0.0") == (
        "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80"
    )
    assert dnat_rule_to(large, "203.0.113.4") == (
        "-A KUBE-SEP-RUVVH7YV3PHQBDOS -m tcp -p tcp -j DNAT --to-destination 203.0.113.4:8081"
    )

    with_svc4 = dnat_rules(payload([svc1, svc2, svc3, svc4], node))
    assert dnat_rule_to(with_svc4, "10.4.0.1") == (
        "-A KUBE-SEP-SU5STNODRYEWJAUF -m tcp -p tcp -j DNAT --to-destination 10.4.0.1:8082"
    )


# --- the canonical order itself -------------------------------------------------------

SORT_CASES = {
    "basic test using each match type": "basic",
    "extra tables": "extra_tables",
    "correctly match same service name in different styles of comments": "comment_styles",
    "unexpected junk lines are preserved": "junk",
}


@pytest.mark.parametrize("case", list(SORT_CASES.values()), ids=list(SORT_CASES))
def test_canonical_order_equals_upstreams_sort(case: str) -> None:
    """TestSortIPTablesRules: ``canonical_restore_text`` orders as upstream's sortIPTablesRules."""
    given = read(f"upstream_sort_{case}_input.rules")
    assert canonical_restore_text(given) == read(f"upstream_sort_{case}_output.rules")
