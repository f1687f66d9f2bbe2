"""Kubernetes manifests, as ``kubectl apply`` takes them and ``kubectl get -o yaml`` prints them.

Reads multi-document files and ``kind: List`` into the typed objects of
:mod:`netsim.model.objects`: Namespace, Pod, Deployment, ReplicaSet,
StatefulSet, DaemonSet, Job, Service, EndpointSlice and NetworkPolicy.

Validation is strict where a field changes the network (ports, selectors,
policies, Service fields): an invalid value is a :class:`ManifestError` naming
file, object and field. Field names Kubernetes defines but netsim does not need
(images, resources, probes, volumes) are accepted and ignored; misspelt field
names are refused with a did-you-mean, as ``kubectl apply
--validate=strict`` does. Fields that would change placement or traffic but
are not modelled (pod affinity, topology spread) and kinds netsim does not
model are reported as warnings, one line each.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from netsim.errors import ManifestError
from netsim.model.objects import (
    Container,
    ContainerPort,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    IPBlock,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    NetworkPolicyPeer,
    NetworkPolicyPort,
    NetworkPolicyRule,
    Pod,
    PodTemplate,
    Protocol,
    SelectorRequirement,
    Service,
    ServicePort,
    ServiceType,
    Toleration,
    Workload,
    frozen_map,
)
from netsim.model.reader import Reader
from netsim.model.selectors import selector_matches

__all__ = ["Manifests", "parse_manifest_documents"]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # EndpointSlice -> Service link
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace since 1.21
MAX_SESSION_AFFINITY_TIMEOUT = 86400  # core/v1 validation

_API_VERSIONS = {
    "Namespace": ("v1",),
    "Pod": ("v1",),
    "Service": ("v1",),
    "Deployment": ("apps/v1",),
    "ReplicaSet": ("apps/v1",),
    "StatefulSet": ("apps/v1",),
    "DaemonSet": ("apps/v1",),
    "Job": ("batch/v1",),
    "EndpointSlice": ("discovery.k8s.io/v1",),
    "NetworkPolicy": ("networking.k8s.io/v1",),
}

_OBJECT_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")
_META_KEYS = (
    "name",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "ownerReferences",
    "generateName",
    "finalizers",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
)
_POD_SPEC_KEYS = (
    "activeDeadlineSeconds",
    "affinity",
    "automountServiceAccountToken",
    "containers",
    "dnsConfig",
    "dnsPolicy",
    "enableServiceLinks",
    "ephemeralContainers",
    "hostAliases",
    "hostIPC",
    "hostNetwork",
    "hostPID",
    "hostUsers",
    "hostname",
    "imagePullSecrets",
    "initContainers",
    "nodeName",
    "nodeSelector",
    "os",
    "overhead",
    "preemptionPolicy",
    "priority",
    "priorityClassName",
    "readinessGates",
    "resourceClaims",
    "resources",
    "restartPolicy",
    "runtimeClassName",
    "schedulerName",
    "schedulingGates",
    "securityContext",
    "serviceAccount",
    "serviceAccountName",
    "setHostnameAsFQDN",
    "shareProcessNamespace",
    "subdomain",
    "terminationGracePeriodSeconds",
    "tolerations",
    "topologySpreadConstraints",
    "volumes",
)
_CONTAINER_KEYS = (
    "args",
    "command",
    "env",
    "envFrom",
    "image",
    "imagePullPolicy",
    "lifecycle",
    "livenessProbe",
    "name",
    "ports",
    "readinessProbe",
    "resizePolicy",
    "resources",
    "restartPolicy",
    "securityContext",
    "startupProbe",
    "stdin",
    "stdinOnce",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "tty",
    "volumeDevices",
    "volumeMounts",
    "workingDir",
)
_SERVICE_SPEC_KEYS = (
    "allocateLoadBalancerNodePorts",
    "clusterIP",
    "clusterIPs",
    "externalIPs",
    "externalName",
    "externalTrafficPolicy",
    "healthCheckNodePort",
    "internalTrafficPolicy",
    "ipFamilies",
    "ipFamilyPolicy",
    "loadBalancerClass",
    "loadBalancerIP",
    "loadBalancerSourceRanges",
    "ports",
    "publishNotReadyAddresses",
    "selector",
    "sessionAffinity",
    "sessionAffinityConfig",
    "trafficDistribution",
    "type",
)
_WORKLOAD_SPEC_KEYS = {
    "Deployment": (
        "replicas",
        "selector",
        "template",
        "strategy",
        "minReadySeconds",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
        "paused",
    ),
    "ReplicaSet": ("replicas", "selector", "template", "minReadySeconds"),
    "StatefulSet": (
        "replicas",
        "selector",
        "template",
        "serviceName",
        "podManagementPolicy",
        "updateStrategy",
        "volumeClaimTemplates",
        "revisionHistoryLimit",
        "minReadySeconds",
        "persistentVolumeClaimRetentionPolicy",
        "ordinals",
    ),
    "DaemonSet": (
        "selector",
        "template",
        "updateStrategy",
        "minReadySeconds",
        "revisionHistoryLimit",
    ),
    "Job": (
        "parallelism",
        "completions",
        "template",
        "backoffLimit",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
        "completionMode",
        "suspend",
        "selector",
        "manualSelector",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
        "podReplacementPolicy",
        "successPolicy",
        "managedBy",
    ),
}

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")  # port names, <= 15 chars
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


@dataclass(slots=True)
class Manifests:
    """Objects read from manifests, in the order they were read (mutable while loading)."""

    namespaces: list[Namespace] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    endpoint_slices: list[EndpointSlice] = field(default_factory=list)
    network_policies: list[NetworkPolicy] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_manifest_documents(documents: list[Any], source: str, into: Manifests) -> None:
    """Parse the documents of one file into ``into``.

    >>> m = Manifests()
    >>> parse_manifest_documents([{"apiVersion": "v1", "kind": "Namespace",
    ...     "metadata": {"name": "shop"}}, {"apiVersion": "v1", "kind": "ConfigMap",
    ...     "metadata": {"name": "x"}}], "m.yaml", m)
    >>> m.namespaces[0].labels["kubernetes.io/metadata.name"], m.warnings
    ('shop', ['m.yaml: ConfigMap default/x: kind not modelled by netsim; ignored'])
    """
    for index, document in enumerate(_flatten(documents, source)):
        _parse_object(document, source, index, into)


def _flatten(documents: list[Any], source: str) -> Iterator[Any]:
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List":
            items = document.get("items") or []
            if not isinstance(items, list):
                raise ManifestError("must be a list", source=source, obj="List", field="items")
            yield from items
        else:
            yield document


def _parse_object(document: Any, source: str, index: int, into: Manifests) -> None:
    if not isinstance(document, dict):
        raise ManifestError(
            "each document must be a Kubernetes object (a mapping)",
            source=source,
            obj=f"document {index + 1}",
        )
    top = Reader(document, source, obj=f"document {index + 1}", error=ManifestError)
    kind = top.string("kind", required=True)
    meta = top.sub("metadata", required=True)
    name = meta.string("name", required=True)
    namespace = meta.string("namespace", "default")
    obj = f"{kind} {name}" if kind == "Namespace" else f"{kind} {namespace}/{name}"
    top = top.for_object(obj)
    meta = meta.for_object(obj)
    if kind not in _API_VERSIONS:
        into.warnings.append(f"{source}: {obj}: kind not modelled by netsim; ignored")
        return
    api_version = top.string("apiVersion", required=True)
    if api_version not in _API_VERSIONS[kind]:
        raise top.fail(
            f"{api_version!r} is not served for {kind}; use {_API_VERSIONS[kind][0]!r}",
            "apiVersion",
        )
    if kind != "EndpointSlice":  # its fields sit at the top level, checked by its parser
        top.check_keys(_OBJECT_KEYS)
    meta.check_keys(_META_KEYS)
    _check_name(meta, "name", kind)
    if kind != "Namespace":
        _check_name(meta, "namespace", "Namespace")
    labels = _labels(meta, "labels")
    spec = top.sub("spec")
    match kind:
        case "Namespace":
            labels[NAMESPACE_NAME_LABEL] = name
            into.namespaces.append(Namespace(name, frozen_map(labels)))
        case "Pod":
            into.pods.append(_pod(top, namespace, name, labels, source, into.warnings))
        case "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job":
            into.workloads.append(_workload(kind, spec, namespace, name, source, into.warnings))
        case "Service":
            into.services.append(_service(top, namespace, name, labels, source))
        case "EndpointSlice":
            into.endpoint_slices.append(_endpoint_slice(top, namespace, name, labels, source))
        case "NetworkPolicy":
            into.network_policies.append(_network_policy(spec, namespace, name, labels, source))


def _check_name(reader: Reader, key: str, kind: str) -> None:
    value = reader.string(key, "default")
    pattern = _DNS1035_LABEL if kind == "Service" else _DNS1123_LABEL
    if kind in (
        "Pod",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "EndpointSlice",
        "NetworkPolicy",
    ):
        pattern = _DNS1123_SUBDOMAIN
    limit = 253 if pattern is _DNS1123_SUBDOMAIN else 63
    if len(value) > limit or not pattern.match(value):
        raise reader.fail(f"{value!r} is not a valid {kind} name (lowercase RFC 1123)", key)


def _labels(reader: Reader, key: str) -> dict[str, str]:
    labels = reader.string_map(key)
    for name, value in labels.items():
        bare = name.rsplit("/", 1)[-1]
        if len(bare) > 63 or not _LABEL_NAME.match(bare):
            raise reader.fail(f"{name!r} is not a valid label key", f"{key}.{name}")
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise reader.fail(f"{value!r} is not a valid label value", f"{key}.{name}")
    return labels


def _protocol(reader: Reader, key: str = "protocol") -> Protocol:
    return Protocol(reader.choice(key, [p.value for p in Protocol], "TCP"))


def _template(spec: Reader, labels: dict[str, str], warnings: list[str]) -> PodTemplate:
    spec.check_keys(_POD_SPEC_KEYS)
    for unmodelled in ("affinity", "topologySpreadConstraints"):
        if spec.has(unmodelled):
            warnings.append(
                f"{spec.source}: {spec.obj}: {spec.where(unmodelled)}: not modelled;"
                " the scheduler ignores it"
            )
    containers = []
    seen_ports: dict[str, int] = {}
    for item in spec.items("containers", required=True):
        item.check_keys(_CONTAINER_KEYS)
        ports = []
        for port in item.items("ports"):
            port.check_keys(("containerPort", "hostIP", "hostPort", "name", "protocol"))
            port_name = port.optional_string("name")
            if port_name is not None:
                _check_port_name(port, port_name)
                if port_name in seen_ports:
                    raise port.fail(f"duplicate port name {port_name!r} in this pod", "name")
                seen_ports[port_name] = 1
            host_port = port.optional_integer("hostPort", minimum=1, maximum=65535)
            if host_port is not None:
                warnings.append(
                    f"{port.source}: {port.obj}: {port.where('hostPort')}: hostPort is not"
                    " modelled (the portmap CNI plugin's DNAT is not simulated)"
                )
            ports.append(
                ContainerPort(
                    container_port=port.integer("containerPort", minimum=1, maximum=65535),
                    protocol=_protocol(port),
                    name=port_name,
                    host_port=host_port,
                )
            )
        containers.append(Container(item.string("name", required=True), tuple(ports)))
    if not containers:
        raise spec.fail("a pod needs at least one container", "containers")
    tolerations = []
    for item in spec.items("tolerations"):
        item.check_keys(("key", "operator", "value", "effect", "tolerationSeconds"))
        operator = item.choice("operator", ("Equal", "Exists"), "Equal")
        effect = item.optional_string("effect")
        if effect is not None and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise item.fail(f"{effect!r} is not a taint effect", "effect")
        tolerations.append(
            Toleration(
                key=item.optional_string("key"),
                operator=operator,
                value=str(item.raw("value", "")),
                effect=effect,
            )
        )
    return PodTemplate(
        labels=frozen_map(labels),
        containers=tuple(containers),
        node_name=spec.optional_string("nodeName"),
        node_selector=frozen_map(spec.string_map("nodeSelector")),
        tolerations=tuple(tolerations),
        host_network=spec.boolean("hostNetwork", False),
    )


def _check_port_name(reader: Reader, name: str) -> None:
    if len(name) > 15 or not _IANA_SVC_NAME.match(name) or "--" in name or name.isdigit():
        raise reader.fail(f"{name!r} is not a valid port name (IANA_SVC_NAME, <= 15 chars)", "name")


def _pod(
    top: Reader, namespace: str, name: str, labels: dict[str, str], source: str, warnings: list[str]
) -> Pod:
    template = _template(top.sub("spec", required=True), labels, warnings)
    status = top.sub("status")
    pod_ip = None
    if status.has("podIP"):
        ip = status.ip("podIP")
        if not isinstance(ip, ipaddress.IPv4Address):
            raise status.fail("only IPv4 is modelled", "podIP")
        pod_ip = ip
        if template.node_name is None:
            raise status.fail("a pod with status.podIP must also carry spec.nodeName", "podIP")
    ready = True
    for condition in status.items("conditions"):
        if condition.raw("type") == "Ready":
            ready = condition.raw("status") == "True"
    meta = top.sub("metadata")
    return Pod(
        namespace=namespace,
        name=name,
        template=template,
        pod_ip=pod_ip,
        is_ready=ready,
        is_terminating=meta.has("deletionTimestamp"),
        source=source,
    )


def _selector(reader: Reader, key: str) -> LabelSelector:
    sub = reader.sub(key)
    sub.check_keys(("matchLabels", "matchExpressions"))
    expressions = []
    for item in sub.items("matchExpressions"):
        item.check_keys(("key", "operator", "values"))
        operator = item.choice("operator", ("In", "NotIn", "Exists", "DoesNotExist"))
        values = tuple(item.string_list("values"))
        if operator in ("In", "NotIn") and not values:
            raise item.fail(f"operator {operator} needs at least one value", "values")
        if operator in ("Exists", "DoesNotExist") and values:
            raise item.fail(f"operator {operator} takes no values", "values")
        for value in values:
            if len(value) > 63 or not _LABEL_VALUE.match(value):
                raise item.fail(f"{value!r} is not a valid label value", "values")
        expressions.append(SelectorRequirement(item.string("key"), operator, values))
    return LabelSelector(frozen_map(_labels(sub, "matchLabels")), tuple(expressions))


def _workload(
    kind: str, spec: Reader, namespace: str, name: str, source: str, warnings: list[str]
) -> Workload:
    spec.check_keys(_WORKLOAD_SPEC_KEYS[kind])
    template = spec.sub("template", required=True)
    template.check_keys(("metadata", "spec"))
    tmeta = template.sub("metadata")
    labels = _labels(tmeta, "labels")
    pod_template = _template(template.sub("spec", required=True), labels, warnings)
    if kind == "Job":
        parallelism = spec.integer("parallelism", 1, minimum=0)
        completions = spec.optional_integer("completions", minimum=0)
        replicas = parallelism if completions is None else min(parallelism, completions)
        selector = LabelSelector()
    else:
        replicas = 0 if kind == "DaemonSet" else spec.integer("replicas", 1, minimum=0)
        if not spec.has("selector"):
            raise spec.fail("required field is missing", "selector")
        selector = _selector(spec, "selector")
        if not selector_matches(selector, labels):
            raise spec.fail("`selector` does not match template `labels`", "selector")
    return Workload(kind, namespace, name, replicas, selector, pod_template, source)


def _service(
    top: Reader, namespace: str, name: str, labels: dict[str, str], source: str
) -> Service:
    spec = top.sub("spec", required=True)
    spec.check_keys(_SERVICE_SPEC_KEYS)
    service_type = ServiceType(
        spec.choice("type", [t.value for t in ServiceType], ServiceType.CLUSTER_IP)
    )
    external = service_type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)
    ports: list[ServicePort] = []
    seen: set[tuple[int, Protocol]] = set()
    names: set[str] = set()
    raw_ports = list(spec.items("ports"))
    if not raw_ports and service_type != ServiceType.EXTERNAL_NAME and not _is_headless(spec):
        raise spec.fail("at least one port is required", "ports")
    for item in raw_ports:
        item.check_keys(("appProtocol", "name", "nodePort", "port", "protocol", "targetPort"))
        port = item.integer("port", minimum=1, maximum=65535)
        protocol = _protocol(item)
        port_name = item.optional_string("name")
        if port_name is not None:
            _check_port_name(item, port_name)
            if port_name in names:
                raise item.fail(f"duplicate port name {port_name!r}", "name")
            names.add(port_name)
        elif len(raw_ports) > 1:
            raise item.fail("a Service with several ports must name each of them", "name")
        if (port, protocol) in seen:
            raise item.fail(f"duplicate port {port}/{protocol}", "port")
        seen.add((port, protocol))
        target: int | str = port
        if item.has("targetPort"):
            raw_target = item.raw("targetPort")
            if isinstance(raw_target, bool):
                raise item.fail("must be a port number or a port name", "targetPort")
            if isinstance(raw_target, int):
                target = item.integer("targetPort", minimum=1, maximum=65535)
            elif isinstance(raw_target, str) and raw_target.isdigit():
                target = int(raw_target)
            elif isinstance(raw_target, str):
                _check_port_name(item.for_object(item.obj or ""), raw_target)
                target = raw_target
            else:
                raise item.fail("must be a port number or a port name", "targetPort")
        node_port = item.optional_integer("nodePort", minimum=1, maximum=65535)
        if node_port is not None and not external:
            raise item.fail(f"nodePort may not be set on a {service_type} Service", "nodePort")
        ports.append(
            ServicePort(
                port=port,
                target_port=target,
                protocol=protocol,
                name=port_name,
                node_port=node_port,
                app_protocol=item.optional_string("appProtocol"),
            )
        )
    selector = spec.string_map("selector") if spec.has("selector") else None
    cluster_ip = spec.optional_string("clusterIP")
    if spec.has("clusterIPs") and cluster_ip is None:
        ips = spec.string_list("clusterIPs")
        cluster_ip = ips[0] if ips else None
    if cluster_ip not in (None, "None", ""):
        spec.ip("clusterIP", text=cluster_ip)
    if cluster_ip == "":
        cluster_ip = None
    if cluster_ip == "None" and service_type != ServiceType.CLUSTER_IP:
        raise spec.fail("clusterIP None (headless) is only valid for type ClusterIP", "clusterIP")
    etp = spec.choice("externalTrafficPolicy", ("Cluster", "Local"), "Cluster")
    if spec.has("externalTrafficPolicy") and not external and etp == "Local":
        raise spec.fail(
            f"externalTrafficPolicy Local may only be set on NodePort or LoadBalancer"
            f" Services, not {service_type}",
            "externalTrafficPolicy",
        )
    itp = spec.choice("internalTrafficPolicy", ("Cluster", "Local"), "Cluster")
    affinity = spec.choice("sessionAffinity", ("None", "ClientIP"), "None")
    timeout = 10800
    config = spec.sub("sessionAffinityConfig")
    config.check_keys(("clientIP",))
    client = config.sub("clientIP")
    client.check_keys(("timeoutSeconds",))
    if client.has("timeoutSeconds"):
        if affinity != "ClientIP":
            raise client.fail("only valid with sessionAffinity ClientIP", "timeoutSeconds")
        timeout = client.integer("timeoutSeconds", minimum=1, maximum=MAX_SESSION_AFFINITY_TIMEOUT)
    external_ips = tuple(
        _ipv4(spec, "externalIPs", text) for text in spec.string_list("externalIPs")
    )
    ranges = []
    for text in spec.string_list("loadBalancerSourceRanges"):
        net = spec.network("loadBalancerSourceRanges", text=text.strip())
        if not isinstance(net, ipaddress.IPv4Network):
            raise spec.fail("only IPv4 is modelled", "loadBalancerSourceRanges")
        ranges.append(net)
    if ranges and service_type != ServiceType.LOAD_BALANCER:
        raise spec.fail("only valid for type LoadBalancer", "loadBalancerSourceRanges")
    ingress = []
    lb = top.sub("status").sub("loadBalancer")
    for item in lb.items("ingress"):
        item.check_keys(("ip", "hostname", "ipMode", "ports"))
        if item.has("ip") and item.raw("ipMode") != "Proxy":
            ingress.append(_ipv4(item, "ip", item.string("ip")))
    hc = spec.optional_integer("healthCheckNodePort", minimum=1, maximum=65535)
    if hc is not None and not (service_type == ServiceType.LOAD_BALANCER and etp == "Local"):
        raise spec.fail(
            "only valid for type LoadBalancer with externalTrafficPolicy Local",
            "healthCheckNodePort",
        )
    external_name = None
    if service_type == ServiceType.EXTERNAL_NAME:
        external_name = spec.string("externalName", required=True)
    return Service(
        namespace=namespace,
        name=name,
        type=service_type,
        ports=tuple(ports),
        selector=frozen_map(selector) if selector is not None else None,
        cluster_ip=cluster_ip,
        external_traffic_policy=etp,
        internal_traffic_policy=itp,
        session_affinity=affinity,
        session_affinity_timeout=timeout,
        external_ips=external_ips,
        load_balancer_source_ranges=tuple(ranges),
        load_balancer_ingress=tuple(ingress),
        health_check_node_port=hc,
        external_name=external_name,
        publish_not_ready_addresses=spec.boolean("publishNotReadyAddresses", False),
        labels=frozen_map(labels),
        source=source,
    )


def _is_headless(spec: Reader) -> bool:
    return bool(spec.raw("clusterIP") == "None")


def _ipv4(reader: Reader, key: str, text: str) -> ipaddress.IPv4Address:
    ip = reader.ip(key, text=text)
    if not isinstance(ip, ipaddress.IPv4Address):
        raise reader.fail("only IPv4 is modelled", key)
    return ip


def _endpoint_slice(
    top: Reader, namespace: str, name: str, labels: dict[str, str], source: str
) -> EndpointSlice:
    top.check_keys(("apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"))
    service_name = labels.get(SERVICE_NAME_LABEL)
    if not service_name:
        raise top.fail(
            f"the label {SERVICE_NAME_LABEL} naming the Service is missing", "metadata.labels"
        )
    address_type = top.choice("addressType", ("IPv4", "IPv6", "FQDN"))
    if address_type != "IPv4":
        raise top.fail(f"addressType {address_type} is not modelled (IPv4 only)", "addressType")
    endpoints = []
    for item in top.items("endpoints"):
        item.check_keys(
            (
                "addresses",
                "conditions",
                "hostname",
                "nodeName",
                "targetRef",
                "zone",
                "hints",
                "deprecatedTopology",
            )
        )
        addresses = item.string_list("addresses")
        if not addresses:
            raise item.fail("at least one address is required", "addresses")
        conditions = item.sub("conditions")
        conditions.check_keys(("ready", "serving", "terminating"))
        ready = conditions.boolean("ready", True)
        ref = item.sub("targetRef")
        target = None
        if ref.raw("kind") == "Pod" and ref.has("name"):
            target = f"{ref.raw('namespace', namespace)}/{ref.raw('name')}"
        hints = item.sub("hints")
        hints.check_keys(("forZones", "forNodes"))
        zones = tuple(str(z.raw("name", "")) for z in hints.items("forZones"))
        endpoints.append(
            Endpoint(
                address=_ipv4(item, "addresses", addresses[0]),
                ready=ready,
                serving=conditions.boolean("serving", ready),
                terminating=conditions.boolean("terminating", False),
                node_name=item.optional_string("nodeName"),
                zone=item.optional_string("zone"),
                target_pod=target,
                hints_zones=zones,
            )
        )
    ports = []
    for item in top.items("ports"):
        item.check_keys(("name", "port", "protocol", "appProtocol"))
        ports.append(
            EndpointPort(
                port=item.integer("port", minimum=1, maximum=65535),
                protocol=_protocol(item),
                name=item.raw("name") or None,
            )
        )
    managed_by = labels.get("endpointslice.kubernetes.io/managed-by", "user")
    return EndpointSlice(
        namespace=namespace,
        name=name,
        service_name=service_name,
        endpoints=tuple(endpoints),
        ports=tuple(ports),
        address_type=address_type,
        managed_by=managed_by,
        source=source,
    )


def _network_policy(
    spec: Reader, namespace: str, name: str, labels: dict[str, str], source: str
) -> NetworkPolicy:
    spec.check_keys(("podSelector", "policyTypes", "ingress", "egress"))
    if "podSelector" not in spec.data:
        raise spec.fail("required field is missing (use {} to select every pod)", "podSelector")
    pod_selector = _selector(spec, "podSelector")
    ingress = tuple(_policy_rule(item, "from") for item in spec.items("ingress"))
    egress = tuple(_policy_rule(item, "to") for item in spec.items("egress"))
    if spec.has("policyTypes"):
        types = spec.string_list("policyTypes")
        for value in types:
            if value not in ("Ingress", "Egress"):
                raise spec.fail(f"{value!r} is not Ingress or Egress", "policyTypes")
        policy_types = tuple(dict.fromkeys(types))
        if egress and "Egress" not in policy_types:
            raise spec.fail("egress rules given but policyTypes lacks Egress", "policyTypes")
        if ingress and "Ingress" not in policy_types:
            raise spec.fail("ingress rules given but policyTypes lacks Ingress", "policyTypes")
    else:
        policy_types = ("Ingress", "Egress") if egress else ("Ingress",)
    return NetworkPolicy(
        namespace=namespace,
        name=name,
        pod_selector=pod_selector,
        policy_types=policy_types,
        ingress=ingress,
        egress=egress,
        source=source,
        labels=frozen_map(labels),
    )


def _policy_rule(item: Reader, peers_key: str) -> NetworkPolicyRule:
    item.check_keys((peers_key, "ports"))
    peers: tuple[NetworkPolicyPeer, ...] | None = None
    if peers_key in item.data and item.data[peers_key] is not None:
        peers = tuple(_peer(peer) for peer in item.items(peers_key))
    ports: tuple[NetworkPolicyPort, ...] | None = None
    if "ports" in item.data and item.data["ports"] is not None:
        ports = tuple(_policy_port(port) for port in item.items("ports"))
    return NetworkPolicyRule(peers, ports)


def _peer(peer: Reader) -> NetworkPolicyPeer:
    peer.check_keys(("podSelector", "namespaceSelector", "ipBlock"))
    if not any(key in peer.data for key in ("podSelector", "namespaceSelector", "ipBlock")):
        raise peer.fail("a peer needs podSelector, namespaceSelector or ipBlock")
    if "ipBlock" in peer.data:
        if "podSelector" in peer.data or "namespaceSelector" in peer.data:
            raise peer.fail("ipBlock may not be combined with selectors in one peer", "ipBlock")
        block = peer.sub("ipBlock", required=True)
        block.check_keys(("cidr", "except"))
        cidr = block.network("cidr")
        if not isinstance(cidr, ipaddress.IPv4Network):
            raise block.fail("only IPv4 is modelled", "cidr")
        excepts = []
        for text in block.string_list("except"):
            net = block.network("except", text=text)
            if not isinstance(net, ipaddress.IPv4Network) or not net.subnet_of(cidr) or net == cidr:
                raise block.fail(f"{text} must be a strict subset of cidr {cidr}", "except")
            excepts.append(net)
        return NetworkPolicyPeer(ip_block=IPBlock(cidr, tuple(excepts)))
    return NetworkPolicyPeer(
        pod_selector=_selector(peer, "podSelector") if "podSelector" in peer.data else None,
        namespace_selector=(
            _selector(peer, "namespaceSelector") if "namespaceSelector" in peer.data else None
        ),
    )


def _policy_port(port: Reader) -> NetworkPolicyPort:
    port.check_keys(("protocol", "port", "endPort"))
    value: int | str | None = None
    raw = port.raw("port")
    if raw is not None:
        if isinstance(raw, bool):
            raise port.fail("must be a port number or a port name", "port")
        if isinstance(raw, int):
            value = port.integer("port", minimum=1, maximum=65535)
        elif isinstance(raw, str) and raw.isdigit():
            value = int(raw)
        elif isinstance(raw, str):
            _check_port_name(port, raw)
            value = raw
        else:
            raise port.fail("must be a port number or a port name", "port")
    end_port = port.optional_integer("endPort", minimum=1, maximum=65535)
    if end_port is not None:
        if not isinstance(value, int):
            raise port.fail("endPort needs a numeric port", "endPort")
        if end_port < value:
            raise port.fail(f"endPort {end_port} is below port {value}", "endPort")
    return NetworkPolicyPort(_protocol(port), value, end_port)
