"""The values a trace is made of: ``Flow``, ``Header``, steps, ``Hop``, ``Trace``, ``Disposition``.

A :class:`Trace` is the path one packet takes, as a tuple of :class:`Hop`
(one per network namespace the packet enters), each a tuple of steps. Steps
are frozen records of a closed set of kinds (:data:`Step`), each with a
one-line ``detail`` and the fields that kind needs. A trace ends in a
:class:`Disposition`, which always agrees with its last step.

Modelled: IPv4 headers as the tracer needs them (addresses, L4 ports,
protocol, TTL, length, the skb mark). Not modelled: IP options, fragments,
TCP state beyond the first packet (every forward trace is a SYN, every reply a
SYN-ACK), ICMP errors sent back to the source (TTL_EXCEEDED, REJECT and
MTU_EXCEEDED end the trace with the drop; the ICMP message is named in the
detail only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from netsim.trace.hooks import TraceSession

__all__ = [
    "DEFAULT_LENGTH",
    "DEFAULT_TTL",
    "Arp",
    "Bridge",
    "Decapsulate",
    "Deliver",
    "DeliveredTo",
    "Disposition",
    "Drop",
    "Encapsulate",
    "Flow",
    "Header",
    "Hop",
    "L4Protocol",
    "Nat",
    "Netfilter",
    "Policy",
    "Received",
    "RouteStep",
    "RuleVisitRecord",
    "Step",
    "StepKind",
    "Trace",
    "Transmit",
    "Ttl",
    "Veth",
]

DEFAULT_TTL = 64  # net.ipv4.ip_default_ttl, the Linux default
DEFAULT_LENGTH = 60  # a TCP SYN with the options Linux sends: 20 IP + 40 TCP bytes


class L4Protocol(StrEnum):
    """The transport protocols a flow can use (as iptables ``-p`` names them)."""

    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"


class Disposition(StrEnum):
    """How a trace ends."""

    DELIVERED = "DELIVERED"
    NO_ROUTE = "NO_ROUTE"
    NEIGHBOR_UNREACHABLE = "NEIGHBOR_UNREACHABLE"
    REJECTED_NO_ENDPOINTS = "REJECTED_NO_ENDPOINTS"
    DROPPED_NO_LOCAL_ENDPOINT = "DROPPED_NO_LOCAL_ENDPOINT"
    DENIED_BY_NETWORKPOLICY = "DENIED_BY_NETWORKPOLICY"
    DROPPED_BY_NETFILTER = "DROPPED_BY_NETFILTER"
    PORT_NOT_LISTENING = "PORT_NOT_LISTENING"
    MTU_EXCEEDED = "MTU_EXCEEDED"
    TTL_EXCEEDED = "TTL_EXCEEDED"
    LOOP = "LOOP"
    EXITS_CLUSTER = "EXITS_CLUSTER"


@dataclass(frozen=True, slots=True)
class Header:
    """The IPv4 + L4 header fields the tracer follows, and the skb mark.

    ``length`` is the IP packet's total length (what the MTU check compares).
    """

    src: IPv4Address
    dst: IPv4Address
    protocol: L4Protocol
    sport: int
    dport: int
    ttl: int = DEFAULT_TTL
    length: int = DEFAULT_LENGTH
    mark: int = 0

    @property
    def text(self) -> str:
        """``10.244.0.2:40000 -> 10.96.0.10:80 tcp ttl 64``.

        >>> Header(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), L4Protocol.TCP, 1, 2).text
        '10.0.0.1:1 -> 10.0.0.2:2 tcp ttl 64'
        """
        return (
            f"{self.src}:{self.sport} -> {self.dst}:{self.dport} {self.protocol.value}"
            f" ttl {self.ttl}"
        )

    def tuple5(self) -> tuple[IPv4Address, int, IPv4Address, int, L4Protocol]:
        """The addresses, ports and protocol (what NAT changes), without TTL and mark."""
        return (self.src, self.sport, self.dst, self.dport, self.protocol)

    def reversed(self) -> Header:
        """The header of a reply: addresses and ports swapped, fresh TTL, mark cleared."""
        return Header(
            self.dst,
            self.src,
            self.protocol,
            self.dport,
            self.sport,
            DEFAULT_TTL,
            self.length,
        )


@dataclass(frozen=True, slots=True)
class Flow:
    """What to trace: the first packet of a connection from a namespace.

    Args:
        source_netns: the netns id the packet is sent from.
        header: the packet as the sender's socket asks for it; ``src`` is the
            address the sender binds (the route's source address for pods,
            nodes and clients).
        source_text: the ``--from`` value the flow was made from.
        destination_text: the ``--to`` value.
    """

    source_netns: str
    header: Header
    source_text: str = ""
    destination_text: str = ""


@dataclass(frozen=True, slots=True)
class DeliveredTo:
    """The socket a packet reached: netns id, pod key (None for a node or client), ip, port."""

    namespace: str
    pod: str | None
    ip: IPv4Address
    port: int


class StepKind(StrEnum):
    """The closed set of step kinds."""

    RECEIVED = "received"
    ROUTE = "route"
    ARP = "arp"
    BRIDGE = "bridge"
    VETH = "veth"
    ENCAPSULATE = "encapsulate"
    DECAPSULATE = "decapsulate"
    NETFILTER = "netfilter"
    NAT = "nat"
    POLICY = "policy"
    TTL = "ttl"
    TRANSMIT = "transmit"
    DELIVER = "deliver"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Received:
    """The namespace receives ``header`` on ``interface``."""

    interface: str
    header: Header
    detail: str
    kind: Literal[StepKind.RECEIVED] = StepKind.RECEIVED


@dataclass(frozen=True, slots=True)
class RouteStep:
    """A routing decision: ``result`` is ``local``, ``forward``, ``output`` or ``none``."""

    destination: IPv4Address
    route: str | None  # the route as ``ip route`` prints it, None when nothing matched
    result: Literal["local", "forward", "output", "none"]
    interface: str | None
    next_hop: IPv4Address | None
    detail: str
    kind: Literal[StepKind.ROUTE] = StepKind.ROUTE


@dataclass(frozen=True, slots=True)
class Arp:
    """The next hop's MAC: a PERMANENT neighbour entry or an ARP exchange (None: no answer)."""

    ip: IPv4Address
    mac: str | None
    source: Literal["neighbor", "arp"]
    owner: str | None  # ``netns/ifname`` that answered
    detail: str
    kind: Literal[StepKind.ARP] = StepKind.ARP


@dataclass(frozen=True, slots=True)
class Bridge:
    """A bridge forwarding decision by destination MAC (``port`` None: to the bridge itself)."""

    bridge: str
    mac: str
    port: str | None
    entry: Literal["permanent", "learned", "local"]
    detail: str
    kind: Literal[StepKind.BRIDGE] = StepKind.BRIDGE


@dataclass(frozen=True, slots=True)
class Veth:
    """A frame crosses a veth pair to the peer namespace."""

    interface: str
    peer_netns: str
    peer_interface: str
    detail: str
    kind: Literal[StepKind.VETH] = StepKind.VETH


@dataclass(frozen=True, slots=True)
class Encapsulate:
    """VXLAN encapsulation: ``outer`` is the new outer IPv4/UDP header."""

    device: str
    vni: int
    remote: IPv4Address
    inner: Header
    outer: Header
    detail: str
    kind: Literal[StepKind.ENCAPSULATE] = StepKind.ENCAPSULATE


@dataclass(frozen=True, slots=True)
class Decapsulate:
    """VXLAN decapsulation: ``inner`` continues, received on ``device``."""

    device: str
    vni: int
    outer: Header
    inner: Header
    detail: str
    kind: Literal[StepKind.DECAPSULATE] = StepKind.DECAPSULATE


@dataclass(frozen=True, slots=True)
class RuleVisitRecord:
    """One rule the evaluator looked at: rule ``position`` (1-based) of ``count`` in a chain.

    ``position`` is None when the chain's policy was applied. ``action`` is what
    the rule did (``jump KUBE-SVC-...``, ``DNAT ...``) or, when it did not match,
    why not. ``probability`` is the chance of the branch taken at a
    ``statistic`` rule.
    """

    table: str
    chain: str
    position: int | None
    count: int
    text: str
    matched: bool
    action: str
    probability: float | None = None


@dataclass(frozen=True, slots=True)
class Netfilter:
    """One netfilter hook: the rules visited and the verdict."""

    hook: str
    verdict: str
    visits: tuple[RuleVisitRecord, ...]
    ct_state: str | None
    bridged: bool
    detail: str
    kind: Literal[StepKind.NETFILTER] = StepKind.NETFILTER


@dataclass(frozen=True, slots=True)
class Nat:
    """A header rewrite ``before`` → ``after``: DNAT, SNAT, MASQUERADE or conntrack's reversal."""

    nat: str  # DNAT, SNAT, MASQUERADE, REDIRECT, un-DNAT, un-SNAT
    field_name: Literal["src", "dst"]
    old: str  # ``ip:port``
    new: str
    by: str  # the rule or ``conntrack``
    before: Header
    after: Header
    detail: str
    kind: Literal[StepKind.NAT] = StepKind.NAT


@dataclass(frozen=True, slots=True)
class Policy:
    """A NetworkPolicy verdict for a pod (``direction`` egress or ingress)."""

    pod: str
    direction: Literal["egress", "ingress"]
    is_allowed: bool
    detail: str
    kind: Literal[StepKind.POLICY] = StepKind.POLICY


@dataclass(frozen=True, slots=True)
class Ttl:
    """The forwarding TTL decrement."""

    old: int
    new: int
    after: Header
    detail: str
    kind: Literal[StepKind.TTL] = StepKind.TTL


@dataclass(frozen=True, slots=True)
class Transmit:
    """The packet leaves by ``interface`` (the next hop's MAC resolved before)."""

    interface: str
    header: Header
    mac: str | None
    detail: str
    kind: Literal[StepKind.TRANSMIT] = StepKind.TRANSMIT


@dataclass(frozen=True, slots=True)
class Deliver:
    """The packet reaches a listening socket."""

    to: DeliveredTo
    detail: str
    kind: Literal[StepKind.DELIVER] = StepKind.DELIVER


@dataclass(frozen=True, slots=True)
class Drop:
    """The trace ends without delivery."""

    disposition: Disposition
    detail: str
    kind: Literal[StepKind.DROP] = StepKind.DROP


Step: TypeAlias = (
    Received
    | RouteStep
    | Arp
    | Bridge
    | Veth
    | Encapsulate
    | Decapsulate
    | Netfilter
    | Nat
    | Policy
    | Ttl
    | Transmit
    | Deliver
    | Drop
)


@dataclass(frozen=True, slots=True)
class Hop:
    """The steps inside one network namespace (``node`` is the Kubernetes node, if any)."""

    node: str | None
    netns: str
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Trace:
    """One outcome of a flow.

    ``probability`` is the chance of this outcome (the product of the
    load-balancing picks on its path); with a seed, the chance of the pick
    that was followed. ``reply`` is the reply's trace (``--reply``).
    ``session`` is the conntrack and ``recent`` state after this trace, to
    hand to the next ``trace_flow``; it is not part of equality or the JSON.
    """

    flow: Flow
    probability: float
    disposition: Disposition
    hops: tuple[Hop, ...]
    delivered_to: DeliveredTo | None = None
    asymmetric_return: bool = False
    reply: Trace | None = None
    session: TraceSession | None = field(default=None, compare=False, repr=False)

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every step of every hop, in order."""
        return tuple(step for hop in self.hops for step in hop.steps)
