"""Traces through kube-proxy's and flannel's real rules (netsim.netfilter.evaluate).

On the three example topologies and on small clusters written here: NodePort,
ClusterIP from a pod, Services without (local) endpoints, hairpin,
sessionAffinity and replies.
"""

from __future__ import annotations

from functools import cache
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import Dataplane
from netsim.model.spec import load_cluster
from netsim.trace import Disposition, TraceIndex, make_flow, prepare, trace_flow
from netsim.trace.model import Encapsulate, Nat, Netfilter, Received, Trace
from tests.conftest import TOPOLOGIES, WriteCluster
from tests.trace import assert_well_formed

pytest.importorskip("netsim.netfilter.evaluate", reason="the netfilter evaluator is not there yet")

MODES = ("l2", "l3", "vxlan")
WEB_IPS = {"10.244.0.3", "10.244.1.3", "10.244.2.3"}


@cache
def example(mode: str) -> tuple[Dataplane, TraceIndex]:
    dp = build_dataplane(realize(load_cluster(TOPOLOGIES / f"{mode}.yaml")))
    return dp, prepare(dp)


def nats(trace: Trace) -> list[Nat]:
    return [s for s in trace.steps if isinstance(s, Nat)]


@pytest.mark.parametrize("mode", MODES)
def test_nodeport_from_an_external_client(mode: str) -> None:
    dp, index = example(mode)
    traces = trace_flow(index, make_flow(dp, "ext:laptop", "node:node-1:30080"))
    assert_well_formed(traces)
    assert len(traces) == 3
    assert [t.probability for t in traces] == pytest.approx([1 / 3] * 3)
    dnat = {next(n.new for n in nats(t) if n.nat == "DNAT") for t in traces}
    assert dnat == {f"{ip}:8080" for ip in WEB_IPS}
    for trace in traces:
        target = next(n.after.dst for n in nats(trace) if n.nat == "DNAT")
        remote = target != IPv4Address("10.244.0.3")
        if mode == "l2" and remote:
            # br_netfilter: the route to the pod leaves cni0 itself, so the packet stays
            # bridged, to the pod's MAC, which cni0 learned behind eth0, the ingress port
            assert trace.disposition is Disposition.NEIGHBOR_UNREACHABLE
            assert "behind the ingress port eth0 (no hairpin)" in trace.steps[-1].detail
            continue
        assert trace.disposition is Disposition.DELIVERED
        assert trace.delivered_to is not None and trace.delivered_to.port == 8080
        kinds = [n.nat for n in nats(trace)]
        assert "DNAT" in kinds and "MASQUERADE" in kinds, kinds
        masq = next(n for n in nats(trace) if n.nat == "MASQUERADE")
        # eTP Cluster: the endpoint sees the node, not the laptop
        assert masq.after.src != IPv4Address("203.0.113.10")
        has_encap = any(isinstance(s, Encapsulate) for s in trace.steps)
        assert has_encap == (mode == "vxlan" and remote)
        forward = next(s for s in trace.steps if isinstance(s, Netfilter) and s.hook == "FORWARD")
        # l2: eth0 is a port of cni0, and a DNAT to a pod behind it stays bridged
        assert forward.bridged == (mode == "l2")
        received = trace.hops[-1].steps[0]
        assert isinstance(received, Received)
        # routed by the client's router, node-1 unless bridged, and a remote node
        assert received.header.ttl == 64 - 1 - (not forward.bridged) - remote


@pytest.mark.parametrize("mode", MODES)
def test_pod_to_cluster_ip(mode: str) -> None:
    dp, index = example(mode)
    traces = trace_flow(index, make_flow(dp, "client/curl", "svc:shop/web:80"))
    assert_well_formed(traces)
    assert {str(t.delivered_to.ip) for t in traces if t.delivered_to} == WEB_IPS
    for trace in traces:
        (dnat,) = [n for n in nats(trace) if n.nat == "DNAT"]
        assert dnat.old == f"{dp.state.services['shop/web'].cluster_ip}:80"
        assert dnat.new.endswith(":8080")
        # in-cluster caller: no masquerade of the pod's own address
        assert trace.delivered_to is not None
        assert all(n.nat != "MASQUERADE" for n in nats(trace))
        hooks = [s.hook for s in trace.steps if isinstance(s, Netfilter)]
        assert "PREROUTING" in hooks


@pytest.mark.parametrize("mode", MODES)
def test_reply_is_un_natted(mode: str) -> None:
    dp, index = example(mode)
    traces = trace_flow(index, make_flow(dp, "ext:laptop", "node:node-1:30080"), reply=True)
    assert_well_formed(traces)
    for trace in traces:
        if trace.disposition is not Disposition.DELIVERED:
            assert mode == "l2" and trace.reply is None  # dropped on node-1 (see above)
            continue
        reply = trace.reply
        assert reply is not None
        assert reply.disposition is Disposition.DELIVERED
        assert reply.delivered_to is not None
        assert reply.delivered_to.namespace == "client:laptop"
        last = reply.hops[-1].steps[0]
        # the laptop sees the answer come from where it sent to
        assert "192.168.56.11:30080 -> 203.0.113.10:40000" in last.detail
        assert not trace.asymmetric_return


def test_port_not_listening_behind_a_pod_ip() -> None:
    dp, index = example("vxlan")
    traces = trace_flow(index, make_flow(dp, "client/curl", "10.244.1.3:9090"))
    assert_well_formed(traces)
    assert [t.disposition for t in traces] == [Disposition.PORT_NOT_LISTENING]


SMALL = """\
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: node-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  nodeName: node-2
  containers: [{name: c, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  selector: {app: nobody}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: local, namespace: default}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30081}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: default}
spec:
  selector: {app: any}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: self, namespace: default}
spec:
  selector: {app: client-self}
  ports: [{port: 80, targetPort: 8080}]
"""

ANY_PODS = """
---
apiVersion: v1
kind: Pod
metadata: {name: a1, namespace: default, labels: {app: any}}
spec: {nodeName: node-1, containers: [{name: c, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a2, namespace: default, labels: {app: any}}
spec: {nodeName: node-2, containers: [{name: c, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: me, namespace: default, labels: {app: client-self}}
spec: {nodeName: node-1, containers: [{name: c, ports: [{containerPort: 8080}]}]}
"""


@pytest.fixture
def small(write_cluster: WriteCluster) -> tuple[Dataplane, TraceIndex]:
    path: Path = write_cluster(
        SMALL + ANY_PODS,
        external_clients=[{"name": "laptop", "ip": "203.0.113.10"}],
    )
    dp = build_dataplane(realize(load_cluster(path)))
    return dp, prepare(dp)


def test_service_without_endpoints_is_rejected(small: tuple[Dataplane, TraceIndex]) -> None:
    dp, index = small
    traces = trace_flow(index, make_flow(dp, "default/client", "svc:default/empty:80"))
    assert_well_formed(traces)
    assert [t.disposition for t in traces] == [Disposition.REJECTED_NO_ENDPOINTS]
    assert "has no endpoints" in traces[0].steps[-1].detail


def test_etp_local_without_a_local_endpoint_drops(small: tuple[Dataplane, TraceIndex]) -> None:
    dp, index = small
    traces = trace_flow(index, make_flow(dp, "ext:laptop", "node:node-1:30081"))
    assert_well_formed(traces)
    assert [t.disposition for t in traces] == [Disposition.DROPPED_NO_LOCAL_ENDPOINT]
    on_node2 = trace_flow(index, make_flow(dp, "ext:laptop", "node:node-2:30081"))
    assert_well_formed(on_node2)
    assert [t.disposition for t in on_node2] == [Disposition.DELIVERED]
    # eTP Local keeps the client's address
    assert all(n.nat != "MASQUERADE" for n in nats(on_node2[0]))


def test_hairpin_is_masqueraded(small: tuple[Dataplane, TraceIndex]) -> None:
    dp, index = small
    traces = trace_flow(index, make_flow(dp, "default/me", "svc:default/self:80"))
    assert_well_formed(traces)
    (trace,) = traces
    assert trace.disposition is Disposition.DELIVERED
    assert trace.delivered_to is not None and trace.delivered_to.pod == "default/me"
    kinds = [n.nat for n in nats(trace)]
    assert "DNAT" in kinds and "MASQUERADE" in kinds


def test_session_affinity_follows_the_first_pick(small: tuple[Dataplane, TraceIndex]) -> None:
    dp, index = small
    flow = make_flow(dp, "default/client", "svc:default/sticky:80")
    outcomes = trace_flow(index, flow)
    assert_well_formed(outcomes)
    assert len(outcomes) == 2
    for first in outcomes:
        second_flow = make_flow(dp, "default/client", "svc:default/sticky:80", sport=40001)
        again = trace_flow(index, second_flow, session=first.session)
        assert_well_formed(again)
        assert [t.delivered_to for t in again] == [first.delivered_to]


def test_seeded_pick_is_reproducible() -> None:
    dp, index = example("l3")
    flow = make_flow(dp, "ext:laptop", "node:node-1:30080")
    one = trace_flow(index, flow, seed=3)
    assert len(one) == 1 and one == trace_flow(index, flow, seed=3)
    assert_well_formed(one, enumerated=False)


@pytest.mark.parametrize("mode", MODES)
def test_pod_to_pod_ip_is_not_natted(mode: str) -> None:
    dp, index = example(mode)
    for target in sorted(WEB_IPS):
        traces = trace_flow(index, make_flow(dp, "client/curl", f"{target}:8080"), reply=True)
        assert_well_formed(traces)
        (trace,) = traces
        assert trace.disposition is Disposition.DELIVERED
        assert nats(trace) == []
        assert trace.reply is not None and trace.reply.disposition is Disposition.DELIVERED


@pytest.mark.parametrize("mode", MODES)
def test_external_client_to_a_pod_ip_has_no_route(mode: str) -> None:
    dp, index = example(mode)
    traces = trace_flow(index, make_flow(dp, "ext:laptop", "10.244.1.3:8080"))
    assert_well_formed(traces)
    assert [t.disposition for t in traces] == [Disposition.NO_ROUTE]


def test_same_connection_again_follows_conntrack() -> None:
    dp, index = example("vxlan")
    flow = make_flow(dp, "client/curl", "svc:shop/web:80")
    for first in trace_flow(index, flow, reply=True):
        # the session holds the forward packet's and the reply's conntrack: ESTABLISHED
        again = trace_flow(index, flow, session=first.session)
        assert_well_formed(again)
        assert [t.delivered_to for t in again] == [first.delivered_to]
        hook = next(s for s in again[0].steps if isinstance(s, Netfilter))
        assert hook.ct_state == "ESTABLISHED"


def test_node_to_nodeport_on_itself() -> None:
    dp, index = example("l3")
    traces = trace_flow(index, make_flow(dp, "node:node-2", "node:node-2:30080"))
    assert_well_formed(traces)
    assert {t.disposition for t in traces} == {Disposition.DELIVERED}
    assert len(traces) == 3


@pytest.mark.parametrize(
    ("detector", "masqueraded"),
    [
        pytest.param({}, False, id="ClusterCIDR"),
        pytest.param(
            {"detect_local": "BridgeInterface", "pod_bridge_interface": "cni0"}, False, id="bridge"
        ),
        pytest.param(
            {"detect_local": "InterfaceNamePrefix", "pod_interface_name_prefix": "veth"},
            True,
            id="prefix",
        ),
        pytest.param({"detect_local": "None"}, False, id="none"),
    ],
)
def test_local_traffic_detector_decides_pod_to_cluster_ip_masquerade(
    detector: dict[str, str], masqueraded: bool, write_cluster: WriteCluster
) -> None:
    """A pod's packet is routed from cni0 (the bridge), so an interface prefix never matches it."""
    dp = build_dataplane(
        realize(load_cluster(write_cluster(SMALL + ANY_PODS, kube_proxy=detector)))
    )
    traces = trace_flow(prepare(dp), make_flow(dp, "default/client", "svc:default/sticky:80"))
    assert_well_formed(traces)
    assert {t.disposition for t in traces} == {Disposition.DELIVERED}
    assert {any(n.nat == "MASQUERADE" for n in nats(t)) for t in traces} == {masqueraded}
