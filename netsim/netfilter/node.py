"""A node's iptables ruleset as netsim predicts it: kube-proxy's rules, parsed.

``kube_proxy_ruleset(state, node)`` is what a fresh node holds once kube-proxy
has synced (its payload, the built-in chains' jump rules, the canary chains),
as a :class:`~netsim.netfilter.ruleset.Ruleset` in the order ``iptables-save``
lists it. CNI rules (flannel's masquerade) are added by the caller from the
dataplane when wanted (``extra_lines``).

``compiled_node_rulesets(state, extra_lines)`` compiles every node's ruleset
at once for the tracer. kube-proxy writes the same rules on most nodes (what
differs is listed in :func:`kube_proxy_sharing_key`), so each distinct set is
generated once, and parsed and compiled once chain by chain as its chains are
read (:func:`~netsim.netfilter.parse_lazy.parse_by_chain`); each node adds only its own CNI lines
on top, compiled chain by chain (:func:`~netsim.netfilter.compiled.overlay_compiled`);
:class:`NodeRulesets` does the latter only for the nodes asked for.
The result equals compiling ``kube_proxy_ruleset(state, node, extra)`` node by
node, which is what a node falls back to when its CNI lines cannot be laid over
the shared rules (they redeclare a kube-proxy chain or use another table).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from functools import partial

from netsim.control.kubeproxy import generate_rules, node_rules
from netsim.control.kubeproxy_ports import (
    KubeProxyNode,
    ServicePortInfo,
    cluster_service_ports,
    kube_proxy_node,
    node_port_ips,
)
from netsim.control.kubeproxy_restore import node_restore_text
from netsim.control.state import ClusterState
from netsim.errors import RulesetError
from netsim.netfilter.compiled import (
    CompiledRuleset,
    compile_ruleset,
    compile_tables,
    overlay_compiled,
)
from netsim.netfilter.parse import parse_iptables_save
from netsim.netfilter.parse_lazy import ByChain, parse_by_chain
from netsim.netfilter.render import in_save_order
from netsim.netfilter.ruleset import Chain, Ruleset, Table, is_builtin_chain

__all__ = [
    "NodeRulesets",
    "compiled_node_rulesets",
    "kube_proxy_ruleset",
    "kube_proxy_sharing_key",
    "merge_restore_lines",
    "node_dependence",
]


def merge_restore_lines(text: str, extra: Mapping[str, Sequence[str]]) -> str:
    """Add chain lines and ``-A`` rules per table to a restore text (before each COMMIT).

    >>> merge_restore_lines("*nat\\n:PREROUTING ACCEPT [0:0]\\nCOMMIT\\n", {"nat": [":X - [0:0]"]})
    '*nat\\n:PREROUTING ACCEPT [0:0]\\n:X - [0:0]\\nCOMMIT\\n'
    """
    out: list[str] = []
    table = None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        if line == "COMMIT" and table is not None:
            lines = list(extra.get(table, ()))
            out += [entry for entry in lines if entry.startswith(":")]
            out += [entry for entry in lines if not entry.startswith(":")]
        out.append(line)
    return "\n".join(out) + "\n"


def kube_proxy_ruleset(
    state: ClusterState, node: str, extra_lines: Mapping[str, Sequence[str]] | None = None
) -> Ruleset:
    """kube-proxy's ruleset on ``node`` (plus ``extra_lines`` per table), in save order."""
    text = node_restore_text(node_rules(state, node))
    if extra_lines:
        text = merge_restore_lines(text, extra_lines)
    return in_save_order(parse_iptables_save(text, f"<kube-proxy on {node}>"))


def node_dependence(service_ports: Sequence[ServicePortInfo]) -> tuple[bool, bool, bool]:
    """Whether kube-proxy's rules depend on a node's (name, zone, IP) for these service ports.

    The name when some service port has a ``Local`` traffic policy or two
    endpoints with the same ``ip:port`` (which endpoints are local decides the
    rules), the zone when an endpoint carries zone hints, the IP when a Service
    has ``loadBalancerSourceRanges``.
    """
    by_name = by_zone = by_ip = False
    for sp in service_ports:
        by_name = by_name or sp.external_policy_local or sp.internal_policy_local
        by_ip = by_ip or bool(sp.source_ranges)
        by_zone = by_zone or any(e.zone_hints for e in sp.endpoints)
        if not by_name and len({(int(e.ip), e.port) for e in sp.endpoints}) != len(sp.endpoints):
            by_name = True
    return by_name, by_zone, by_ip


def kube_proxy_sharing_key(
    service_ports: Sequence[ServicePortInfo],
    node: KubeProxyNode,
    dependence: tuple[bool, bool, bool] | None = None,
) -> tuple[Hashable, ...]:
    """What kube-proxy's rules on ``node`` depend on: nodes with equal keys get equal rules.

    Always the local-traffic detector's CIDR, the proxy options and the node
    addresses that accept NodePorts (when ``--nodeport-addresses`` restricts
    them); the node's name, zone and IP as :func:`node_dependence` says
    (``dependence``: its result for ``service_ports``, computed once for many
    nodes).
    """
    by_name, by_zone, by_ip = node_dependence(service_ports) if dependence is None else dependence
    return (
        node.local_cidr,
        node.local_interface,
        node.config,
        node.nfacct,
        node.tcp_be_liberal,
        node.name if by_name else None,
        node.zone if by_zone else None,
        node.ip if by_ip else None,
        node_port_ips(node),  # --nodeport-addresses names the node's own addresses
    )


def _extra_chains(
    base: Mapping[str, Mapping[str, Chain]], extra: Mapping[str, Sequence[str]], source: str
) -> dict[str, tuple[Chain, ...]] | None:
    """Per table, the chains ``extra`` changes or adds (None: it cannot be laid over ``base``).

    ``base`` is kube-proxy's tables, each its chains by name; only the
    built-in chains ``extra`` adds rules to are read.
    """
    lines: list[str] = []
    for table_name, entries in extra.items():
        rules = [e for e in entries if not e.startswith(":")]
        builtin = {
            words[1]
            for words in (rule.split(maxsplit=2) for rule in rules)
            if len(words) > 1 and is_builtin_chain(table_name, words[1])
        }
        lines += [f"*{table_name}", *(f":{name} ACCEPT [0:0]" for name in sorted(builtin))]
        lines += [e for e in entries if e.startswith(":")]
        lines += rules
        lines.append("COMMIT")
    try:
        parsed = parse_iptables_save("\n".join(lines) + "\n", source)
    except RulesetError:
        return None
    changed: dict[str, tuple[Chain, ...]] = {}
    for table in parsed.tables:
        own = base.get(table.name)
        if own is None:
            return None
        chains: list[Chain] = []
        for chain in table.chains:
            if chain.name not in own:
                chains.append(chain)
                continue
            shared = own[chain.name]
            if not shared.is_builtin or not chain.is_builtin:
                return None  # a kube-proxy chain declared again
            if chain.rules:
                chains.append(replace(shared, rules=shared.rules + chain.rules))
        changed[table.name] = tuple(chains)
    return changed


def _assembled(base: ByChain, changed: Mapping[str, tuple[Chain, ...]]) -> Ruleset:
    tables = []
    for table in base.whole().tables:
        own = {chain.name: chain for chain in changed.get(table.name, ())}
        chains = [own.pop(chain.name, chain) for chain in table.chains]
        tables.append(Table(table.name, (*chains, *own.values())))
    return in_save_order(Ruleset(tuple(tables)))


class NodeRulesets:
    """Each node's compiled ruleset, kube-proxy's rules plus the node's own lines, made on demand.

    kube-proxy's rules are generated once per distinct
    :func:`kube_proxy_sharing_key` (the first node's when this is made, any
    other the first time a node with it is asked for; each chain parsed and
    compiled when first read); a node's own lines (``extra_of(node)``, per table) are
    laid over them the first time the node is asked for, so nodes nobody asks
    about cost nothing more.

    Args:
        state: the realized cluster.
        extra_of: a node's extra lines per table (flannel's chains and rules).
    """

    __slots__ = ("_bases", "_dependence", "_extra_of", "_keys", "_made", "_ports", "_state")

    def __init__(
        self, state: ClusterState, extra_of: Callable[[str], Mapping[str, Sequence[str]]]
    ) -> None:
        self._state = state
        self._extra_of = extra_of
        self._ports = cluster_service_ports(state)
        self._dependence = node_dependence(self._ports)
        self._bases: dict[tuple[Hashable, ...], tuple[ByChain, CompiledRuleset]] = {}
        self._keys: dict[str, tuple[Hashable, ...]] = {}
        self._made: dict[str, CompiledRuleset] = {}
        first = next(iter(state.nodes), None)
        if first is not None:
            self._base(first)  # the rules most nodes share, generated now rather than mid-trace

    def __contains__(self, node: object) -> bool:
        return node in self._state.nodes

    def _base(self, name: str) -> tuple[ByChain, CompiledRuleset]:
        """kube-proxy's rules on ``name``: one payload per sharing key, chains parsed when read."""
        key = self._keys.get(name)
        if key is None:
            node = kube_proxy_node(self._state, name)
            key = self._keys[name] = kube_proxy_sharing_key(self._ports, node, self._dependence)
            if key not in self._bases:
                text = node_restore_text(generate_rules(self._ports, node))
                payload = parse_by_chain(text, f"<kube-proxy on {name}>")
                self._bases[key] = payload, compile_tables(payload.tables, payload.whole)
        return self._bases[key]

    def compiled(self, name: str) -> CompiledRuleset:
        """The node's compiled ruleset (made on the first call, then kept)."""
        found = self._made.get(name)
        if found is None:
            found = self._made[name] = self._make(name)
        return found

    def _make(self, name: str) -> CompiledRuleset:
        base, compiled = self._base(name)
        extra = self._extra_of(name) or {}
        if not extra:
            return compiled
        changed = _extra_chains(base.tables, extra, f"<kube-proxy on {name}>")
        if changed is None:
            return compile_ruleset(kube_proxy_ruleset(self._state, name, extra))
        return overlay_compiled(compiled, changed, partial(_assembled, base, changed))


def compiled_node_rulesets(
    state: ClusterState, extra_lines: Mapping[str, Mapping[str, Sequence[str]]]
) -> dict[str, CompiledRuleset]:
    """Every node's compiled ruleset: kube-proxy's rules plus ``extra_lines[node]`` per table.

    Equal, node by node, to ``compile_ruleset(kube_proxy_ruleset(state, node,
    extra_lines[node]))``; rules kube-proxy writes alike on several nodes are
    parsed and compiled once and shared (:class:`NodeRulesets`).
    """
    rulesets = NodeRulesets(state, lambda name: extra_lines.get(name) or {})
    return {name: rulesets.compiled(name) for name in state.nodes}
