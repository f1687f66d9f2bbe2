"""The probe sets of ``netsim lab verify``: flows named as ``netsim trace`` names them.

:func:`example_flows` covers the scenarios of the committed example traces
(``traces/regen.py``) for any cluster:

* every external client to every NodePort of every node (``laptop-nodeport``,
  ``etp-local-*``);
* every pod to every ClusterIP service port (``curl-clusterip``, ``hairpin``,
  ``denied-by-policy``, ``no-endpoints``);
* for every pod, one other pod to a port it does not declare
  (``port-not-listening``; where policy isolates the pod, the denial).

:func:`all_flows` (``--all``) adds every pod to every declared port of every
other pod, every pod to every NodePort of every node and every node to every
ClusterIP service port. Only TCP and UDP are probed (the lab's listeners speak
nothing else); Pending pods and headless Services have no address to probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from netsim.control.state import ClusterState, PodState
from netsim.model.objects import Protocol
from netsim.trace.model import L4Protocol

__all__ = ["UNLISTENED_PORT", "FlowSpec", "all_flows", "example_flows"]

UNLISTENED_PORT: Final = 9999  # the example traces' port-not-listening port
_PROBED: Final = {Protocol.TCP: L4Protocol.TCP, Protocol.UDP: L4Protocol.UDP}


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """One flow: ``--from``, ``--to`` and the protocol."""

    source: str
    destination: str
    protocol: L4Protocol = L4Protocol.TCP

    @property
    def text(self) -> str:
        """``client/curl -> svc:shop/web:80/tcp``."""
        return f"{self.source} -> {self.destination}/{self.protocol.value}"


def _pods(state: ClusterState) -> list[PodState]:
    return sorted(
        (p for p in state.pods.values() if p.node is not None and p.ip is not None),
        key=lambda p: p.key,
    )


def _own_network_pods(state: ClusterState) -> list[PodState]:
    return [p for p in _pods(state) if not p.is_host_network]


def _service_ports(state: ClusterState) -> list[tuple[str, int, L4Protocol]]:
    return [
        (key, sp.port.port, _PROBED[sp.port.protocol])
        for key, service in sorted(state.services.items())
        if service.cluster_ip is not None
        for sp in service.ports
        if sp.port.protocol in _PROBED
    ]


def _node_ports(state: ClusterState) -> list[tuple[int, L4Protocol]]:
    return sorted(
        {
            (sp.node_port, _PROBED[sp.port.protocol])
            for service in state.services.values()
            for sp in service.ports
            if sp.node_port is not None and sp.port.protocol in _PROBED
        }
    )


def _dedupe(flows: list[FlowSpec]) -> list[FlowSpec]:
    return list(dict.fromkeys(flows))


def example_flows(state: ClusterState) -> list[FlowSpec]:
    """The example probe set of a cluster (see the module docstring)."""
    flows: list[FlowSpec] = []
    for client in state.topology.external_clients:
        for node in state.nodes:
            for port, protocol in _node_ports(state):
                flows.append(FlowSpec(f"ext:{client.name}", f"node:{node}:{port}", protocol))
    pods = _own_network_pods(state)
    for pod in pods:
        for key, port, protocol in _service_ports(state):
            flows.append(FlowSpec(pod.key, f"svc:{key}:{port}", protocol))
    for target in pods:
        source = next((p for p in pods if p.node != target.node), None)
        source = source or next((p for p in pods if p.key != target.key), None)
        if source is not None:
            flows.append(FlowSpec(source.key, f"{target.key}:{UNLISTENED_PORT}"))
    return _dedupe(flows)


def all_flows(state: ClusterState) -> list[FlowSpec]:
    """The example set plus every pod pair, pod to NodePort and node to Service (``--all``)."""
    flows = example_flows(state)
    pods = _own_network_pods(state)
    for source in pods:
        for target in _pods(state):
            if target.key == source.key:
                continue
            for container in target.pod.template.containers:
                for cp in container.ports:
                    if cp.protocol in _PROBED:
                        destination = f"{target.key}:{cp.container_port}"
                        flows.append(FlowSpec(source.key, destination, _PROBED[cp.protocol]))
        for node in state.nodes:
            for port, protocol in _node_ports(state):
                flows.append(FlowSpec(source.key, f"node:{node}:{port}", protocol))
    for node in state.nodes:
        for key, port, protocol in _service_ports(state):
            flows.append(FlowSpec(f"node:{node}", f"svc:{key}:{port}", protocol))
    return _dedupe(flows)
