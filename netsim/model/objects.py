"""The Kubernetes objects netsim models, as frozen values.

Field names are the Kubernetes API's, snake_cased (``cluster_ip``,
``target_port``, ``external_traffic_policy``). Only what changes the network is
kept: images, resources, volumes and probes are not modelled.

Workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job) are kept as
declared; :mod:`netsim.control.workloads` expands them into Pods.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "Container",
    "ContainerPort",
    "Endpoint",
    "EndpointPort",
    "EndpointSlice",
    "IPBlock",
    "LabelSelector",
    "Namespace",
    "NetworkPolicy",
    "NetworkPolicyPeer",
    "NetworkPolicyPort",
    "NetworkPolicyRule",
    "Pod",
    "PodTemplate",
    "Protocol",
    "SelectorRequirement",
    "Service",
    "ServicePort",
    "ServiceType",
    "Toleration",
    "Workload",
    "frozen_map",
]

EMPTY: Mapping[str, str] = MappingProxyType({})


def _no_labels() -> Mapping[str, str]:
    return field(default_factory=lambda: EMPTY)


def frozen_map(items: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """A read-only copy of a string mapping.

    >>> m = frozen_map({"app": "web"})
    >>> m["app"]
    'web'
    """
    return MappingProxyType(dict(items or {}))


class Protocol(StrEnum):
    """L4 protocols Services and NetworkPolicies name."""

    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


class ServiceType(StrEnum):
    """``spec.type`` of a Service."""

    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"
    EXTERNAL_NAME = "ExternalName"


@dataclass(frozen=True, slots=True)
class Namespace:
    """A namespace; ``kubernetes.io/metadata.name`` is always among its labels."""

    name: str
    labels: Mapping[str, str] = _no_labels()


@dataclass(frozen=True, slots=True)
class SelectorRequirement:
    """One ``matchExpressions`` entry."""

    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A metav1.LabelSelector; the empty selector selects everything."""

    match_labels: Mapping[str, str] = _no_labels()
    match_expressions: tuple[SelectorRequirement, ...] = ()


@dataclass(frozen=True, slots=True)
class ContainerPort:
    """A declared container port."""

    container_port: int
    protocol: Protocol = Protocol.TCP
    name: str | None = None
    host_port: int | None = None


@dataclass(frozen=True, slots=True)
class Container:
    """A container; only its name and ports matter to the network."""

    name: str
    ports: tuple[ContainerPort, ...] = ()


@dataclass(frozen=True, slots=True)
class Toleration:
    """A pod toleration."""

    key: str | None = None
    operator: str = "Equal"  # Equal or Exists
    value: str = ""
    effect: str | None = None  # None tolerates every effect


@dataclass(frozen=True, slots=True)
class PodTemplate:
    """What a pod or a workload's template declares about networking and placement."""

    labels: Mapping[str, str] = _no_labels()
    containers: tuple[Container, ...] = ()
    node_name: str | None = None
    node_selector: Mapping[str, str] = _no_labels()
    tolerations: tuple[Toleration, ...] = ()
    host_network: bool = False


@dataclass(frozen=True, slots=True)
class Pod:
    """A pod as declared, or as expanded from a workload.

    ``pod_ip`` and ``template.node_name`` come from a snapshot (``kubectl get -o
    yaml``) and are kept by the control plane when present.
    """

    namespace: str
    name: str
    template: PodTemplate
    pod_ip: ipaddress.IPv4Address | None = None
    is_ready: bool = True
    is_terminating: bool = False
    owner: str | None = None  # e.g. "ReplicaSet default/web-7d4b9c8f5d"
    source: str = ""

    @property
    def labels(self) -> Mapping[str, str]:
        """The pod's labels."""
        return self.template.labels

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Workload:
    """A Deployment, ReplicaSet, StatefulSet, DaemonSet or Job, before expansion."""

    kind: str
    namespace: str
    name: str
    replicas: int
    selector: LabelSelector
    template: PodTemplate
    source: str = ""


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One entry of ``spec.ports``."""

    port: int
    target_port: int | str
    protocol: Protocol = Protocol.TCP
    name: str | None = None
    node_port: int | None = None
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    """A Service as declared."""

    namespace: str
    name: str
    type: ServiceType
    ports: tuple[ServicePort, ...]
    selector: Mapping[str, str] | None = None
    cluster_ip: str | None = None  # an IP, "None" (headless) or None (allocate)
    external_traffic_policy: str = "Cluster"
    internal_traffic_policy: str = "Cluster"
    session_affinity: str = "None"
    session_affinity_timeout: int = 10800  # API default for ClientIP
    external_ips: tuple[ipaddress.IPv4Address, ...] = ()
    load_balancer_source_ranges: tuple[ipaddress.IPv4Network, ...] = ()
    load_balancer_ingress: tuple[ipaddress.IPv4Address, ...] = ()
    health_check_node_port: int | None = None
    external_name: str | None = None
    publish_not_ready_addresses: bool = False
    labels: Mapping[str, str] = _no_labels()
    source: str = ""

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def is_headless(self) -> bool:
        """A Service with ``clusterIP: None``."""
        return self.cluster_ip == "None"


@dataclass(frozen=True, slots=True)
class EndpointPort:
    """A port of an EndpointSlice."""

    port: int
    protocol: Protocol = Protocol.TCP
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint of an EndpointSlice (netsim keeps ``addresses[0]``, as kube-proxy does)."""

    address: ipaddress.IPv4Address
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str | None = None
    zone: str | None = None
    target_pod: str | None = None  # namespace/name of targetRef Pod
    hints_zones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    """A discovery.k8s.io/v1 EndpointSlice."""

    namespace: str
    name: str
    service_name: str
    endpoints: tuple[Endpoint, ...]
    ports: tuple[EndpointPort, ...]
    address_type: str = "IPv4"
    managed_by: str = "endpointslice-controller.k8s.io"
    source: str = ""


@dataclass(frozen=True, slots=True)
class IPBlock:
    """``ipBlock`` of a NetworkPolicy peer."""

    cidr: ipaddress.IPv4Network
    excepts: tuple[ipaddress.IPv4Network, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkPolicyPeer:
    """One ``from``/``to`` entry: selectors (ANDed when both) or an ipBlock."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True, slots=True)
class NetworkPolicyPort:
    """One ``ports`` entry; ``port`` None means every port of the protocol."""

    protocol: Protocol = Protocol.TCP
    port: int | str | None = None
    end_port: int | None = None


@dataclass(frozen=True, slots=True)
class NetworkPolicyRule:
    """An ingress or egress rule; ``peers``/``ports`` None when the field is absent (all)."""

    peers: tuple[NetworkPolicyPeer, ...] | None = None
    ports: tuple[NetworkPolicyPort, ...] | None = None


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """A networking.k8s.io/v1 NetworkPolicy with ``policyTypes`` already defaulted."""

    namespace: str
    name: str
    pod_selector: LabelSelector
    policy_types: tuple[str, ...]
    ingress: tuple[NetworkPolicyRule, ...] = ()
    egress: tuple[NetworkPolicyRule, ...] = ()
    source: str = ""
    labels: Mapping[str, str] = _no_labels()

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"
