"""A node's iptables ruleset as netsim predicts it: kube-proxy's rules, parsed.

``kube_proxy_ruleset(state, node)`` is what a fresh node holds once kube-proxy
has synced (its payload, the built-in chains' jump rules, the canary chains),
as a :class:`~netsim.netfilter.ruleset.Ruleset` in the order ``iptables-save``
lists it. CNI rules (flannel's masquerade) are added by the caller from the
dataplane when wanted (``extra_lines``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from netsim.control.kubeproxy import node_restore_text, node_rules
from netsim.control.state import ClusterState
from netsim.netfilter.parse import parse_iptables_save
from netsim.netfilter.render import in_save_order
from netsim.netfilter.ruleset import Ruleset

__all__ = ["kube_proxy_ruleset", "merge_restore_lines"]


def merge_restore_lines(text: str, extra: Mapping[str, Sequence[str]]) -> str:
    """Add chain lines and ``-A`` rules per table to a restore text (before each COMMIT).

    >>> merge_restore_lines("*nat\\n:PREROUTING ACCEPT [0:0]\\nCOMMIT\\n", {"nat": [":X - [0:0]"]})
    '*nat\\n:PREROUTING ACCEPT [0:0]\\n:X - [0:0]\\nCOMMIT\\n'
    """
    out: list[str] = []
    table = None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        if line == "COMMIT" and table is not None:
            lines = list(extra.get(table, ()))
            out += [entry for entry in lines if entry.startswith(":")]
            out += [entry for entry in lines if not entry.startswith(":")]
        out.append(line)
    return "\n".join(out) + "\n"


def kube_proxy_ruleset(
    state: ClusterState, node: str, extra_lines: Mapping[str, Sequence[str]] | None = None
) -> Ruleset:
    """kube-proxy's ruleset on ``node`` (plus ``extra_lines`` per table), in save order."""
    text = node_restore_text(node_rules(state, node))
    if extra_lines:
        text = merge_restore_lines(text, extra_lines)
    return in_save_order(parse_iptables_save(text, f"<kube-proxy on {node}>"))
