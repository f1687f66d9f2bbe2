"""``is_allowed`` on a ``pair_index`` answers exactly what ``query`` answers, errors included."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netsim.control.realize import realize
from netsim.errors import InputError
from netsim.model.objects import Protocol
from netsim.model.spec import load_cluster
from netsim.policy.reach import PairIndex, ReachMatrix, is_allowed, pair_index, query, reachability
from tests.policy.test_reach import clusters, realize_manifests

PORTS = ((53, Protocol.UDP), (80, Protocol.TCP), (8080, Protocol.TCP), (9999, Protocol.TCP))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.sampled_from(["l2", "l3", "vxlan"]))
def test_is_allowed_equals_query_on_random_clusters(manifests: str, mode: str) -> None:
    matrix = reachability(realize_manifests(manifests, mode))
    index = pair_index(matrix)
    for source in matrix.sources:
        for destination in matrix.destinations:
            for port, protocol in (*destination.ports, *PORTS):
                expected = query(matrix, source.name, destination.name, port, protocol)
                got = is_allowed(index, source.name, destination.name, port, protocol)
                assert got == expected.is_allowed, (source.name, destination.name, port)


def example(mode: str) -> tuple[ReachMatrix, PairIndex]:
    matrix = reachability(realize(load_cluster(f"topologies/{mode}.yaml")))
    return matrix, pair_index(matrix)


@pytest.mark.parametrize("mode", ["l2", "l3", "vxlan"])
def test_is_allowed_equals_query_on_the_examples(mode: str) -> None:
    matrix, index = example(mode)
    for source in matrix.sources:
        for destination in matrix.destinations:  # pods with themselves and own nodes included
            for port, protocol in (*destination.ports, *PORTS):
                expected = query(matrix, source.name, destination.name, port, protocol)
                got = is_allowed(index, source.name, destination.name, port, protocol)
                assert got == expected.is_allowed, (source.name, destination.name, port)


@pytest.mark.parametrize("mode", ["l2", "l3", "vxlan"])
def test_is_allowed_takes_names_as_a_user_types_them(mode: str) -> None:
    """Equal strings that are not the matrix's own objects give the same answers."""
    matrix, index = example(mode)
    for source in matrix.sources:
        for destination in matrix.destinations:
            for port, protocol in destination.ports:
                typed_source = "".join(list(source.name))
                typed_destination = "".join(list(destination.name))
                assert typed_source is not source.name
                got = is_allowed(index, typed_source, typed_destination, int(str(port)), protocol)
                expected = query(matrix, source.name, destination.name, port, protocol)
                assert got == expected.is_allowed


def test_own_node_and_self_are_allowed_where_the_class_is_denied() -> None:
    matrix, index = example("vxlan")
    web = next(e for e in matrix.destinations if e.name.startswith("shop/web"))
    other = next(e for e in matrix.destinations if e.name.startswith("shop/web") and e != web)
    assert web.node is not None and other.node != web.node
    # ext:laptop and node traffic from another node is denied by web's ingress policy ...
    assert not is_allowed(index, "ext:laptop", web.name, 8080, Protocol.TCP)
    assert not is_allowed(index, f"node:{other.node}", web.name, 8080, Protocol.TCP)
    # ... but its own node is always allowed, and a pod with itself is never judged.
    assert is_allowed(index, f"node:{web.node}", web.name, 8080, Protocol.TCP)
    assert is_allowed(index, web.name, web.name, 8080, Protocol.TCP)


def test_pair_index_shares_equal_tables() -> None:
    matrix, index = example("l3")
    assert set(index.names) == {e.name for e in matrix.sources}
    tables = {id(table): table for _, table in index.names.values()}
    contents = [
        sorted((p.value, sorted(rows.items())) for p, rows in t.items()) for t in tables.values()
    ]
    assert len(contents) == len({repr(c) for c in contents})
    assert index.nodes["node:node-1"] == "node-1"


def test_is_allowed_raises_as_query_does() -> None:
    index = pair_index(reachability(realize(load_cluster("topologies/l3.yaml"))))
    with pytest.raises(InputError, match="no source or destination 'nobody/x'"):
        is_allowed(index, "nobody/x", "client/curl", 80, Protocol.TCP)
    with pytest.raises(InputError, match="is not a pod"):
        is_allowed(index, "client/curl", "ext:laptop", 80, Protocol.TCP)


@pytest.mark.parametrize(
    ("source", "destination"),
    [
        ("nobody/x", "client/curl"),
        ("client/curl", "nobody/x"),
        ("nobody/x", "nobody/y"),
        ("client/curl", "ext:laptop"),
        ("client/curl", "node:node-1"),
        ("node:node-1", "node:node-1"),
        ("ext:laptop", "ext:laptop"),
        ("node:node-9", "client/curl"),
        ("", "client/curl"),
        ("client/curl", "client/"),
    ],
    ids=[
        "unknown-source",
        "unknown-destination",
        "both-unknown",
        "external-destination",
        "node-destination",
        "node-to-itself",
        "external-to-itself",
        "unknown-node",
        "empty-source",
        "namespace-only",
    ],
)
@pytest.mark.parametrize(("port", "protocol"), [(8080, Protocol.TCP), (53, Protocol.UDP)])
def test_is_allowed_raises_the_error_query_raises(
    source: str, destination: str, port: int, protocol: Protocol
) -> None:
    matrix, index = example("l3")
    with pytest.raises(InputError) as expected:
        query(matrix, source, destination, port, protocol)
    with pytest.raises(InputError) as got:
        is_allowed(index, source, destination, port, protocol)
    assert str(got.value) == str(expected.value)
