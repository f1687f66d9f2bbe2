"""The standard flow set, picked from the realized cluster, traced and summarised.

:func:`standard_flows` picks, by name, never by generated address (so the
same flows are found in every design of one cluster):

* the *service*: the first Service by ``namespace/name`` with a ClusterIP, a
  TCP port and pod endpoints, the built-in ``default``/``kube-system`` ones last;
* the *client*: the first placed pod (not hostNetwork, not an endpoint),
  preferring one on a node that also runs an endpoint;
* flows: pod -> pod on the same node and across nodes (the endpoints' target
  port; when no endpoint is on such a node, the first pod there with a
  declared TCP port), pod -> ClusterIP, and external client -> NodePort on
  the first node (when the Service has a nodePort and the topology an
  external client).

:func:`trace_flows` traces each as ``netsim trace --reply`` does, with the
cluster's NetworkPolicies judged, every load-balancing branch its own
outcome; :func:`summarize` reduces a trace to its path, hops, TTL decrements,
encapsulations, NAT and policy points, and the reply's symmetry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address

from netsim.compare.model import FlowResult, PathSummary
from netsim.control.state import ClusterState, PodState, ServiceState
from netsim.dataplane.devices import Dataplane, NamespaceKind
from netsim.model.objects import Protocol
from netsim.policy import policy_judge
from netsim.trace import Trace, make_flow, prepare, trace_flow
from netsim.trace.model import Encapsulate, Nat, Policy, Received, Ttl

__all__ = [
    "FlowSpec",
    "WireFacts",
    "pod_addresses",
    "standard_flows",
    "summarize",
    "trace_flows",
    "wire_facts",
]

SYSTEM_NAMESPACES = ("default", "kube-system")  # built-in Services are picked last


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """One flow of the standard set: its key, a title, ``--from`` and ``--to``."""

    key: str
    title: str
    source: str
    destination: str


def _endpoint_pods(state: ClusterState, service: ServiceState) -> list[tuple[PodState, int]]:
    """The service's ready pod endpoints with the target port of its first TCP port."""
    tcp = [p for p in service.ports if p.port.protocol is Protocol.TCP]
    if not tcp or service.cluster_ip is None:
        return []
    name = tcp[0].port.name
    found: dict[str, tuple[PodState, int]] = {}
    for slice_ in state.slices_for(service):
        port = next(
            (p.port for p in slice_.ports if p.name == name and p.protocol is Protocol.TCP), None
        )
        if port is None:
            continue
        for endpoint in slice_.endpoints:
            pod = state.pods.get(endpoint.target_pod or "")
            placed = pod is not None and pod.node is not None and not pod.is_host_network
            if endpoint.ready and placed:
                assert pod is not None
                found[pod.key] = (pod, port)
    return [found[key] for key in sorted(found)]


def _service_choice(
    state: ClusterState,
) -> tuple[ServiceState, list[tuple[PodState, int]]] | None:
    services = sorted(
        state.services.values(),
        key=lambda s: (s.service.namespace in SYSTEM_NAMESPACES, s.key),
    )
    for service in services:
        endpoints = _endpoint_pods(state, service)
        if endpoints:
            return service, endpoints
    return None


def _declared_ports(state: ClusterState) -> list[tuple[PodState, int]]:
    """Placed pods with a declared TCP container port (when no Service qualifies)."""
    found = []
    for key in sorted(state.pods):
        pod = state.pods[key]
        ports = [
            p.container_port
            for c in pod.pod.template.containers
            for p in c.ports
            if p.protocol is Protocol.TCP
        ]
        if ports and pod.node is not None and not pod.is_host_network:
            found.append((pod, ports[0]))
    return found


def standard_flows(state: ClusterState) -> tuple[FlowSpec, ...]:
    """The standard flows of this cluster (those it cannot form are left out)."""
    choice = _service_choice(state)
    targets = choice[1] if choice is not None else _declared_ports(state)
    target_keys = {pod.key for pod, _ in targets}
    clients = [
        state.pods[k]
        for k in sorted(state.pods)
        if state.pods[k].node is not None
        and not state.pods[k].is_host_network
        and (k not in target_keys or choice is None)
    ]
    target_nodes = {pod.node for pod, _ in targets}
    clients.sort(key=lambda p: p.node not in target_nodes)
    flows: list[FlowSpec] = []
    if clients:
        client = clients[0]
        others = [(pod, port) for pod, port in targets if pod.key != client.key]
        spare = [(pod, port) for pod, port in _declared_ports(state) if pod.key != client.key]
        same = [(pod, port) for pod, port in others if pod.node == client.node] or [
            (pod, port) for pod, port in spare if pod.node == client.node
        ]
        cross = [(pod, port) for pod, port in others if pod.node != client.node] or [
            (pod, port) for pod, port in spare if pod.node != client.node
        ]
        if same:
            pod, port = same[0]
            flows.append(
                FlowSpec(
                    "pod-pod-same-node", "pod -> pod, same node", client.key, f"{pod.key}:{port}"
                )
            )
        if cross:
            pod, port = cross[0]
            flows.append(
                FlowSpec(
                    "pod-pod-cross-node",
                    "pod -> pod, across nodes",
                    client.key,
                    f"{pod.key}:{port}",
                )
            )
        if choice is not None:
            service = choice[0]
            port_number = next(
                p.port.port for p in service.ports if p.port.protocol is Protocol.TCP
            )
            flows.append(
                FlowSpec(
                    "pod-clusterip",
                    "pod -> ClusterIP",
                    client.key,
                    f"svc:{service.key}:{port_number}",
                )
            )
    if choice is not None and state.topology.external_clients:
        node_ports = [
            p.node_port
            for p in choice[0].ports
            if p.node_port is not None and p.port.protocol is Protocol.TCP
        ]
        if node_ports:
            external = state.topology.external_clients[0].name
            node = next(iter(state.nodes))
            flows.append(
                FlowSpec(
                    "external-nodeport",
                    "external -> NodePort -> pod",
                    f"ext:{external}",
                    f"node:{node}:{node_ports[0]}",
                )
            )
    return tuple(flows)


def _where(node: str | None, netns: str) -> str:
    return node if node is not None else netns


def _target(trace: Trace, pod_by_ip: dict[IPv4Address, str]) -> str:
    """What an outcome is about (see :class:`~netsim.compare.model.PathSummary`)."""
    if trace.delivered_to is not None:
        return trace.delivered_to.pod or trace.delivered_to.namespace
    policies = [s for s in trace.steps if isinstance(s, Policy)]
    if policies:
        return policies[-1].pod
    dnat = [s for s in trace.steps if isinstance(s, Nat) and s.field_name == "dst"]
    dst = dnat[-1].after.dst if dnat else trace.flow.header.dst
    return pod_by_ip.get(dst, str(dst))


def summarize(trace: Trace, pod_by_ip: dict[IPv4Address, str]) -> PathSummary:
    """One outcome (and its reply) reduced to what the comparison shows."""
    path = tuple(hop.netns for hop in trace.hops)
    encapsulations, nats, policies = [], [], []
    ttl = 0
    for hop in trace.hops:
        where = _where(hop.node, hop.netns)
        for step in hop.steps:
            if isinstance(step, Encapsulate):
                extra = step.outer.length - step.inner.length
                encapsulations.append(
                    f"{where}: {step.device} vni {step.vni} {step.outer.src} -> "
                    f"{step.outer.dst}:{step.outer.dport} {step.outer.protocol.value} (+{extra} B)"
                )
            elif isinstance(step, Nat):
                nats.append(f"{where}: {step.nat} {step.old} -> {step.new}")
            elif isinstance(step, Policy):
                verdict = "allowed" if step.is_allowed else "denied"
                policies.append(f"{where}: {step.direction} {step.pod} {verdict}")
            elif isinstance(step, Ttl):
                ttl += 1
    reply = None
    symmetric = None
    if trace.reply is not None:
        reply = summarize(trace.reply, pod_by_ip)
        symmetric = reply.path == path[::-1] and not trace.asymmetric_return
    return PathSummary(
        target=_target(trace, pod_by_ip),
        disposition=trace.disposition.value,
        probability=trace.probability,
        path=path,
        hops=len(path),
        ttl_decrements=ttl,
        encapsulations=tuple(encapsulations),
        nat_points=tuple(nats),
        policy_points=tuple(policies),
        reply=reply,
        is_symmetric=symmetric,
    )


def pod_addresses(state: ClusterState) -> dict[IPv4Address, str]:
    """Pod IP -> pod key (placed, non-hostNetwork pods)."""
    return {
        pod.ip: key
        for key, pod in state.pods.items()
        if pod.ip is not None and not pod.is_host_network
    }


def trace_flows(
    dataplane: Dataplane, flows: Sequence[FlowSpec]
) -> tuple[tuple[FlowResult, ...], tuple[Trace, ...]]:
    """Trace every flow with policy and replies; the results and every trace (replies inside)."""
    state = dataplane.state
    index = prepare(dataplane)
    judge = policy_judge(state, dataplane)
    by_ip = pod_addresses(state)
    results: list[FlowResult] = []
    traces: list[Trace] = []
    for spec in flows:
        flow = make_flow(dataplane, spec.source, spec.destination)
        outcomes = trace_flow(index, flow, reply=True, judge=judge)
        traces.extend(outcomes)
        summaries = tuple(summarize(t, by_ip) for t in outcomes)
        results.append(FlowResult(spec.key, spec.title, spec.source, spec.destination, summaries))
    return tuple(results), tuple(traces)


@dataclass(frozen=True, slots=True)
class WireFacts:
    """What the traces show about the underlay: per-packet overhead, tunnel, pod addresses."""

    overhead_bytes: int
    encapsulation: str | None
    pod_addresses_on_wire: bool


def _all(traces: Iterable[Trace]) -> Iterable[Trace]:
    for trace in traces:
        yield trace
        if trace.reply is not None:
            yield trace.reply


def wire_facts(dataplane: Dataplane, traces: Iterable[Trace]) -> WireFacts:
    """Read the overhead and the underlay's view of pod traffic off the traces."""
    underlay = {
        ns.id
        for ns in dataplane.namespaces.values()
        if ns.kind in (NamespaceKind.SWITCH, NamespaceKind.ROUTER)
    }
    cluster_cidr = dataplane.state.topology.cluster_cidr
    overhead = 0
    tunnel = None
    on_wire = False
    for trace in _all(traces):
        for hop in trace.hops:
            for step in hop.steps:
                if isinstance(step, Encapsulate):
                    overhead = max(overhead, step.outer.length - step.inner.length)
                    tunnel = f"vxlan {step.outer.protocol.value}/{step.outer.dport}"
                elif isinstance(step, Received) and hop.netns in underlay:
                    header = step.header
                    on_wire |= header.src in cluster_cidr or header.dst in cluster_cidr
    return WireFacts(overhead, tunnel, on_wire)
