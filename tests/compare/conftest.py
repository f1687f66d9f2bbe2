"""Shared comparisons of the demo cluster (built once per session: they trace and build)."""

from __future__ import annotations

import pytest

from netsim.compare import Comparison, compare, designs_in_modes
from netsim.compare.designs import Design
from netsim.model.spec import load_cluster
from netsim.model.topology import PodNetworkMode
from tests.conftest import TOPOLOGIES

SMALL_SIZES = (3, 10, 40)  # small enough for tests, large enough to tell N from p


@pytest.fixture(scope="session")
def demo_designs() -> tuple[Design, ...]:
    """topologies/vxlan.yaml built in l2, l3 and vxlan."""
    designs, refused = designs_in_modes(
        load_cluster(TOPOLOGIES / "vxlan.yaml"), tuple(PodNetworkMode)
    )
    assert refused == ()
    return designs


@pytest.fixture(scope="session")
def demo_comparison(demo_designs: tuple[Design, ...]) -> Comparison:
    """The demo compared in every mode, with small scaling sizes."""
    return compare(demo_designs, sizes=SMALL_SIZES, title="demo")
