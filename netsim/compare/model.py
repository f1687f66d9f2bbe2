"""The values ``netsim compare`` produces: per-design figures, flow paths, checks, scaling.

Every value is frozen and holds plain numbers and strings (ready for the
renderers in :mod:`netsim.report.compare_text` and friends); what they mean
and how each is counted is in ``docs/compare.md``. The analysis that fills
them lives in :mod:`netsim.compare.metrics`, :mod:`netsim.compare.flows`,
:mod:`netsim.compare.formulas` and :mod:`netsim.compare.scaling`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BroadcastDomains",
    "Comparison",
    "DesignReport",
    "FlowResult",
    "FormulaCheck",
    "NodeTables",
    "PathSummary",
    "ReachDifference",
    "RefusedDesign",
    "ScalingPoint",
    "ScalingReport",
    "UnderlayNeeds",
]


@dataclass(frozen=True, slots=True)
class NodeTables:
    """The table sizes of one node's root namespace, as configured at build.

    Attributes:
        node: the node name.
        pods: pods with their own network namespace on the node (``p``).
        routes_main: routes of the ``main`` table (``ip route show``).
        routes_local: routes of the ``local`` table (``ip route show table local``).
        pod_routes: ``main`` routes whose destination lies inside the cluster CIDR.
        neighbors: configured (PERMANENT) neighbour entries (``ip neigh``).
        fdb: unicast FDB entries (``bridge fdb show`` without multicast MACs).
        fdb_vtep: of those, VXLAN remote-VTEP entries (``self`` with a ``dst``).
        iptables_rules: ``-A`` rules of the node's ruleset (kube-proxy's plus the CNI's).
        cni_rules: the ``-A`` rules the pod network adds (flanneld's masquerade and forward).
    """

    node: str
    pods: int
    routes_main: int
    routes_local: int
    pod_routes: int
    neighbors: int
    fdb: int
    fdb_vtep: int
    iptables_rules: int
    cni_rules: int


@dataclass(frozen=True, slots=True)
class BroadcastDomains:
    """L2 broadcast domains: bridges and switches joined by ports, veths and cables.

    A domain's size counts the devices in it that carry an IPv4 address (the
    hosts an ARP request or an unknown-unicast flood reaches).

    Attributes:
        pod_domain: the largest domain a pod joins (holding a pod's ``eth0`` or a
            node's ``cni0``; 0 when neither exists).
        underlay_domain: the largest domain holding an underlay switch.
        domains: how many domains have at least one addressed device.
        pods_on_underlay: some pod's ``eth0`` shares a domain with an underlay switch.
    """

    pod_domain: int
    underlay_domain: int
    domains: int
    pods_on_underlay: bool


@dataclass(frozen=True, slots=True)
class UnderlayNeeds:
    """What the node network must provide, read from the dataplane and the traces.

    Attributes:
        pods_share_underlay_segment: pod interfaces are bridged onto the underlay
            switch (the switch learns pod MACs).
        needs_l2_adjacency: nodes route podCIDRs via other nodes' IPs as on-link next
            hops (or share the segment with pods), so nodes must share an L2 segment.
        pod_addresses_on_wire: packets with pod source or destination addresses cross
            the underlay (seen in the cross-node trace).
        router_pod_routes: routes to podCIDRs the underlay router holds.
        encapsulation: ``vxlan udp/8472`` when pod traffic is tunnelled, else None.
    """

    pods_share_underlay_segment: bool
    needs_l2_adjacency: bool
    pod_addresses_on_wire: bool
    router_pod_routes: int
    encapsulation: str | None


@dataclass(frozen=True, slots=True)
class PathSummary:
    """One outcome of a traced flow, reduced to what differs between designs.

    Attributes:
        target: the pod (or namespace) the outcome is about: where it was
            delivered, the pod whose policy judged it, or the DNAT destination.
        disposition: the trace's disposition.
        probability: the chance of this outcome.
        path: the namespaces entered, in order (``node:node-1``, ``switch:lan``, ...).
        hops: ``len(path)``.
        ttl_decrements: forwarding TTL decrements (routed hops).
        encapsulations: each VXLAN encapsulation (where, device, outer header, bytes).
        nat_points: each NAT rewrite (where, kind, old -> new).
        policy_points: each NetworkPolicy verdict (where, direction, pod, verdict).
        reply: the reply's summary (for delivered outcomes).
        is_symmetric: the reply enters the forward path's namespaces in reverse order.
    """

    target: str
    disposition: str
    probability: float
    path: tuple[str, ...]
    hops: int
    ttl_decrements: int
    encapsulations: tuple[str, ...]
    nat_points: tuple[str, ...]
    policy_points: tuple[str, ...]
    reply: PathSummary | None = None
    is_symmetric: bool | None = None


@dataclass(frozen=True, slots=True)
class FlowResult:
    """One flow of the standard set and its outcomes.

    ``key`` names the flow kind (``pod-pod-same-node``); ``source`` and
    ``destination`` are the ``--from``/``--to`` values traced.
    """

    key: str
    title: str
    source: str
    destination: str
    outcomes: tuple[PathSummary, ...]


@dataclass(frozen=True, slots=True)
class FormulaCheck:
    """A measured figure against its closed form (``is_ok`` when they are equal).

    ``scope`` says what was measured: a node of the user's cluster (its name),
    the user's cluster as a whole (``cluster``) or a synthetic one (``synthetic``).
    """

    design: str
    metric: str
    formula: str
    nodes: int
    pods_per_node: int
    expected: int
    measured: int
    scope: str = "synthetic"

    @property
    def is_ok(self) -> bool:
        """Whether the measurement equals the formula."""
        return self.expected == self.measured


@dataclass(frozen=True, slots=True)
class DesignReport:
    """Everything measured on one design of the user's cluster.

    ``efficiency`` is ``L / (L + overhead)`` at the packet lengths ``L`` of
    :data:`netsim.compare.analysis.EFFICIENCY_LENGTHS` and at the pod MTU.
    """

    name: str
    source: str
    mode: str
    routing: str | None
    nodes: int
    pods: int
    underlay_mtu: int
    pod_mtu: int
    overhead_bytes: int
    efficiency: tuple[tuple[int, float], ...]
    tables: tuple[NodeTables, ...]
    broadcast: BroadcastDomains
    underlay: UnderlayNeeds
    flows: tuple[FlowResult, ...]
    checks: tuple[FormulaCheck, ...]


@dataclass(frozen=True, slots=True)
class RefusedDesign:
    """A design the cluster cannot run (the builder's one-line reason)."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReachDifference:
    """A flow whose verdict differs between designs.

    ``kind`` is ``trace`` (an outcome of the standard flow set) or ``policy``
    (a cell of the NetworkPolicy reachability matrix); ``verdicts`` maps each
    design to its verdict (``DELIVERED``, ``allowed``, ``denied``, ...).
    """

    kind: str
    flow: str
    verdicts: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ScalingPoint:
    """The figures of one synthetic cluster (``nodes`` nodes, ``pods_per_node`` each).

    ``measured`` are read off the built dataplane; ``bounds`` are the
    all-to-all upper bounds at this size (stated, not measured).
    """

    design: str
    nodes: int
    pods_per_node: int
    measured: tuple[tuple[str, int], ...]
    bounds: tuple[tuple[str, int], ...] = ()

    def value(self, metric: str) -> int:
        """The measured value of ``metric``.

        Raises:
            KeyError: no such metric.
        """
        return dict(self.measured)[metric]


@dataclass(frozen=True, slots=True)
class ScalingReport:
    """Synthetic clusters at several sizes per design, and every figure checked."""

    sizes: tuple[int, ...]
    points: tuple[ScalingPoint, ...]
    checks: tuple[FormulaCheck, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    """The whole comparison: designs, what differs, and how it scales."""

    title: str
    designs: tuple[DesignReport, ...]
    refused: tuple[RefusedDesign, ...]
    differences: tuple[ReachDifference, ...]
    scaling: ScalingReport | None

    @property
    def failed_checks(self) -> tuple[FormulaCheck, ...]:
        """Every check whose measurement disagrees with its formula."""
        scaling = self.scaling.checks if self.scaling is not None else ()
        return tuple(
            c for c in (*(c for d in self.designs for c in d.checks), *scaling) if not c.is_ok
        )
