"""``netsim show``: the realized cluster as tables (rich) or as JSON-ready data.

The JSON schema is documented in ``docs/show.md``; keys are stable.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table

from netsim.control.state import ClusterState, ServiceState

__all__ = ["render_show_text", "show_data"]


def show_data(state: ClusterState) -> dict[str, Any]:
    """The realized cluster as plain data (``netsim show --format json``)."""
    topology = state.topology
    return {
        "cluster": {
            "name": topology.name,
            "pod_network": topology.pod_network.mode.value,
            "cluster_cidr": str(topology.cluster_cidr),
            "service_cidr": str(topology.service_cidr),
            "node_port_range": "{}-{}".format(*topology.node_port_range),
        },
        "nodes": [
            {
                "name": node.name,
                "ip": str(node.ip),
                "pod_cidr": str(node.pod_cidr),
                "subnet": node.node.subnet,
                "zone": node.node.zone,
                "mtu": node.node.mtu,
                "control_plane": node.node.is_control_plane,
            }
            for node in state.nodes.values()
        ],
        "pods": [
            {
                "namespace": pod.namespace,
                "name": pod.name,
                "node": pod.node,
                "ip": str(pod.ip) if pod.ip is not None else None,
                "host_network": pod.is_host_network,
                "phase": pod.phase,
                "labels": dict(pod.pod.labels),
                "owner": pod.pod.owner,
                "ports": [
                    {
                        "name": p.name,
                        "container_port": p.container_port,
                        "protocol": str(p.protocol),
                    }
                    for c in pod.pod.template.containers
                    for p in c.ports
                ],
            }
            for pod in state.pods.values()
        ],
        "services": [_service_data(state, svc) for svc in state.services.values()],
        "network_policies": [
            {"namespace": p.namespace, "name": p.name, "policy_types": list(p.policy_types)}
            for p in state.network_policies
        ],
        "warnings": list(state.warnings),
    }


def _service_data(state: ClusterState, svc: ServiceState) -> dict[str, Any]:
    service = svc.service
    pods_by_ip = {(pod.ip, pod.node): pod.key for pod in state.pods.values() if pod.ip is not None}
    endpoints = []
    for eps in state.slices_for(svc):
        for endpoint in eps.endpoints:
            for port in eps.ports:
                endpoints.append(
                    {
                        "ip": str(endpoint.address),
                        "port": port.port,
                        "port_name": port.name,
                        "protocol": str(port.protocol),
                        "pod": endpoint.target_pod
                        or pods_by_ip.get((endpoint.address, endpoint.node_name)),
                        "node": endpoint.node_name,
                        "ready": endpoint.ready,
                        "serving": endpoint.serving,
                        "terminating": endpoint.terminating,
                    }
                )
    return {
        "namespace": service.namespace,
        "name": service.name,
        "type": str(service.type),
        "cluster_ip": str(svc.cluster_ip) if svc.cluster_ip is not None else None,
        "ports": [
            {
                "name": p.port.name,
                "port": p.port.port,
                "target_port": p.port.target_port,
                "node_port": p.node_port,
                "protocol": str(p.port.protocol),
            }
            for p in svc.ports
        ],
        "external_traffic_policy": service.external_traffic_policy,
        "internal_traffic_policy": service.internal_traffic_policy,
        "session_affinity": service.session_affinity,
        "external_ips": [str(ip) for ip in service.external_ips],
        "load_balancer_ingress": [str(ip) for ip in service.load_balancer_ingress],
        "health_check_node_port": svc.health_check_node_port,
        "endpoints": endpoints,
    }


def render_show_text(state: ClusterState, width: int = 120, color: bool = False) -> str:
    """The realized cluster as three tables: nodes, pods, services with endpoints."""
    data = show_data(state)
    console = Console(
        width=width,
        record=True,
        color_system="standard" if color else None,
        force_terminal=color,
        file=io.StringIO(),
    )
    cluster = data["cluster"]
    console.print(
        f"cluster {cluster['name']}: pod network {cluster['pod_network']},"
        f" cluster CIDR {cluster['cluster_cidr']}, service CIDR {cluster['service_cidr']},"
        f" NodePorts {cluster['node_port_range']}"
    )
    nodes = Table(title="Nodes", title_justify="left")
    for column in ("NAME", "IP", "POD CIDR", "SUBNET", "ZONE", "MTU"):
        nodes.add_column(column)
    for node in data["nodes"]:
        name = node["name"] + (" (control-plane)" if node["control_plane"] else "")
        nodes.add_row(
            name, node["ip"], node["pod_cidr"], node["subnet"], node["zone"] or "", str(node["mtu"])
        )
    console.print(nodes)
    pods = Table(title="Pods", title_justify="left")
    for column in ("NAMESPACE", "NAME", "NODE", "IP", "PORTS"):
        pods.add_column(column)
    for pod in data["pods"]:
        ip = pod["ip"] or "<none>"
        if pod["host_network"]:
            ip += " (hostNetwork)"
        ports = ", ".join(
            f"{p['container_port']}/{p['protocol']}" + (f" {p['name']}" if p["name"] else "")
            for p in pod["ports"]
        )
        pods.add_row(pod["namespace"], pod["name"], pod["node"] or "<Pending>", ip, ports)
    console.print(pods)
    services = Table(title="Services", title_justify="left")
    for column in ("NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "PORTS", "ENDPOINTS"):
        services.add_column(column)
    for svc in data["services"]:
        ports = ", ".join(
            f"{p['port']}"
            + (f":{p['node_port']}" if p["node_port"] else "")
            + f"/{p['protocol']}"
            + f"->{p['target_port']}"
            for p in svc["ports"]
        )
        endpoints = ", ".join(
            dict.fromkeys(
                f"{e['ip']}:{e['port']}" + ("" if e["ready"] else " (not ready)")
                for e in svc["endpoints"]
            )
        )
        services.add_row(
            svc["namespace"],
            svc["name"],
            svc["type"],
            svc["cluster_ip"] or "None",
            ports,
            endpoints or "<none>",
        )
    console.print(services)
    return "".join(line.rstrip() + "\n" for line in console.export_text().splitlines())
