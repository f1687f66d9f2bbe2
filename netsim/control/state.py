"""ClusterState: the cluster after the control plane has done its work.

Pods are placed on nodes and have IPs, nodes have podCIDRs, Services have
ClusterIPs and NodePorts, every Service with a selector has EndpointSlices.
Everything is immutable; lookups by name are read-only mappings built once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from netsim.model.objects import (
    EndpointSlice,
    Namespace,
    NetworkPolicy,
    Pod,
    Service,
    ServicePort,
)
from netsim.model.topology import Node, Topology

if TYPE_CHECKING:
    from netsim.control.hostlocal import RangeSet

__all__ = ["ClusterState", "NodeState", "PodState", "ServicePortState", "ServiceState"]

IPv4 = ipaddress.IPv4Address


@dataclass(frozen=True, slots=True)
class NodeState:
    """A node with its podCIDR and the host-local range its pods are allocated from.

    ``gateway`` is the address the CNI gives the node's bridge (``cni0``) and that
    its pods use as default gateway.
    """

    node: Node
    pod_cidr: ipaddress.IPv4Network
    ipam_ranges: tuple[RangeSet, ...]
    gateway: IPv4

    @property
    def name(self) -> str:
        """The node's name."""
        return self.node.name

    @property
    def ip(self) -> IPv4:
        """The node's underlay IP."""
        return self.node.ip


@dataclass(frozen=True, slots=True)
class PodState:
    """A pod as the control plane left it.

    ``node``/``ip`` are None for a pod the scheduler could not place (Pending);
    a hostNetwork pod's ``ip`` is its node's IP.
    """

    pod: Pod
    node: str | None
    ip: IPv4 | None
    container_id: str
    prefix_len: int  # of the pod's eth0 address

    @property
    def namespace(self) -> str:
        """The pod's namespace."""
        return self.pod.namespace

    @property
    def name(self) -> str:
        """The pod's name."""
        return self.pod.name

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return self.pod.key

    @property
    def is_host_network(self) -> bool:
        """Whether the pod shares its node's network namespace."""
        return self.pod.template.host_network

    @property
    def phase(self) -> str:
        """``Running`` when placed, else ``Pending``."""
        return "Running" if self.node is not None else "Pending"


@dataclass(frozen=True, slots=True)
class ServicePortState:
    """A Service port with its allocated NodePort (None when the type has none)."""

    port: ServicePort
    node_port: int | None


@dataclass(frozen=True, slots=True)
class ServiceState:
    """A Service with its allocated ClusterIP, NodePorts and health-check NodePort."""

    service: Service
    cluster_ip: IPv4 | None  # None for headless and ExternalName Services
    ports: tuple[ServicePortState, ...]
    health_check_node_port: int | None

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return self.service.key


@dataclass(frozen=True, slots=True)
class ClusterState:
    """The realized cluster (see module docstring)."""

    topology: Topology
    namespaces: Mapping[str, Namespace]
    nodes: Mapping[str, NodeState]
    pods: Mapping[str, PodState]
    services: Mapping[str, ServiceState]
    endpoint_slices: tuple[EndpointSlice, ...]
    network_policies: tuple[NetworkPolicy, ...]
    warnings: tuple[str, ...]
    _slices: Mapping[tuple[str, str], tuple[EndpointSlice, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], list[EndpointSlice]] = {}
        for eps in self.endpoint_slices:
            index.setdefault((eps.namespace, eps.service_name), []).append(eps)
        frozen = {key: tuple(value) for key, value in index.items()}
        object.__setattr__(self, "_slices", MappingProxyType(frozen))

    def slices_for(self, service: ServiceState) -> tuple[EndpointSlice, ...]:
        """The EndpointSlices of a Service, in the state's order (indexed once)."""
        return self._slices.get((service.service.namespace, service.service.name), ())
