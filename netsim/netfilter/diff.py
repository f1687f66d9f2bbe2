"""Compare a generated kube-proxy ruleset with a dump from a real node.

What legitimately differs between two correct rulesets is ignored:

* counters (``[p:b]`` on chains and rules);
* chains kube-proxy does not own — kubelet's (``KUBE-KUBELET-CANARY``,
  ``KUBE-IPTABLES-HINT``), the CNI's (``FLANNEL-*``, ``CNI-*``, ``cali-*``) and
  anything else not named ``KUBE-*`` — and, in built-in chains, every rule that
  does not jump to a kube-proxy chain;
* the order of *services* inside the shared chains (``KUBE-SERVICES``,
  ``KUBE-NODEPORTS``, ``KUBE-EXTERNAL-SERVICES``, ``KUBE-PROXY-FIREWALL``):
  kube-proxy writes services in Go map order, so rules are compared per
  service (the service name that opens the rule's comment), in order within
  one service;
* the order of the ``-d <node address>`` rules that end ``KUBE-SERVICES``
  under ``--nodeport-addresses`` (kube-proxy writes them in Go map order too);
* probabilities as written versus as the kernel stores them
  (``0.3333333333`` and ``0.33333333349`` are the same threshold).

Everything else is a difference, reported per service (or per chain for rules
without a service): rules missing from the dump, extra rules in it, and
changed rules (same position in the same service group, different text).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from netsim.control.kubeproxy import NODEPORTS_TAIL_COMMENT
from netsim.netfilter.render import render_rule
from netsim.netfilter.ruleset import (
    BUILTIN_CHAINS,
    JumpTarget,
    Rule,
    Ruleset,
    StatisticMatch,
)

__all__ = ["RuleDifference", "diff_rulesets", "is_kube_proxy_chain"]

SHARED_CHAINS = frozenset(
    {"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES", "KUBE-PROXY-FIREWALL"}
)  # kube-proxy's per-service rules of every service share these chains
NOT_KUBE_PROXY = frozenset({"KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"})  # kubelet's own


def is_kube_proxy_chain(name: str) -> bool:
    """Whether kube-proxy writes chain ``name`` (kubelet's and the CNI's are not compared).

    >>> is_kube_proxy_chain("KUBE-SVC-ABC"), is_kube_proxy_chain("FLANNEL-FWD")
    (True, False)
    >>> is_kube_proxy_chain("KUBE-KUBELET-CANARY")
    False
    """
    return name.startswith("KUBE-") and name not in NOT_KUBE_PROXY


@dataclass(frozen=True, slots=True)
class RuleDifference:
    """One difference: ``kind`` is missing (only generated), extra (only in the dump) or changed."""

    kind: str
    table: str
    group: str  # the service name, or "chain <name>" for rules without one
    expected: str | None
    actual: str | None


def _normalized(rule: Rule) -> Rule:
    """The rule without counters, with probabilities as the kernel's threshold."""
    matches = tuple(
        replace(m, probability=m.kernel_probability, probability_text=None)
        if isinstance(m, StatisticMatch) and m.probability is not None
        else m
        for m in rule.matches
    )
    return replace(rule, counters=None, matches=matches)


def _group_of(chain: str, rule: Rule) -> str:
    if chain in SHARED_CHAINS and rule.comment:
        return rule.comment.split(" ", 1)[0]
    return f"chain {chain}"


def _compared_rules(ruleset: Ruleset) -> dict[tuple[str, str], list[tuple[Rule, str]]]:
    """Rules kube-proxy owns, grouped by (table, service or chain), in order."""
    groups: dict[tuple[str, str], list[tuple[Rule, str]]] = {}
    for table in ruleset.tables:
        builtin = BUILTIN_CHAINS.get(table.name, ())
        for chain in table.chains:
            if chain.name in builtin:
                rules: Iterable[Rule] = (
                    r
                    for r in chain.rules
                    if isinstance(r.target, JumpTarget) and is_kube_proxy_chain(r.target.chain)
                )
            elif is_kube_proxy_chain(chain.name):
                rules = chain.rules
            else:
                continue
            for rule in rules:
                key = (table.name, _group_of(chain.name, rule))
                groups.setdefault(key, []).append(
                    (_normalized(rule), render_rule(chain.name, rule))
                )
    for grouped in groups.values():
        if all(rule.comment == NODEPORTS_TAIL_COMMENT for rule, _ in grouped):
            grouped.sort(key=lambda pair: pair[1])  # one per node address, in any order
    return groups


def _chains(ruleset: Ruleset) -> set[tuple[str, str]]:
    return {
        (t.name, c.name) for t in ruleset.tables for c in t.chains if is_kube_proxy_chain(c.name)
    }


def diff_rulesets(expected: Ruleset, actual: Ruleset) -> tuple[RuleDifference, ...]:
    """The differences between a generated ruleset and a real node's dump (see module doc)."""
    differences: list[RuleDifference] = []
    for table, name in sorted(_chains(expected) - _chains(actual)):
        differences.append(RuleDifference("missing", table, f"chain {name}", f":{name}", None))
    for table, name in sorted(_chains(actual) - _chains(expected)):
        differences.append(RuleDifference("extra", table, f"chain {name}", None, f":{name}"))
    want = _compared_rules(expected)
    have = _compared_rules(actual)
    for key in sorted(set(want) | set(have)):
        table, group = key
        a = want.get(key, [])
        b = have.get(key, [])
        for i in range(max(len(a), len(b))):
            left = a[i] if i < len(a) else None
            right = b[i] if i < len(b) else None
            if left is not None and right is not None:
                if left[0] != right[0]:
                    differences.append(RuleDifference("changed", table, group, left[1], right[1]))
            elif left is not None:
                differences.append(RuleDifference("missing", table, group, left[1], None))
            elif right is not None:
                differences.append(RuleDifference("extra", table, group, None, right[1]))
    return tuple(differences)
