"""Every generated name in netsim, defined once.

Kubernetes controllers name pods with random suffixes; netsim derives the same
shapes deterministically so that a cluster file always realizes the same way:

* ``pod_template_hash(template)``: Kubernetes' ``SafeEncodeString`` of an FNV-1a
  32-bit hash, as the Deployment controller does — but of netsim's canonical
  JSON of the template, not of Go's struct dump, so the value differs from a
  real cluster's while keeping its shape (``7d4b9c8f5d``).
* ``random_suffix(seed)``: five characters from the alphabet of Kubernetes'
  ``utilrand.String`` (``bcdfghjklmnpqrstvwxz2456789``), taken from SHA-256 of
  ``seed``.
* Pods of a Deployment: ``<deployment>-<pod-template-hash>-<suffix>``; of a
  ReplicaSet, DaemonSet or Job: ``<owner>-<suffix>``; of a StatefulSet:
  ``<owner>-<ordinal>``. The suffix seed is ``<kind>/<namespace>/<owner>/<index>``
  (a DaemonSet uses the node name instead of the index).
* ``container_id(namespace, name)``: 64 hex digits, SHA-256 of ``namespace/name``,
  the CNI_CONTAINERID of the pod's sandbox.
* ``endpoint_slice_name(service, index)``: ``<service>-<suffix>``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

__all__ = [
    "K8S_RAND_ALPHABET",
    "container_id",
    "endpoint_slice_name",
    "fnv32a",
    "kube_proxy_chain_hash",
    "pod_template_hash",
    "random_suffix",
    "safe_encode_string",
]

K8S_RAND_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand


def fnv32a(data: bytes) -> int:
    """The 32-bit FNV-1a hash.

    >>> hex(fnv32a(b"a"))
    '0xe40c292c'
    """
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode_string(text: str) -> str:
    """Kubernetes' ``rand.SafeEncodeString``: map each byte into the safe alphabet.

    >>> safe_encode_string("1234")
    '5678'
    """
    return "".join(K8S_RAND_ALPHABET[b % len(K8S_RAND_ALPHABET)] for b in text.encode())


def pod_template_hash(template: Any) -> str:
    """The ``pod-template-hash`` label value of a template (netsim's canonical form).

    >>> len(pod_template_hash({"labels": {"app": "web"}})) <= 10
    True
    """
    canonical = json.dumps(template, sort_keys=True, default=str).encode()
    return safe_encode_string(str(fnv32a(canonical)))


def random_suffix(seed: str, length: int = 5) -> str:
    """A deterministic stand-in for ``utilrand.String(length)``.

    >>> random_suffix("ReplicaSet/default/web/0") == random_suffix("ReplicaSet/default/web/0")
    True
    >>> len(random_suffix("x"))
    5
    """
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(K8S_RAND_ALPHABET[b % len(K8S_RAND_ALPHABET)] for b in digest[:length])


def container_id(namespace: str, name: str) -> str:
    """The sandbox (CNI_CONTAINERID) id of a pod.

    >>> container_id("default", "web")[:12]
    '82b3ade9d00c'
    """
    return hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()


def endpoint_slice_name(service: str, index: int) -> str:
    """The name of a generated EndpointSlice.

    >>> endpoint_slice_name("web", 0).startswith("web-")
    True
    """
    return f"{service}-{random_suffix(f'EndpointSlice/{service}/{index}')}"


def kube_proxy_chain_hash(text: str) -> str:
    """kube-proxy's chain-name hash: base32 (RFC 4648) of SHA-256, first 16 characters.

    The input is ``<namespace>/<name>[:<port name>]<protocol>`` for the
    KUBE-SVC/SVL/EXT/FW chains of a service port, followed by ``<ip>:<port>``
    for its KUBE-SEP chains (test vectors from kube-proxy's own tests):

    >>> kube_proxy_chain_hash("ns1/svc1:p80tcp")
    'XPGD46QRK7WJZT7O'
    >>> kube_proxy_chain_hash("ns1/svc1:p80tcp10.180.0.1:80")
    'SXIVWICOYRO3J4NJ'
    """
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]
