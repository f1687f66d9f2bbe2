"""Regenerate the dataplane golden files: ``python -m tests.dataplane.regen``.

(``NETSIM_REGEN=1 python3 -m pytest tests/dataplane`` does the same, as for
every golden file of the project.)

Each ``golden/<mode>.txt`` holds, for ``topologies/<mode>.yaml``, the
``ip addr``/``ip route``/``ip neigh``/``bridge fdb`` outputs of every node's
root namespace, of the pod ``client/curl``, of the underlay router and of the
external client ``laptop``, as ``netsim show --tables`` prints them. Review
the diff line by line before committing.
"""

from __future__ import annotations

from pathlib import Path

from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.model.spec import load_cluster
from netsim.naming import ROUTER_NETNS_ID, client_netns_id, node_netns_id, pod_netns_id
from netsim.report.tables import render_namespace_tables

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
MODES = ("l2", "l3", "vxlan")
GOLDEN_POD = "client/curl"
GOLDEN_CLIENT = "laptop"


def golden_text(mode: str) -> str:
    """The golden file's expected content for one example topology."""
    state = realize(load_cluster(REPO / "topologies" / f"{mode}.yaml"))
    dataplane = build_dataplane(state)
    ids = [node_netns_id(name) for name in state.nodes]
    ids += [pod_netns_id(GOLDEN_POD), ROUTER_NETNS_ID, client_netns_id(GOLDEN_CLIENT)]
    return "\n".join(render_namespace_tables(dataplane.namespaces[i]) for i in ids)


def main() -> None:
    """Write every golden file."""
    GOLDEN.mkdir(exist_ok=True)
    for mode in MODES:
        path = GOLDEN / f"{mode}.txt"
        path.write_text(golden_text(mode))
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
