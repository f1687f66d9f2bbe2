"""The restore file around kube-proxy's rules, and kube-proxy's canonical order.

:func:`node_restore_text` wraps a node's :class:`~netsim.control.kubeproxy.KubeProxyRuleset`
in what ``iptables-restore`` reads: per table the built-in chains, kube-proxy's
chains and its canary, the jumps it inserts into built-in chains
(:func:`jump_rules`, in their final order on a fresh node), then its rules.
:func:`canonical_restore_text` sorts any payload into the order kube-proxy's
own tests compare in (services by name), so netsim's payload and kube-proxy's
expected ones can be compared line for line.

Not here: generating the rules (:mod:`netsim.control.kubeproxy`).
"""

from __future__ import annotations

from netsim.control.kubeproxy import (
    KUBE_EXTERNAL_SERVICES,
    KUBE_FIREWALL,
    KUBE_FORWARD,
    KUBE_NODEPORTS,
    KUBE_POSTROUTING,
    KUBE_PROXY_FIREWALL,
    KUBE_SERVICES,
    NODEPORTS_TAIL_COMMENT,
    KubeProxyRuleset,
)

__all__ = [
    "BUILTIN_CHAINS",
    "KUBE_PROXY_CANARY",
    "canonical_restore_text",
    "jump_rules",
    "node_restore_text",
]


def jump_rules() -> dict[tuple[str, str], tuple[str, ...]]:
    """The rules kube-proxy inserts into built-in chains, in their final order on a fresh node.

    Each is inserted at position 1 when absent, so the resulting order is the
    reverse of the order kube-proxy ensures them in.
    """
    new = "-m conntrack --ctstate NEW"
    firewall = f'{new} -m comment --comment "kubernetes load balancer firewall"'
    firewall += f" -j {KUBE_PROXY_FIREWALL}"
    return {
        ("filter", "INPUT"): (
            firewall,
            f'-m comment --comment "kubernetes health check service ports" -j {KUBE_NODEPORTS}',
            f'{new} -m comment --comment "kubernetes externally-visible service portals"'
            f" -j {KUBE_EXTERNAL_SERVICES}",
            f"-j {KUBE_FIREWALL}",
        ),
        ("filter", "FORWARD"): (
            firewall,
            f'-m comment --comment "kubernetes forwarding rules" -j {KUBE_FORWARD}',
            f'{new} -m comment --comment "kubernetes service portals" -j {KUBE_SERVICES}',
            f'{new} -m comment --comment "kubernetes externally-visible service portals"'
            f" -j {KUBE_EXTERNAL_SERVICES}",
        ),
        ("filter", "OUTPUT"): (
            firewall,
            f'{new} -m comment --comment "kubernetes service portals" -j {KUBE_SERVICES}',
            f"-j {KUBE_FIREWALL}",
        ),
        ("nat", "PREROUTING"): (
            f'-m comment --comment "kubernetes service portals" -j {KUBE_SERVICES}',
        ),
        ("nat", "OUTPUT"): (
            f'-m comment --comment "kubernetes service portals" -j {KUBE_SERVICES}',
        ),
        ("nat", "POSTROUTING"): (
            f'-m comment --comment "kubernetes postrouting rules" -j {KUBE_POSTROUTING}',
        ),
    }


def _service_of_rule(rule: str) -> str | None:
    """The service name a rule's comment starts with, None when it has no comment.

    As kube-proxy's tests read it: the comment up to its first space or colon.

    >>> _service_of_rule('-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -j X')
    'ns1/svc1'
    >>> _service_of_rule("-A KUBE-NODEPORTS -m comment --comment ns2/svc2 -j X")
    'ns2/svc2'
    """
    marker = "--comment "
    at = rule.find(marker)
    if at < 0:
        return None
    text = rule[at + len(marker) :]
    text = text[1 : text.index('"', 1)] if text.startswith('"') else text.split(" ", 1)[0]
    return text.replace(":", " ", 1).split(" ", 1)[0]


def _sorted_by_service(rules: list[str]) -> list[str]:
    """Rules stably sorted by their comment's service name, as kube-proxy's tests sort them.

    Its comparison calls a rule without a comment neither less nor greater than
    any other, so its stable sort moves no rule across one: each run of
    commented rules between them is sorted on its own.
    """
    out: list[str] = []
    run: list[tuple[str, str]] = []
    for rule in rules:
        name = _service_of_rule(rule)
        if name is None:
            out += [r for _, r in sorted(run, key=lambda pair: pair[0])]
            run = []
            out.append(rule)
        else:
            run.append((name, rule))
    return out + [r for _, r in sorted(run, key=lambda pair: pair[0])]


def _chain_rank(chain: str) -> tuple[int, str]:
    """KUBE-NODEPORTS, KUBE-SERVICES, the other KUBE-* chains, then the rest, by name."""
    if chain == KUBE_NODEPORTS:
        return 0, chain
    if chain == KUBE_SERVICES:
        return 1, chain
    return (2 if chain.startswith("KUBE-") else 3), chain


def _canonical_rules(table: str, chain: str, rules: list[str]) -> list[str]:
    """A chain's rules in kube-proxy's test order: only KUBE-NODEPORTS and KUBE-SERVICES move."""
    if chain == KUBE_NODEPORTS or (chain == KUBE_SERVICES and table == "filter"):
        return _sorted_by_service(rules)
    if chain == KUBE_SERVICES and table == "nat":  # the nodeports jump stays last
        last = [r for r in rules if NODEPORTS_TAIL_COMMENT in r]
        return _sorted_by_service([r for r in rules if NODEPORTS_TAIL_COMMENT not in r]) + last
    return rules


def canonical_restore_text(text: str) -> str:
    """Sort a payload the way kube-proxy's tests do before comparing (``sortIPTablesRules``).

    Tables by name. Per table, chains in the order KUBE-NODEPORTS,
    KUBE-SERVICES, the other ``KUBE-`` chains by name, then any other chain by
    name, and rules grouped by chain in that order. Inside KUBE-NODEPORTS (filter
    and nat) and KUBE-SERVICES (filter and nat), rules stably sorted by the
    service name their comment starts with, nat KUBE-SERVICES' nodeports jump
    kept last; inside any other chain rule order is kept.
    """
    tables: list[tuple[str, list[str], dict[str, list[str]]]] = []
    current: tuple[str, list[str], dict[str, list[str]]] | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("*"):
            current = (line[1:], [], {})
        elif current is None:
            raise ValueError(f"line outside a table: {line!r}")
        elif line.startswith(":"):
            current[1].append(line.split()[0][1:])
        elif line.startswith("-A "):
            current[2].setdefault(line.split()[1], []).append(line)
        elif line == "COMMIT":
            tables.append(current)
            current = None
    if current is not None:
        raise ValueError(f"table {current[0]} has no COMMIT")
    out: list[str] = []
    for table, declared, rules in sorted(tables, key=lambda t: t[0]):
        chains = sorted(dict.fromkeys([*declared, *rules]), key=_chain_rank)
        out.append(f"*{table}")
        out += [f":{chain} - [0:0]" for chain in chains if chain in declared]
        for chain in chains:
            out += _canonical_rules(table, chain, rules.get(chain, []))
        out.append("COMMIT")
    return "\n".join(out) + "\n"


BUILTIN_CHAINS = {
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
}  # the kernel's built-in chains per table (iptables-save prints them in this order)
KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY"  # created empty in mangle, nat and filter


def node_restore_text(ruleset: KubeProxyRuleset) -> str:
    """Everything kube-proxy leaves on a fresh node, as one ``iptables-restore`` input.

    Built-in chains (policy ACCEPT), the canary chains, kube-proxy's jump rules
    in their final order and its payload. Loading it into an empty network
    namespace gives what ``iptables-save`` shows on a node where only
    kube-proxy has written rules. A chain the jump rules name and the payload
    does not declare (KUBE-FIREWALL without localhost NodePorts) is there,
    empty: kube-proxy creates every chain it jumps to before it writes rules.
    """
    jumps = jump_rules()
    tables = {
        "filter": (ruleset.filter_chains, ruleset.filter_rules),
        "nat": (ruleset.nat_chains, ruleset.nat_rules),
    }
    lines: list[str] = []
    for table, builtins in BUILTIN_CHAINS.items():
        lines.append(f"*{table}")
        lines += [f":{c} ACCEPT [0:0]" for c in builtins]
        chains, rules = tables.get(table, ((), ()))
        table_jumps = [(c, rule) for c in builtins for rule in jumps.get((table, c), ())]
        targets = dict.fromkeys(rule.rpartition("-j ")[2] for _, rule in table_jumps)
        declared = (*chains, KUBE_PROXY_CANARY)
        ensured = [c for c in targets if c not in declared]
        lines += [f":{c} - [0:0]" for c in (*declared, *ensured)]
        lines += [f"-A {chain} {rule}" for chain, rule in table_jumps]
        lines += rules
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"
