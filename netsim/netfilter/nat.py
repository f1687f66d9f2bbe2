"""NAT as the kernel's nf_nat does it: decide once per connection, then translate every packet.

A NAT target does not rewrite the packet itself: it changes the reply tuple
of the packet's conntrack entry (``nf_nat_setup_info``), and the nat hook then
rewrites every packet of the connection from the entry (``nf_nat_packet``):

* at PREROUTING and OUTPUT the *destination* is manipulated (``DST`` manip):
  DNAT/REDIRECT for the original direction, un-SNAT for replies;
* at POSTROUTING and INPUT the *source* (``SRC`` manip): SNAT/MASQUERADE for
  the original direction, un-DNAT for replies.

``setup_nat`` picks the new tuple as ``get_unique_tuple`` does, simplified:
an address already inside the requested range is kept, else the range's
first address is taken (the kernel hashes the source over the range); a port
is kept when it is inside the requested port range (or none was requested)
and the resulting reply tuple is not taken by another entry; otherwise the
next free port is searched — for SNAT without ports in the class the port
belongs to (1-511, 600-1023, 1024-65535), starting after the current port
(the kernel starts at a random offset). ``--random``, ``--random-fully`` and
``--persistent`` do not change netsim's choice: the kernel would pick a
random port where netsim keeps the original one. ``null_binding`` is what
the kernel does when no NAT rule fired: keep the tuple, but for the source
still make it unique (a second client port may be changed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Address
from typing import Literal, TypeAlias

from netsim.netfilter.conntrack import (
    DST_NAT_BIT,
    SRC_NAT_BIT,
    ConntrackEntry,
    ConntrackStatus,
    ConntrackTable,
    ConnTuple,
    inverted,
    is_tuple_taken,
)
from netsim.netfilter.matching import HookContext
from netsim.netfilter.packet import ICMP, PORT_PROTOCOLS, Packet
from netsim.netfilter.ruleset import (
    DnatTarget,
    MasqueradeTarget,
    NatRange,
    PortRange,
    RedirectTarget,
    SnatTarget,
)

__all__ = [
    "LOOPBACK_ADDRESS",
    "Manip",
    "NatRequest",
    "NatTarget",
    "current_tuple",
    "manip_of_hook",
    "null_binding",
    "request_of",
    "setup_nat",
    "translate",
]

Manip: TypeAlias = Literal["SRC", "DST"]
NatTarget: TypeAlias = DnatTarget | SnatTarget | MasqueradeTarget | RedirectTarget

LOOPBACK_ADDRESS = IPv4Address("127.0.0.1")  # REDIRECT in OUTPUT (xt_REDIRECT: INADDR_LOOPBACK)
PORT_MAX = 65535
ICMP_ID_SPACE = (0, 65535)  # nf_nat_l4proto_unique_tuple: any ICMP identifier


@dataclass(frozen=True, slots=True)
class NatRequest:
    """What one NAT target asks for (the kernel's ``nf_nat_range2``).

    ``first_address`` None keeps the address; ``first_port`` None leaves the
    port to the kernel (kept when unique); ``base_port`` is the ``/BASE`` offset
    form of DNAT/SNAT (port = first + (port - base)).
    """

    kind: Literal["DNAT", "SNAT", "MASQUERADE", "REDIRECT"]
    first_address: IPv4Address | None = None
    last_address: IPv4Address | None = None
    first_port: int | None = None
    last_port: int | None = None
    base_port: int | None = None


def manip_of_hook(hook: str) -> Manip:
    """``HOOK2MANIP``: the destination before routing, the source after it.

    >>> manip_of_hook("PREROUTING"), manip_of_hook("INPUT")
    ('DST', 'SRC')
    """
    return "DST" if hook in ("PREROUTING", "OUTPUT") else "SRC"


def _from_range(kind: Literal["DNAT", "SNAT"], to: NatRange) -> NatRequest:
    return NatRequest(
        kind, to.first_address, to.last_address, to.first_port, to.last_port, to.base_port
    )


def _from_ports(
    kind: Literal["MASQUERADE", "REDIRECT"], address: IPv4Address, ports: PortRange | None
) -> NatRequest:
    if ports is None:
        return NatRequest(kind, address)
    return NatRequest(kind, address, None, ports.first, ports.last)


def request_of(target: NatTarget, ctx: HookContext) -> NatRequest | None:
    """The request a NAT target makes at this hook; None when the kernel drops instead.

    MASQUERADE needs ``ctx.masquerade_source`` and REDIRECT in PREROUTING
    ``ctx.redirect_address``: without one the kernel drops the packet
    ("... ate my IP address"). REDIRECT in OUTPUT goes to 127.0.0.1.

    >>> from netsim.netfilter.ruleset import MasqueradeTarget
    >>> ctx = HookContext("POSTROUTING", None, "eth0", frozenset(), frozenset(),
    ...     IPv4Address("192.168.56.11"), None)
    >>> request_of(MasqueradeTarget(), ctx).first_address
    IPv4Address('192.168.56.11')
    """
    match target:
        case DnatTarget():
            return _from_range("DNAT", target.to_destination)
        case SnatTarget():
            return _from_range("SNAT", target.to_source)
        case MasqueradeTarget():
            if ctx.masquerade_source is None:
                return None
            return _from_ports("MASQUERADE", ctx.masquerade_source, target.to_ports)
        case RedirectTarget():
            address = LOOPBACK_ADDRESS if ctx.hook == "OUTPUT" else ctx.redirect_address
            if address is None:
                return None
            return _from_ports("REDIRECT", address, target.to_ports)


def current_tuple(entry: ConntrackEntry) -> ConnTuple:
    """The original direction as NAT decided it so far: the inverted reply tuple."""
    return inverted(entry.reply)


def _with_manip(t: ConnTuple, manip: Manip, address: IPv4Address, port: int) -> ConnTuple:
    if t.protocol == ICMP:  # the identifier is the "port" of either manip
        if manip == "SRC":
            return ConnTuple(address, t.dst, t.protocol, port, t.dport)
        return ConnTuple(t.src, address, t.protocol, port, t.dport)
    if manip == "SRC":
        return ConnTuple(address, t.dst, t.protocol, port, t.dport)
    return ConnTuple(t.src, address, t.protocol, t.sport, port)


def _manip_port(t: ConnTuple, manip: Manip) -> int:
    if t.protocol == ICMP:
        return t.sport
    return t.sport if manip == "SRC" else t.dport


def _port_class(port: int) -> tuple[int, int]:
    """nf_nat_l4proto_unique_tuple's source-port classes when no ports were asked for."""
    if port < 512:
        return 1, 511
    if port < 1024:
        return 600, 1023
    return 1024, PORT_MAX


def _search(
    table: ConntrackTable,
    entry: ConntrackEntry,
    t: ConnTuple,
    manip: Manip,
    low: int,
    high: int,
    start: int,
) -> ConnTuple:
    size = high - low + 1
    first = _with_manip(t, manip, t.dst if manip == "DST" else t.src, low + (start - low) % size)
    for step in range(size):
        port = low + (start - low + step) % size
        candidate = _with_manip(t, manip, t.dst if manip == "DST" else t.src, port)
        if not is_tuple_taken(table, inverted(candidate), entry):
            return candidate
    return first  # every port taken: the kernel would fail to insert the entry


def _unique_tuple(
    table: ConntrackTable, entry: ConntrackEntry, manip: Manip, request: NatRequest | None
) -> ConnTuple:
    current = current_tuple(entry)
    address = current.src if manip == "SRC" else current.dst
    if request is not None and request.first_address is not None:
        last = request.last_address or request.first_address
        if not request.first_address <= address <= last:
            address = request.first_address
    port = _manip_port(current, manip)
    new = _with_manip(current, manip, address, port)
    if current.protocol not in PORT_PROTOCOLS and current.protocol != ICMP:
        return new
    if request is not None and request.first_port is not None and current.protocol != ICMP:
        low = request.first_port
        high = request.last_port or low
        if request.base_port is not None:
            start = low + (port - request.base_port) % (high - low + 1)
        elif low <= port <= high:
            if low == high or not is_tuple_taken(table, inverted(new), entry):
                return new
            start = port
        else:
            start = low
        return _search(table, entry, new, manip, low, high, start)
    if not is_tuple_taken(table, inverted(new), entry):
        return new
    if manip == "DST" and current.protocol != ICMP:
        return new  # a destination's port is never changed to make the tuple unique
    low, high = ICMP_ID_SPACE if current.protocol == ICMP else _port_class(port)
    return _search(table, entry, new, manip, low, high, port + 1)


def _bound(
    entry: ConntrackEntry, manip: Manip, new: ConnTuple, current: ConnTuple
) -> ConntrackEntry:
    status = entry.status
    status |= ConntrackStatus.SRC_NAT_DONE if manip == "SRC" else ConntrackStatus.DST_NAT_DONE
    if new != current:
        status |= ConntrackStatus.SRC_NAT if manip == "SRC" else ConntrackStatus.DST_NAT
    return ConntrackEntry(entry.original, inverted(new), status, entry.mark)


def setup_nat(
    table: ConntrackTable, entry: ConntrackEntry, manip: Manip, request: NatRequest
) -> ConntrackEntry:
    """The entry after a NAT target decided its translation (``nf_nat_setup_info``).

    The reply tuple becomes the inverse of the translated original direction;
    ``SRC_NAT``/``DST_NAT`` is set when the tuple really changed, and the
    manip's ``*_NAT_DONE`` bit in any case.

    >>> from netsim.netfilter.conntrack import ConnTuple, conntrack_table, new_entry
    >>> e = new_entry(ConnTuple(IPv4Address("10.244.1.5"), IPv4Address("10.96.0.10"), 6, 40000, 80))
    >>> dnat = NatRequest("DNAT", IPv4Address("10.244.2.7"), first_port=8080)
    >>> bound = setup_nat(conntrack_table(), e, "DST", dnat)
    >>> str(bound.reply.src), bound.reply.sport, bool(bound.status & ConntrackStatus.DST_NAT)
    ('10.244.2.7', 8080, True)
    """
    new = _unique_tuple(table, entry, manip, request)
    return _bound(entry, manip, new, current_tuple(entry))


def null_binding(table: ConntrackTable, entry: ConntrackEntry, manip: Manip) -> ConntrackEntry:
    """The entry when no NAT rule fired for ``manip`` (``nf_nat_alloc_null_binding``).

    The translation is the identity, except that a source is made unique: if
    another entry already expects replies on this tuple, the source port moves.
    """
    new = _unique_tuple(table, entry, manip, None)
    return _bound(entry, manip, new, current_tuple(entry))


def translate(packet: Packet, entry: ConntrackEntry, manip: Manip, is_reply: bool) -> Packet:
    """The packet rewritten from its entry at a nat hook (``nf_nat_manip_pkt``).

    Original direction: DNAT at DST manip, SNAT at SRC manip. Reply direction:
    the inverse — un-SNAT at DST manip (PREROUTING/OUTPUT), un-DNAT at SRC
    manip (POSTROUTING/INPUT). Unchanged when the entry has no such NAT.

    >>> from netsim.netfilter.conntrack import ConnTuple, conntrack_table, new_entry
    >>> client, vip = IPv4Address("10.244.1.5"), IPv4Address("10.96.0.10")
    >>> e = new_entry(ConnTuple(client, vip, 6, 40000, 80))
    >>> e = setup_nat(conntrack_table(), e, "DST", NatRequest("DNAT", IPv4Address("10.244.2.7"),
    ...     first_port=8080))
    >>> answer = Packet(IPv4Address("10.244.2.7"), client, sport=8080, dport=40000)
    >>> p = translate(answer, e, "SRC", is_reply=True)
    >>> str(p.src), p.sport
    ('10.96.0.10', 80)
    """
    bit = SRC_NAT_BIT if manip == "SRC" else DST_NAT_BIT
    if is_reply:
        bit = DST_NAT_BIT if manip == "SRC" else SRC_NAT_BIT
    if not int(entry.status) & bit:
        return packet
    target = inverted(entry.original if is_reply else entry.reply)
    has_ports = packet.protocol in PORT_PROTOCOLS
    if packet.protocol == ICMP:  # icmp_manip_pkt: the identifier follows either manip
        packet = replace(packet, sport=target.sport)
    if manip == "SRC":
        return replace(packet, src=target.src, sport=target.sport if has_ports else packet.sport)
    return replace(packet, dst=target.dst, dport=target.dport if has_ports else packet.dport)
