"""What every kubeadm-built cluster has before the user applies anything.

* ``default/kubernetes``: ClusterIP Service, first address of the service CIDR,
  port ``https`` 443 -> 6443, no selector; its EndpointSlice (managed by
  kube-apiserver) lists the control-plane nodes' IPs on 6443.
* ``kube-system/kube-apiserver-<node>``: a hostNetwork static pod on each
  control-plane node, declaring containerPort 6443 (kubeadm's manifest only
  probes it; netsim declares it so the socket check knows it listens).
* ``kube-system/kube-proxy``: a hostNetwork DaemonSet tolerating every taint.
* Unless the topology sets ``cluster_dns: false``: ``kube-system/kube-dns``
  Service at the service CIDR's tenth address (ports ``dns`` 53/UDP,
  ``dns-tcp`` 53/TCP, ``metrics`` 9153/TCP, selector ``k8s-app: kube-dns``) and
  the ``coredns`` Deployment (2 replicas, the same ports, tolerating
  ``CriticalAddonsOnly`` and the control-plane taint), as kubeadm installs them.

Objects the manifests already declare (a snapshot of a real cluster) are not
added twice.
"""

from __future__ import annotations

import ipaddress

from netsim.model.objects import (
    Container,
    ContainerPort,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    LabelSelector,
    Pod,
    PodTemplate,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
    Toleration,
    Workload,
    frozen_map,
)
from netsim.model.spec import ClusterSpec

__all__ = ["API_SERVER_PORT", "CLUSTER_DNS_INDEX", "system_objects"]

API_SERVER_PORT = 6443  # kubeadm's --secure-port
KUBERNETES_SERVICE_PORT = 443  # kube-apiserver's "kubernetes" Service
CLUSTER_DNS_INDEX = 10  # kubeadm: clusterDNS = 10th address of the service CIDR
COREDNS_REPLICAS = 2  # kubeadm's coredns Deployment
DNS_PORT = 53
COREDNS_METRICS_PORT = 9153
SOURCE = "<built-in>"


def system_objects(
    spec: ClusterSpec,
) -> tuple[list[Service], list[EndpointSlice], list[Pod], list[Workload]]:
    """The built-in Services, EndpointSlices, Pods and Workloads this cluster lacks."""
    topology = spec.topology
    services: list[Service] = []
    slices: list[EndpointSlice] = []
    pods: list[Pod] = []
    workloads: list[Workload] = []
    declared = {s.key for s in spec.services}
    declared_pods = {p.key for p in spec.pods}
    declared_workloads = {(w.namespace, w.name) for w in spec.workloads}
    control_plane = [n for n in topology.nodes if n.is_control_plane]
    first_ip = topology.service_cidr.network_address + 1
    if "default/kubernetes" not in declared:
        services.append(
            Service(
                namespace="default",
                name="kubernetes",
                type=ServiceType.CLUSTER_IP,
                ports=(ServicePort(KUBERNETES_SERVICE_PORT, API_SERVER_PORT, name="https"),),
                cluster_ip=str(first_ip),
                labels=frozen_map({"component": "apiserver", "provider": "kubernetes"}),
                source=SOURCE,
            )
        )
        slices.append(
            EndpointSlice(
                namespace="default",
                name="kubernetes",
                service_name="kubernetes",
                endpoints=tuple(Endpoint(address=n.ip) for n in control_plane),
                ports=(EndpointPort(API_SERVER_PORT, Protocol.TCP, "https"),),
                managed_by="endpointslice-controller.k8s.io",
                source=SOURCE,
            )
        )
    for node in control_plane:
        name = f"kube-apiserver-{node.name}"
        if f"kube-system/{name}" in declared_pods:
            continue
        pods.append(
            Pod(
                namespace="kube-system",
                name=name,
                template=PodTemplate(
                    labels=frozen_map({"component": "kube-apiserver", "tier": "control-plane"}),
                    containers=(
                        Container(
                            "kube-apiserver",
                            (ContainerPort(API_SERVER_PORT, Protocol.TCP, "https"),),
                        ),
                    ),
                    node_name=node.name,
                    host_network=True,
                ),
                owner=f"Node {node.name}",
                source=SOURCE,
            )
        )
    if ("kube-system", "kube-proxy") not in declared_workloads:
        labels = frozen_map({"k8s-app": "kube-proxy"})
        workloads.append(
            Workload(
                kind="DaemonSet",
                namespace="kube-system",
                name="kube-proxy",
                replicas=0,
                selector=LabelSelector(labels),
                template=PodTemplate(
                    labels=labels,
                    containers=(Container("kube-proxy"),),
                    tolerations=(Toleration(None, "Exists"),),
                    host_network=True,
                ),
                source=SOURCE,
            )
        )
    if topology.cluster_dns:
        dns_labels = frozen_map({"k8s-app": "kube-dns"})
        dns_ports = (
            ContainerPort(DNS_PORT, Protocol.UDP, "dns"),
            ContainerPort(DNS_PORT, Protocol.TCP, "dns-tcp"),
            ContainerPort(COREDNS_METRICS_PORT, Protocol.TCP, "metrics"),
        )
        if "kube-system/kube-dns" not in declared:
            dns_ip = ipaddress.IPv4Address(int(topology.service_cidr.network_address) + 10)
            services.append(
                Service(
                    namespace="kube-system",
                    name="kube-dns",
                    type=ServiceType.CLUSTER_IP,
                    ports=(
                        ServicePort(DNS_PORT, DNS_PORT, Protocol.UDP, "dns"),
                        ServicePort(DNS_PORT, DNS_PORT, Protocol.TCP, "dns-tcp"),
                        ServicePort(COREDNS_METRICS_PORT, COREDNS_METRICS_PORT, name="metrics"),
                    ),
                    selector=dns_labels,
                    cluster_ip=str(dns_ip),
                    labels=frozen_map({**dns_labels, "kubernetes.io/name": "CoreDNS"}),
                    source=SOURCE,
                )
            )
        if ("kube-system", "coredns") not in declared_workloads:
            workloads.append(
                Workload(
                    kind="Deployment",
                    namespace="kube-system",
                    name="coredns",
                    replicas=COREDNS_REPLICAS,
                    selector=LabelSelector(dns_labels),
                    template=PodTemplate(
                        labels=dns_labels,
                        containers=(Container("coredns", dns_ports),),
                        tolerations=(
                            Toleration("CriticalAddonsOnly", "Exists"),
                            Toleration(
                                "node-role.kubernetes.io/control-plane", "Exists", "", "NoSchedule"
                            ),
                        ),
                    ),
                    source=SOURCE,
                )
            )
    return services, slices, pods, workloads
