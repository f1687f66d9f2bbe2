"""Option values shared by iptables matches, targets and rules.

These are the small frozen values the rest of the model is built from: an
option value with its ``!`` (``Negatable``), an inclusive port range, packet
and byte counters, TCP flags, and the all-ones 32-bit mask that both the mark
matches and the mark targets default to. They are kept in the form the kernel
stores them (see ``netsim.netfilter.ruleset``).

Not here: the matches (``netsim.netfilter.matches``), the targets
(``netsim.netfilter.targets``) and rules, chains and tables
(``netsim.netfilter.ruleset``, which re-exports every name of this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag
from typing import Generic, TypeVar

__all__ = [
    "ALL_ONES",
    "Counters",
    "Negatable",
    "PortRange",
    "TcpFlag",
    "TcpFlags",
]

T_co = TypeVar("T_co", covariant=True)

ALL_ONES = 0xFFFFFFFF  # the default 32-bit mark mask of xt_mark / xt_MARK


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
