"""Field checks every Kubernetes kind shares: names, labels, protocols, port names, selectors.

Each check reads one field through a :class:`~netsim.model.reader.Reader` and
raises its :class:`~netsim.errors.ManifestError` naming file, object and field,
with the wording of Kubernetes' own validation (RFC 1123 and 1035 names,
label syntax, IANA_SVC_NAME port names). What it does not do: any kind's own
fields (see :mod:`netsim.model.manifests` and the modules it dispatches to).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from netsim.model.objects import LabelSelector, Protocol, SelectorRequirement, frozen_map
from netsim.model.reader import Reader

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")  # port names, <= 15 chars
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_NAMED_BY_SUBDOMAIN = frozenset(
    (
        "Pod",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "EndpointSlice",
        "NetworkPolicy",
    )
)
_SELECTOR_KEYS = frozenset(("matchLabels", "matchExpressions"))
_PROTOCOLS = tuple(p.value for p in Protocol)
_PROTOCOL_BY_VALUE = {p.value: p for p in Protocol}
_CHECKED_LIMIT = 100_000  # names, port names, label keys and values known valid, per kind
_valid_names: dict[re.Pattern[str], set[str]] = {
    _DNS1035_LABEL: set(),
    _DNS1123_LABEL: set(),
    _DNS1123_SUBDOMAIN: set(),
}
_valid_port_names: set[str] = set()
_valid_label_names: set[str] = set()
_valid_label_values: set[str] = set()


def _check_name(reader: Reader, key: str, kind: str) -> None:
    value = reader.string(key, "default")
    pattern = _DNS1035_LABEL if kind == "Service" else _DNS1123_LABEL
    if kind in _NAMED_BY_SUBDOMAIN:
        pattern = _DNS1123_SUBDOMAIN
    valid = _valid_names[pattern]
    if value in valid:
        return
    limit = 253 if pattern is _DNS1123_SUBDOMAIN else 63
    if len(value) > limit or not pattern.match(value):
        raise reader.fail(f"{value!r} is not a valid {kind} name (lowercase RFC 1123)", key)
    _remember(valid, value)


def _labels(reader: Reader, key: str) -> dict[str, str]:
    raw = reader.data.get(key)
    if type(raw) is dict and _known_labels(raw):
        return dict(raw)
    labels = reader.string_map(key)
    for name, value in labels.items():
        if name not in _valid_label_names:
            bare = name.rsplit("/", 1)[-1]
            if len(bare) > 63 or not _LABEL_NAME.match(bare):
                raise reader.fail(f"{name!r} is not a valid label key", f"{key}.{name}")
            _remember(_valid_label_names, name)
        if value not in _valid_label_values:
            if len(value) > 63 or not _LABEL_VALUE.match(value):
                raise reader.fail(f"{value!r} is not a valid label value", f"{key}.{name}")
            _remember(_valid_label_values, value)
    return labels


def _known_labels(labels: dict[Any, Any]) -> bool:
    """Whether every key and value of ``labels`` is a string already found valid."""
    for name, value in labels.items():
        if (
            type(name) is not str
            or type(value) is not str
            or name not in _valid_label_names
            or value not in _valid_label_values
        ):
            return False
    return True


def _remember(valid: set[str], text: str) -> None:
    if len(valid) >= _CHECKED_LIMIT:
        valid.clear()
    valid.add(text)


def _protocol(reader: Reader, key: str = "protocol") -> Protocol:
    return _PROTOCOL_BY_VALUE[reader.choice(key, _PROTOCOLS, "TCP")]


def _check_port_name(reader: Reader, name: str) -> None:
    if name in _valid_port_names:
        return
    if len(name) > 15 or not _IANA_SVC_NAME.match(name) or "--" in name or name.isdigit():
        raise reader.fail(f"{name!r} is not a valid port name (IANA_SVC_NAME, <= 15 chars)", "name")
    _remember(_valid_port_names, name)


def _selector(reader: Reader, key: str) -> LabelSelector:
    raw = reader.data.get(key)
    if type(raw) is dict and raw.get("matchExpressions") is None and raw.keys() <= _SELECTOR_KEYS:
        match_labels = raw.get("matchLabels")
        if match_labels is None:
            return LabelSelector(frozen_map({}), ())
        if type(match_labels) is dict and _known_labels(match_labels):
            return LabelSelector(frozen_map(match_labels), ())
    sub = reader.sub(key)
    sub.check_keys(("matchLabels", "matchExpressions"))
    expressions = []
    for item in sub.items("matchExpressions"):
        item.check_keys(("key", "operator", "values"))
        operator = item.choice("operator", ("In", "NotIn", "Exists", "DoesNotExist"))
        values = tuple(item.string_list("values"))
        if operator in ("In", "NotIn") and not values:
            raise item.fail(f"operator {operator} needs at least one value", "values")
        if operator in ("Exists", "DoesNotExist") and values:
            raise item.fail(f"operator {operator} takes no values", "values")
        for value in values:
            if len(value) > 63 or not _LABEL_VALUE.match(value):
                raise item.fail(f"{value!r} is not a valid label value", "values")
        expressions.append(SelectorRequirement(item.string("key"), operator, values))
    return LabelSelector(frozen_map(_labels(sub, "matchLabels")), tuple(expressions))


def _ipv4(reader: Reader, key: str, text: str) -> ipaddress.IPv4Address:
    ip = reader.ip(key, text=text)
    if not isinstance(ip, ipaddress.IPv4Address):
        raise reader.fail("only IPv4 is modelled", key)
    return ip
