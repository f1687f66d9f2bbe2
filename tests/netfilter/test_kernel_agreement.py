"""The evaluator against the real kernel: the NAT conntrack records is the NAT netsim predicts.

A private lab of network namespaces (names ``nsime-<random>-…``, addresses in
10.250.0.0/16 that exist only inside them)::

    client 10.250.1.2 ──c0─n0── node 10.250.1.1 ──n1─e0── b1 10.250.2.2:8080
                                 (forwarding)   10.250.2.1
                                                ──n2─e0── b2 10.250.3.2:8080
                                                10.250.3.1

The node namespace is loaded (``iptables-restore``) with kube-proxy's rules
for two services backed by b1 and b2: ``default/web`` (ClusterIP
10.250.100.10:80) and ``default/np`` (NodePort 30080). The detector's local
CIDR is 10.250.2.0/23 (b1 and b2 are the "pods"); ``--random-fully`` is off
so that the kernel keeps source ports and the whole reply tuple can be
compared. Real TCP connections are made with Python sockets (a bounded
number, until both backends have answered); then the node's conntrack table
(/proc/net/nf_conntrack, else ``conntrack -L``) is read, and every entry must
be what ``evaluate_hook`` predicts for the same packets: the endpoint one of
the predicted branches, the masquerade source the node's address on the
egress link, the reply tuple equal, the entry assured after the handshake.

Skipped (with the reason printed) only when ``ip netns add`` fails.
Everything is deleted in ``finally``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

import pytest

from netsim.control.kubeproxy import generate_rules
from netsim.control.kubeproxy_ports import EndpointInfo, KubeProxyNode, ServicePortInfo
from netsim.control.kubeproxy_restore import node_restore_text
from netsim.model.kube_proxy_config import KubeProxyConfig
from netsim.netfilter.conntrack import ConntrackEntry, ConntrackStatus, ConntrackTable, ConnTuple
from netsim.netfilter.evaluate import (
    CompiledRuleset,
    HookContext,
    HookOutcome,
    RecentState,
    compile_ruleset,
    evaluate_hook,
)
from netsim.netfilter.packet import TCP, Packet, reply_of, with_tcp_flags
from netsim.netfilter.parse import parse_iptables_save
from netsim.netfilter.ruleset import TcpFlag

pytestmark = pytest.mark.kernel

A = IPv4Address
NODE_LINKS = {  # node interface -> (its address, the subnet behind it)
    "n0": (A("10.250.1.1"), IPv4Network("10.250.1.0/24")),
    "n1": (A("10.250.2.1"), IPv4Network("10.250.2.0/24")),
    "n2": (A("10.250.3.1"), IPv4Network("10.250.3.0/24")),
}
CLIENT_IP, B1_IP, B2_IP = A("10.250.1.2"), A("10.250.2.2"), A("10.250.3.2")
NODE_IP = NODE_LINKS["n0"][0]
WEB_VIP, NP_VIP = A("10.250.100.10"), A("10.250.100.20")
BACKEND_PORT, NODE_PORT = 8080, 30080
MAX_CONNECTIONS = 24  # per case; both backends answer long before (P(miss) = 2**-23)
COMMAND_TIMEOUT = 60  # seconds, for any one command
LOCAL = frozenset({*(address for address, _ in NODE_LINKS.values()), A("127.0.0.1")})

SERVER = r"""
import socket, sys
server = socket.create_server(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    with conn:
        conn.sendall(conn.getsockname()[0].encode())
"""

CLIENT = r"""
import json, socket, sys
target, port, first_sport, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
results, seen = [], set()
for sport in range(first_sport, first_sport + limit):
    with socket.socket() as s:
        s.settimeout(5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", sport))
        s.connect((target, port))
        peer = s.getpeername()
        data = b""
        while chunk := s.recv(64):
            data += chunk
    results.append({"sport": sport, "served_by": data.decode(), "peer": list(peer)})
    seen.add(data.decode())
    if len(seen) == 2:
        break
print(json.dumps(results))
"""


def run(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        list(args), input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Lab:
    prefix: str
    servers: list[subprocess.Popen[str]]

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def exec(self, name: str, *args: str, stdin: str | None = None) -> str:
        return run("ip", "netns", "exec", self.ns(name), *args, stdin=stdin)


def kube_proxy_text() -> str:
    endpoints = (EndpointInfo(B1_IP, BACKEND_PORT), EndpointInfo(B2_IP, BACKEND_PORT))
    web = ServicePortInfo("default", "web", "", "tcp", WEB_VIP, 80, endpoints=endpoints)
    np = ServicePortInfo(
        "default", "np", "", "tcp", NP_VIP, 81, node_port=NODE_PORT, endpoints=endpoints
    )
    node = KubeProxyNode(
        "node",
        NODE_IP,
        IPv4Network("10.250.2.0/23"),
        config=KubeProxyConfig(random_fully=False),
    )
    return node_restore_text(generate_rules([web, np], node))


def build(lab: Lab) -> None:
    for name in ("client", "node", "b1", "b2"):
        run("ip", "netns", "add", lab.ns(name))
        lab.exec(name, "ip", "link", "set", "lo", "up")
    for node_if, peer, peer_if, peer_ip in (
        ("n0", "client", "c0", CLIENT_IP),
        ("n1", "b1", "e0", B1_IP),
        ("n2", "b2", "e0", B2_IP),
    ):
        address, subnet = NODE_LINKS[node_if]
        run("ip", "-n", lab.ns("node"), "link", "add", node_if, "type", "veth", "peer", "name",
            peer_if, "netns", lab.ns(peer))  # fmt: skip
        lab.exec("node", "ip", "addr", "add", f"{address}/{subnet.prefixlen}", "dev", node_if)
        lab.exec("node", "ip", "link", "set", node_if, "up")
        lab.exec(peer, "ip", "addr", "add", f"{peer_ip}/{subnet.prefixlen}", "dev", peer_if)
        lab.exec(peer, "ip", "link", "set", peer_if, "up")
        lab.exec(peer, "ip", "route", "add", "default", "via", str(address))
    lab.exec("node", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    lab.exec("node", "iptables-restore", stdin=kube_proxy_text())
    for backend in ("b1", "b2"):
        server = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                lab.ns(backend),
                sys.executable,
                "-c",
                SERVER,
                str(BACKEND_PORT),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lab.servers.append(server)
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready", server.stderr
        # the readline returns once the server listens: no sleep needed


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if shutil.which("iptables-restore") is None:
        pytest.fail("iptables-restore is missing (Debian package iptables)")
    prefix = f"nsime-{uuid.uuid4().hex[:8]}"
    probe = subprocess.run(
        ["ip", "netns", "add", f"{prefix}-client"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        reason = probe.stderr.strip()
        print(f"skipping kernel agreement: ip netns add failed: {reason}")
        pytest.skip(f"ip netns add failed: {reason}")
    run("ip", "netns", "delete", f"{prefix}-client")
    built = Lab(prefix, [])
    try:
        build(built)
        yield built
    finally:
        for server in built.servers:
            server.kill()
            server.communicate(timeout=COMMAND_TIMEOUT)
        for name in ("client", "node", "b1", "b2"):
            subprocess.run(["ip", "netns", "delete", built.ns(name)], capture_output=True)


# --- the kernel's conntrack table -----------------------------------------------------


@dataclass(frozen=True)
class KernelEntry:
    original: ConnTuple
    reply: ConnTuple
    assured: bool


def _tuple(fields: dict[str, str]) -> ConnTuple:
    return ConnTuple(
        A(fields["src"]), A(fields["dst"]), TCP, int(fields["sport"]), int(fields["dport"])
    )


def kernel_conntrack(lab: Lab) -> list[KernelEntry]:
    """The node's TCP entries from /proc/net/nf_conntrack (or ``conntrack -L``)."""
    try:
        text = lab.exec("node", "cat", "/proc/net/nf_conntrack")
    except AssertionError:
        if shutil.which("conntrack") is None:
            raise AssertionError(
                "neither /proc/net/nf_conntrack nor conntrack (Debian package conntrack)"
            ) from None
        text = lab.exec("node", "conntrack", "-L", "-p", "tcp")
    entries = []
    for line in text.splitlines():
        words = line.split()
        if "tcp" not in words:
            continue
        pairs = [w.split("=", 1) for w in words if "=" in w]
        first = dict(pairs[:4])
        second = dict(pairs[4:8])
        entries.append(KernelEntry(_tuple(first), _tuple(second), "[ASSURED]" in words))
    return entries


def connect(
    lab: Lab, source: str, target: IPv4Address, port: int, first_sport: int
) -> list[dict[str, object]]:
    out = lab.exec(source, sys.executable, "-c", CLIENT, str(target), str(port), str(first_sport),
                   str(MAX_CONNECTIONS))  # fmt: skip
    results: list[dict[str, object]] = json.loads(out)
    return results


# --- the model of the node ------------------------------------------------------------

RULES: CompiledRuleset | None = None


def rules() -> CompiledRuleset:
    global RULES
    if RULES is None:
        RULES = compile_ruleset(parse_iptables_save(kube_proxy_text(), "kube-proxy lab node"))
    return RULES


def link_of(address: IPv4Address) -> str:
    return next(name for name, (_, subnet) in NODE_LINKS.items() if address in subnet)


def ctx(hook: str, in_if: str | None, out_if: str | None) -> HookContext:
    return HookContext(
        hook,  # type: ignore[arg-type]
        in_if,
        out_if,
        LOCAL,
        frozenset(),
        masquerade_source=NODE_LINKS[out_if][0] if out_if else None,
        redirect_address=NODE_LINKS[in_if][0] if in_if else None,
    )


def forward_hooks(
    packet: Packet, in_if: str, table: ConntrackTable, recent: RecentState
) -> tuple[tuple[HookOutcome, ...], str]:
    """PREROUTING's outcomes, for the caller to pick one, and the in interface."""
    return evaluate_hook(rules(), packet, ctx("PREROUTING", in_if, None), table, recent), in_if


def after_prerouting(pre: HookOutcome, in_if: str) -> HookOutcome:
    """FORWARD and POSTROUTING of one PREROUTING outcome, routed on its destination."""
    out_if = link_of(pre.packet.dst)
    (fwd,) = evaluate_hook(
        rules(), pre.packet, ctx("FORWARD", in_if, out_if), pre.conntrack, pre.recent
    )
    assert fwd.verdict == "ACCEPT", fwd.visits
    (post,) = evaluate_hook(
        rules(), fwd.packet, ctx("POSTROUTING", None, out_if), fwd.conntrack, fwd.recent
    )
    assert post.verdict == "ACCEPT", post.visits
    return post


def model_connection(
    source: IPv4Address,
    sport: int,
    target: IPv4Address,
    port: int,
    endpoint: IPv4Address,
    table: ConntrackTable,
) -> tuple[set[IPv4Address], ConntrackEntry, HookOutcome, ConntrackTable]:
    """The model's handshake for one connection the kernel sent to ``endpoint``.

    Returns the predicted endpoints, the entry after SYN, SYN-ACK and ACK, the
    SYN-ACK's outcome at the node's last hook, and the table.
    """
    syn = Packet(source, target, TCP, sport, port)
    in_if = link_of(source)
    outcomes, _ = forward_hooks(syn, in_if, table, RecentState())
    predicted = {o.packet.dst for o in outcomes}
    (branch,) = [o for o in outcomes if o.packet.dst == endpoint]
    sent = after_prerouting(branch, in_if)
    (answer,), _ = forward_hooks(
        reply_of(sent.packet), link_of(sent.packet.dst), sent.conntrack, sent.recent
    )
    answered = after_prerouting(answer, link_of(sent.packet.dst))
    (ack,), _ = forward_hooks(
        with_tcp_flags(syn, TcpFlag.ACK), in_if, answered.conntrack, RecentState()
    )
    done = after_prerouting(ack, in_if)
    (entry,) = [
        e
        for e in done.conntrack.entries
        if e.original == ConnTuple(source, target, TCP, sport, port)
    ]
    return predicted, entry, answered, done.conntrack


def check_case(
    lab: Lab, source: str, source_ip: IPv4Address, target: IPv4Address, port: int, first_sport: int
) -> list[IPv4Address]:
    results = connect(lab, source, target, port, first_sport)
    kernel = {e.original: e for e in kernel_conntrack(lab)}
    table = ConntrackTable()
    served: list[IPv4Address] = []
    for result in results:
        sport = int(result["sport"])  # type: ignore[call-overload]
        assert result["peer"] == [str(target), port]  # the client saw the reply un-NATed
        original = ConnTuple(source_ip, target, TCP, sport, port)
        real = kernel[original]
        endpoint = real.reply.src
        assert str(endpoint) == result["served_by"]
        predicted, entry, answered, table = model_connection(
            source_ip, sport, target, port, endpoint, table
        )
        assert predicted == {B1_IP, B2_IP}
        assert endpoint in predicted
        assert entry.reply == real.reply, f"kernel {real.reply}, netsim {entry.reply}"
        assert real.assured and entry.status & ConntrackStatus.ASSURED
        assert (answered.packet.src, answered.packet.sport) == (target, port)
        assert (answered.packet.dst, answered.packet.dport) == (source_ip, sport)
        served.append(endpoint)
    assert set(served) == {B1_IP, B2_IP}, f"only {set(served)} answered in {len(results)} tries"
    return served


def test_cluster_ip_from_outside_the_pod_cidr_is_dnatted_and_masqueraded(lab: Lab) -> None:
    check_case(lab, "client", CLIENT_IP, WEB_VIP, 80, 41000)
    for entry in kernel_conntrack(lab):
        if entry.original.dst == WEB_VIP and entry.original.src == CLIENT_IP:
            assert entry.reply.dst == NODE_LINKS[link_of(entry.reply.src)][0]


def test_node_port_is_dnatted_and_masqueraded_to_the_egress_address(lab: Lab) -> None:
    check_case(lab, "client", CLIENT_IP, NODE_IP, NODE_PORT, 42000)


def test_pod_traffic_is_not_masqueraded_unless_it_hairpins(lab: Lab) -> None:
    check_case(lab, "b1", B1_IP, WEB_VIP, 80, 43000)
    for entry in kernel_conntrack(lab):
        if entry.original.src == B1_IP and entry.original.dst == WEB_VIP:
            hairpin = entry.reply.src == B1_IP
            expected = NODE_LINKS["n1"][0] if hairpin else B1_IP
            assert entry.reply.dst == expected
