"""kube-proxy's options that change its rules, as a topology's ``kube_proxy:`` section sets them.

:class:`KubeProxyConfig` holds the flags netsim models (iptables mode):
``--masquerade-all``, ``--detect-local-mode`` with ``--pod-bridge-interface``
and ``--pod-interface-name-prefix``, ``--random-fully`` (whether the node's
iptables has it), ``--iptables-localhost-nodeports`` and
``--nodeport-addresses``; :func:`parse_kube_proxy` reads and validates the
section. What kube-proxy makes of them on one node is
:mod:`netsim.control.kubeproxy_ports`.
"""

from __future__ import annotations

from dataclasses import dataclass

from netsim.model.reader import Reader
from netsim.naming import MAX_IFNAME

__all__ = [
    "DETECT_LOCAL_MODES",
    "NODE_PORT_ADDRESSES_PRIMARY",
    "KubeProxyConfig",
    "parse_kube_proxy",
]

NODE_PORT_ADDRESSES_PRIMARY = "primary"  # kube-proxy --nodeport-addresses: the node IP only
# kube-proxy --detect-local-mode, and None: no local-traffic detector
DETECT_LOCAL_MODES = ("ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix", "None")


@dataclass(frozen=True, slots=True)
class KubeProxyConfig:
    """kube-proxy options that change its rules (iptables mode)."""

    masquerade_all: bool = False
    detect_local: str = "ClusterCIDR"  # --detect-local-mode
    pod_bridge_interface: str = ""  # --pod-bridge-interface (detect_local BridgeInterface)
    pod_interface_name_prefix: str = ""  # --pod-interface-name-prefix (InterfaceNamePrefix)
    random_fully: bool = True  # iptables >= 1.6.2 supports --random-fully
    localhost_nodeports: bool = True  # --iptables-localhost-nodeports
    # --nodeport-addresses: CIDRs (IPv4 or IPv6, as networks), or ("primary",); () is all
    node_port_addresses: tuple[str, ...] = ()


def parse_kube_proxy(reader: Reader) -> KubeProxyConfig:
    """The topology's ``kube_proxy:`` section (an empty one: kube-proxy's defaults)."""
    reader.check_keys(
        (
            "masquerade_all",
            "detect_local",
            "pod_bridge_interface",
            "pod_interface_name_prefix",
            "random_fully",
            "localhost_nodeports",
            "node_port_addresses",
        )
    )
    detect_local = reader.choice("detect_local", DETECT_LOCAL_MODES, "ClusterCIDR")
    return KubeProxyConfig(
        masquerade_all=reader.boolean("masquerade_all", False),
        detect_local=detect_local,
        pod_bridge_interface=_detector_interface(
            reader, "pod_bridge_interface", detect_local == "BridgeInterface"
        ),
        pod_interface_name_prefix=_detector_interface(
            reader, "pod_interface_name_prefix", detect_local == "InterfaceNamePrefix"
        ),
        random_fully=reader.boolean("random_fully", True),
        localhost_nodeports=reader.boolean("localhost_nodeports", True),
        node_port_addresses=_node_port_addresses(reader),
    )


def _detector_interface(reader: Reader, key: str, used: bool) -> str:
    """The interface (or prefix) the local-traffic detector matches: required iff ``used``."""
    if not used:
        if reader.has(key):
            raise reader.fail(f"only used with detect_local {_DETECTOR_OF[key]}", key)
        return ""
    name = reader.string(key, required=True)
    if len(name) > MAX_IFNAME or "/" in name or any(c.isspace() for c in name):
        raise reader.fail(
            f"{name!r} is not an interface name (at most {MAX_IFNAME} characters,"
            " no '/' or whitespace)",
            key,
        )
    return name


_DETECTOR_OF = {
    "pod_bridge_interface": "BridgeInterface",
    "pod_interface_name_prefix": "InterfaceNamePrefix",
}


def _node_port_addresses(reader: Reader) -> tuple[str, ...]:
    """``--nodeport-addresses``: ``primary`` alone, or CIDRs (host bits allowed, as kube-proxy)."""
    key = "node_port_addresses"
    values = reader.string_list(key)
    if values == [NODE_PORT_ADDRESSES_PRIMARY]:
        return (NODE_PORT_ADDRESSES_PRIMARY,)
    if NODE_PORT_ADDRESSES_PRIMARY in values:
        raise reader.fail(f"{NODE_PORT_ADDRESSES_PRIMARY!r} cannot be combined with CIDRs", key)
    for text in values:
        if "/" not in text:  # kube-proxy's validation wants a prefix length
            raise reader.fail(f"{text!r} is not a valid CIDR (ADDRESS/PREFIX)", key)
    return tuple(str(reader.network(key, text=text, strict=False)) for text in values)
