"""The iptables payloads the lab loads: kube-proxy's and the CNI's per node, and NetworkPolicy.

* :func:`node_payload`: what ``iptables-restore`` loads into a node's
  namespace: kube-proxy's restore payload for that node
  (:func:`netsim.control.kubeproxy_restore.node_restore_text`) with the pod network's
  own lines (flanneld's masquerade and forward rules) merged in, as the
  simulation evaluates them (:func:`netsim.netfilter.node.kube_proxy_ruleset`).
* :func:`policy_payloads`: NetworkPolicy compiled to iptables filter rules,
  loaded with ``iptables-restore --noflush`` after kube-proxy's. This is
  netsim's own enforcement, not any CNI's; it reproduces the simulation's
  decision points (:mod:`netsim.policy.judge`, :mod:`netsim.trace.walk`):

  - ingress is judged in the pod's own namespace, ``INPUT`` on ``eth0``, i.e.
    after every NAT on the nodes (after SNAT); a pod talking to itself over
    ``lo`` is not judged;
  - egress is judged in the pod's node namespace, first in ``FORWARD`` (routed
    and, with ``bridge-nf-call-iptables=1``, bridged traffic) and ``INPUT``,
    i.e. after kube-proxy's DNAT in ``PREROUTING``; packets are told apart by
    the pod's source address, which only that pod sends from on its node;
  - packets of established connections pass (replies are never judged);
    traffic between a pod and an address of its own node always passes;
  - a pod selected by some policy of a direction is isolated: a packet passes
    when some rule of some such policy allows it, else it is dropped (the
    sender times out). One chain per policy and direction (``NSL-P-<hash>``),
    one per rule (``NSL-R-<hash>``: its ports) and one per ``ipBlock`` with
    ``except`` (``NSL-X-<hash>``); a rule that allows sets the mark bit
    :data:`POLICY_MARK`, which the pod's chain tests after every policy.
    Selectors are resolved to the pod IPs they select (never hostNetwork
    pods); named ports to the destination pod's port numbers (for egress:
    per destination pod address).

Comments name the policy, rule, peer and port each line stands for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from ipaddress import IPv4Address
from typing import Final

from netsim.control.kubeproxy import node_rules
from netsim.control.kubeproxy_restore import node_restore_text
from netsim.control.state import ClusterState
from netsim.dataplane.devices import Dataplane, NamespaceKind
from netsim.model.objects import NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort
from netsim.netfilter.node import merge_restore_lines
from netsim.policy.judge import node_addresses, policy_judge
from netsim.policy.semantics import Direction, Peer, PodView, isolating_policies, peer_matches

__all__ = [
    "POLICY_MARK",
    "namespace_payload",
    "node_payload",
    "policy_payloads",
]

# A mark bit neither kube-proxy (0x4000 masquerade, 0x8000 drop) nor flannel
# (0x4000) uses; skb marks are scrubbed when a packet changes namespace.
POLICY_MARK: Final = "0x20000"
_SET: Final = f"-j MARK --set-xmark {POLICY_MARK}/{POLICY_MARK}"
_CLEAR: Final = f"-j MARK --set-xmark 0x0/{POLICY_MARK}"
_IS_SET: Final = f"-m mark --mark {POLICY_MARK}/{POLICY_MARK}"
_ESTABLISHED: Final = "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
INGRESS_CHAIN: Final = "NSL-INGRESS"
EGRESS_CHAIN: Final = "NSL-EGRESS"
POD_IFNAME: Final = "eth0"


def node_payload(dataplane: Dataplane, node: str) -> str:
    """kube-proxy's restore payload of ``node`` with the pod network's lines merged in."""
    extra = dataplane.namespaces[f"node:{node}"].iptables
    return merge_restore_lines(node_restore_text(node_rules(dataplane.state, node)), extra)


def namespace_payload(tables: Mapping[str, tuple[str, ...]]) -> str:
    """A restore payload of a namespace's own lines (no kube-proxy).

    >>> print(namespace_payload({"nat": (":X - [0:0]",)}), end="")
    *nat
    :X - [0:0]
    COMMIT
    """
    out: list[str] = []
    for table, lines in tables.items():
        out += [f"*{table}", *lines, "COMMIT"]
    return "".join(f"{line}\n" for line in out)


def _hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:10].upper()


def _comment(text: str) -> str:
    return f'-m comment --comment "{text}"'


def _port_matches(
    port: NetworkPolicyPort, direction: Direction, pod: PodView, state: ClusterState
) -> list[str]:
    """The match strings of one ``ports`` entry (several for a named port)."""
    proto = port.protocol.value.lower()
    if port.port is None:
        return [f"-p {proto}"]
    if isinstance(port.port, int):
        numbers = f"{port.port}:{port.end_port}" if port.end_port is not None else f"{port.port}"
        return [f"-p {proto} -m {proto} --dport {numbers}"]
    found: list[str] = []
    if direction == "ingress":
        for cp in pod.container_ports:
            if cp.name == port.port and cp.protocol is port.protocol:
                found.append(f"-p {proto} -m {proto} --dport {cp.container_port}")
        return found
    for other in state.pods.values():
        if other.ip is None or other.node is None or other.is_host_network:
            continue
        for container in other.pod.template.containers:
            for cp in container.ports:
                if cp.name == port.port and cp.protocol is port.protocol:
                    found.append(
                        f"-d {other.ip}/32 -p {proto} -m {proto} --dport {cp.container_port}"
                    )
    return found


def _peer_addresses(
    peer: NetworkPolicyPeer, policy: NetworkPolicy, pods_by_ip: Mapping[IPv4Address, PodView]
) -> list[IPv4Address]:
    """The pod addresses a selector peer matches (sorted)."""
    return sorted(
        ip
        for ip, view in pods_by_ip.items()
        if peer_matches(peer, policy.namespace, Peer(ip, view))
    )


def _policy_chains(
    policy: NetworkPolicy,
    direction: Direction,
    pod: PodView,
    state: ClusterState,
    pods_by_ip: Mapping[IPv4Address, PodView],
) -> tuple[str, list[str], list[str]]:
    """(policy chain, chain declarations, rules) of one policy in one direction."""
    side = "-s" if direction == "ingress" else "-d"
    towards = "from" if direction == "ingress" else "to"
    chain = f"NSL-P-{_hash(direction, policy.key)}"
    chains, rules = [f":{chain} - [0:0]"], []
    for index, rule in enumerate(policy.ingress if direction == "ingress" else policy.egress):
        name = f"{policy.key} {direction}[{index}]"
        rule_chain = f"NSL-R-{_hash(direction, policy.key, str(index))}"
        chains.append(f":{rule_chain} - [0:0]")
        if rule.ports:
            for number, port in enumerate(rule.ports):
                for match in _port_matches(port, direction, pod, state):
                    rules.append(
                        f"-A {rule_chain} {match} {_comment(f'{name} ports[{number}]')} {_SET}"
                    )
        else:
            rules.append(f"-A {rule_chain} {_comment(f'{name} all ports')} {_SET}")
        if not rule.peers:
            rules.append(f"-A {chain} {_comment(f'{name} all peers')} -j {rule_chain}")
        for number, peer in enumerate(rule.peers or ()):
            text = _comment(f"{name} {towards}[{number}]")
            block = peer.ip_block
            if block is None:
                for ip in _peer_addresses(peer, policy, pods_by_ip):
                    rules.append(f"-A {chain} {side} {ip}/32 {text} -j {rule_chain}")
            elif not block.excepts:
                rules.append(f"-A {chain} {side} {block.cidr} {text} -j {rule_chain}")
            else:
                except_chain = f"NSL-X-{_hash(direction, policy.key, str(index), str(number))}"
                chains.append(f":{except_chain} - [0:0]")
                rules.append(f"-A {chain} {side} {block.cidr} {text} -j {except_chain}")
                for excluded in block.excepts:
                    rules.append(f"-A {except_chain} {side} {excluded} {text} -j RETURN")
                rules.append(f"-A {except_chain} {text} -j {rule_chain}")
    return chain, chains, rules


def _isolation(
    chain: str,
    direction: Direction,
    pod: PodView,
    own: list[IPv4Address],
    state: ClusterState,
    pods_by_ip: Mapping[IPv4Address, PodView],
) -> tuple[list[str], dict[str, tuple[list[str], list[str]]]]:
    """One pod's chain for ``direction`` (its rules) and its policies' chains by name."""
    isolating = isolating_policies(state.network_policies, pod, direction)
    side = "-s" if direction == "ingress" else "-d"
    rules, blocks = [], {}
    for ip in own:
        rules.append(f"-A {chain} {side} {ip}/32 {_comment('own node: always allowed')} -j RETURN")
    rules.append(f"-A {chain} {_CLEAR}")
    for policy in isolating:
        policy_chain, chains, policy_rules = _policy_chains(
            policy, direction, pod, state, pods_by_ip
        )
        blocks[policy_chain] = (chains, policy_rules)
        rules.append(f"-A {chain} {_comment(policy.key)} -j {policy_chain}")
    rules.append(f"-A {chain} {_IS_SET} -j RETURN")
    names = ", ".join(p.key for p in isolating)
    rules.append(f"-A {chain} {_comment(f'{pod.key} isolated for {direction} by {names}')} -j DROP")
    return rules, blocks


def _payload(
    chains: list[str], rules: list[str], blocks: Mapping[str, tuple[list[str], list[str]]]
) -> str:
    declared = [f":{c} - [0:0]" for c in chains] + [d for ds, _ in blocks.values() for d in ds]
    lines = [*rules, *(r for _, rs in blocks.values() for r in rs)]
    return "".join(f"{line}\n" for line in ["*filter", *declared, *lines, "COMMIT"])


def policy_payloads(dataplane: Dataplane) -> dict[str, str]:
    """NetworkPolicy as ``iptables-restore --noflush`` payloads, by netns id.

    Only namespaces that need rules appear: a pod isolated for ingress, a node
    with a pod isolated for egress.
    """
    state = dataplane.state
    judge = policy_judge(state, dataplane)
    addresses = node_addresses(state, dataplane)
    pods_by_ip = judge.pods_by_ip
    payloads: dict[str, str] = {}
    egress: dict[str, tuple[list[str], dict[str, tuple[list[str], list[str]]]]] = {}
    for ns in dataplane.namespaces.values():
        if ns.kind is not NamespaceKind.POD:
            continue
        pod_state = state.pods[ns.owner]
        view = judge.pods[ns.owner]
        node = pod_state.node
        own = sorted(ip for ip, owner in addresses.items() if owner == node)
        if isolating_policies(state.network_policies, view, "ingress"):
            rules, blocks = _isolation(INGRESS_CHAIN, "ingress", view, own, state, pods_by_ip)
            jump = f"-I INPUT 1 -i {POD_IFNAME} {_comment('netsim lab: NetworkPolicy ingress')}"
            head = [f"{jump} -j {INGRESS_CHAIN}", f"-A {INGRESS_CHAIN} {_ESTABLISHED}"]
            payloads[ns.id] = _payload([INGRESS_CHAIN], [*head, *rules], blocks)
        if isolating_policies(state.network_policies, view, "egress") and node is not None:
            assert pod_state.ip is not None
            pod_chain = f"NSL-E-{_hash(ns.owner)}"
            rules, blocks = _isolation(pod_chain, "egress", view, own, state, pods_by_ip)
            jumps, node_blocks = egress.setdefault(f"node:{node}", ([], {}))
            jumps.append(
                f"-A {EGRESS_CHAIN} -s {pod_state.ip}/32 {_comment(ns.owner)} -j {pod_chain}"
            )
            node_blocks[pod_chain] = ([f":{pod_chain} - [0:0]"], rules)
            node_blocks.update(blocks)
    for netns, (jumps, blocks) in egress.items():
        comment = _comment("netsim lab: NetworkPolicy egress")
        head = [
            f"-I FORWARD 1 {comment} -j {EGRESS_CHAIN}",
            f"-I INPUT 1 {comment} -j {EGRESS_CHAIN}",
            f"-A {EGRESS_CHAIN} {_ESTABLISHED}",
        ]
        payloads[netns] = _payload([EGRESS_CHAIN], [*head, *jumps], blocks)
    return payloads
