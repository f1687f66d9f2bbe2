"""A synthetic cluster generator at Kubernetes' scale limits, for the benchmarks.

``synthetic_spec(nodes, pods_per_node, services, endpoints_per_service,
policies, namespaces)`` builds a ClusterSpec in memory (no YAML): nodes on one
underlay, Deployments whose replicas back one ClusterIP or NodePort Service
each, and NetworkPolicies spread over the namespaces. Defaults are the full
scale the benchmarks hold netsim to: 5,000 nodes, 150,000 pods, 10,000
services with 15 endpoints on average, 5,000 policies in 100 namespaces.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from netsim.model.kube_proxy_config import KubeProxyConfig
from netsim.model.objects import (
    Container,
    ContainerPort,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    NetworkPolicyPeer,
    NetworkPolicyPort,
    NetworkPolicyRule,
    PodTemplate,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
    Workload,
    frozen_map,
)
from netsim.model.spec import ClusterSpec
from netsim.model.topology import (
    ExternalClient,
    Node,
    PodNetwork,
    PodNetworkMode,
    Subnet,
    Topology,
    Underlay,
)

FULL = {"nodes": 5000, "pods": 150_000, "services": 10_000, "policies": 5000, "namespaces": 100}
QUICK = {"nodes": 200, "pods": 6000, "services": 400, "policies": 200, "namespaces": 20}


def synthetic_spec(
    nodes: int = FULL["nodes"],
    pods: int = FULL["pods"],
    services: int = FULL["services"],
    policies: int = FULL["policies"],
    namespaces: int = FULL["namespaces"],
    mode: PodNetworkMode = PodNetworkMode.VXLAN,
) -> ClusterSpec:
    """A ClusterSpec of the given size (pods are spread evenly over services)."""
    underlay = ipaddress.IPv4Network("172.16.0.0/16")
    node_list = tuple(
        Node(
            name=f"node-{i:05d}",
            ip=underlay.network_address + 10 + i,
            pod_cidr=None,
            labels=frozen_map({"kubernetes.io/hostname": f"node-{i:05d}"}),
            taints=(),
            zone=f"zone-{i % 3}",
            mtu=1500,
            is_control_plane=i == 0,
            subnet="lan",
        )
        for i in range(nodes)
    )
    topology = Topology(
        name="synthetic",
        source="<synthetic>",
        base_dir=Path("."),
        nodes=node_list,
        cluster_cidr=ipaddress.IPv4Network("10.0.0.0/10"),
        node_cidr_mask_size=24,
        service_cidr=ipaddress.IPv4Network("10.96.0.0/12"),
        node_port_range=(30000, 32767),
        pod_network=PodNetwork(mode),
        underlay=Underlay((Subnet("lan", underlay, underlay.network_address + 1),), 1500),
        external_clients=(ExternalClient("client", ipaddress.IPv4Address("203.0.113.10")),),
        kube_proxy=KubeProxyConfig(),
        cluster_dns=True,
        cluster_domain="cluster.local",
        manifests=(),
    )
    ns_names = [f"ns-{i:03d}" for i in range(namespaces)]
    ns_objects = tuple(
        Namespace(n, frozen_map({"kubernetes.io/metadata.name": n, "team": f"t{i % 10}"}))
        for i, n in enumerate(ns_names)
    )
    per_service, extra = divmod(pods, services)
    workloads = []
    service_objects = []
    for i in range(services):
        ns = ns_names[i % namespaces]
        labels = frozen_map({"app": f"app-{i}"})
        replicas = per_service + (1 if i < extra else 0)
        workloads.append(
            Workload(
                kind="Deployment",
                namespace=ns,
                name=f"app-{i}",
                replicas=replicas,
                selector=LabelSelector(labels),
                template=PodTemplate(
                    labels=labels,
                    containers=(Container("app", (ContainerPort(8080, Protocol.TCP, "http"),)),),
                ),
                source="<synthetic>",
            )
        )
        service_objects.append(
            Service(
                namespace=ns,
                name=f"app-{i}",
                type=ServiceType.NODE_PORT if i % 20 == 0 else ServiceType.CLUSTER_IP,
                ports=(ServicePort(80, "http", Protocol.TCP, "http"),),
                selector=labels,
                source="<synthetic>",
            )
        )
    policy_objects = []
    for i in range(policies):
        ns = ns_names[i % namespaces]
        policy_objects.append(
            NetworkPolicy(
                namespace=ns,
                name=f"policy-{i}",
                pod_selector=LabelSelector(frozen_map({"app": f"app-{i % services}"})),
                policy_types=("Ingress",),
                ingress=(
                    NetworkPolicyRule(
                        peers=(
                            NetworkPolicyPeer(
                                namespace_selector=LabelSelector(frozen_map({"team": f"t{i % 10}"}))
                            ),
                        ),
                        ports=(NetworkPolicyPort(Protocol.TCP, "http"),),
                    ),
                ),
                source="<synthetic>",
            )
        )
    return ClusterSpec(
        topology=topology,
        namespaces=ns_objects,
        pods=(),
        workloads=tuple(workloads),
        services=tuple(service_objects),
        endpoint_slices=(),
        network_policies=tuple(policy_objects),
        warnings=(),
    )
