"""NetworkPolicy (networking.k8s.io/v1): pod selector, policy types, ingress and egress rules.

Peers are pod and namespace selectors or IPv4 ipBlocks with strict-subset
excepts; ports are numbers, names or ranges (endPort). Validation follows the
API server's: a peer needs one selector or an ipBlock, never both.
"""

from __future__ import annotations

import ipaddress

from netsim.model.manifest_fields import _check_port_name, _protocol, _selector
from netsim.model.objects import (
    IPBlock,
    NetworkPolicy,
    NetworkPolicyPeer,
    NetworkPolicyPort,
    NetworkPolicyRule,
    frozen_map,
)
from netsim.model.reader import Reader

_SPEC_KEYS = frozenset(("podSelector", "policyTypes", "ingress", "egress"))
_PEER_KEYS = frozenset(("podSelector", "namespaceSelector", "ipBlock"))
_PORT_KEYS = frozenset(("protocol", "port", "endPort"))


def _network_policy(
    spec: Reader, namespace: str, name: str, labels: dict[str, str], source: str
) -> NetworkPolicy:
    spec.check_keys(_SPEC_KEYS)
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
    peer.check_keys(_PEER_KEYS)
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
    port.check_keys(_PORT_KEYS)
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
