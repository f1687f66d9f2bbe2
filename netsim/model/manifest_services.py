"""Services and EndpointSlices: ports, selectors, ClusterIPs, traffic policies, endpoints.

Validation follows core/v1 and discovery.k8s.io/v1: port names and numbers,
duplicate ports, headless and ExternalName Services, which fields each
Service type allows, IPv4 addresses only (IPv6 and FQDN slices are refused).
"""

from __future__ import annotations

import ipaddress

from netsim.model.manifest_fields import _check_port_name, _ipv4, _protocol
from netsim.model.objects import (
    Endpoint,
    EndpointPort,
    EndpointSlice,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
    frozen_map,
)
from netsim.model.reader import Reader

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # EndpointSlice -> Service link
MAX_SESSION_AFFINITY_TIMEOUT = 86400  # core/v1 validation

_SERVICE_SPEC_KEYS = frozenset(
    (
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
)
_SERVICE_PORT_KEYS = frozenset(
    ("appProtocol", "name", "nodePort", "port", "protocol", "targetPort")
)
_SERVICE_TYPES = tuple(t.value for t in ServiceType)
_SERVICE_TYPE_BY_VALUE = {t.value: t for t in ServiceType}


def _service(
    top: Reader, namespace: str, name: str, labels: dict[str, str], source: str
) -> Service:
    spec = top.sub("spec", required=True)
    spec.check_keys(_SERVICE_SPEC_KEYS)
    service_type = _SERVICE_TYPE_BY_VALUE[
        spec.choice("type", _SERVICE_TYPES, ServiceType.CLUSTER_IP)
    ]
    external = service_type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)
    ports: list[ServicePort] = []
    seen: set[tuple[int, Protocol]] = set()
    names: set[str] = set()
    raw_ports = list(spec.items("ports"))
    if not raw_ports and service_type != ServiceType.EXTERNAL_NAME and not _is_headless(spec):
        raise spec.fail("at least one port is required", "ports")
    for item in raw_ports:
        item.check_keys(_SERVICE_PORT_KEYS)
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
                _check_port_name(item if item.obj is not None else item.for_object(""), raw_target)
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
    if spec.has("sessionAffinityConfig"):
        config = spec.sub("sessionAffinityConfig")
        config.check_keys(("clientIP",))
        client = config.sub("clientIP")
        client.check_keys(("timeoutSeconds",))
        if client.has("timeoutSeconds"):
            if affinity != "ClientIP":
                raise client.fail("only valid with sessionAffinity ClientIP", "timeoutSeconds")
            timeout = client.integer(
                "timeoutSeconds", minimum=1, maximum=MAX_SESSION_AFFINITY_TIMEOUT
            )
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
    if top.has("status"):  # (absent, it reads as empty)
        for item in top.sub("status").sub("loadBalancer").items("ingress"):
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
