"""Label selectors: Kubernetes' matchLabels and matchExpressions semantics.

An empty selector selects everything; a missing one (``None`` where the API
allows it) is for the caller to interpret. Requirements are ANDed.
"""

from __future__ import annotations

from collections.abc import Mapping

from netsim.model.objects import LabelSelector, SelectorRequirement

__all__ = ["requirement_matches", "selector_matches", "service_selector_matches"]


def requirement_matches(requirement: SelectorRequirement, labels: Mapping[str, str]) -> bool:
    """Whether one ``matchExpressions`` entry holds for ``labels``.

    >>> r = SelectorRequirement("tier", "NotIn", ("db",))
    >>> requirement_matches(r, {}), requirement_matches(r, {"tier": "db"})
    (True, False)
    """
    present = requirement.key in labels
    match requirement.operator:
        case "In":
            return present and labels[requirement.key] in requirement.values
        case "NotIn":
            return not present or labels[requirement.key] not in requirement.values
        case "Exists":
            return present
        case "DoesNotExist":
            return not present
    raise ValueError(f"unknown selector operator {requirement.operator!r}")


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector selects an object with ``labels``.

    >>> selector_matches(LabelSelector(), {"app": "web"})
    True
    >>> selector_matches(LabelSelector({"app": "web"}), {"app": "db"})
    False
    """
    for key, value in selector.match_labels.items():
        if labels.get(key) != value:
            return False
    return all(requirement_matches(r, labels) for r in selector.match_expressions)


def service_selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service's plain ``selector``; an empty one selects nothing (no endpoints managed).

    >>> service_selector_matches({"app": "web"}, {"app": "web", "x": "y"})
    True
    >>> service_selector_matches({}, {"app": "web"})
    False
    """
    if not selector:
        return False
    return all(labels.get(key) == value for key, value in selector.items())
