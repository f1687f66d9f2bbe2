"""``is_allowed`` on a ``pair_index`` answers exactly what ``query`` answers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netsim.control.realize import realize
from netsim.errors import InputError
from netsim.model.objects import Protocol
from netsim.model.spec import load_cluster
from netsim.policy.reach import is_allowed, pair_index, query, reachability
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


@pytest.mark.parametrize("mode", ["l2", "l3", "vxlan"])
def test_is_allowed_equals_query_on_the_examples(mode: str) -> None:
    matrix = reachability(realize(load_cluster(f"topologies/{mode}.yaml")))
    index = pair_index(matrix)
    for source in matrix.sources:
        for destination in matrix.destinations:
            for port, protocol in destination.ports:
                expected = query(matrix, source.name, destination.name, port, protocol)
                got = is_allowed(index, source.name, destination.name, port, protocol)
                assert got == expected.is_allowed


def test_is_allowed_raises_as_query_does() -> None:
    index = pair_index(reachability(realize(load_cluster("topologies/l3.yaml"))))
    with pytest.raises(InputError, match="no source or destination 'nobody/x'"):
        is_allowed(index, "nobody/x", "client/curl", 80, Protocol.TCP)
    with pytest.raises(InputError, match="is not a pod"):
        is_allowed(index, "client/curl", "ext:laptop", 80, Protocol.TCP)
