"""The iptables matches netsim models: one frozen dataclass per ``-m`` module.

Each class's fields are the module's options under their iptables names
(``--ctorigdst`` is ``ctorigdst``), its ``module`` class variable the name
``-m`` loads it by. An option iptables lets you negate is a ``Negatable``; a
module negated as a whole (``-m mark ! --mark 1``) has a ``negated`` field.
Values are kept as the kernel stores them (see ``netsim.netfilter.ruleset``):
lists of states and address types are tuples in the kernel's bit order,
``-m limit`` keeps the kernel's period, icmp type names are numbers, and a
statistic probability keeps its text beside its float. ``Match`` is the union
of every class, for ``match`` statements with ``assert_never``.

Modelled: tcp, udp, sctp (ports only), comment, mark, connmark, addrtype,
conntrack, state, statistic, recent, multiport, physdev, set (``--match-set``
only), nfacct, icmp, limit, pkttype, socket, owner, mac. Not modelled: every
other match module (the parser refuses them by name), IPv6 matches, and what a
match does to a packet (that is the evaluator's job).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from typing import ClassVar, Literal, TypeAlias

from netsim.netfilter.values import ALL_ONES, Negatable, PortRange, TcpFlags

__all__ = [
    "ADDRESS_TYPES",
    "CTSTATES",
    "CTSTATUSES",
    "DEFAULT_LIMIT_AVG",
    "DEFAULT_LIMIT_BURST",
    "PKT_TYPES",
    "RECENT_DEFAULT_MASK",
    "STATES",
    "STATISTIC_SCALE",
    "XT_LIMIT_SCALE",
    "AddressType",
    "AddrtypeMatch",
    "CommentMatch",
    "ConnmarkMatch",
    "ConntrackMatch",
    "CtState",
    "CtStatus",
    "IcmpMatch",
    "LimitMatch",
    "MacMatch",
    "MarkMatch",
    "Match",
    "MultiportMatch",
    "NfacctMatch",
    "OwnerMatch",
    "PhysdevMatch",
    "PktType",
    "PkttypeMatch",
    "RecentMatch",
    "SctpMatch",
    "SetMatch",
    "SocketMatch",
    "State",
    "StateMatch",
    "StatisticMatch",
    "TcpMatch",
    "UdpMatch",
]

# --- constants, each with its source -------------------------------------------------

XT_LIMIT_SCALE = 10000  # include/uapi/linux/netfilter/xt_limit.h: periods in 1/10000 s
DEFAULT_LIMIT_AVG = XT_LIMIT_SCALE * 60 * 60 // 3  # iptables libxt_limit.c: 3/hour
DEFAULT_LIMIT_BURST = 5  # iptables libxt_limit.c XT_LIMIT_BURST
STATISTIC_SCALE = 0x80000000  # xt_statistic.c: probability kept as round(p * 2**31)
RECENT_DEFAULT_MASK = IPv4Address(ALL_ONES)  # libxt_recent.c: --mask defaults to /32

AddressType: TypeAlias = Literal[
    "UNSPEC",
    "UNICAST",
    "LOCAL",
    "BROADCAST",
    "ANYCAST",
    "MULTICAST",
    "BLACKHOLE",
    "UNREACHABLE",
    "PROHIBIT",
    "THROW",
    "NAT",
    "XRESOLVE",
]
#: addrtype's types in kernel bit order (RTN_*), the order iptables prints them.
ADDRESS_TYPES: tuple[AddressType, ...] = (
    "UNSPEC",
    "UNICAST",
    "LOCAL",
    "BROADCAST",
    "ANYCAST",
    "MULTICAST",
    "BLACKHOLE",
    "UNREACHABLE",
    "PROHIBIT",
    "THROW",
    "NAT",
    "XRESOLVE",
)

CtState: TypeAlias = Literal[
    "INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT"
]
#: conntrack ``--ctstate`` values in the order libxt_conntrack prints them.
CTSTATES: tuple[CtState, ...] = (
    "INVALID",
    "NEW",
    "RELATED",
    "ESTABLISHED",
    "UNTRACKED",
    "SNAT",
    "DNAT",
)

State: TypeAlias = Literal["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED"]
#: state ``--state`` values in print order (no SNAT/DNAT: "Bad state").
STATES: tuple[State, ...] = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED")

CtStatus: TypeAlias = Literal["EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED"]
#: conntrack ``--ctstatus`` bits in print order (IPS_* bit order); none prints NONE.
CTSTATUSES: tuple[CtStatus, ...] = ("EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED")

PktType: TypeAlias = Literal["unicast", "broadcast", "multicast", "otherhost"]
#: pkttype names in PACKET_* order (PACKET_HOST = 0 is "unicast").
PKT_TYPES: tuple[PktType, ...] = ("unicast", "broadcast", "multicast", "otherhost")


# --- matches (one per -m module) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TcpMatch:
    """``-m tcp``: ``--sport``, ``--dport``, ``--tcp-flags`` (and ``--syn``), ``--tcp-option``."""

    module: ClassVar[str] = "tcp"
    sport: Negatable[PortRange] | None = None
    dport: Negatable[PortRange] | None = None
    tcp_option: Negatable[int] | None = None
    tcp_flags: Negatable[TcpFlags] | None = None


@dataclass(frozen=True, slots=True)
class UdpMatch:
    """``-m udp``: ``--sport``, ``--dport``."""

    module: ClassVar[str] = "udp"
    sport: Negatable[PortRange] | None = None
    dport: Negatable[PortRange] | None = None


@dataclass(frozen=True, slots=True)
class SctpMatch:
    """``-m sctp``: ``--sport``, ``--dport`` (``--chunk-types`` is not modelled)."""

    module: ClassVar[str] = "sctp"
    sport: Negatable[PortRange] | None = None
    dport: Negatable[PortRange] | None = None


@dataclass(frozen=True, slots=True)
class CommentMatch:
    """``-m comment --comment TEXT``: matches every packet."""

    module: ClassVar[str] = "comment"
    comment: str


@dataclass(frozen=True, slots=True)
class MarkMatch:
    """``-m mark [!] --mark VALUE[/MASK]``: ``skb->mark & mask == value``."""

    module: ClassVar[str] = "mark"
    value: int
    mask: int = ALL_ONES
    negated: bool = False


@dataclass(frozen=True, slots=True)
class ConnmarkMatch:
    """``-m connmark [!] --mark VALUE[/MASK]``: the same test on the conntrack mark."""

    module: ClassVar[str] = "connmark"
    value: int
    mask: int = ALL_ONES
    negated: bool = False


@dataclass(frozen=True, slots=True)
class AddrtypeMatch:
    """``-m addrtype``: ``--src-type``, ``--dst-type`` (sets of types), ``--limit-iface-*``."""

    module: ClassVar[str] = "addrtype"
    src_type: Negatable[tuple[AddressType, ...]] | None = None
    dst_type: Negatable[tuple[AddressType, ...]] | None = None
    limit_iface_in: bool = False
    limit_iface_out: bool = False


@dataclass(frozen=True, slots=True)
class ConntrackMatch:
    """``-m conntrack``: connection-tracking state, status, tuple and direction tests.

    Address options are ``IPv4Interface`` values: the kernel keeps the address
    as written beside its mask (``--ctrepldst 5.6.7.8/16`` stays so; it tests
    the address's network). ``ctproto`` is a protocol number;
    ``ctexpire`` is a (min, max) range of seconds; ``ctstatus`` with no bits
    is ``NONE``; ``ctdir`` cannot be negated.
    """

    module: ClassVar[str] = "conntrack"
    ctstate: Negatable[tuple[CtState, ...]] | None = None
    ctproto: Negatable[int] | None = None
    ctorigsrc: Negatable[IPv4Interface] | None = None
    ctorigdst: Negatable[IPv4Interface] | None = None
    ctreplsrc: Negatable[IPv4Interface] | None = None
    ctrepldst: Negatable[IPv4Interface] | None = None
    ctorigsrcport: Negatable[PortRange] | None = None
    ctorigdstport: Negatable[PortRange] | None = None
    ctreplsrcport: Negatable[PortRange] | None = None
    ctrepldstport: Negatable[PortRange] | None = None
    ctstatus: Negatable[tuple[CtStatus, ...]] | None = None
    ctexpire: Negatable[tuple[int, int]] | None = None
    ctdir: Literal["ORIGINAL", "REPLY"] | None = None


@dataclass(frozen=True, slots=True)
class StateMatch:
    """``-m state [!] --state LIST``."""

    module: ClassVar[str] = "state"
    states: tuple[State, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class StatisticMatch:
    """``-m statistic``: ``--mode random --probability P`` or ``--mode nth --every N --packet P``.

    ``probability_text`` is the probability exactly as written (kube-proxy writes
    ``0.3333333333``, ``iptables-save`` prints ``0.33333333349``), ``probability``
    its float. The kernel keeps ``probability_threshold`` = round(P·2³¹) and
    matches when a random 31-bit number is below it.
    """

    module: ClassVar[str] = "statistic"
    mode: Literal["random", "nth"]
    probability: float | None = None
    probability_text: str | None = None
    every: int | None = None
    packet: int | None = None
    negated: bool = False

    @property
    def probability_threshold(self) -> int:
        """The kernel's u32 threshold, ``lround(P * 2**31)``."""
        if self.probability is None:
            return 0
        return int(STATISTIC_SCALE * self.probability + 0.5)

    @property
    def kernel_probability(self) -> float:
        """The probability the kernel really applies (threshold / 2³¹)."""
        return self.probability_threshold / STATISTIC_SCALE


@dataclass(frozen=True, slots=True)
class RecentMatch:
    """``-m recent``: one of ``--set/--rcheck/--update/--remove`` on list ``name``.

    ``side`` is ``--rsource`` (default) or ``--rdest``; ``mask`` is applied to
    the address before it is looked up; ``negated`` is ``! --rcheck``.
    """

    module: ClassVar[str] = "recent"
    command: Literal["set", "rcheck", "update", "remove"]
    name: str = "DEFAULT"
    seconds: int | None = None
    reap: bool = False
    hitcount: int | None = None
    rttl: bool = False
    mask: IPv4Address = RECENT_DEFAULT_MASK
    side: Literal["source", "dest"] = "source"
    negated: bool = False


@dataclass(frozen=True, slots=True)
class MultiportMatch:
    """``-m multiport [!] --dports|--sports|--ports LIST`` (at most 15 ports, a range counts 2)."""

    module: ClassVar[str] = "multiport"
    direction: Literal["sports", "dports", "ports"]
    ports: tuple[PortRange, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class PhysdevMatch:
    """``-m physdev``: bridge ports; ``physdev_is_*`` is True, False (``!``) or None (absent)."""

    module: ClassVar[str] = "physdev"
    physdev_in: Negatable[str] | None = None
    physdev_out: Negatable[str] | None = None
    physdev_is_in: bool | None = None
    physdev_is_out: bool | None = None
    physdev_is_bridged: bool | None = None


@dataclass(frozen=True, slots=True)
class SetMatch:
    """``-m set [!] --match-set NAME src|dst[,...]``: an ipset lookup."""

    module: ClassVar[str] = "set"
    name: str
    directions: tuple[Literal["src", "dst"], ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class NfacctMatch:
    """``-m nfacct --nfacct-name NAME``: counts into an nfacct object, always matches."""

    module: ClassVar[str] = "nfacct"
    name: str


@dataclass(frozen=True, slots=True)
class IcmpMatch:
    """``-m icmp [!] --icmp-type TYPE[/CODE]``.

    ``icmp_type`` None is ``any``; ``code`` None is every code of the type.
    """

    module: ClassVar[str] = "icmp"
    icmp_type: int | None
    code: int | None = None
    negated: bool = False


@dataclass(frozen=True, slots=True)
class LimitMatch:
    """``-m limit``: a token bucket; ``avg`` is the period in 1/10000 s (3/hour = 12000000)."""

    module: ClassVar[str] = "limit"
    avg: int = DEFAULT_LIMIT_AVG
    burst: int = DEFAULT_LIMIT_BURST


@dataclass(frozen=True, slots=True)
class PkttypeMatch:
    """``-m pkttype [!] --pkt-type unicast|broadcast|multicast|otherhost``."""

    module: ClassVar[str] = "pkttype"
    pkt_type: PktType
    negated: bool = False


@dataclass(frozen=True, slots=True)
class SocketMatch:
    """``-m socket`` with ``--transparent``, ``--nowildcard``, ``--restore-skmark``."""

    module: ClassVar[str] = "socket"
    transparent: bool = False
    nowildcard: bool = False
    restore_skmark: bool = False


@dataclass(frozen=True, slots=True)
class OwnerMatch:
    """``-m owner``: numeric uid/gid ranges (first, last), ``--socket-exists``, ``--suppl-groups``.

    ``socket_exists`` is True, False (``!``) or None (absent).
    """

    module: ClassVar[str] = "owner"
    uid_owner: Negatable[tuple[int, int]] | None = None
    gid_owner: Negatable[tuple[int, int]] | None = None
    socket_exists: bool | None = None
    suppl_groups: bool = False


@dataclass(frozen=True, slots=True)
class MacMatch:
    """``-m mac [!] --mac-source XX:XX:XX:XX:XX:XX`` (kept lower case)."""

    module: ClassVar[str] = "mac"
    mac_source: str
    negated: bool = False


Match: TypeAlias = (
    TcpMatch
    | UdpMatch
    | SctpMatch
    | CommentMatch
    | MarkMatch
    | ConnmarkMatch
    | AddrtypeMatch
    | ConntrackMatch
    | StateMatch
    | StatisticMatch
    | RecentMatch
    | MultiportMatch
    | PhysdevMatch
    | SetMatch
    | NfacctMatch
    | IcmpMatch
    | LimitMatch
    | PkttypeMatch
    | SocketMatch
    | OwnerMatch
    | MacMatch
)
