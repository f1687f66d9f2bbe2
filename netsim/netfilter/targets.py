"""The iptables targets netsim models: one frozen dataclass per ``-j`` target.

Each class's fields are the target's options under their iptables names
(``--to-destination`` is ``to_destination``), its ``name`` class variable the
name ``-j`` loads it by; a jump or goto to a user chain is ``JumpTarget`` (with
``Rule.goto`` telling the two apart). Values are kept as the kernel stores
them (see ``netsim.netfilter.ruleset``): ``MARK``/``CONNMARK`` keep the
kernel's (value, mask) "xmark" pair whatever option set it, a DNAT/SNAT range
is a ``NatRange`` of ``ipaddress`` values. ``Target`` is the union of every
class, for ``match`` statements with ``assert_never``.

Modelled: ACCEPT, DROP, RETURN, a jump or goto to a user chain, REJECT, DNAT,
SNAT, MASQUERADE, REDIRECT, MARK, CONNMARK, LOG, NOTRACK, CT. Not modelled:
QUEUE/NFQUEUE and every other target (the parser refuses them by name), IPv6
targets, and what a target does to a packet (that is the evaluator's job).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import ClassVar, Literal, TypeAlias

from netsim.netfilter.values import ALL_ONES, PortRange

__all__ = [
    "LOG_DEFAULT_LEVEL",
    "REJECT_WITH",
    "AcceptTarget",
    "ConnmarkTarget",
    "CtTarget",
    "DnatTarget",
    "DropTarget",
    "JumpTarget",
    "LogTarget",
    "MarkTarget",
    "MasqueradeTarget",
    "NatRange",
    "NotrackTarget",
    "RedirectTarget",
    "RejectTarget",
    "RejectWith",
    "ReturnTarget",
    "SnatTarget",
    "Target",
]

# --- constants, each with its source -------------------------------------------------

LOG_DEFAULT_LEVEL = 4  # iptables libxt_LOG.c LOG_DEFAULT_LEVEL (warning)

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
