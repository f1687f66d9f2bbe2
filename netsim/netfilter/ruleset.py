"""The typed model of an IPv4 iptables ruleset, as ``iptables-save`` lists it.

``Ruleset`` (tables in file order) → ``Table`` (chains in order) → ``Chain``
(policy, counters, rules) → ``Rule`` (the built-in ``-s/-d/-i/-o/-p/-f`` tests,
``matches`` in rule order, a ``target``). Every match module and every target
netsim understands is one frozen dataclass whose fields are the module's options
under their iptables names; an option that iptables lets you negate is held as
``Negatable(value, negated)``. Values are kept in the form the kernel stores
them, so the two spellings of one rule (kube-proxy's restore input and
``iptables-save``'s normalised output) compare equal:

* addresses are ``ipaddress`` networks (``10.0.0.1`` is ``10.0.0.1/32``, host
  bits are cleared as the kernel does) — except conntrack's, which the kernel
  keeps unmasked, so they are ``IPv4Interface`` values; protocols are IANA
  numbers;
* ``MARK``/``CONNMARK`` keep the kernel's (value, mask) "xmark" pair whatever
  option set it (``--or-mark 0x4000`` is ``MarkTarget(0x4000, 0x4000)``);
* ``--syn`` is ``--tcp-flags FIN,SYN,RST,ACK SYN``; ``-m limit`` keeps the
  kernel's period; icmp type names are numbers; lists of states and address
  types are sets kept in the kernel's bit order.

Only one spelling is kept as written: a statistic probability's text, besides
its float (so kube-proxy's ``0.3333333333`` and iptables-save's
``0.33333333349`` stay distinguishable; ``probability_threshold`` is what the
kernel compares). Everything else a renderer needs is derived from the values.
Equality is structural; ``Rule.line`` is not compared.

Modelled matches: tcp, udp, sctp (ports only), comment, mark, connmark, addrtype,
conntrack, state, statistic, recent, multiport, physdev, set (``--match-set``
only), nfacct, icmp, limit, pkttype, socket, owner, mac. Modelled targets:
ACCEPT, DROP, RETURN, a jump or goto to a user chain, REJECT, DNAT, SNAT,
MASQUERADE, REDIRECT, MARK, CONNMARK, LOG, NOTRACK, CT. Not modelled: IPv6
(ip6tables), every other match or target (the parser refuses them by name),
QUEUE/NFQUEUE, and how rules are evaluated (that is the tracer's job).

Lookups: ``table(ruleset, "nat")``, ``chain(ruleset, "nat", "KUBE-SERVICES")``
are O(1); a rule's place is its index in ``Chain.rules`` (``rule_position``) and
``Rule.line`` is the line of the dump it came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntFlag
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from types import MappingProxyType
from typing import ClassVar, Generic, Literal, TypeAlias, TypeVar

__all__ = [
    "ADDRESS_TYPES",
    "ALL_ONES",
    "BUILTIN_CHAINS",
    "CTSTATES",
    "CTSTATUSES",
    "DEFAULT_LIMIT_AVG",
    "DEFAULT_LIMIT_BURST",
    "LOG_DEFAULT_LEVEL",
    "PKT_TYPES",
    "PROTOCOL_NAMES",
    "RECENT_DEFAULT_MASK",
    "REJECT_WITH",
    "STATES",
    "STATISTIC_SCALE",
    "XT_LIMIT_SCALE",
    "AcceptTarget",
    "AddressType",
    "AddrtypeMatch",
    "Chain",
    "CommentMatch",
    "ConnmarkMatch",
    "ConnmarkTarget",
    "ConntrackMatch",
    "Counters",
    "CtState",
    "CtStatus",
    "CtTarget",
    "DnatTarget",
    "DropTarget",
    "IcmpMatch",
    "JumpTarget",
    "LimitMatch",
    "LogTarget",
    "MacMatch",
    "MarkMatch",
    "MarkTarget",
    "MasqueradeTarget",
    "Match",
    "MultiportMatch",
    "NatRange",
    "Negatable",
    "NfacctMatch",
    "NotrackTarget",
    "OwnerMatch",
    "PhysdevMatch",
    "PktType",
    "PkttypeMatch",
    "Policy",
    "PortRange",
    "RecentMatch",
    "RedirectTarget",
    "RejectTarget",
    "RejectWith",
    "ReturnTarget",
    "Rule",
    "Ruleset",
    "SctpMatch",
    "SetMatch",
    "SnatTarget",
    "SocketMatch",
    "State",
    "StateMatch",
    "StatisticMatch",
    "Table",
    "Target",
    "TcpFlag",
    "TcpFlags",
    "TcpMatch",
    "UdpMatch",
    "chain",
    "has_chain",
    "interface_matches",
    "is_builtin_chain",
    "iter_rules",
    "protocol_name",
    "rule_position",
    "table",
]

T_co = TypeVar("T_co", covariant=True)

# --- constants, each with its source -------------------------------------------------

XT_LIMIT_SCALE = 10000  # include/uapi/linux/netfilter/xt_limit.h: periods in 1/10000 s
DEFAULT_LIMIT_AVG = XT_LIMIT_SCALE * 60 * 60 // 3  # iptables libxt_limit.c: 3/hour
DEFAULT_LIMIT_BURST = 5  # iptables libxt_limit.c XT_LIMIT_BURST
STATISTIC_SCALE = 0x80000000  # xt_statistic.c: probability kept as round(p * 2**31)
LOG_DEFAULT_LEVEL = 4  # iptables libxt_LOG.c LOG_DEFAULT_LEVEL (warning)
ALL_ONES = 0xFFFFFFFF  # the default 32-bit mark mask of xt_mark / xt_MARK
RECENT_DEFAULT_MASK = IPv4Address(ALL_ONES)  # libxt_recent.c: --mask defaults to /32

#: Built-in chains of each IPv4 table, in hook order (as ``iptables-save`` lists them).
BUILTIN_CHAINS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "filter": ("INPUT", "FORWARD", "OUTPUT"),
        "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
        "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
        "raw": ("PREROUTING", "OUTPUT"),
        "security": ("INPUT", "FORWARD", "OUTPUT"),
    }
)

#: IP protocol numbers to the name ``iptables-save`` prints for them: the first
#: name of /etc/protocols (Debian 12 netbase 6.4, IANA), as getprotobynumber(3)
#: returns it. Numbers not listed print as numbers.
PROTOCOL_NAMES: Mapping[int, str] = MappingProxyType(
    {
        1: "icmp",
        2: "igmp",
        3: "ggp",
        4: "ipencap",
        5: "st",
        6: "tcp",
        8: "egp",
        9: "igp",
        12: "pup",
        17: "udp",
        20: "hmp",
        22: "xns-idp",
        27: "rdp",
        29: "iso-tp4",
        33: "dccp",
        36: "xtp",
        37: "ddp",
        38: "idpr-cmtp",
        41: "ipv6",
        43: "ipv6-route",
        44: "ipv6-frag",
        45: "idrp",
        46: "rsvp",
        47: "gre",
        50: "esp",
        51: "ah",
        57: "skip",
        58: "ipv6-icmp",
        59: "ipv6-nonxt",
        60: "ipv6-opts",
        73: "rspf",
        81: "vmtp",
        88: "eigrp",
        89: "ospf",
        93: "ax.25",
        94: "ipip",
        97: "etherip",
        98: "encap",
        103: "pim",
        108: "ipcomp",
        112: "vrrp",
        115: "l2tp",
        124: "isis",
        132: "sctp",
        133: "fc",
        135: "mobility-header",
        136: "udplite",
        137: "mpls-in-ip",
        138: "manet",
        139: "hip",
        140: "shim6",
        141: "wesp",
        142: "rohc",
        143: "ethernet",
    }
)

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

RejectWith: TypeAlias = Literal[
    "icmp-net-unreachable",
    "icmp-host-unreachable",
    "icmp-port-unreachable",
    "icmp-proto-unreachable",
    "icmp-net-prohibited",
    "icmp-host-prohibited",
    "tcp-reset",
    "icmp-admin-prohibited",
]
#: REJECT ``--reject-with`` names as iptables prints them (libipt_REJECT.c).
REJECT_WITH: tuple[RejectWith, ...] = (
    "icmp-net-unreachable",
    "icmp-host-unreachable",
    "icmp-port-unreachable",
    "icmp-proto-unreachable",
    "icmp-net-prohibited",
    "icmp-host-prohibited",
    "tcp-reset",
    "icmp-admin-prohibited",
)

PktType: TypeAlias = Literal["unicast", "broadcast", "multicast", "otherhost"]
#: pkttype names in PACKET_* order (PACKET_HOST = 0 is "unicast").
PKT_TYPES: tuple[PktType, ...] = ("unicast", "broadcast", "multicast", "otherhost")

Policy: TypeAlias = Literal["ACCEPT", "DROP"]


# --- generic option values ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Negatable(Generic[T_co]):
    """An option value and whether ``!`` came before it (``! -s 10.0.0.0/8``)."""

    value: T_co
    negated: bool = False


@dataclass(frozen=True, slots=True)
class PortRange:
    """An inclusive port range; ``--dport 80`` is ``PortRange(80, 80)``."""

    first: int
    last: int

    @property
    def is_single(self) -> bool:
        """Whether the range holds one port."""
        return self.first == self.last


@dataclass(frozen=True, slots=True)
class Counters:
    """Packet and byte counters, ``[packets:bytes]`` in ``iptables-save``."""

    packets: int
    bytes: int


class TcpFlag(IntFlag):
    """TCP header flags as xt_tcpudp numbers them (iptables prints them in this order)."""

    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20


@dataclass(frozen=True, slots=True)
class TcpFlags:
    """``--tcp-flags MASK COMP``: of the flags in ``mask``, exactly ``comp`` are set."""

    mask: TcpFlag
    comp: TcpFlag


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

# --- targets --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AcceptTarget:
    """``-j ACCEPT``."""

    name: ClassVar[str] = "ACCEPT"


@dataclass(frozen=True, slots=True)
class DropTarget:
    """``-j DROP``."""

    name: ClassVar[str] = "DROP"


@dataclass(frozen=True, slots=True)
class ReturnTarget:
    """``-j RETURN``."""

    name: ClassVar[str] = "RETURN"


@dataclass(frozen=True, slots=True)
class JumpTarget:
    """``-j CHAIN`` or, with ``Rule.goto``, ``-g CHAIN``: a user chain of the same table."""

    chain: str


@dataclass(frozen=True, slots=True)
class RejectTarget:
    """``-j REJECT --reject-with TYPE`` (filter table only)."""

    name: ClassVar[str] = "REJECT"
    reject_with: RejectWith = "icmp-port-unreachable"


@dataclass(frozen=True, slots=True)
class NatRange:
    """``[ADDR[-ADDR]][:PORT[-PORT][/BASE]]`` of DNAT/SNAT; ``last_*`` None means "= first"."""

    first_address: IPv4Address | None = None
    last_address: IPv4Address | None = None
    first_port: int | None = None
    last_port: int | None = None
    base_port: int | None = None


@dataclass(frozen=True, slots=True)
class DnatTarget:
    """``-j DNAT --to-destination RANGE [--random] [--persistent]`` (nat PREROUTING/OUTPUT)."""

    name: ClassVar[str] = "DNAT"
    to_destination: NatRange
    random: bool = False
    persistent: bool = False


@dataclass(frozen=True, slots=True)
class SnatTarget:
    """``-j SNAT --to-source RANGE [--random] [--random-fully] [--persistent]``."""

    name: ClassVar[str] = "SNAT"
    to_source: NatRange
    random: bool = False
    random_fully: bool = False
    persistent: bool = False


@dataclass(frozen=True, slots=True)
class MasqueradeTarget:
    """``-j MASQUERADE [--to-ports P[-Q]] [--random] [--random-fully]`` (nat POSTROUTING)."""

    name: ClassVar[str] = "MASQUERADE"
    to_ports: PortRange | None = None
    random: bool = False
    random_fully: bool = False


@dataclass(frozen=True, slots=True)
class RedirectTarget:
    """``-j REDIRECT [--to-ports P[-Q]] [--random]`` (nat PREROUTING/OUTPUT)."""

    name: ClassVar[str] = "REDIRECT"
    to_ports: PortRange | None = None
    random: bool = False


@dataclass(frozen=True, slots=True)
class MarkTarget:
    """``-j MARK``: ``mark = (mark & ~mask) ^ value``, the kernel's xmark form.

    ``--set-mark V`` is (V, 0xffffffff), ``--set-mark V/M`` is (V, M|V),
    ``--or-mark V`` (V, V), ``--and-mark V`` (0, ~V), ``--xor-mark V`` (V, 0).
    """

    name: ClassVar[str] = "MARK"
    value: int
    mask: int = ALL_ONES


@dataclass(frozen=True, slots=True)
class ConnmarkTarget:
    """``-j CONNMARK``: ``set`` (ctmark = (ctmark & ~ctmask) ^ value), ``save`` or ``restore``.

    For ``save``/``restore`` ``nfmask`` and ``ctmask`` select the bits copied.
    """

    name: ClassVar[str] = "CONNMARK"
    mode: Literal["set", "save", "restore"]
    value: int = 0
    ctmask: int = ALL_ONES
    nfmask: int = ALL_ONES


@dataclass(frozen=True, slots=True)
class LogTarget:
    """``-j LOG``: prefix, syslog level (0-7) and the ``--log-*`` flags."""

    name: ClassVar[str] = "LOG"
    prefix: str = ""
    level: int = LOG_DEFAULT_LEVEL
    tcp_sequence: bool = False
    tcp_options: bool = False
    ip_options: bool = False
    uid: bool = False
    macdecode: bool = False


@dataclass(frozen=True, slots=True)
class NotrackTarget:
    """``-j NOTRACK`` (raw table): the packet is not tracked."""

    name: ClassVar[str] = "NOTRACK"


@dataclass(frozen=True, slots=True)
class CtTarget:
    """``-j CT [--notrack] [--helper NAME] [--zone ID]`` (raw table)."""

    name: ClassVar[str] = "CT"
    notrack: bool = False
    helper: str | None = None
    zone: int | None = None


Target: TypeAlias = (
    AcceptTarget
    | DropTarget
    | ReturnTarget
    | JumpTarget
    | RejectTarget
    | DnatTarget
    | SnatTarget
    | MasqueradeTarget
    | RedirectTarget
    | MarkTarget
    | ConnmarkTarget
    | LogTarget
    | NotrackTarget
    | CtTarget
)

# --- rules, chains, tables ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule; its chain is the ``Chain`` holding it.

    ``protocol`` is an IP protocol number (``-p tcp`` is 6); ``is_fragment`` is
    True for ``-f``, False for ``! -f`` and None when absent; interface names
    ending in ``+`` are prefixes. ``target`` None is a rule without ``-j``
    (counts, then falls through). ``line`` is the dump line it came from, kept
    for messages and not compared.
    """

    source: Negatable[IPv4Network] | None = None
    destination: Negatable[IPv4Network] | None = None
    in_interface: Negatable[str] | None = None
    out_interface: Negatable[str] | None = None
    protocol: Negatable[int] | None = None
    is_fragment: bool | None = None
    matches: tuple[Match, ...] = ()
    target: Target | None = None
    goto: bool = False
    counters: Counters | None = None
    line: int | None = field(default=None, compare=False)

    @property
    def comment(self) -> str | None:
        """The text of the rule's first ``-m comment``, if any."""
        for match in self.matches:
            if isinstance(match, CommentMatch):
                return match.comment
        return None


@dataclass(frozen=True, slots=True)
class Chain:
    """A chain: built-in ones have a ``policy``, user chains have None."""

    name: str
    policy: Policy | None = None
    counters: Counters | None = None
    rules: tuple[Rule, ...] = ()

    @property
    def is_builtin(self) -> bool:
        """Whether this is a built-in chain (it has a policy)."""
        return self.policy is not None


@dataclass(frozen=True, slots=True)
class Table:
    """A table (``filter``, ``nat``, ``mangle``, ``raw``, ``security``) and its chains in order."""

    name: str
    chains: tuple[Chain, ...] = ()
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {c.name: i for i, c in enumerate(self.chains)}
        object.__setattr__(self, "_index", MappingProxyType(index))


@dataclass(frozen=True, slots=True)
class Ruleset:
    """Every table of one ``iptables-save`` dump, in file order."""

    tables: tuple[Table, ...] = ()
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {t.name: i for i, t in enumerate(self.tables)}
        object.__setattr__(self, "_index", MappingProxyType(index))


# --- helpers --------------------------------------------------------------------------


def table(ruleset: Ruleset, name: str) -> Table:
    """The table called ``name``.

    Raises:
        KeyError: the ruleset has no such table.

    >>> table(Ruleset((Table("nat"),)), "nat").name
    'nat'
    """
    try:
        return ruleset.tables[ruleset._index[name]]
    except KeyError:
        present = ", ".join(t.name for t in ruleset.tables) or "none"
        raise KeyError(f"no table {name!r} (tables: {present})") from None


def chain(ruleset: Ruleset, table_name: str, name: str) -> Chain:
    """The chain ``name`` of table ``table_name``.

    Raises:
        KeyError: no such table or chain.

    >>> rs = Ruleset((Table("nat", (Chain("KUBE-SERVICES"),)),))
    >>> chain(rs, "nat", "KUBE-SERVICES").is_builtin
    False
    """
    found = table(ruleset, table_name)
    try:
        return found.chains[found._index[name]]
    except KeyError:
        raise KeyError(f"table {table_name} has no chain {name!r}") from None


def has_chain(found: Table, name: str) -> bool:
    """Whether the table has a chain called ``name``.

    >>> has_chain(Table("filter", (Chain("INPUT", "ACCEPT"),)), "INPUT")
    True
    """
    return name in found._index


def rule_position(found: Chain, index: int) -> str:
    """Where rule ``index`` (0-based) sits in its chain, as iptables counts (1-based).

    >>> rule_position(Chain("KUBE-SVC-X", rules=(Rule(), Rule(), Rule())), 1)
    'chain KUBE-SVC-X rule 2 of 3'
    """
    return f"chain {found.name} rule {index + 1} of {len(found.rules)}"


def iter_rules(ruleset: Ruleset) -> Iterator[tuple[Table, Chain, int, Rule]]:
    """Every rule with its table, chain and 0-based index, in ruleset order.

    >>> rs = Ruleset((Table("filter", (Chain("INPUT", "ACCEPT", rules=(Rule(),)),)),))
    >>> [(t.name, c.name, i) for t, c, i, _ in iter_rules(rs)]
    [('filter', 'INPUT', 0)]
    """
    for tbl in ruleset.tables:
        for chn in tbl.chains:
            for index, rule in enumerate(chn.rules):
                yield tbl, chn, index, rule


def is_builtin_chain(table_name: str, name: str) -> bool:
    """Whether ``name`` is a built-in chain of table ``table_name``.

    >>> is_builtin_chain("nat", "PREROUTING"), is_builtin_chain("filter", "PREROUTING")
    (True, False)
    """
    return name in BUILTIN_CHAINS.get(table_name, ())


def protocol_name(number: int) -> str:
    """The name ``iptables-save`` prints for IP protocol ``number`` (else the number).

    >>> protocol_name(6), protocol_name(132), protocol_name(253)
    ('tcp', 'sctp', '253')
    """
    return PROTOCOL_NAMES.get(number, str(number))


def interface_matches(pattern: str, name: str) -> bool:
    """Whether interface ``name`` matches ``-i``/``-o`` ``pattern`` (``+`` ends a prefix).

    >>> interface_matches("veth+", "veth1a2b"), interface_matches("eth0", "eth01")
    (True, False)
    """
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return name == pattern
