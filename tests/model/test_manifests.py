"""Kubernetes manifests: every modelled kind, List, warnings, strict validation."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from netsim.errors import ManifestError
from netsim.model.manifests import Manifests, parse_manifest_documents
from netsim.model.objects import LabelSelector, Protocol, SelectorRequirement, ServiceType


def parse(text: str) -> Manifests:
    manifests = Manifests()
    parse_manifest_documents(list(yaml.safe_load_all(text)), "m.yaml", manifests)
    return manifests


SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  type: LoadBalancer
  selector: {app: web}
  externalTrafficPolicy: Local
  internalTrafficPolicy: Local
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  externalIPs: [198.51.100.7]
  loadBalancerSourceRanges: [" 203.0.113.0/24 "]
  healthCheckNodePort: 32000
  ports:
    - {name: http, port: 80, targetPort: http, nodePort: 30080}
    - {name: dns, port: 53, targetPort: 5353, protocol: UDP}
    - {name: sctp, port: 9999, targetPort: "9999", protocol: SCTP}
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.1}, {ip: 198.51.100.2, ipMode: Proxy}, {hostname: lb.example}]
"""


def test_service_every_field() -> None:
    (svc,) = parse(SERVICE).services
    assert svc.type is ServiceType.LOAD_BALANCER
    assert svc.key == "shop/web"
    assert [(p.name, p.port, p.target_port, p.protocol, p.node_port) for p in svc.ports] == [
        ("http", 80, "http", Protocol.TCP, 30080),
        ("dns", 53, 5353, Protocol.UDP, None),
        ("sctp", 9999, 9999, Protocol.SCTP, None),
    ]
    assert svc.external_traffic_policy == "Local"
    assert svc.internal_traffic_policy == "Local"
    assert (svc.session_affinity, svc.session_affinity_timeout) == ("ClientIP", 600)
    assert svc.external_ips == (ipaddress.IPv4Address("198.51.100.7"),)
    assert svc.load_balancer_source_ranges == (ipaddress.IPv4Network("203.0.113.0/24"),)
    # ipMode Proxy and hostname-only ingress entries are not VIPs (kube-proxy skips them)
    assert svc.load_balancer_ingress == (ipaddress.IPv4Address("198.51.100.1"),)
    assert svc.health_check_node_port == 32000


def test_headless_and_external_name() -> None:
    m = parse("""
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: example.org}
""")
    db, ext = m.services
    assert db.is_headless and db.namespace == "default"
    assert db.ports[0].target_port == 5432
    assert ext.type is ServiceType.EXTERNAL_NAME and ext.external_name == "example.org"


def test_list_and_unmodelled_kinds_warn() -> None:
    m = parse("""
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: a, labels: {x: "1"}}}
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: cm, namespace: a}}
  - {apiVersion: networking.k8s.io/v1, kind: Ingress, metadata: {name: ing, namespace: a}}
""")
    assert [n.name for n in m.namespaces] == ["a"]
    assert dict(m.namespaces[0].labels) == {"x": "1", "kubernetes.io/metadata.name": "a"}
    assert m.warnings == [
        "m.yaml: ConfigMap a/cm: kind not modelled by netsim; ignored",
        "m.yaml: Ingress a/ing: kind not modelled by netsim; ignored",
    ]


def test_pod_snapshot_fields_and_warnings() -> None:
    m = parse("""
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: n, labels: {app: p}, deletionTimestamp: "2026-01-01T00:00:00Z"}
spec:
  nodeName: node-1
  hostNetwork: false
  affinity: {nodeAffinity: {}}
  tolerations: [{key: k, operator: Exists, effect: NoSchedule}]
  containers:
    - name: c
      image: busybox
      resources: {limits: {cpu: "1"}}
      ports: [{containerPort: 80, hostPort: 8080}]
status:
  podIP: 10.244.0.7
  conditions: [{type: Ready, status: "False"}]
""")
    (pod,) = m.pods
    assert pod.template.node_name == "node-1"
    assert pod.pod_ip == ipaddress.IPv4Address("10.244.0.7")
    assert not pod.is_ready and pod.is_terminating
    assert pod.template.tolerations[0].operator == "Exists"
    assert len(m.warnings) == 2
    assert "spec.affinity: not modelled" in m.warnings[0]
    assert "hostPort is not modelled" in m.warnings[1]


def test_workloads() -> None:
    m = parse("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchExpressions: [{key: app, operator: In, values: [web]}]}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  parallelism: 3
  completions: 2
  template: {spec: {containers: [{name: c}], restartPolicy: Never}}
""")
    web, job = m.workloads
    assert (web.kind, web.replicas) == ("Deployment", 4)
    assert web.selector == LabelSelector(
        match_expressions=(SelectorRequirement("app", "In", ("web",)),)
    )
    assert (job.kind, job.replicas) == ("Job", 2)


def test_network_policy_parsing_and_defaults() -> None:
    m = parse("""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  podSelector: {}
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {team: a}}
          podSelector: {matchLabels: {app: b}}
        - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
      ports:
        - {port: http}
        - {protocol: UDP, port: 1000, endPort: 2000}
    - {}
  egress:
    - to: [{podSelector: {}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec:
  podSelector: {}
""")
    p, deny = m.network_policies
    assert p.policy_types == ("Ingress", "Egress")  # defaulted: egress rules present
    assert deny.policy_types == ("Ingress",)
    first, second = p.ingress
    assert first.peers is not None and len(first.peers) == 2
    assert first.peers[0].namespace_selector is not None and first.peers[0].pod_selector is not None
    assert first.peers[1].ip_block is not None
    assert first.peers[1].ip_block.excepts == (ipaddress.IPv4Network("10.1.0.0/16"),)
    assert first.ports is not None
    assert [(x.protocol, x.port, x.end_port) for x in first.ports] == [
        (Protocol.TCP, "http", None),
        (Protocol.UDP, 1000, 2000),
    ]
    assert second.peers is None and second.ports is None  # {} allows everything
    assert p.egress[0].peers is not None and p.egress[0].peers[0].pod_selector == LabelSelector()


def test_endpoint_slice_given() -> None:
    m = parse("""
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
  - addresses: [10.244.1.5]
    conditions: {ready: false, serving: true, terminating: true}
    nodeName: node-2
    zone: z
    targetRef: {kind: Pod, name: web-1}
ports: [{name: http, port: 8080, protocol: TCP}]
""")
    (s,) = m.endpoint_slices
    assert s.service_name == "web"
    e = s.endpoints[0]
    assert (e.ready, e.serving, e.terminating, e.node_name, e.target_pod) == (
        False,
        True,
        True,
        "node-2",
        "shop/web-1",
    )
    assert s.ports[0].port == 8080


POLICY = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: %s\n"
SVC = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: %s\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            POLICY % "{}",
            r"NetworkPolicy default/p: spec\.podSelector: required field is missing",
            id="policy-no-selector",
        ),
        pytest.param(
            POLICY % "{podSelector: {}, policyTypes: [Both]}",
            r"spec\.policyTypes: 'Both' is not Ingress or Egress",
            id="policy-type",
        ),
        pytest.param(
            POLICY
            % "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}",
            r"spec\.ingress\[0\]\.from\[0\]\.ipBlock: ipBlock may not be combined",
            id="ipblock-and-selector",
        ),
        pytest.param(
            POLICY
            % "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}]}",
            r"except: 11\.0\.0\.0/16 must be a strict subset of cidr 10\.0\.0\.0/8",
            id="except-outside",
        ),
        pytest.param(
            POLICY % "{podSelector: {}, ingress: [{ports: [{port: http, endPort: 90}]}]}",
            r"ports\[0\]\.endPort: endPort needs a numeric port",
            id="endport-named",
        ),
        pytest.param(
            POLICY % "{podSelector: {}, ingress: [{ports: [{port: 100, endPort: 90}]}]}",
            r"endPort 90 is below port 100",
            id="endport-below",
        ),
        pytest.param(
            POLICY % "{podSelector: {matchExpressions: [{key: a, operator: In}]}}",
            r"spec\.podSelector\.matchExpressions\[0\]\.values: operator In needs at least one value",
            id="in-no-values",
        ),
        pytest.param(
            POLICY % "{podSelector: {}, ingress: [{from: [{}]}]}",
            r"from\[0\]: a peer needs podSelector, namespaceSelector or ipBlock",
            id="empty-peer",
        ),
        pytest.param(
            POLICY % "{podSelector: {}, ingress: [{ports: [{protocol: ICMP}]}]}",
            r"ports\[0\]\.protocol: 'ICMP' is not allowed",
            id="protocol",
        ),
        pytest.param(
            POLICY % "{podSelector: {}, policyTypes: [Ingress], egress: [{}]}",
            r"egress rules given but policyTypes lacks Egress",
            id="egress-without-type",
        ),
        pytest.param(
            SVC % "{ports: [{port: 80}, {port: 81}]}",
            r"Service default/s: spec\.ports\[0\]\.name: a Service with several ports must name each",
            id="unnamed-ports",
        ),
        pytest.param(
            SVC % "{ports: [{port: 80, nodePort: 30001}]}",
            r"spec\.ports\[0\]\.nodePort: nodePort may not be set on a ClusterIP Service",
            id="nodeport-clusterip",
        ),
        pytest.param(
            SVC % "{ports: [{port: 70000}]}",
            r"spec\.ports\[0\]\.port: 70000 is out of range 1-65535",
            id="port-range",
        ),
        pytest.param(
            SVC % "{externalTrafficPolicy: Local, ports: [{port: 80}]}",
            r"externalTrafficPolicy Local may only be set on NodePort or LoadBalancer",
            id="etp-clusterip",
        ),
        pytest.param(
            SVC % "{ports: [{port: 80, targetPort: Bad_Name}]}",
            r"'Bad_Name' is not a valid port name",
            id="bad-port-name",
        ),
        pytest.param(
            SVC % "{clusterIP: 10.96.0.300, ports: [{port: 80}]}",
            r"spec\.clusterIP: '10\.96\.0\.300' is not a valid IP address",
            id="bad-cluster-ip",
        ),
        pytest.param(
            SVC % "{ports: [{port: 80}], sessionAffinityConfig: {clientIP: {timeoutSeconds: 5}}}",
            r"timeoutSeconds: only valid with sessionAffinity ClientIP",
            id="affinity-timeout",
        ),
        pytest.param(
            SVC % "{type: Cluster, ports: [{port: 80}]}",
            r"spec\.type: 'Cluster' is not allowed",
            id="service-type",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Service\nmetadata: {name: Web}\nspec: {ports: [{port: 80}]}\n",
            r"metadata\.name: 'Web' is not a valid Service name",
            id="service-name",
        ),
        pytest.param(
            "apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: d}\n",
            r"Deployment default/d: apiVersion: 'apps/v1beta1' is not served for Deployment; use 'apps/v1'",
            id="api-version",
        ),
        pytest.param(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: c}}, spec: {containers: [{name: c}]}}}\n",
            r"spec\.selector: `selector` does not match template `labels`",
            id="selector-template",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, ports: [{containerPort: 80, protocl: TCP}]}]}\n",
            r"Pod default/p: spec\.containers\[0\]\.ports\[0\]\.protocl: unknown field; did you mean 'protocol'\?",
            id="typo",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 10.0.0.1}\n",
            r"status\.podIP: a pod with status\.podIP must also carry spec\.nodeName",
            id="snapshot-without-node",
        ),
        pytest.param(
            "- a\n- b\n",
            r"document 1: each document must be a Kubernetes object",
            id="not-a-mapping",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\n",
            r"document 1: metadata: required field is missing",
            id="no-metadata",
        ),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse(text)
