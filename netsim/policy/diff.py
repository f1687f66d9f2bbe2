"""Policy diff: the flows whose NetworkPolicy verdict changes between two cluster states.

:func:`policy_diff` builds :func:`~netsim.policy.reach.reachability` for a
cluster before (A) and after (B) a change and compares every (source,
destination pod, port, protocol) both have: sources and destinations are
matched by name (``NAMESPACE/POD``, ``node:NAME``, ``ext:NAME``), ports by
(number, protocol) among the destination's declared ports on both sides.
Each changed flow carries both cells (with the deciding rules) and the
NetworkPolicy changes responsible: the policies added, removed or changed
from A to B among those that decide the changed direction on either side
(the rule that allowed, or the policies that isolate when denied).

Not modelled: pods, nodes or ports present on one side only (they have no
verdict to compare; :class:`PolicyDiff` counts them), traffic through
Services (see ``netsim trace``). A verdict change with no responsible
policy comes from a change of pod or namespace labels or declared ports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from netsim.control.state import ClusterState
from netsim.model.objects import NetworkPolicy, Protocol
from netsim.policy.reach import (
    ReachCell,
    ReachMatrix,
    is_allowed,
    pair_index,
    query,
    reachability,
)
from netsim.policy.semantics import Direction, PolicyDecision

__all__ = [
    "FlowChange",
    "PolicyChange",
    "PolicyChangeKind",
    "PolicyDiff",
    "changed_directions",
    "decision_text",
    "diff_matrices",
    "policy_changes",
    "policy_diff",
]

DIRECTIONS: Final[tuple[Direction, ...]] = ("egress", "ingress")
PEER_FIELD: Final = {"ingress": "from", "egress": "to"}


class PolicyChangeKind(StrEnum):
    """How a NetworkPolicy differs from A to B."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """One NetworkPolicy (``namespace/name``) added, removed or changed from A to B."""

    policy: str
    kind: PolicyChangeKind

    @property
    def text(self) -> str:
        """``shop/deny-all (added)``."""
        return f"{self.policy} ({self.kind.value})"


@dataclass(frozen=True, slots=True)
class FlowChange:
    """A flow whose verdict differs: its cell in A, in B, and the policy changes deciding it."""

    before: ReachCell
    after: ReachCell
    responsible: tuple[PolicyChange, ...]

    @property
    def source(self) -> str:
        """The source (``NAMESPACE/POD``, ``node:NAME``, ``ext:NAME``)."""
        return self.before.source

    @property
    def destination(self) -> str:
        """The destination pod."""
        return self.before.destination

    @property
    def port(self) -> int:
        """The destination port."""
        return self.before.port

    @property
    def protocol(self) -> Protocol:
        """The L4 protocol."""
        return self.before.protocol


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    """Every changed flow, the policy changes, and what could not be compared.

    ``only_in_a``/``only_in_b`` are the source or destination names of one side only.
    """

    changes: tuple[FlowChange, ...]
    policies: tuple[PolicyChange, ...]
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]


def _comparable(policy: NetworkPolicy) -> NetworkPolicy:
    """The policy without where it was read from (moving a file is not a change)."""
    return replace(policy, source="")


def policy_changes(
    before: Iterable[NetworkPolicy], after: Iterable[NetworkPolicy]
) -> tuple[PolicyChange, ...]:
    """The policies added, removed or changed from ``before`` to ``after``, by key.

    >>> from netsim.model.objects import LabelSelector
    >>> a = NetworkPolicy("x", "p", LabelSelector(), ("Ingress",))
    >>> b = NetworkPolicy("x", "q", LabelSelector(), ("Ingress",))
    >>> [c.text for c in policy_changes([a], [b, replace(a, policy_types=("Egress",))])]
    ['x/p (changed)', 'x/q (added)']
    """
    old = {p.key: _comparable(p) for p in before}
    new = {p.key: _comparable(p) for p in after}
    found: list[PolicyChange] = []
    for key in sorted(old.keys() | new.keys()):
        if key not in new:
            found.append(PolicyChange(key, PolicyChangeKind.REMOVED))
        elif key not in old:
            found.append(PolicyChange(key, PolicyChangeKind.ADDED))
        elif old[key] != new[key]:
            found.append(PolicyChange(key, PolicyChangeKind.CHANGED))
    return tuple(found)


def _side(cell: ReachCell, direction: Direction) -> PolicyDecision:
    return cell.egress if direction == "egress" else cell.ingress


def changed_directions(before: ReachCell, after: ReachCell) -> tuple[Direction, ...]:
    """The directions that decide a changed verdict: those denied on the denying side."""
    denied = after if before.is_allowed else before
    return tuple(d for d in DIRECTIONS if not _side(denied, d).is_allowed)


def decision_text(decision: PolicyDecision) -> str:
    """A short name of what decided one side.

    ``POLICY ingress[0].from[1].ports[0]`` (allowed by a rule), ``isolated by
    P, Q`` (denied), ``not isolated``, ``own node`` or ``not judged``.

    >>> decision_text(PolicyDecision(True, "...", "shop/web", "ingress[0]", 1, None))
    'shop/web ingress[0].from[1]'
    >>> decision_text(PolicyDecision(False, "...", isolated_by=("a/x", "a/y")))
    'isolated by a/x, a/y'
    """
    if decision.policy is not None and decision.rule is not None:
        field = PEER_FIELD["ingress" if decision.rule.startswith("ingress") else "egress"]
        path = decision.rule
        if decision.peer is not None:
            path += f".{field}[{decision.peer}]"
        if decision.port is not None:
            path += f".ports[{decision.port}]"
        return f"{decision.policy} {path}"
    if not decision.is_allowed:
        return f"isolated by {', '.join(decision.isolated_by)}"
    if "own node" in decision.reason:
        return "own node"
    if "not a pod" in decision.reason and "no NetworkPolicy judges" in decision.reason:
        return "not judged"
    return "not isolated"


def _deciders(cell: ReachCell, directions: Iterable[Direction]) -> set[str]:
    found: set[str] = set()
    for direction in directions:
        decision = _side(cell, direction)
        if decision.policy is not None:
            found.add(decision.policy)
        if not decision.is_allowed:
            found.update(decision.isolated_by)
    return found


def _responsible(
    before: ReachCell, after: ReachCell, policies: tuple[PolicyChange, ...]
) -> tuple[PolicyChange, ...]:
    directions = changed_directions(before, after)
    deciders = _deciders(before, directions) | _deciders(after, directions)
    # A policy added (removed) that isolates in B (A) without deciding still shows as
    # an isolator; one that newly isolates an allowed side shows on the denied side.
    return tuple(change for change in policies if change.policy in deciders)


def policy_diff(before: ClusterState, after: ClusterState) -> PolicyDiff:
    """The flows whose verdict differs between ``before`` (A) and ``after`` (B).

    >>> from netsim.control.realize import realize
    >>> from netsim.model.spec import load_cluster
    >>> state = realize(load_cluster("topologies/l3.yaml"))
    >>> policy_diff(state, state).changes
    ()
    """
    return diff_matrices(
        reachability(before),
        reachability(after),
        policy_changes(before.network_policies, after.network_policies),
    )


def diff_matrices(
    a: ReachMatrix, b: ReachMatrix, policies: tuple[PolicyChange, ...] = ()
) -> PolicyDiff:
    """:func:`policy_diff` on two built matrices (``policies``: what changed between them).

    Pairs are compared a class at a time (:func:`_changed_pairs`); only the
    flows that changed are worded, by :func:`query` on both sides.
    """
    names_a = {e.name for e in a.sources}
    names_b = {e.name for e in b.sources}
    destinations_b = {e.name: e for e in b.destinations}
    comparable = [
        (destination.name, [key for key in destination.ports if key in set(other.ports)])
        for destination in a.destinations
        if (other := destinations_b.get(destination.name)) is not None
    ]
    sources = [source.name for source in a.sources if source.name in names_b]
    changes: list[FlowChange] = []
    for source, destination, (number, protocol) in _changed_pairs(a, b, sources, comparable):
        cell_a = query(a, source, destination, number, protocol)
        cell_b = query(b, source, destination, number, protocol)
        changes.append(FlowChange(cell_a, cell_b, _responsible(cell_a, cell_b, policies)))
    return PolicyDiff(
        changes=tuple(changes),
        policies=policies,
        only_in_a=tuple(sorted(names_a - names_b)),
        only_in_b=tuple(sorted(names_b - names_a)),
    )


def _changed_pairs(
    a: ReachMatrix,
    b: ReachMatrix,
    sources: list[str],
    comparable: list[tuple[str, list[tuple[int, Protocol]]]],
) -> list[tuple[str, str, tuple[int, Protocol]]]:
    """Every (source, destination, port) whose verdict differs, in source, destination, port order.

    Sources are grouped by their class in A and in B (:mod:`netsim.policy.reach_index`):
    a group's verdicts towards one destination port are two table cells, so a
    destination costs one comparison per group, not per source. What the
    tables decide per pair (a node and its own pods, ports not tabulated) is
    asked pair by pair (:func:`is_allowed`), and a pod is never its own peer.
    """
    index_a, index_b = pair_index(a), pair_index(b)
    groups: dict[tuple[int, int], list[str]] = {}
    for source in sources:
        groups.setdefault((index_a.names[source][0], index_b.names[source][0]), []).append(source)
    cells = [
        (na if na >= 0 else ~na, nb if nb >= 0 else ~nb, names)
        for (na, nb), names in groups.items()
    ]
    position = {source: i for i, source in enumerate(sources)}
    found: list[tuple[int, int, int]] = []
    for j, (destination, ports) in enumerate(comparable):
        per_pair = {destination} | {
            f"node:{node}"
            for node in (index_a.nodes.get(destination), index_b.nodes.get(destination))
            if node is not None and f"node:{node}" in position
        }
        table_a, table_b = index_a.names[destination][1], index_b.names[destination][1]
        for k, (number, protocol) in enumerate(ports):
            row_a = table_a.get(protocol, {}).get(number)
            row_b = table_b.get(protocol, {}).get(number)
            if row_a is None or row_b is None:
                asked: Iterable[str] = sources
                changed: list[str] = []
            else:
                asked = per_pair & position.keys()
                changed = [
                    source
                    for ca, cb, names in cells
                    if row_a[ca] != row_b[cb]
                    for source in names
                    if source not in per_pair
                ]
            changed += [
                source
                for source in asked
                if source != destination
                and is_allowed(index_a, source, destination, number, protocol)
                != is_allowed(index_b, source, destination, number, protocol)
            ]
            found += [(position[source], j, k) for source in changed]
    found.sort()
    return [(sources[i], comparable[j][0], comparable[j][1][k]) for i, j, k in found]
