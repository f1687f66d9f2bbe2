"""Addresses as Go reads and prints them: ``net.ParseIP``, ``net.ParseCIDR``, ``TrimSpace``.

Models the parts of Go's standard library that decide what the reference
``host-local`` plugin (containernetworking/plugins 1.1.1) accepts as an
address and how it prints one back:

* :func:`parse_ip` is ``net.ParseIP`` followed by ``To4()``: leading zeros
  and zones are refused, IPv4-mapped IPv6 addresses are IPv4 addresses.
* :func:`parse_cidr` is ``net.ParseCIDR`` into a CNI ``types.IPNet``: the
  host bits are kept and the mask width (4 or 16 bytes) is recorded in
  :class:`ParsedCIDR`; :func:`cidr_text` prints it as ``net.IPNet.String``.
* :func:`go_trim_space` trims Go's ``unicode.IsSpace`` white space
  (:data:`GO_SPACE`), which differs from Python's ``str.strip``.

Also home of the address type aliases (:data:`IPAddress`, :data:`IPNetwork`,
:data:`IPInterface`) shared by the IPAM modules.

Not modelled: the rest of Go's ``net`` package (``ParseIP`` of hex masks,
``IP.String`` of odd lengths), Go's byte-slice representation of addresses
(values here are :mod:`ipaddress` objects), and anything that allocates or
stores addresses (see :mod:`netsim.control.hostlocal` and
:mod:`netsim.control.ipamstore`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import TypeAlias

__all__ = [
    "GO_SPACE",
    "IPAddress",
    "IPInterface",
    "IPNetwork",
    "ParsedCIDR",
    "cidr_text",
    "go_trim_space",
    "parse_cidr",
    "parse_ip",
]

IPAddress: TypeAlias = IPv4Address | IPv6Address
IPNetwork: TypeAlias = IPv4Network | IPv6Network
IPInterface: TypeAlias = IPv4Interface | IPv6Interface

# unicode.IsSpace: Go's white space (Python's str.isspace also counts U+001C..U+001F).
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)


def go_trim_space(text: str) -> str:
    """Strip white space as Go's ``strings.TrimSpace`` does (not Python's ``str.strip``).

    >>> go_trim_space(" c1\\r\\neth0\\n")
    'c1\\r\\neth0'
    >>> go_trim_space("\\x1cid\\x1c")
    '\\x1cid\\x1c'
    """
    return text.strip(GO_SPACE)


def parse_ip(text: str) -> IPAddress | None:
    """Parse an address as Go's ``net.ParseIP`` followed by ``To4()`` canonicalisation.

    IPv4-mapped IPv6 addresses are IPv4 addresses to Go; zones are refused.

    Args:
        text: the address text.

    Returns:
        The address, or ``None`` where Go returns nil.

    >>> parse_ip("10.0.0.1"), parse_ip("::ffff:10.0.0.1"), parse_ip("fd00::1")
    (IPv4Address('10.0.0.1'), IPv4Address('10.0.0.1'), IPv6Address('fd00::1'))
    >>> parse_ip("010.0.0.1") is None, parse_ip("fe80::1%eth0") is None
    (True, True)
    """
    if "%" in text or not text.isascii():
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class ParsedCIDR:
    """A CIDR as Go's ``net.ParseCIDR`` reads it into a CNI ``types.IPNet``.

    The address keeps its host bits (CNI's ``types.ParseCIDR`` puts the parsed
    address back); ``mask_bits`` records whether the mask is 4 or 16 bytes long,
    which differs from the address family for ``::ffff:10.0.0.0/120``.

    Attributes:
        ip: the address as written, IPv4-mapped addresses read as IPv4.
        prefix_len: the prefix length as written.
        mask_bits: 32 or 128, the width of the mask.
    """

    ip: IPAddress
    prefix_len: int
    mask_bits: int


def _go_dtoi(text: str) -> int | None:
    """Go's ``net.dtoi`` as ParseCIDR uses it: ASCII digits only, whole string."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 8:
        return None
    return int(text)


def parse_cidr(text: str) -> ParsedCIDR | None:
    """Parse ``<ip>/<prefix>`` as Go's ``net.ParseCIDR``.

    Args:
        text: the CIDR text.

    Returns:
        The parsed CIDR, or ``None`` where Go reports ``invalid CIDR address``.

    >>> parse_cidr("10.1.0.5/016")
    ParsedCIDR(ip=IPv4Address('10.1.0.5'), prefix_len=16, mask_bits=32)
    >>> parse_cidr("10.0.0.0/33") is None, parse_cidr("10.0.0.0/+8") is None
    (True, True)
    """
    address_text, slash, prefix_text = text.partition("/")
    if not slash:
        return None
    ip: IPAddress | None
    try:
        ip = IPv4Address(address_text) if address_text.isascii() else None
        mask_bits = 32
    except ValueError:
        ip = parse_ip(address_text) if ":" in address_text else None
        mask_bits = 128
    prefix_len = _go_dtoi(prefix_text)
    if ip is None or prefix_len is None or prefix_len > mask_bits:
        return None
    return ParsedCIDR(ip, prefix_len, mask_bits)


def cidr_text(cidr: ParsedCIDR) -> str:
    """Print a CIDR as Go's ``net.IPNet.String`` does (host bits kept).

    >>> cidr_text(parse_cidr("10.1.0.5/16"))
    '10.1.0.5/16'
    >>> cidr_text(parse_cidr("::ffff:10.1.0.5/112"))
    '10.1.0.5/16'
    """
    prefix_len = cidr.prefix_len
    if cidr.ip.version == 4 and cidr.mask_bits == 128:
        prefix_len = max(prefix_len - 96, 0)
    return f"{cidr.ip}/{prefix_len}"
