"""The shared field checks remember only what they found valid: errors still come out."""

from __future__ import annotations

import pytest
import yaml

from netsim.errors import ManifestError
from netsim.model import manifests
from netsim.model.manifests import Manifests, parse_manifest_documents

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: {selector}}}}}
  template:
    metadata: {{labels: {{app: {label}}}}}
    spec:
      containers:
      - name: app
        ports: [{{name: {port}, containerPort: 8080}}]
"""


VALID = {"name": "web", "label": "web", "selector": "web", "port": "http"}


def parse(text: str) -> Manifests:
    into = Manifests()
    parse_manifest_documents(list(yaml.safe_load_all(text)), "m.yaml", into)
    return into


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"name": "Web"},
            r"m\.yaml: Deployment shop/Web: metadata\.name: 'Web' is not a valid Deployment name",
        ),
        (
            {"label": "-web", "selector": "-web"},
            r"spec\.template\.metadata\.labels\.app: '-web' is not a valid label value",
        ),
        (
            {"selector": "web_"},
            r"spec\.selector\.matchLabels\.app: 'web_' is not a valid label value",
        ),
        ({"port": "web--http"}, r"'web--http' is not a valid port name"),
    ],
    ids=["name", "label value", "selector value", "port name"],
)
def test_checks_refuse_after_valid_reads(fields: dict[str, str], message: str) -> None:
    for _ in range(2):  # the valid values are remembered; the invalid one never is
        (workload,) = parse(DEPLOYMENT.format(**VALID)).workloads
        assert workload.selector.match_labels == {"app": "web"}
        with pytest.raises(ManifestError, match=message):
            parse(DEPLOYMENT.format(**{**VALID, **fields}))


def test_public_names_stay_in_manifests() -> None:
    assert manifests.__all__ == ["Manifests", "parse_manifest_documents"]
    assert manifests.NAMESPACE_NAME_LABEL == "kubernetes.io/metadata.name"
    assert manifests.SERVICE_NAME_LABEL == "kubernetes.io/service-name"
    assert manifests.MAX_SESSION_AFFINITY_TIMEOUT == 86400
