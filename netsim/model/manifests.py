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

This module reads what every object has (apiVersion, kind, metadata, names,
labels) and hands each kind to its module: :mod:`~netsim.model.manifest_pods`
(Pod and workloads), :mod:`~netsim.model.manifest_services` (Service,
EndpointSlice), :mod:`~netsim.model.manifest_policies` (NetworkPolicy);
:mod:`~netsim.model.manifest_fields` holds the checks they share.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from netsim.errors import ManifestError
from netsim.model.manifest_fields import _check_name, _labels
from netsim.model.manifest_pods import _pod, _workload
from netsim.model.manifest_policies import _network_policy
from netsim.model.manifest_services import (
    MAX_SESSION_AFFINITY_TIMEOUT as MAX_SESSION_AFFINITY_TIMEOUT,
)
from netsim.model.manifest_services import SERVICE_NAME_LABEL as SERVICE_NAME_LABEL
from netsim.model.manifest_services import _endpoint_slice, _service
from netsim.model.objects import (
    EndpointSlice,
    Namespace,
    NetworkPolicy,
    Pod,
    Service,
    Workload,
    frozen_map,
)
from netsim.model.reader import Reader, _reader

__all__ = ["Manifests", "parse_manifest_documents"]

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace since 1.21

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

_OBJECT_KEYS = frozenset(("apiVersion", "kind", "metadata", "spec", "status"))
_META_KEYS = frozenset(
    (
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
)


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


def _identity(document: dict[Any, Any]) -> tuple[str, str, str]:
    """kind, name and namespace when all three are well formed, else empty strings."""
    kind = document.get("kind")
    metadata = document.get("metadata")
    if type(kind) is not str or type(metadata) is not dict:
        return "", "", ""
    name = metadata.get("name")
    namespace = metadata.get("namespace", "default")
    if namespace is None:
        namespace = "default"
    if type(name) is not str or type(namespace) is not str:
        return "", "", ""
    return kind, name, namespace


def _parse_object(document: Any, source: str, index: int, into: Manifests) -> None:
    if not isinstance(document, dict):
        raise ManifestError(
            "each document must be a Kubernetes object (a mapping)",
            source=source,
            obj=f"document {index + 1}",
        )
    kind, name, namespace = _identity(document)
    if not (kind and name and namespace):  # read again field by field, for the error
        top = Reader(document, source, obj=f"document {index + 1}", error=ManifestError)
        kind = top.string("kind", required=True)
        meta = top.sub("metadata", required=True)
        name = meta.string("name", required=True)
        namespace = meta.string("namespace", "default")
    obj = f"{kind} {name}" if kind == "Namespace" else f"{kind} {namespace}/{name}"
    top = _reader(document, source, obj, "", ManifestError)
    meta = top.sub("metadata")
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
