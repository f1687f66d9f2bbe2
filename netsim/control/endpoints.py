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
    for pod in pods:
        if pod.ip is None:
            continue
        for key, value in pod.pod.labels.items():
            index.setdefault((pod.namespace, key, value), []).append(pod)
    return index


def selected_pods(service: Service, index: PodIndex) -> list[PodState]:
    """The pods (with an IP) a Service's selector selects, in pod order."""
    if not service.selector:
        return []
    candidates = [index.get((service.namespace, k, v), ()) for k, v in service.selector.items()]
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
    # Ports depend only on the template, which the replicas of a workload share.
    resolved: dict[int, tuple[EndpointPort, ...]] = {}
    for state in selected:
        ports = resolved.get(id(state.pod.template))
        if ports is None:
            ports = _endpoint_ports(service, state.pod)
            resolved[id(state.pod.template)] = ports
        if not ports:
            continue
        node = nodes[state.node] if state.node is not None else None
        pod = state.pod
        assert state.ip is not None
        endpoint = Endpoint(
            address=state.ip,
            ready=(pod.is_ready or service.publish_not_ready_addresses) and not pod.is_terminating,
            serving=pod.is_ready or service.publish_not_ready_addresses,
            terminating=pod.is_terminating,
            node_name=state.node,
            zone=node.node.zone if node is not None else None,
            target_pod=pod.key,
        )
        groups.setdefault(ports, []).append(endpoint)
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


def _endpoint_ports(service: Service, pod: Pod) -> tuple[EndpointPort, ...]:
    """The Service's ports as they resolve on ``pod``, in Service port order."""
    ports = []
    for port in service.ports:
        number = resolve_target_port(port, pod)
        if number is not None:
            ports.append(EndpointPort(number, port.protocol, port.name))
    return tuple(ports)
