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

The dataplane (:mod:`netsim.dataplane`) names namespaces, devices and graph nodes:

* netns ids, the keys of ``Dataplane.namespaces``: ``node:<node>`` (a node's root
  namespace), ``pod:<namespace>/<pod>``, ``router`` (the underlay router),
  ``client:<name>`` (an external client), ``switch:<segment>`` (an L2 segment).
* ``pod_netns_name(container_id)``: the name containerd gives a pod's namespace
  in ``/run/netns``: ``cni-`` and a UUID (version 4 shape) taken from SHA-256 of
  the container id. ``ip addr`` on the node prints it after ``link-netns``.
* ``host_veth_name(container_id)``: the bridge plugin's ``veth`` + 8 hex digits
  (random in the plugin), here the first 8 hex digits of SHA-256 of
  ``veth/<container id>/<attempt>``; a name already taken on the node retries
  with the next attempt, as the plugin retries on ``EEXIST``.
* ``pod_mac(ip)`` and ``pod_host_mac(ip)``: the MACs of a pod's veth pair,
  ``0a:58:`` (the pod's ``eth0``) or ``0a:59:`` (its host-side end) followed by
  the four bytes of the pod's IPv4 address. ``0a:58`` is the prefix the
  reference plugins used when they set a container's MAC from its IP
  (``SetHWAddrByIP``, ``PrivateMACPrefix``); today's bridge plugin lets the
  kernel pick random ones. Pod IPs are unique in the cluster, so these MACs are
  too, without a lookup: a pod's devices can be made when its node is first
  needed.
* ``interface_mac(netns_id, ifname)``: every other device's MAC, a locally
  administered unicast MAC like the kernel's random ones (first octet: bit 1
  set, bit 0 clear), the first six bytes of SHA-256 of
  ``<netns id>/<ifname>/<attempt>``; a MAC already used in the dataplane, or
  one that starts like a pod's (:func:`is_pod_mac`), retries with the next
  attempt.
* ``external_segment_name(cidr)``: ``external-<cidr>``, the segment of external
  clients outside every underlay subnet; ``switch_port_name(n)``: ``swp<n>``.
* graph node ids: a namespace's is its netns id; a device's is
  ``<netns id>/<ifname>`` (``pod:shop/web-x/eth0``: device names never hold ``/``);
  ``kube-proxy:<node>``; a ClusterIP service port
  ``service:<namespace>/<name>:<port>/<protocol>``; a NodePort
  ``nodeport:<port>/<protocol>``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Final

__all__ = [
    "K8S_RAND_ALPHABET",
    "MAX_IFNAME",
    "ROUTER_NETNS_ID",
    "client_netns_id",
    "container_id",
    "device_node_id",
    "endpoint_slice_name",
    "external_segment_name",
    "fnv32a",
    "host_veth_name",
    "interface_mac",
    "is_pod_mac",
    "kube_proxy_chain_hash",
    "kube_proxy_node_id",
    "node_netns_id",
    "node_port_node_id",
    "pod_host_mac",
    "pod_mac",
    "pod_netns_id",
    "pod_netns_name",
    "pod_template_hash",
    "random_suffix",
    "safe_encode_string",
    "service_port_node_id",
    "switch_netns_id",
    "switch_port_name",
]

K8S_RAND_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand
MAX_IFNAME = 15  # IFNAMSIZ 16 with the NUL: the longest interface name
# Byte b -> K8S_RAND_ALPHABET[b % 27], as a bytes.translate table (one C call per name).
_SAFE_BYTES = bytes(ord(K8S_RAND_ALPHABET[b % len(K8S_RAND_ALPHABET)]) for b in range(256))


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
    return text.encode().translate(_SAFE_BYTES).decode()


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
    return hashlib.sha256(seed.encode()).digest()[:length].translate(_SAFE_BYTES).decode()


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
    # 16 base32 characters are exactly the digest's first 80 bits (10 bytes)
    return base64.b32encode(hashlib.sha256(text.encode()).digest()[:10]).decode()


ROUTER_NETNS_ID = "router"  # the one underlay router's namespace


def node_netns_id(node: str) -> str:
    """The netns id of a node's root namespace.

    >>> node_netns_id("node-1")
    'node:node-1'
    """
    return f"node:{node}"


def pod_netns_id(pod_key: str) -> str:
    """The netns id of a pod's namespace (``pod_key`` is ``namespace/name``).

    >>> pod_netns_id("shop/web-0")
    'pod:shop/web-0'
    """
    return f"pod:{pod_key}"


def client_netns_id(client: str) -> str:
    """The netns id of an external client.

    >>> client_netns_id("laptop")
    'client:laptop'
    """
    return f"client:{client}"


def switch_netns_id(segment: str) -> str:
    """The netns id of the switch of an L2 segment.

    >>> switch_netns_id("lan")
    'switch:lan'
    """
    return f"switch:{segment}"


def pod_netns_name(container_id: str) -> str:
    """The name of a pod's namespace in ``/run/netns`` (containerd's ``cni-<uuid>``).

    >>> pod_netns_name(container_id("default", "web"))
    'cni-6a661a92-3c42-4155-b420-0a9753160b12'
    """
    digest = bytearray(hashlib.sha256(f"netns/{container_id}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40  # UUID version 4
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"cni-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def host_veth_name(container_id: str, attempt: int = 0) -> str:
    """The host-side veth name the bridge plugin gives a pod (``veth`` + 8 hex).

    >>> host_veth_name(container_id("default", "web"))
    'vethb252c221'
    """
    digest = hashlib.sha256(f"veth/{container_id}/{attempt}".encode()).hexdigest()
    return f"veth{digest[:8]}"


def interface_mac(netns_id: str, ifname: str, attempt: int = 0) -> str:
    """A stable, locally administered unicast MAC for a device.

    >>> mac = interface_mac("node:node-1", "cni0")
    >>> mac
    '82:f0:8a:d6:dc:05'
    >>> int(mac[:2], 16) & 0b11
    2
    """
    digest = bytearray(hashlib.sha256(f"{netns_id}/{ifname}/{attempt}".encode()).digest()[:6])
    digest[0] = (digest[0] & 0xFC) | 0x02  # locally administered (bit 1), unicast (bit 0 clear)
    return digest.hex(":")


# The MAC prefixes of a pod's eth0 and of its host-side veth (see the module docstring).
_POD_MAC_PREFIX: Final = "0a:58:"
_POD_HOST_MAC_PREFIX: Final = "0a:59:"


def pod_mac(ip: int) -> str:
    """The MAC of the ``eth0`` of the pod with IPv4 address ``ip`` (as an int).

    >>> pod_mac(0x0AF40105)  # 10.244.1.5
    '0a:58:0a:f4:01:05'
    """
    return _POD_MAC_PREFIX + ip.to_bytes(4, "big").hex(":")


def pod_host_mac(ip: int) -> str:
    """The MAC of the host-side veth of the pod with IPv4 address ``ip`` (as an int).

    >>> pod_host_mac(0x0AF40105)
    '0a:59:0a:f4:01:05'
    """
    return _POD_HOST_MAC_PREFIX + ip.to_bytes(4, "big").hex(":")


def is_pod_mac(mac: str) -> bool:
    """Whether ``mac`` is in the space :func:`pod_mac` and :func:`pod_host_mac` use.

    >>> is_pod_mac("0a:59:0a:f4:01:05"), is_pod_mac("82:f0:8a:d6:dc:05")
    (True, False)
    """
    return mac.startswith((_POD_MAC_PREFIX, _POD_HOST_MAC_PREFIX))


def external_segment_name(cidr: str) -> str:
    """The L2 segment of external clients in ``cidr`` (outside every underlay subnet).

    >>> external_segment_name("203.0.113.0/24")
    'external-203.0.113.0/24'
    """
    return f"external-{cidr}"


def switch_port_name(number: int) -> str:
    """The name of a switch's port ``number`` (from 1).

    >>> switch_port_name(1)
    'swp1'
    """
    return f"swp{number}"


def device_node_id(netns_id: str, ifname: str) -> str:
    """The graph node id of a device.

    >>> device_node_id("pod:shop/web-0", "eth0")
    'pod:shop/web-0/eth0'
    """
    return f"{netns_id}/{ifname}"


def kube_proxy_node_id(node: str) -> str:
    """The graph node id of a node's kube-proxy.

    >>> kube_proxy_node_id("node-1")
    'kube-proxy:node-1'
    """
    return f"kube-proxy:{node}"


def service_port_node_id(namespace: str, name: str, port: int, protocol: str) -> str:
    """The graph node id of a ClusterIP service port.

    >>> service_port_node_id("shop", "web", 80, "TCP")
    'service:shop/web:80/TCP'
    """
    return f"service:{namespace}/{name}:{port}/{protocol}"


def node_port_node_id(port: int, protocol: str) -> str:
    """The graph node id of a NodePort.

    >>> node_port_node_id(30080, "TCP")
    'nodeport:30080/TCP'
    """
    return f"nodeport:{port}/{protocol}"
