"""The EndpointSlice controller.

For every Service with a non-empty selector that has no EndpointSlices in the
manifests (slices given in the manifests are used as given), the pods of its
namespace matching the selector that have an IP become endpoints:

* address: the pod IP (a hostNetwork pod's is its node's IP); ``nodeName``,
  ``zone`` from the node, ``targetRef`` the pod;
* conditions: ``ready`` = pod Ready and not terminating (or the Service
  publishes not-ready addresses), ``serving`` = pod Ready, ``terminating`` =
  the pod has a deletionTimestamp;
* ports: each Service port's targetPort resolved per pod — a number as is, a
  name against the pod's container ports of the same protocol (a pod not
  declaring it is no endpoint of that port). Pods that resolve to the same
  ports share slices; at most ``MAX_ENDPOINTS_PER_SLICE`` endpoints a slice.

A named targetPort that no selected pod declares is an input error: the Service
could never have endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address

from netsim.control.records import slot_setters
from netsim.control.state import NodeState, PodState
from netsim.errors import ManifestError
from netsim.model.objects import (
    Endpoint,
    EndpointPort,
    EndpointSlice,
    Pod,
    Service,
    ServicePort,
)
from netsim.model.selectors import service_selector_matches
from netsim.naming import endpoint_slice_name

__all__ = [
    "MAX_ENDPOINTS_PER_SLICE",
    "endpoint_slices_for",
    "index_pods",
    "resolve_target_port",
    "selected_pods",
]

MAX_ENDPOINTS_PER_SLICE = 100  # kube-controller-manager --max-endpoints-per-slice default


def resolve_target_port(port: ServicePort, pod: Pod) -> int | None:
    """The container port a Service port reaches on ``pod`` (None if the pod lacks it).

    >>> from netsim.model.objects import Container, ContainerPort, PodTemplate
    >>> pod = Pod("ns", "p", PodTemplate(containers=(Container("c",
    ...     (ContainerPort(8080, name="http"),)),)))
    >>> resolve_target_port(ServicePort(80, "http"), pod)
    8080
    >>> resolve_target_port(ServicePort(80, 81), pod)
    81
    """
    if isinstance(port.target_port, int):
        return port.target_port
    for container in pod.template.containers:
        for declared in container.ports:
            if declared.name == port.target_port and declared.protocol == port.protocol:
                return declared.container_port
    return None


PodIndex = Mapping[tuple[str, str, str], Sequence[PodState]]


def index_pods(pods: Sequence[PodState]) -> PodIndex:
    """Pods with an IP by (namespace, label key, label value), in pod order."""
    index: dict[tuple[str, str, str], list[PodState]] = {}
    # Replicas share their labels: the lists a pod joins, found once per (namespace, labels).
    lists_of: dict[tuple[str, int], list[list[PodState]]] = {}
    for pod in pods:
        if pod.ip is None:
            continue
        namespace, labels = pod.pod.namespace, pod.pod.labels
        lists = lists_of.get((namespace, id(labels)))
        if lists is None:
            lists = [index.setdefault((namespace, k, v), []) for k, v in labels.items()]
            lists_of[namespace, id(labels)] = lists
        for members in lists:
            members.append(pod)
    return index


def selected_pods(service: Service, index: PodIndex) -> list[PodState]:
    """The pods (with an IP) a Service's selector selects, in pod order."""
    if not service.selector:
        return []
    candidates = [index.get((service.namespace, k, v), ()) for k, v in service.selector.items()]
    if len(candidates) == 1:  # the index holds exactly the pods with that label
        return list(candidates[0])
    smallest = min(candidates, key=len)
    return [p for p in smallest if service_selector_matches(service.selector, p.pod.labels)]


def endpoint_slices_for(
    service: Service, index: PodIndex, nodes: Mapping[str, NodeState]
) -> tuple[EndpointSlice, ...]:
    """The EndpointSlices the controller writes for ``service`` (pods from :func:`index_pods`).

    Raises:
        ManifestError: a named targetPort that no selected pod declares.
    """
    if not service.selector:
        return ()
    selected = selected_pods(service, index)
    for position, port in enumerate(service.ports):
        if (
            isinstance(port.target_port, str)
            and selected
            and all(resolve_target_port(port, p.pod) is None for p in selected)
        ):
            declared = sorted(
                {
                    f"{cp.name or '-'} {cp.container_port}/{cp.protocol}"
                    for p in selected
                    for c in p.pod.template.containers
                    for cp in c.ports
                }
            )
            raise ManifestError(
                f"targetPort {port.target_port!r} matches no {port.protocol} container port"
                f" of the {len(selected)} selected pods"
                f" (declared: {', '.join(declared) or 'none'})",
                source=service.source,
                obj=f"Service {service.key}",
                field=f"spec.ports[{position}].targetPort",
            )
    groups: dict[tuple[EndpointPort, ...], list[Endpoint]] = {}
    # Ports depend only on the template, which the replicas of a workload share: each
    # template's group (None: the pod resolves no port) is found once.
    group_of: dict[int, list[Endpoint] | None] = {}
    publish_not_ready = service.publish_not_ready_addresses
    for state in selected:
        pod = state.pod
        template = id(pod.template)
        if template in group_of:
            group = group_of[template]
        else:
            ports = _endpoint_ports(service, pod)
            group = group_of[template] = groups.setdefault(ports, []) if ports else None
        if group is None:
            continue
        node = nodes[state.node] if state.node is not None else None
        assert state.ip is not None
        serving = pod.is_ready or publish_not_ready
        endpoint = _endpoint(
            state.ip,
            serving and not pod.is_terminating,
            serving,
            pod.is_terminating,
            state.node,
            node.node.zone if node is not None else None,
            pod.key,
        )
        group.append(endpoint)
    slices: list[EndpointSlice] = []
    for group_ports, endpoints in groups.items():
        for start in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
            slices.append(
                EndpointSlice(
                    namespace=service.namespace,
                    name=endpoint_slice_name(service.name, len(slices)),
                    service_name=service.name,
                    endpoints=tuple(endpoints[start : start + MAX_ENDPOINTS_PER_SLICE]),
                    ports=group_ports,
                    source="<endpointslice-controller>",
                )
            )
    if not slices:
        slices.append(
            EndpointSlice(
                namespace=service.namespace,
                name=endpoint_slice_name(service.name, 0),
                service_name=service.name,
                endpoints=(),
                ports=(),
                source="<endpointslice-controller>",
            )
        )
    return tuple(slices)


_new = object.__new__
(
    _set_address,
    _set_ready,
    _set_serving,
    _set_terminating,
    _set_node_name,
    _set_zone,
    _set_target_pod,
    _set_hints_zones,
) = slot_setters(
    Endpoint,
    "address",
    "ready",
    "serving",
    "terminating",
    "node_name",
    "zone",
    "target_pod",
    "hints_zones",
)


def _endpoint(
    address: IPv4Address,
    ready: bool,
    serving: bool,
    terminating: bool,
    node_name: str | None,
    zone: str | None,
    target_pod: str,
) -> Endpoint:
    """``Endpoint(address, ready, serving, terminating, node_name, zone, target_pod)``
    through its slots (see :mod:`netsim.control.records`): one per selected pod."""
    endpoint: Endpoint = _new(Endpoint)
    _set_address(endpoint, address)
    _set_ready(endpoint, ready)
    _set_serving(endpoint, serving)
    _set_terminating(endpoint, terminating)
    _set_node_name(endpoint, node_name)
    _set_zone(endpoint, zone)
    _set_target_pod(endpoint, target_pod)
    _set_hints_zones(endpoint, ())
    return endpoint


def _endpoint_ports(service: Service, pod: Pod) -> tuple[EndpointPort, ...]:
    """The Service's ports as they resolve on ``pod``, in Service port order."""
    ports = []
    for port in service.ports:
        number = resolve_target_port(port, pod)
        if number is not None:
            ports.append(EndpointPort(number, port.protocol, port.name))
    return tuple(ports)
