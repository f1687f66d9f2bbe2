"""Allowed or not, by name, fast: the reachability matrix flattened for one-pair questions.

:func:`pair_index` folds a :class:`~netsim.policy.reach_matrix.ReachMatrix`
into one verdict table per destination class; :func:`is_allowed` answers
``query(matrix, source, destination, port, protocol).is_allowed`` from it
without wording an explanation.

The layout, for the hot path:

* a *source class* is a source's (source signature, egress profile): what
  its ingress key and its egress key depend on (12 classes at full scale).
  Each is numbered from 0; a node's number is stored complemented (``~n``, so
  negative) because a node's traffic to its own pods is decided per pair;
* a *verdict table* maps protocol, then port number, to a tuple of booleans
  indexed by source class: egress and ingress combined, as :func:`query`
  combines them (two lookups in dictionaries of a few entries are cheaper
  than building and hashing a (port, protocol) key). Destination classes
  with equal tables share one (5,002 destination classes, 12 distinct tables
  at full scale);
* ``names`` maps every source and destination name to one shared record
  (source class number, verdict table) (the table of a node or an external
  client is empty: it is not a destination).

So a pair is one dictionary lookup per name, two in tables of a few entries
and one tuple index. Python's own cost per call is a
large part of what remains: see docs/performance.md.

Not tabulated, and answered by :func:`query` instead (same answers, same
errors): unknown names, destinations that are not pods, a pod with itself, a
node with its own pods, ports a destination does not declare (unless the
matrix was built for them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from netsim.model.objects import Protocol
from netsim.policy.reach_matrix import PortKey, ReachEndpoint, ReachMatrix
from netsim.policy.reach_query import query

__all__ = ["PairIndex", "is_allowed", "pair_index"]

VerdictTable = Mapping[Protocol, Mapping[int, tuple[bool, ...]]]
_TableContent = tuple[tuple[Protocol, tuple[tuple[int, tuple[bool, ...]], ...]], ...]


@dataclass(frozen=True, slots=True)
class PairIndex:
    """A matrix's verdicts as flat lookups for :func:`is_allowed` (build with :func:`pair_index`).

    ``names`` maps each endpoint name to its shared record (source class
    number, verdict table), see the module docstring; ``nodes`` maps each pod
    name and each ``node:NAME`` to its node. ``matrix`` answers whatever the
    tables do not hold.
    """

    matrix: ReachMatrix
    names: Mapping[str, tuple[int, VerdictTable]]
    nodes: Mapping[str, str]


def _source_class(endpoint: ReachEndpoint) -> tuple[int, int | None]:
    egress = None if endpoint.view is None else endpoint.egress_profile
    return endpoint.source_signature, egress


def _verdicts(
    matrix: ReachMatrix,
    destination: ReachEndpoint,
    ports: set[PortKey],
    classes: Mapping[tuple[int, int | None], int],
) -> dict[Protocol, dict[int, tuple[bool, ...]]]:
    """The verdict table of ``destination``'s class: a row of every source class per port.

    A port some source class has no decision for in the matrix is left out
    (:func:`is_allowed` then asks :func:`query`).
    """
    profile, signature = destination.ingress_profile, destination.destination_signature
    assert profile is not None and signature is not None
    table: dict[Protocol, dict[int, tuple[bool, ...]]] = {}
    for number, protocol in sorted(ports, key=lambda k: (k[0], k[1].value)):
        row: list[bool] = []
        for source_signature, egress_profile in classes:  # in class-number order
            received = matrix.ingress.get((profile, source_signature, protocol, number))
            if received is None:
                break
            allowed = received.is_allowed
            if allowed and egress_profile is not None:
                sent = matrix.egress.get((egress_profile, signature, protocol, number))
                if sent is None:
                    break
                allowed = sent.is_allowed
            row.append(allowed)
        else:
            table.setdefault(protocol, {})[number] = tuple(row)
    return table


def pair_index(matrix: ReachMatrix) -> PairIndex:
    """Flatten ``matrix`` for :func:`is_allowed` (linear in endpoints and destination classes).

    >>> from netsim.control.realize import realize
    >>> from netsim.model.spec import load_cluster
    >>> from netsim.policy.reach_matrix import reachability
    >>> m = reachability(realize(load_cluster("topologies/l3.yaml")))
    >>> index = pair_index(m)
    >>> web = next(e.name for e in m.destinations if e.name.startswith("shop/web"))
    >>> is_allowed(index, "ext:laptop", web, 8080, Protocol.TCP)
    False
    >>> is_allowed(index, "client/curl", web, 8080, Protocol.TCP)
    True
    """
    classes: dict[tuple[int, int | None], int] = {}
    for endpoint in matrix.sources:
        classes.setdefault(_source_class(endpoint), len(classes))
    # Every destination class's ports, then its verdict table, shared when equal.
    class_ports: dict[tuple[int | None, int | None], set[PortKey]] = {}
    for endpoint in matrix.destinations:
        key = (endpoint.ingress_profile, endpoint.destination_signature)
        class_ports.setdefault(key, set()).update(endpoint.ports)
    empty: VerdictTable = {}  # also the table of sources that are not pods
    shared: dict[_TableContent, VerdictTable] = {(): empty}
    tables: dict[tuple[int | None, int | None], VerdictTable] = {}
    for endpoint in matrix.destinations:
        key = (endpoint.ingress_profile, endpoint.destination_signature)
        if key in tables or endpoint.view is None or None in key:
            continue
        verdicts = _verdicts(matrix, endpoint, class_ports[key], classes)
        content = tuple((protocol, tuple(rows.items())) for protocol, rows in verdicts.items())
        tables[key] = shared.setdefault(content, verdicts)
    # One record per (source class, is a node, table); endpoints sharing all four
    # class ids share it, so the loop below looks up one small key per endpoint.
    by_classes: dict[tuple[object, ...], tuple[int, VerdictTable]] = {}
    records: dict[tuple[int, int], tuple[int, VerdictTable]] = {}
    names: dict[str, tuple[int, VerdictTable]] = {}
    nodes: dict[str, str] = {}
    for endpoint in (*matrix.sources, *matrix.destinations):
        name = endpoint.name
        if name in names:
            continue
        source_class = _source_class(endpoint)
        destination_class = (endpoint.ingress_profile, endpoint.destination_signature)
        classes_key = (source_class, endpoint.kind, destination_class)
        record = by_classes.get(classes_key)
        if record is None:
            number = classes[source_class]
            if endpoint.kind == "node":
                number = ~number
            table = tables.get(destination_class, empty)
            record = by_classes[classes_key] = records.setdefault(
                (number, id(table)), (number, table)
            )
        names[name] = record
        if endpoint.node is not None:
            nodes[name] = endpoint.node
    return PairIndex(matrix, names, nodes)


def is_allowed(
    index: PairIndex, source: str, destination: str, port: int, protocol: Protocol
) -> bool:
    """``query(index.matrix, source, destination, port, protocol).is_allowed``, from the tables.

    Pairs the tables do not hold (see the module docstring) are answered by
    :func:`query`, with its errors.

    Raises:
        InputError: as :func:`query`.
    """
    names = index.names
    try:
        number = names[source][0]
        row = names[destination][1][protocol][port]
    except KeyError:
        return query(index.matrix, source, destination, port, protocol).is_allowed
    if number < 0:  # a node: traffic to its own pods is always allowed, decided per pair
        if index.nodes[source] == index.nodes[destination]:
            return query(index.matrix, source, destination, port, protocol).is_allowed
        return row[~number]
    if source == destination:
        return query(index.matrix, source, destination, port, protocol).is_allowed
    return row[number]
