"""The walk's checks: NetworkPolicy at the first node hop and before the socket, netfilter hooks.

:class:`WalkChecks` asks the :class:`~netsim.trace.policy.PolicyJudge` for a
pod's egress and ingress, and runs one netfilter hook through the seam of
:mod:`netsim.trace.hooks`, turning a DROP or REJECT into its disposition.

Not here: where in the packet's path these checks are made (``walk_send``,
``walk_receive``).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Final

from netsim.dataplane.devices import InterfaceKind, NamespaceKind, NetworkNamespace
from netsim.netfilter.matching import Hook
from netsim.trace.hooks import HookRequest, HookResult
from netsim.trace.model import Disposition, Header, Policy
from netsim.trace.walk_core import WalkCore

__all__ = ["WalkChecks"]

LOCALHOST: Final = IPv4Address("127.0.0.1")  # where REDIRECT sends locally generated packets


class WalkChecks(WalkCore):
    """NetworkPolicy and netfilter decisions of the walk."""

    # -- NetworkPolicy -------------------------------------------------------

    def judge_egress(self, ns: NetworkNamespace, header: Header) -> None:
        """The sending pod's egress check, at the first hop outside it (once per walk)."""
        pod = self.egress_pending
        if pod is None or ns.kind is NamespaceKind.POD:
            return
        self.egress_pending = None
        decision = self.judge.egress(pod, header)
        self.step(Policy(pod, "egress", decision.is_allowed, decision.reason))
        if not decision.is_allowed:
            raise self.end(
                Disposition.DENIED_BY_NETWORKPOLICY,
                f"DENIED_BY_NETWORKPOLICY: egress of {pod}: {decision.reason}",
            )

    def judge_ingress(self, ns: NetworkNamespace, header: Header) -> None:
        """The receiving pod's ingress check (not for replies, nor a pod talking to itself)."""
        if self.reply_to is not None or len(self.hops) == 1:
            return
        decision = self.judge.ingress(ns.owner, header)
        self.step(Policy(ns.owner, "ingress", decision.is_allowed, decision.reason))
        if not decision.is_allowed:
            raise self.end(
                Disposition.DENIED_BY_NETWORKPOLICY,
                f"DENIED_BY_NETWORKPOLICY: ingress of {ns.owner}: {decision.reason}",
            )

    # -- netfilter -----------------------------------------------------------

    def hook(
        self,
        ns: NetworkNamespace,
        hook: Hook,
        header: Header,
        *,
        in_if: str | None,
        out_if: str | None,
        next_hop: IPv4Address | None = None,
        bridged: bool = False,
        physdev_in: str | None = None,
        physdev_out: str | None = None,
    ) -> Header:
        """Run one hook; the header after it (raises WalkEnded on DROP/REJECT)."""
        if not self.index.netfilter.has_rules(ns.id):
            return header
        request = HookRequest(
            netns=ns.id,
            hook=hook,
            in_interface=in_if,
            out_interface=out_if,
            local_addresses=self.index.local_addresses[ns.id],
            broadcast_addresses=self.index.broadcast_addresses[ns.id],
            masquerade_source=_source_address(ns, out_if, next_hop) if out_if else None,
            redirect_address=(LOCALHOST if in_if is None else _source_address(ns, in_if, None)),
            bridged=bridged,
            physdev_in=physdev_in,
            physdev_out=physdev_out,
            is_reply_direction=self.reply_to is not None,
        )
        results = self.index.netfilter.run(
            request, header, self.skb, self.states.get(ns.id), self.now, self.rng
        )
        picked = self.choose(results)
        self.step(picked.step)
        for nat in picked.nat:
            self.step(nat)
            if nat.nat in ("DNAT", "REDIRECT"):
                self.dnat_namespaces.add(ns.id)
        self.states[ns.id] = picked.state
        self.skb = picked.skb
        if picked.verdict != "ACCEPT":
            raise self.end(*_netfilter_disposition(picked, hook))
        return picked.header


def _source_address(
    ns: NetworkNamespace, dev: str | None, next_hop: IPv4Address | None
) -> IPv4Address | None:
    """The address of ``dev`` the kernel picks (same subnet as ``next_hop`` first)."""
    if dev is None:
        return None
    addresses = ns.interfaces[dev].addresses
    if next_hop is not None:
        for address in addresses:
            if next_hop in address.interface.network:
                return address.ip
    if addresses:
        return addresses[0].ip
    # a device without an address (flannel.1 has a /32): the first global address
    for iface in ns.interfaces.values():
        if iface.kind is not InterfaceKind.LOOPBACK and iface.addresses:
            return iface.addresses[0].ip
    return None


def _netfilter_disposition(picked: HookResult, hook: str) -> tuple[Disposition, str]:
    """The disposition of a DROP or REJECT, from the deciding rule's comment."""
    reason = picked.reason
    if picked.verdict == "REJECT" and "has no endpoints" in reason:
        return Disposition.REJECTED_NO_ENDPOINTS, f"REJECTED_NO_ENDPOINTS in {hook}: {reason}"
    if picked.verdict == "DROP" and "has no local endpoints" in reason:
        return (
            Disposition.DROPPED_NO_LOCAL_ENDPOINT,
            f"DROPPED_NO_LOCAL_ENDPOINT in {hook}: {reason}",
        )
    return (
        Disposition.DROPPED_BY_NETFILTER,
        f"DROPPED_BY_NETFILTER: {picked.verdict} in {hook}: {reason}",
    )
