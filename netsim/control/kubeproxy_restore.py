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


def _service_of_rule(rule: str) -> str:
    """The service name a rule's comment starts with ('' when none), for sorting."""
    marker = "--comment "
    at = rule.find(marker)
    if at < 0:
        return ""
    text = rule[at + len(marker) :]
    text = text[1 : text.index('"', 1)] if text.startswith('"') else text.split(" ", 1)[0]
    return text.split(" ", 1)[0]


def canonical_restore_text(text: str) -> str:
    """Sort a payload the way kube-proxy's tests do before comparing.

    Per table: ``KUBE-NODEPORTS`` and ``KUBE-SERVICES`` first, the other chains
    alphabetically; rules grouped by chain in that order; inside KUBE-SERVICES,
    KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS and KUBE-PROXY-FIREWALL, rules
    stably sorted by the service name of their comment (the nodeports tail
    rule last); inside any other chain rule order is kept.
    """
    out: list[str] = []
    table: str | None = None
    chains: list[str] = []
    rules: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("*"):
            table, chains, rules = line[1:], [], {}
            out.append(line)
        elif line.startswith(":"):
            chains.append(line.split()[0][1:])
        elif line.startswith("-A "):
            chain = line.split()[1]
            rules.setdefault(chain, []).append(line)
        elif line == "COMMIT":
            first = [c for c in (KUBE_NODEPORTS, KUBE_SERVICES) if c in chains]
            ordered = first + sorted(c for c in chains if c not in first)
            out += [f":{c} - [0:0]" for c in ordered]
            for chain in ordered + sorted(set(rules) - set(ordered)):
                chain_rules = rules.get(chain, [])
                if chain in (
                    KUBE_SERVICES,
                    KUBE_EXTERNAL_SERVICES,
                    KUBE_NODEPORTS,
                    KUBE_PROXY_FIREWALL,
                ):
                    chain_rules = sorted(
                        chain_rules,
                        key=lambda r: (NODEPORTS_TAIL_COMMENT in r, _service_of_rule(r)),
                    )
                out += chain_rules
            out.append("COMMIT")
            table = None
    assert table is None, "payload ends inside a table (missing COMMIT)"
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
    kube-proxy has written rules.
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
        lines += [f":{c} - [0:0]" for c in (*chains, KUBE_PROXY_CANARY)]
        for chain in builtins:
            lines += [f"-A {chain} {rule}" for rule in jumps.get((table, chain), ())]
        lines += rules
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"
