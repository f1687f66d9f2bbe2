"""Reading the reachability matrix: one pair with its explanation, every cell, name patterns.

:func:`query` answers a (source, destination, port, protocol) in two table
lookups and words the class representative's decision for the pair, as
:func:`netsim.policy.semantics.evaluate` would word it; :func:`cells`
expands the matrix to pods; :func:`select_endpoints` reads the CLI's
``NAMESPACE/POD``, ``NAMESPACE/*``, ``node:NAME`` and ``ext:NAME``. Only
allowed or not, faster: :mod:`netsim.policy.reach_index`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from ipaddress import IPv4Address
from typing import Final

from netsim.errors import InputError
from netsim.model.objects import Protocol
from netsim.policy.reach_matrix import ReachCell, ReachEndpoint, ReachMatrix
from netsim.policy.semantics import POLICY_TYPES, Direction, Peer, PolicyDecision, evaluate

__all__ = ["NOT_JUDGED", "SELF", "cells", "query", "select_endpoints"]

NOT_JUDGED: Final = "{name} is not a pod: no NetworkPolicy judges its egress"
SELF: Final = "traffic of {name} to itself stays on lo and is never judged"


def _reworded(
    decision: PolicyDecision,
    direction: Direction,
    pod_key: str,
    other: Peer,
    protocol: Protocol,
    number: int,
) -> PolicyDecision:
    """The class representative's decision worded for this pair (as :func:`evaluate` words it)."""
    on = f"{number}/{protocol.value}"
    if decision.policy is not None:
        peer_text = "all peers" if decision.peer is None else f"peer {decision.peer}"
        port_text = "all ports" if decision.port is None else f"port {decision.port}"
        reason = (
            f"{decision.policy} {decision.rule} {peer_text} {port_text}:"
            f" allows {other.text} on {on}"
        )
    elif decision.is_allowed:
        reason = (
            f"not isolated for {direction}: no policy with policyTypes"
            f" {POLICY_TYPES[direction]} selects {pod_key}"
        )
    else:
        reason = (
            f"pod is isolated for {direction} by policies {', '.join(decision.isolated_by)};"
            f" no rule allows {other.text} on {on}"
        )
    return replace(decision, reason=reason)


def _endpoint(matrix: ReachMatrix, name: str) -> ReachEndpoint:
    found = matrix.endpoints.get(name)
    if found is None:
        raise InputError(
            f"no source or destination {name!r}: name a placed non-hostNetwork pod"
            " as NAMESPACE/POD, a node as node:NAME or an external client as ext:NAME"
        )
    return found


def query(
    matrix: ReachMatrix, source: str, destination: str, port: int, protocol: Protocol
) -> ReachCell:
    """The verdict of one (source, destination, port, protocol): two table lookups.

    A port the matrix was not built for is evaluated on the classes'
    representatives' policies on the spot (same answer, not O(1)).

    Raises:
        InputError: ``source`` or ``destination`` is not in the matrix, or the
            destination is not a pod.
    """
    src = _endpoint(matrix, source)
    dst = _endpoint(matrix, destination)
    if dst.view is None or dst.ingress_profile is None or dst.destination_signature is None:
        raise InputError(f"destination {destination!r} is not a pod: only pods are destinations")
    if src.name == dst.name:
        decision = PolicyDecision(True, SELF.format(name=src.name))
        return ReachCell(src.name, dst.name, port, protocol, decision, decision)
    if src.kind == "node" and src.node == dst.node:
        assert src.node is not None
        gateway = Peer(_gateway(matrix, src), None, src.peer.what)
        ingress = evaluate((), dst.view, "ingress", gateway, protocol, port, own_node=src.node)
    else:
        key = (dst.ingress_profile, src.source_signature, protocol, port)
        found = matrix.ingress.get(key)
        if found is None:
            found = evaluate(
                matrix.ingress_policies[dst.ingress_profile],
                dst.view,
                "ingress",
                src.peer,
                protocol,
                port,
            )
        ingress = _reworded(found, "ingress", dst.name, src.peer, protocol, port)
    if src.view is None or src.egress_profile is None:
        egress = PolicyDecision(True, NOT_JUDGED.format(name=src.name))
    else:
        out_key = (src.egress_profile, dst.destination_signature, protocol, port)
        decided = matrix.egress.get(out_key)
        if decided is None:
            decided = evaluate(
                matrix.egress_policies[src.egress_profile],
                src.view,
                "egress",
                dst.peer,
                protocol,
                port,
            )
        egress = _reworded(decided, "egress", src.name, dst.peer, protocol, port)
    return ReachCell(src.name, dst.name, port, protocol, egress, ingress)


def _gateway(matrix: ReachMatrix, node: ReachEndpoint) -> IPv4Address:
    """The address a node sends to its own pods from (its ``cni0``)."""
    return matrix.gateways.get(node.name, node.ip)


def cells(
    matrix: ReachMatrix,
    sources: Iterable[ReachEndpoint] | None = None,
    destinations: Iterable[ReachEndpoint] | None = None,
) -> Iterator[ReachCell]:
    """Every cell of the matrix (or of the given sources × destinations), expanded to pods.

    Pairs of a pod with itself are left out (never judged).
    """
    chosen = tuple(destinations if destinations is not None else matrix.destinations)
    for source in sources if sources is not None else matrix.sources:
        for destination in chosen:
            if destination.name == source.name:
                continue
            for number, protocol in destination.ports:
                yield query(matrix, source.name, destination.name, number, protocol)


def select_endpoints(
    matrix: ReachMatrix, pattern: str, *, destinations: bool = False
) -> tuple[ReachEndpoint, ...]:
    """The endpoints ``pattern`` names.

    ``NAMESPACE/POD``, ``NAMESPACE/*``, ``node:NAME`` or ``ext:NAME`` (the last
    two as sources only).

    Raises:
        InputError: nothing matches, or (``destinations``) the pattern names no pod.

    >>> from netsim.control.realize import realize
    >>> from netsim.model.spec import load_cluster
    >>> from netsim.policy.reach_matrix import reachability
    >>> m = reachability(realize(load_cluster("topologies/l3.yaml")))
    >>> [e.name for e in select_endpoints(m, "client/*")]
    ['client/curl']
    """
    pool = matrix.destinations if destinations else matrix.sources
    if pattern.endswith("/*"):
        namespace = pattern[:-2]
        found = tuple(e for e in pool if e.kind == "pod" and e.name.startswith(f"{namespace}/"))
    else:
        found = tuple(e for e in pool if e.name == pattern)
    if not found:
        role = "destination" if destinations else "source"
        forms = (
            "NAMESPACE/POD or NAMESPACE/*"
            if destinations
            else "NAMESPACE/POD, NAMESPACE/*, node:NAME or ext:NAME"
        )
        raise InputError(f"{role} {pattern!r} matches nothing: give {forms} of a placed pod")
    return found
