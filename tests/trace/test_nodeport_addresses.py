"""kube-proxy's ``--nodeport-addresses`` (topology ``kube_proxy.node_port_addresses``), end to end.

Unset, a NodePort answers on every address of the node (``-m addrtype
--dst-type LOCAL``); restricted, only on the node addresses inside the CIDRs
(one ``-d <ip>`` rule each), and localhost NodePorts (and ``route_localnet``)
are off unless a CIDR holds a loopback address.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from netsim.control.kubeproxy import node_rules
from netsim.control.kubeproxy_ports import node_addresses
from netsim.control.realize import realize
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import Dataplane, SysctlName
from netsim.model.spec import load_cluster
from netsim.naming import node_netns_id
from netsim.trace import Disposition, TraceIndex, make_flow, prepare, trace_flow
from tests.conftest import MODE_EXAMPLES, WriteCluster
from tests.trace import assert_well_formed

APP = """\
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: node-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  nodeName: node-2
  containers: [{name: c, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30082}]
"""
NODE_2_GATEWAY = "10.244.1.1"  # node-2's cni0 (its podCIDR is the second /24)


def cluster(write_cluster: WriteCluster, *node_port_addresses: str) -> tuple[Dataplane, TraceIndex]:
    kube_proxy = {"node_port_addresses": list(node_port_addresses)}
    dataplane = build_dataplane(realize(load_cluster(write_cluster(APP, kube_proxy=kube_proxy))))
    return dataplane, prepare(dataplane)


def dispositions(dataplane: Dataplane, index: TraceIndex, to: str) -> set[Disposition]:
    traces = trace_flow(index, make_flow(dataplane, "default/client", to))
    assert_well_formed(traces)
    return {t.disposition for t in traces}


@pytest.mark.parametrize("example", MODE_EXAMPLES, ids=lambda p: p.stem)
def test_node_addresses_are_the_dataplanes(example: Path) -> None:
    """What kube-proxy picks from is every address netsim puts on the node, in order."""
    state = realize(load_cluster(example))
    dataplane = build_dataplane(state)
    for name in state.nodes:
        root = dataplane.namespaces[node_netns_id(name)]
        built = tuple(a.ip for i in root.interfaces.values() for a in i.addresses)
        assert node_addresses(state, name) == built


def test_unset_every_node_address_takes_node_ports(write_cluster: WriteCluster) -> None:
    dataplane, index = cluster(write_cluster)
    assert dispositions(dataplane, index, "node:node-2:30082") == {Disposition.DELIVERED}
    assert dispositions(dataplane, index, f"{NODE_2_GATEWAY}:30082") == {Disposition.DELIVERED}
    rules = node_rules(dataplane.state, "node-2").restore_text()
    assert "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS" in rules


def test_restricted_only_the_node_network_takes_node_ports(write_cluster: WriteCluster) -> None:
    dataplane, index = cluster(write_cluster, "192.168.56.0/24")
    assert dispositions(dataplane, index, "node:node-2:30082") == {Disposition.DELIVERED}
    # the bridge's address is the node's too, but outside the CIDR: no DNAT, no listener
    assert dispositions(dataplane, index, f"{NODE_2_GATEWAY}:30082") == {
        Disposition.PORT_NOT_LISTENING
    }
    rules = node_rules(dataplane.state, "node-2").restore_text()
    assert "-d 192.168.56.12 -j KUBE-NODEPORTS" in rules
    assert "--dst-type LOCAL -j KUBE-NODEPORTS" not in rules
    assert "block incoming localnet connections" not in rules  # no localhost NodePorts
    root = dataplane.namespaces[node_netns_id("node-2")]
    assert root.sysctls[SysctlName.ROUTE_LOCALNET] == 0


def test_primary_is_the_node_ip(write_cluster: WriteCluster) -> None:
    dataplane, index = cluster(write_cluster, "primary")
    assert dispositions(dataplane, index, "node:node-1:30082") == {Disposition.DELIVERED}
    assert dispositions(dataplane, index, f"{NODE_2_GATEWAY}:30082") == {
        Disposition.PORT_NOT_LISTENING
    }
    for name, ip in (("node-1", "192.168.56.11"), ("node-2", "192.168.56.12")):
        tail = [
            line
            for line in node_rules(dataplane.state, name).restore_text().splitlines()
            if "must be the last rule" in line
        ]
        assert tail == [
            '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports;'
            f' NOTE: this must be the last rule in this chain" -d {ip} -j KUBE-NODEPORTS'
        ]


def test_a_loopback_cidr_keeps_localhost_node_ports(write_cluster: WriteCluster) -> None:
    dataplane, _ = cluster(write_cluster, "192.168.56.0/24", "127.0.0.0/8")
    rules = node_rules(dataplane.state, "node-1").restore_text()
    assert "-d 127.0.0.1 -j KUBE-NODEPORTS" in rules
    assert "block incoming localnet connections" in rules
    root = dataplane.namespaces[node_netns_id("node-1")]
    assert root.sysctls[SysctlName.ROUTE_LOCALNET] == 1
    assert IPv4Address("127.0.0.1") in node_addresses(dataplane.state, "node-1")
