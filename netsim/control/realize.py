"""``realize(spec) -> ClusterState``: the control plane, as one pure function.

Order of work (each step reads only what the previous ones produced):

1. Add the built-in objects every cluster has (:mod:`netsim.control.system`).
2. Node IPAM: a podCIDR per node (:mod:`netsim.control.nodeipam`).
3. Workload controllers expand Deployments, StatefulSets, ... into pods.
   Pod order, which is also the CNI ADD order: built-in pods, then the
   manifests' pods and workloads in the order the files declare them.
4. Scheduling (:mod:`netsim.control.scheduler`).
5. CNI ADD per pod with host-local IPAM semantics (the same allocator as
   ``netsim cni``): one range set per node. In ``l3`` and ``vxlan`` modes the
   range is the node's podCIDR (gateway ``.1`` on ``cni0``, pods from ``.2``);
   in ``l2`` mode every pod's subnet is the whole cluster CIDR (one broadcast
   domain) and the node's podCIDR is its slice, given as
   ``rangeStart``/``rangeEnd``, with the slice's first address as the gateway.
   Snapshot pods (``spec.nodeName`` and ``status.podIP``) are added first with
   their IP requested (CNI_ARGS ``IP=``), so later pods never collide with them.
   hostNetwork pods take their node's IP and skip CNI.
6. ClusterIPs and NodePorts (:mod:`netsim.control.serviceips`).
7. EndpointSlices (:mod:`netsim.control.endpoints`); slices given in the
   manifests are kept as given.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address
from types import MappingProxyType

from netsim.control.endpoints import endpoint_slices_for, index_pods
from netsim.control.hostlocal import (
    MemoryStore,
    RangeSet,
    add_in_memory,
    allocate,
    canonicalize_range_set,
)
from netsim.control.nodeipam import allocate_pod_cidrs
from netsim.control.records import gc_paused, slot_setters
from netsim.control.scheduler import schedule
from netsim.control.serviceips import BandAllocator, cluster_ip_allocator, node_port_allocator
from netsim.control.state import (
    ClusterState,
    NodeState,
    PodState,
    ServicePortState,
    ServiceState,
)
from netsim.control.system import system_objects
from netsim.control.workloads import expand_workload
from netsim.errors import AllocationError, IPAMError, ManifestError
from netsim.model.objects import Pod, Service, ServiceType
from netsim.model.spec import ClusterSpec
from netsim.model.topology import Node, PodNetworkMode, Topology
from netsim.naming import container_id

__all__ = ["POD_IFNAME", "realize"]

POD_IFNAME = "eth0"  # CNI_IFNAME the kubelet passes


def realize(spec: ClusterSpec) -> ClusterState:
    """Run the simulated control plane over a ClusterSpec.

    Raises:
        AllocationError: CIDRs, pod IPs, ClusterIPs or NodePorts exhausted or taken twice.
        ManifestError: an object inconsistent with the cluster (unknown node, a pod IP
            outside its node's range, a named targetPort no selected pod declares).
    """
    with gc_paused():  # hundreds of thousands of records, none of them garbage
        return _realize(spec)


def _realize(spec: ClusterSpec) -> ClusterState:
    topology = spec.topology
    warnings = list(spec.warnings)
    sys_services, sys_slices, sys_pods, sys_workloads = system_objects(spec)
    services = [*sys_services, *spec.services]

    pod_cidrs = allocate_pod_cidrs(
        topology.cluster_cidr, topology.node_cidr_mask_size, topology.nodes, topology.source
    )
    nodes = {
        node.name: _node_state(topology, node, pod_cidrs[node.name]) for node in topology.nodes
    }

    pods: list[Pod] = [*sys_pods, *spec.pods]
    taken = {pod.key for pod in pods}
    generated = [
        pod
        for workload in (*sys_workloads, *spec.workloads)
        for pod in expand_workload(workload, topology.nodes, taken)
    ]
    system_generated = [p for p in generated if p.source == "<built-in>"]
    pods = [
        *sys_pods,
        *system_generated,
        *spec.pods,
        *(p for p in generated if p.source != "<built-in>"),
    ]
    keys = [pod.key for pod in pods]
    _check_unique_pods(pods, keys)
    for pod in pods:
        if pod.template.node_name is not None and pod.template.node_name not in nodes:
            raise ManifestError(
                f"node {pod.template.node_name!r} is not in the topology"
                f" (nodes: {', '.join(nodes)})",
                source=pod.source,
                obj=f"Pod {pod.key}",
                field="spec.nodeName",
            )
    placement = schedule(pods, topology.nodes, warnings, keys=keys)
    pod_states = _attach_pods(pods, keys, placement, nodes, topology)

    service_states = _allocate_services(services, topology)
    declared_slices = {(s.namespace, s.service_name) for s in spec.endpoint_slices}
    slices = [*sys_slices, *spec.endpoint_slices]
    pod_index = index_pods(list(pod_states.values()))
    for service in services:
        if (service.namespace, service.name) in declared_slices:
            continue
        slices.extend(endpoint_slices_for(service, pod_index, nodes))
    return ClusterState(
        topology=topology,
        namespaces=MappingProxyType({ns.name: ns for ns in spec.namespaces}),
        nodes=MappingProxyType(nodes),
        pods=MappingProxyType(pod_states),
        services=MappingProxyType(service_states),
        endpoint_slices=tuple(slices),
        network_policies=spec.network_policies,
        warnings=tuple(warnings),
    )


def _node_state(topology: Topology, node: Node, pod_cidr: ipaddress.IPv4Network) -> NodeState:
    gateway = pod_cidr.network_address + 1
    if topology.pod_network.mode == PodNetworkMode.L2:
        cluster = topology.cluster_cidr
        last = min(int(pod_cidr.broadcast_address) - 1, int(cluster.broadcast_address) - 1)
        raw = {
            "subnet": str(cluster),
            "rangeStart": str(gateway),
            "rangeEnd": str(ipaddress.IPv4Address(last)),
            "gateway": str(gateway),
        }
    else:
        raw = {"subnet": str(pod_cidr)}
    ranges: RangeSet = canonicalize_range_set([raw], 0)
    return NodeState(node=node, pod_cidr=pod_cidr, ipam_ranges=(ranges,), gateway=gateway)


def _check_unique_pods(pods: list[Pod], keys: list[str]) -> None:
    seen: dict[str, Pod] = dict(zip(keys, pods, strict=True))
    if len(seen) == len(pods):
        return
    seen.clear()
    for pod, key in zip(pods, keys, strict=True):
        if key in seen:
            first = seen[key]
            raise ManifestError(
                f"two pods share this name (from {first.owner or first.source} and"
                f" {pod.owner or pod.source})",
                source=pod.source,
                obj=f"Pod {pod.key}",
                field="metadata.name",
            )
        seen[key] = pod


_new = object.__new__
_set_pod, _set_node, _set_ip, _set_container_id, _set_prefix_len = slot_setters(
    PodState, "pod", "node", "ip", "container_id", "prefix_len"
)


def _pod_state(
    pod: Pod, node: str | None, ip: ipaddress.IPv4Address | None, sandbox: str, prefix_len: int
) -> PodState:
    """``PodState(pod, node, ip, sandbox, prefix_len)`` through its slots (see records)."""
    state: PodState = _new(PodState)
    _set_pod(state, pod)
    _set_node(state, node)
    _set_ip(state, ip)
    _set_container_id(state, sandbox)
    _set_prefix_len(state, prefix_len)
    return state


def _attach_pods(
    pods: list[Pod],
    keys: list[str],
    placement: dict[str, str | None],
    nodes: dict[str, NodeState],
    topology: Topology,
) -> dict[str, PodState]:
    """CNI ADD for every placed pod, snapshot pods first; returns pods in declaration order.

    ``keys`` are the pods' keys, in the same order.
    """
    stores = {name: MemoryStore() for name in nodes}
    count = len(pods)
    ips: list[ipaddress.IPv4Address | None] = [None] * count
    prefix_lens = [0] * count
    ids: list[str | None] = [None] * count
    snapshot: list[int] = []
    dynamic: list[int] = []
    for i, pod in enumerate(pods):
        if pod.template.host_network:
            node_name = placement[keys[i]]
            ips[i] = nodes[node_name].ip if node_name is not None else None
            prefix_lens[i] = 32
        elif pod.pod_ip is not None:
            snapshot.append(i)
        else:
            dynamic.append(i)
    # (node state, store, range sets) per node name, looked up once
    targets = {name: (node, stores[name], node.ipam_ranges) for name, node in nodes.items()}
    for i in (*snapshot, *dynamic):
        pod, key = pods[i], keys[i]
        node_name = placement[key]
        if node_name is None:
            continue
        node, store, ranges = targets[node_name]
        requested = (pod.pod_ip,) if pod.pod_ip is not None else ()
        if pod.pod_ip is not None and not _in_ranges(pod.pod_ip, node):
            raise ManifestError(
                f"{pod.pod_ip} is outside node {node_name}'s pod range"
                f" {_ranges_text(node)} (podCIDR {node.pod_cidr})",
                source=pod.source,
                obj=f"Pod {key}",
                field="status.podIP",
            )
        ids[i] = sandbox = container_id(pod.namespace, pod.name)
        try:
            if requested or len(ranges) != 1:
                (allocation,) = allocate(store, ranges, sandbox, POD_IFNAME, requested)
                address = allocation.address
                assert isinstance(address, ipaddress.IPv4Interface)
                ips[i], prefix_lens[i] = address.ip, address.network.prefixlen
            else:  # allocate() without its result's objects
                n, taken_from = add_in_memory(store, ranges[0], sandbox, POD_IFNAME)
                assert taken_from._v4
                ips[i], prefix_lens[i] = IPv4Address(n), taken_from.subnet.prefixlen
        except IPAMError as exc:
            raise AllocationError(
                f"CNI ADD failed on node {node_name} (podCIDR {node.pod_cidr}): {exc.msg}",
                source=pod.source or topology.source,
                obj=f"Pod {key}",
                field="status.podIP" if requested else None,
            ) from None
    states: dict[str, PodState] = {}
    for i, pod in enumerate(pods):
        sandbox = ids[i] or container_id(pod.namespace, pod.name)
        key = keys[i]
        states[key] = _pod_state(pod, placement[key], ips[i], sandbox, prefix_lens[i])
    return states


def _in_ranges(ip: ipaddress.IPv4Address, node: NodeState) -> bool:
    return any(
        int(r.range_start) <= int(ip) <= int(r.range_end)
        for range_set in node.ipam_ranges
        for r in range_set
    )


def _ranges_text(node: NodeState) -> str:
    return ",".join(f"{r.range_start}-{r.range_end}" for rs in node.ipam_ranges for r in rs)


def _allocate_services(services: list[Service], topology: Topology) -> dict[str, ServiceState]:
    ips = cluster_ip_allocator(topology.service_cidr)
    low, high = topology.node_port_range
    node_ports = node_port_allocator(low, high)
    cluster_ips: dict[str, ipaddress.IPv4Address | None] = {}
    explicit_ports: dict[tuple[str, int], int] = {}
    # Explicit values first, in declaration order, so dynamic picks never steal them.
    for service in services:
        cluster_ips[service.key] = _explicit_cluster_ip(service, ips, topology)
        for index, port in enumerate(service.ports):
            if port.node_port is not None:
                _take_node_port(
                    node_ports, port.node_port, service, f"spec.ports[{index}].nodePort"
                )
                explicit_ports[(service.key, index)] = port.node_port
        if service.health_check_node_port is not None:
            _take_node_port(
                node_ports, service.health_check_node_port, service, "spec.healthCheckNodePort"
            )
    states: dict[str, ServiceState] = {}
    for service in sorted(services, key=lambda s: s.key):
        ip = cluster_ips[service.key]
        if ip is None and service.type != ServiceType.EXTERNAL_NAME and not service.is_headless:
            value = ips.take_dynamic(service.key)
            if value is None:
                raise AllocationError(
                    f"service_cidr {topology.service_cidr} has no free ClusterIP left",
                    source=service.source,
                    obj=f"Service {service.key}",
                    field="spec.clusterIP",
                )
            ip = ipaddress.IPv4Address(value)
        needs_node_port = service.type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)
        ports = []
        for index, port in enumerate(service.ports):
            node_port = explicit_ports.get((service.key, index))
            if node_port is None and needs_node_port:
                node_port = _dynamic_node_port(
                    node_ports, f"{service.key}:{index}", service, topology
                )
            ports.append(ServicePortState(port, node_port))
        health = service.health_check_node_port
        if (
            health is None
            and service.type == ServiceType.LOAD_BALANCER
            and service.external_traffic_policy == "Local"
        ):
            health = _dynamic_node_port(node_ports, f"{service.key}:healthz", service, topology)
        states[service.key] = ServiceState(service, ip, tuple(ports), health)
    return {service.key: states[service.key] for service in services}


def _explicit_cluster_ip(
    service: Service, ips: BandAllocator, topology: Topology
) -> ipaddress.IPv4Address | None:
    if service.cluster_ip in (None, "None") or service.type == ServiceType.EXTERNAL_NAME:
        return None
    assert service.cluster_ip is not None
    ip = ipaddress.IPv4Address(service.cluster_ip)
    cidr = topology.service_cidr
    where = {"source": service.source, "obj": f"Service {service.key}", "field": "spec.clusterIP"}
    if ip not in cidr or ip in (cidr.network_address, cidr.broadcast_address):
        raise AllocationError(
            f"{ip} is not in the valid range; it must be inside service_cidr {cidr}", **where
        )
    if not ips.take(int(ip)):
        raise AllocationError(f"{ip} is already allocated to another Service", **where)
    return ip


def _take_node_port(ports: BandAllocator, value: int, service: Service, field: str) -> None:
    where = {"source": service.source, "obj": f"Service {service.key}", "field": field}
    if not ports.first <= value <= ports.last:
        raise AllocationError(
            f"{value}: provided port is not in the valid range. The range of valid ports is"
            f" {ports.first}-{ports.last}",
            **where,
        )
    if not ports.take(value):
        raise AllocationError(f"{value}: provided port is already allocated", **where)


def _dynamic_node_port(ports: BandAllocator, key: str, service: Service, topology: Topology) -> int:
    value = ports.take_dynamic(key)
    if value is None:
        low, high = topology.node_port_range
        raise AllocationError(
            f"node_port_range {low}-{high} has no free NodePort left",
            source=service.source,
            obj=f"Service {service.key}",
            field="spec.ports",
        )
    return value
