"""Pods and the workload controllers that make them (Deployment ... Job), from manifests.

The workload kinds are Deployment, ReplicaSet, StatefulSet, DaemonSet and Job.

Reads a pod spec into a :class:`~netsim.model.objects.PodTemplate` (containers,
their ports, nodeName, nodeSelector, tolerations, hostNetwork) and a
workload's replicas and selector. Fields that would change placement but are
not modelled (affinity, topology spread, hostPort) are warnings.
"""

from __future__ import annotations

import ipaddress

from netsim.model.manifest_fields import _check_port_name, _labels, _protocol, _selector
from netsim.model.objects import (
    Container,
    ContainerPort,
    LabelSelector,
    Pod,
    PodTemplate,
    Toleration,
    Workload,
    frozen_map,
)
from netsim.model.reader import Reader
from netsim.model.selectors import selector_matches

_POD_SPEC_KEYS = frozenset(
    (
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
)
_CONTAINER_KEYS = frozenset(
    (
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
)
_WORKLOAD_SPEC_FIELDS = {
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
_CONTAINER_PORT_KEYS = frozenset(("containerPort", "hostIP", "hostPort", "name", "protocol"))
_WORKLOAD_SPEC_KEYS = {kind: frozenset(keys) for kind, keys in _WORKLOAD_SPEC_FIELDS.items()}


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
            port.check_keys(_CONTAINER_PORT_KEYS)
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
