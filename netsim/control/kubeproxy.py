"""kube-proxy, iptables mode: the restore payload it writes on one node.

Faithful to kube-proxy 1.28-1.34 ``syncProxyRules`` (facts in
``shared/spec/kube-proxy-iptables.md``): the same chains, hashed names,
comments, rule text, rule order inside each chain, probabilities (``1/k``
printed ``%0.10f``) and masquerade logic, in the *restore-input* form
kube-proxy hands to ``iptables-restore --noflush`` (``-d 10.96.0.1`` without
``/32``, ``--or-mark``, comments quoted only when they contain spaces).

Where kube-proxy is nondeterministic — it iterates services in Go map order —
netsim iterates service ports sorted by their name string and protocol. That
is the canonical order kube-proxy's own tests sort into, which
:func:`netsim.control.kubeproxy_restore.canonical_restore_text` reproduces for
any payload.

A payload is a fixed head, one block of lines per service port
(:func:`service_port_rules`) and a fixed tail (:func:`assemble_ruleset`);
``netsim.control.kubeproxy_cache`` keeps the blocks between syncs and
regenerates only the service ports that changed.

Modelled: ClusterIP, NodePort (and the localhost NodePort nfacct rule when
``nfacct`` is on, 1.31+), externalIPs, LoadBalancer VIPs with source ranges
(KUBE-FW + KUBE-PROXY-FIREWALL), externalTrafficPolicy and
internalTrafficPolicy Local, the health-check NodePort, sessionAffinity
ClientIP (``recent``), services without endpoints (REJECT) or without local
endpoints (DROP), terminating endpoints as fallback, zone hints, the
large-cluster mode (> 1000 endpoints: no comments on SEP rules), the
local-traffic detectors ClusterCIDR, NodeCIDR, BridgeInterface and
InterfaceNamePrefix, ``--masquerade-all``,
``--nodeport-addresses`` (IPv4 CIDRs or ``primary``).
Not modelled: IPv6, partial syncs
and stale-chain deletion (``-X`` lines).

Not here: the service ports, endpoints and node the rules are written from,
and which endpoints a node uses (:mod:`netsim.control.kubeproxy_ports`); the
restore file around the payload (:mod:`netsim.control.kubeproxy_restore`);
the blocks kept between syncs (:mod:`netsim.control.kubeproxy_cache`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from netsim.control.kubeproxy_ports import (
    EndpointInfo,
    KubeProxyNode,
    ServicePortInfo,
    categorize_endpoints,
    cluster_service_ports,
    kube_proxy_node,
    localhost_nodeports,
    node_port_ips,
    service_port_key,
)
from netsim.control.state import ClusterState
from netsim.naming import kube_proxy_chain_hash

__all__ = [
    "KUBE_MARK_MASQ",
    "LARGE_CLUSTER_ENDPOINTS_THRESHOLD",
    "MASQUERADE_MARK",
    "KubeProxyRuleset",
    "ServicePortRules",
    "assemble_ruleset",
    "generate_rules",
    "node_rules",
    "service_port_rules",
]

MASQUERADE_MARK = (
    "0x4000"  # 1 << --iptables-masquerade-bit (14); tests print it so, iptables-save too
)
LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000  # largeClusterEndpointsThreshold
KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_FIREWALL = "KUBE-FIREWALL"  # kubelet's chain, which kube-proxy also writes
NODEPORTS_TAIL_COMMENT = (
    "kubernetes service nodeports; NOTE: this must be the last rule in this chain"
)


@dataclass(frozen=True, slots=True)
class KubeProxyRuleset:
    """The restore payload: chain lines and rules per table, in write order."""

    filter_chains: tuple[str, ...]
    filter_rules: tuple[str, ...]
    nat_chains: tuple[str, ...]
    nat_rules: tuple[str, ...]

    def restore_text(self) -> str:
        """The text kube-proxy passes to ``iptables-restore --noflush``."""
        lines = ["*filter"]
        lines += [f":{c} - [0:0]" for c in self.filter_chains]
        lines += self.filter_rules
        lines += ["COMMIT", "*nat"]
        lines += [f":{c} - [0:0]" for c in self.nat_chains]
        lines += self.nat_rules
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    """Quote a comment the way kube-proxy writes it (quotes only around text with spaces)."""
    return f'"{text}"' if " " in text else text


@functools.lru_cache(maxsize=4096)
def _probability(n: int) -> str:
    """kube-proxy's probability for the first of ``n`` remaining endpoints.

    >>> _probability(2), _probability(3), _probability(6)
    ('0.5000000000', '0.3333333333', '0.1666666667')
    """
    return f"{1.0 / n:0.10f}"


@dataclass(frozen=True, slots=True)
class ServicePortRules:
    """What one service port adds to each buffer of the payload, in write order.

    kube-proxy writes the service ports one after the other, so a payload is a
    fixed head, these blocks in service-port order, and a fixed tail
    (:func:`assemble_ruleset`).
    """

    filter_rules: tuple[str, ...]
    nat_chains: tuple[str, ...]
    nat_rules: tuple[str, ...]


CHAIN_HASH_CACHE_SIZE = 1 << 20  # hashes kept; 10,000 services x 15 endpoints: 160,000, 35 MiB

# kube-proxy computes a service port's and an endpoint's chain names once, when
# it first sees them; netsim keeps the hashes the same way, across syncs and nodes.
_chain_hash = functools.lru_cache(maxsize=CHAIN_HASH_CACHE_SIZE)(kube_proxy_chain_hash)


def generate_rules(
    service_ports: Iterable[ServicePortInfo], node: KubeProxyNode
) -> KubeProxyRuleset:
    """The restore payload kube-proxy writes on ``node`` for these service ports."""
    ports = sorted(service_ports, key=service_port_key)
    large = sum(len(sp.endpoints) for sp in ports) > LARGE_CLUSTER_ENDPOINTS_THRESHOLD
    return assemble_ruleset(node, [service_port_rules(sp, node, large) for sp in ports])


def assemble_ruleset(node: KubeProxyNode, blocks: Sequence[ServicePortRules]) -> KubeProxyRuleset:
    """The payload around the service ports' blocks (given in write order): head, blocks, tail."""
    mark = MASQUERADE_MARK
    filter_chains = [
        KUBE_SERVICES,
        KUBE_EXTERNAL_SERVICES,
        KUBE_FORWARD,
        KUBE_NODEPORTS,
        KUBE_PROXY_FIREWALL,
    ]
    filter_head: list[str] = []
    nat_chains = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]
    nat_head = [
        f"-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN",
        f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}",
        f'-A {KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT"'
        " -j MASQUERADE" + (" --random-fully" if node.config.random_fully else ""),
        f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}",
    ]
    localhost = localhost_nodeports(node.config, node.ip)
    if localhost:
        filter_chains.append(KUBE_FIREWALL)
        filter_head.append(
            f'-A {KUBE_FIREWALL} -m comment --comment "block incoming localnet connections"'
            " -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT"
            " -j DROP"
        )
    nodeports = f'-A {KUBE_SERVICES} -m comment --comment "{NODEPORTS_TAIL_COMMENT}"'
    accepting = node_port_ips(node)
    if accepting is None:  # every local address
        nodeports += " -m addrtype --dst-type LOCAL" + ("" if localhost else " ! -d 127.0.0.0/8")
        nat_tail = [f"{nodeports} -j {KUBE_NODEPORTS}"]
    else:  # --nodeport-addresses: one rule per node address it selects
        nat_tail = [f"{nodeports} -d {ip} -j {KUBE_NODEPORTS}" for ip in accepting]
    filter_tail: list[str] = []
    if not node.tcp_be_liberal:
        nfacct = " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts" if node.nfacct else ""
        filter_tail.append(f"-A {KUBE_FORWARD} -m conntrack --ctstate INVALID{nfacct} -j DROP")
    filter_tail += [
        f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules"'
        f" -m mark --mark {mark}/{mark} -j ACCEPT",
        f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule"'
        " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ]
    # one pass from the blocks into each tuple: no intermediate list (the payload is large)
    concat = itertools.chain.from_iterable
    return KubeProxyRuleset(
        filter_chains=tuple(filter_chains),
        filter_rules=tuple(
            itertools.chain(filter_head, concat([b.filter_rules for b in blocks]), filter_tail)
        ),
        nat_chains=tuple(itertools.chain(nat_chains, concat([b.nat_chains for b in blocks]))),
        nat_rules=tuple(itertools.chain(nat_head, concat([b.nat_rules for b in blocks]), nat_tail)),
    )


def local_match(node: KubeProxyNode) -> str | None:
    """The local-traffic detector's match (IfLocal; ``! `` before it is IfNotLocal), if any.

    >>> import ipaddress
    >>> ip = ipaddress.IPv4Address("192.168.0.2")
    >>> local_match(KubeProxyNode("n", ip, ipaddress.IPv4Network("10.244.0.0/16")))
    '-s 10.244.0.0/16'
    >>> local_match(KubeProxyNode("n", ip, None, local_interface="cni0"))
    '-i cni0'
    """
    if node.local_cidr is not None:
        return f"-s {node.local_cidr}"
    if node.local_interface is not None:
        return f"-i {node.local_interface}"
    return None


def service_port_rules(sp: ServicePortInfo, node: KubeProxyNode, large: bool) -> ServicePortRules:
    """One iteration of syncProxyRules' service loop (``large``: the large-cluster mode)."""
    filter_rules: list[str] = []
    nat_chains: list[str] = []
    nat_rules: list[str] = []
    p = sp.protocol
    n = sp.name_string
    h = _chain_hash(n + p)
    svc_chain, svl_chain, ext_chain, fw_chain = (
        f"KUBE-SVC-{h}",
        f"KUBE-SVL-{h}",
        f"KUBE-EXT-{h}",
        f"KUBE-FW-{h}",
    )
    cluster, local, reachable, has_endpoints = categorize_endpoints(sp, node)
    uses_cluster = not sp.internal_policy_local or sp.is_externally_accessible
    uses_local = sp.internal_policy_local or (
        sp.external_policy_local and sp.is_externally_accessible
    )
    uses_cluster_chain = bool(cluster) and uses_cluster
    uses_local_chain = bool(local) and uses_local
    internal_chain = svl_chain if sp.internal_policy_local else svc_chain
    has_internal = has_endpoints and (not sp.internal_policy_local or bool(local))
    external_policy_chain = svl_chain if sp.external_policy_local else svc_chain
    has_external = has_endpoints and (not sp.external_policy_local or bool(local))
    uses_ext = has_endpoints and sp.is_externally_accessible
    uses_fw = has_endpoints and bool(sp.load_balancer_vips) and bool(sp.source_ranges)
    lb_target = fw_chain if uses_fw else ext_chain
    if not has_endpoints:
        internal_target = external_target = "REJECT"
        internal_comment = external_comment = f'"{n} has no endpoints"'
    else:
        internal_target = external_target = "DROP"
        internal_comment = external_comment = f'"{n} has no local endpoints"'
    proto = f"-m {p} -p {p}"
    port = f"--dport {sp.port}"
    cluster_ip = str(sp.cluster_ip)
    pod_source = local_match(node)  # the local-traffic detector

    if has_internal:
        nat_rules.append(
            f'-A {KUBE_SERVICES} -m comment --comment "{n} cluster IP" {proto}'
            f" -d {cluster_ip} {port} -j {internal_chain}"
        )
    else:
        filter_rules.append(
            f"-A {KUBE_SERVICES} -m comment --comment {internal_comment} {proto}"
            f" -d {cluster_ip} {port} -j {internal_target}"
        )
    for external_ip in sp.external_ips:
        if has_endpoints:
            nat_rules.append(
                f'-A {KUBE_SERVICES} -m comment --comment "{n} external IP" {proto}'
                f" -d {external_ip} {port} -j {ext_chain}"
            )
        if not has_external:
            filter_rules.append(
                f"-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {external_comment} {proto}"
                f" -d {external_ip} {port} -j {external_target}"
            )
    for vip in sp.load_balancer_vips:
        if has_endpoints:
            nat_rules.append(
                f'-A {KUBE_SERVICES} -m comment --comment "{n} loadbalancer IP" {proto}'
                f" -d {vip} {port} -j {lb_target}"
            )
        if uses_fw:
            filter_rules.append(
                f'-A {KUBE_PROXY_FIREWALL} -m comment --comment "{n} traffic not accepted by'
                f' {fw_chain}" {proto} -d {vip} {port} -j DROP'
            )
    if not has_external:
        for vip in sp.load_balancer_vips:
            filter_rules.append(
                f"-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {external_comment} {proto}"
                f" -d {vip} {port} -j {external_target}"
            )
    if sp.node_port:
        if has_endpoints:
            if node.nfacct and localhost_nodeports(node.config, node.ip):
                nat_rules.append(
                    f"-A {KUBE_NODEPORTS} -m comment --comment {n} {proto} -d 127.0.0.0/8"
                    f" --dport {sp.node_port} -m nfacct --nfacct-name localhost_nps_accepted_pkts"
                    f" -j {ext_chain}"
                )
            nat_rules.append(
                f"-A {KUBE_NODEPORTS} -m comment --comment {n} {proto} --dport {sp.node_port}"
                f" -j {ext_chain}"
            )
        if not has_external:
            filter_rules.append(
                f"-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {external_comment}"
                f" -m addrtype --dst-type LOCAL {proto} --dport {sp.node_port} -j {external_target}"
            )
    if sp.health_check_node_port:
        filter_rules.append(
            f'-A {KUBE_NODEPORTS} -m comment --comment "{n} health check node port"'
            f" -m tcp -p tcp --dport {sp.health_check_node_port} -j ACCEPT"
        )

    cluster_ip_args = f'-m comment --comment "{n} cluster IP" {proto} -d {cluster_ip} {port}'
    if has_internal:
        if node.config.masquerade_all:
            nat_rules.append(f"-A {internal_chain} {cluster_ip_args} -j {KUBE_MARK_MASQ}")
        elif pod_source is not None:
            nat_rules.append(
                f"-A {internal_chain} {cluster_ip_args} ! {pod_source} -j {KUBE_MARK_MASQ}"
            )
    if uses_ext:
        nat_chains.append(ext_chain)
        if not sp.external_policy_local:
            nat_rules.append(
                f'-A {ext_chain} -m comment --comment "masquerade traffic for {n} external'
                f' destinations" -j {KUBE_MARK_MASQ}'
            )
        else:
            if pod_source is not None:
                nat_rules.append(
                    f'-A {ext_chain} -m comment --comment "pod traffic for {n} external'
                    f' destinations" {pod_source} -j {svc_chain}'
                )
            nat_rules.append(
                f'-A {ext_chain} -m comment --comment "masquerade LOCAL traffic for {n} external'
                f' destinations" -m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}'
            )
            nat_rules.append(
                f'-A {ext_chain} -m comment --comment "route LOCAL traffic for {n} external'
                f' destinations" -m addrtype --src-type LOCAL -j {svc_chain}'
            )
        if has_external:
            nat_rules.append(f"-A {ext_chain} -j {external_policy_chain}")
    if uses_fw:
        nat_chains.append(fw_chain)
        head = f'-A {fw_chain} -m comment --comment "{n} loadbalancer IP"'
        allow_from_node = False
        for source_range in sp.source_ranges:
            nat_rules.append(f"{head} -s {source_range} -j {ext_chain}")
            allow_from_node = allow_from_node or node.ip in source_range
        if allow_from_node:
            for vip in sp.load_balancer_vips:
                nat_rules.append(f"{head} -s {vip} -j {ext_chain}")
        nat_rules.append(
            f'-A {fw_chain} -m comment --comment "other traffic to {n} will be dropped by'
            f' {KUBE_PROXY_FIREWALL}"'
        )
    hash_prefix = n + p
    seps = {text: "KUBE-SEP-" + _chain_hash(hash_prefix + text) for text, _ in reachable}
    if uses_cluster_chain:
        nat_chains.append(svc_chain)
        _write_dispatch(nat_rules, sp, svc_chain, cluster, seps, large)
    if uses_local_chain:
        nat_chains.append(svl_chain)
        _write_dispatch(nat_rules, sp, svl_chain, local, seps, large)
    comment = "" if large else f" -m comment --comment {_comment(n)}"
    affinity = sp.affinity_seconds is not None
    for text, _ in reachable:
        sep = seps[text]
        nat_chains.append(sep)
        head = f"-A {sep}{comment}"
        nat_rules.append(f"{head} -s {text.rpartition(':')[0]} -j {KUBE_MARK_MASQ}")
        recent = f" -m recent --name {sep} --set" if affinity else ""
        nat_rules.append(f"{head}{recent} {proto} -j DNAT --to-destination {text}")
    return ServicePortRules(tuple(filter_rules), tuple(nat_chains), tuple(nat_rules))


def _write_dispatch(
    nat_rules: list[str],
    sp: ServicePortInfo,
    chain: str,
    endpoints: Sequence[tuple[str, EndpointInfo]],  # (``ip:port``, endpoint)
    seps: Mapping[str, str],
    large: bool,
) -> None:
    """writeServiceToEndpointRules: affinity checks, then the probability ladder."""
    n = sp.name_string
    if large:
        heads = [f"-A {chain}"] * len(endpoints)
    else:
        heads = [f'-A {chain} -m comment --comment "{n} -> {text}"' for text, _ in endpoints]
    targets = [seps[text] for text, _ in endpoints]
    if sp.affinity_seconds is not None:
        seconds = sp.affinity_seconds
        for head, sep in zip(heads, targets, strict=True):
            nat_rules.append(
                f"{head} -m recent --name {sep} --rcheck --seconds {seconds} --reap -j {sep}"
            )
    last = len(endpoints) - 1
    for i, (head, sep) in enumerate(zip(heads, targets, strict=True)):
        if i < last:
            probability = _probability(last + 1 - i)
            nat_rules.append(
                f"{head} -m statistic --mode random --probability {probability} -j {sep}"
            )
        else:
            nat_rules.append(f"{head} -j {sep}")


def node_rules(state: ClusterState, node_name: str) -> KubeProxyRuleset:
    """The kube-proxy payload of one node of a realized cluster."""
    return generate_rules(cluster_service_ports(state), kube_proxy_node(state, node_name))
