"""Where the kernel stopped a packet: the counters of DROP and REJECT rules around one probe.

``netsim lab verify`` checks not only that a denied flow fails but where it
was denied. Every rule that drops or rejects in the lab sits in the
``filter`` table of a node's namespace (kube-proxy's REJECT of a Service
without endpoints, its DROP of a NodePort without local endpoints, the
firewall's DROP of marked packets, the lab's egress policy chains) or of a
pod's (the lab's ingress policy chains). :func:`drop_counters` reads their
packet counters (``iptables-save -c -t filter``); the rules whose counter
grew across a single probe, :func:`dropped_between`, are where the kernel
stopped it, and :func:`drop_place` words that as the simulation's trace does:
the namespace, and for the lab's NetworkPolicy rules which direction of
which pod.

Not seen here: drops that no rule counts (a bridge dropping a frame, no
route, a neighbour that does not answer); a flow denied that way shows no
place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from netsim.lab.kernel import in_namespace
from netsim.lab.names import LabState

__all__ = ["DropRule", "drop_counters", "drop_place", "dropped_between", "rule_namespaces"]

_POLICY_DROP: Final = re.compile(r'--comment "?(\S+) isolated for (ingress|egress) by ')


@dataclass(frozen=True, slots=True)
class DropRule:
    """A DROP or REJECT rule of one namespace, as ``iptables-save`` prints it (no counters)."""

    netns: str  # the model's netns id
    rule: str


def _is_drop(rule: str) -> bool:
    return rule.endswith(" -j DROP") or " -j REJECT" in rule


def drop_counters(lab: LabState, namespaces: Iterable[str]) -> dict[DropRule, int]:
    """Packets counted so far by every DROP and REJECT rule of the ``filter`` table.

    ``namespaces`` are model netns ids of ``lab``.

    Raises:
        LabError: ``iptables-save`` failed in a namespace.
    """
    counts: dict[DropRule, int] = {}
    for netns in namespaces:
        text = in_namespace(lab.namespaces[netns], "iptables-save", "-c", "-t", "filter")
        for line in text.splitlines():
            counters, separator, rule = line.partition("] ")
            if line.startswith("[") and separator and _is_drop(rule):
                counts[DropRule(netns, rule)] = int(counters[1:].partition(":")[0])
    return counts


def rule_namespaces(lab: LabState) -> tuple[str, ...]:
    """The nodes' and pods' namespaces of ``lab`` that have a DROP or REJECT rule.

    >>> rule_namespaces(LabState("x", "t.yaml", None))
    ()
    """
    candidates = [n for n in lab.namespaces if n.startswith(("node:", "pod:"))]
    return tuple(dict.fromkeys(rule.netns for rule in drop_counters(lab, candidates)))


def dropped_between(
    before: Mapping[DropRule, int], after: Mapping[DropRule, int]
) -> tuple[DropRule, ...]:
    """The rules whose counter grew from ``before`` to ``after``.

    >>> a = DropRule("node:node-1", "-A KUBE-SERVICES -j REJECT")
    >>> dropped_between({a: 2}, {a: 3})
    (DropRule(netns='node:node-1', rule='-A KUBE-SERVICES -j REJECT'),)
    >>> dropped_between({a: 3}, {a: 3})
    ()
    """
    return tuple(rule for rule, packets in after.items() if packets > before.get(rule, 0))


def drop_place(rule: DropRule) -> str:
    """Where ``rule`` denies, in the words of the trace: ``NETNS`` or ``NETNS: DIRECTION of POD``.

    >>> drop_place(DropRule("pod:shop/web-1", '-A NSL-I -m comment --comment'
    ...     ' "shop/web-1 isolated for ingress by shop/web-ingress" -j DROP'))
    'pod:shop/web-1: ingress of shop/web-1'
    >>> drop_place(DropRule("node:node-1", "-A KUBE-SERVICES -j REJECT"))
    'node:node-1'
    """
    found = _POLICY_DROP.search(rule.rule)
    if found is None:
        return rule.netns
    return f"{rule.netns}: {found.group(2)} of {found.group(1)}"
