"""Hypothesis strategies for iptables rulesets the kernel loads, shared by the netfilter tests.

``rulesets()`` draws whole ``Ruleset`` values in the form the kernel (iptables
1.8.9, nf_tables) keeps them, so ``parse(render(r)) == r`` holds and
``iptables-restore`` accepts the render: matches and targets the kernel allows
only in some hooks or tables sit in user chains no built-in chain reaches,
ports are normalised as iptables-nft stores them, and jumps never loop. The
smaller strategies (``port_ranges``, ``conntracks``, ``nat_ranges``, ``rules``,
``tables``, ...) build those. Used by ``test_render.py`` (the round trip) and
``test_iptables_restore.py`` (the same rulesets against the real kernel).

Not drawn: IPv6, rules the kernel refuses (those are tested by example in
``test_parse.py``), and kube-proxy's own shapes (the samples in ``data/``).
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import TypeVar

from hypothesis import strategies as st

from netsim.netfilter.parse_state_matches import parse_limit_rate
from netsim.netfilter.render_matches import limit_rate
from netsim.netfilter.ruleset import (
    ADDRESS_TYPES,
    BUILTIN_CHAINS,
    CTSTATES,
    CTSTATUSES,
    PKT_TYPES,
    REJECT_WITH,
    STATES,
    STATISTIC_SCALE,
    AcceptTarget,
    AddrtypeMatch,
    Chain,
    CommentMatch,
    ConnmarkMatch,
    ConnmarkTarget,
    ConntrackMatch,
    Counters,
    CtTarget,
    DnatTarget,
    DropTarget,
    IcmpMatch,
    JumpTarget,
    LimitMatch,
    LogTarget,
    MacMatch,
    MarkMatch,
    MarkTarget,
    MasqueradeTarget,
    Match,
    MultiportMatch,
    NatRange,
    Negatable,
    NfacctMatch,
    NotrackTarget,
    OwnerMatch,
    PhysdevMatch,
    PkttypeMatch,
    PortRange,
    RecentMatch,
    RedirectTarget,
    RejectTarget,
    ReturnTarget,
    Rule,
    Ruleset,
    SctpMatch,
    SetMatch,
    SnatTarget,
    SocketMatch,
    StateMatch,
    StatisticMatch,
    Table,
    Target,
    TcpFlag,
    TcpFlags,
    TcpMatch,
    UdpMatch,
)

T = TypeVar("T")

NAME = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
ANY_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
U32 = st.integers(0, 0xFFFFFFFF)
PORT = st.integers(0, 65535)
OCTET_PREFIX = st.integers(1, 32)


@st.composite
def port_ranges(draw: st.DrawFn) -> PortRange:
    first = draw(PORT)
    return PortRange(first, draw(st.integers(first, 65535)))


@st.composite
def tcpudp_ports(draw: st.DrawFn) -> Negatable[PortRange] | None:
    """Port tests in the form the kernel (nf_tables) keeps them."""
    value = draw(port_ranges())
    negated = draw(st.booleans())
    if (value.first, value.last) == (0, 65535):
        return None  # negated, iptables-nft drops the test (it prints -m tcp alone)
    if negated and value.first == 0 and 0 < value.last < 65535:
        negated = False
    return Negatable(value, negated)


def negatable(inner: st.SearchStrategy[T]) -> st.SearchStrategy[Negatable[T]]:
    return st.builds(Negatable, inner, st.booleans())


def maybe(inner: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | inner


def subsets(names: tuple[T, ...], min_size: int = 1) -> st.SearchStrategy[tuple[T, ...]]:
    return st.sets(st.sampled_from(names), min_size=min_size).map(
        lambda chosen: tuple(n for n in names if n in chosen)
    )


NETWORKS = st.builds(
    lambda address, prefix: IPv4Network((address, prefix), strict=False), U32, OCTET_PREFIX
)
INTERFACES = st.builds(
    lambda address, prefix: IPv4Interface((address, prefix)), U32, st.integers(0, 32)
)
# An empty mask prints nothing (iptables leaves --tcp-flags out), so masks are non-empty.
TCP_FLAGS = st.builds(
    TcpFlags, st.integers(1, 0x3F).map(TcpFlag), st.integers(0, 0x3F).map(TcpFlag)
)


@st.composite
def limits(draw: st.DrawFn) -> LimitMatch:
    unit = draw(st.sampled_from(["second", "minute", "hour", "day"]))
    count = draw(st.integers(1, 10000))
    avg = parse_limit_rate(limit_rate(parse_limit_rate(f"{count}/{unit}")))  # the stable print
    return LimitMatch(avg, draw(st.integers(1, 10000)))


@st.composite
def statistics(draw: st.DrawFn) -> StatisticMatch:
    negated = draw(st.booleans())
    if draw(st.booleans()):
        text = f"{draw(st.integers(0, STATISTIC_SCALE)) / STATISTIC_SCALE:.11f}"
        return StatisticMatch("random", float(text), text, negated=negated)
    every = draw(st.integers(1, 1000))
    return StatisticMatch(
        "nth", every=every, packet=draw(st.integers(0, every - 1)), negated=negated
    )


@st.composite
def recents(draw: st.DrawFn) -> RecentMatch:
    command = draw(st.sampled_from(["set", "rcheck", "update", "remove"]))
    checks = command in ("rcheck", "update")
    seconds = draw(st.integers(1, 100000)) if checks and draw(st.booleans()) else None
    return RecentMatch(
        command,  # type: ignore[arg-type]
        name=draw(NAME),
        seconds=seconds,
        reap=seconds is not None and draw(st.booleans()),
        hitcount=draw(st.integers(1, 255)) if checks and draw(st.booleans()) else None,
        rttl=checks and draw(st.booleans()),
        mask=IPv4Address(draw(U32)),
        side=draw(st.sampled_from(["source", "dest"])),
        negated=draw(st.booleans()),
    )


@st.composite
def conntracks(draw: st.DrawFn) -> ConntrackMatch:
    match = ConntrackMatch(
        ctstate=draw(maybe(negatable(subsets(CTSTATES)))),
        ctproto=draw(maybe(negatable(st.integers(1, 255)))),
        ctorigsrc=draw(maybe(negatable(INTERFACES))),
        ctrepldst=draw(maybe(negatable(INTERFACES))),
        ctorigdstport=draw(maybe(negatable(port_ranges()))),
        ctreplsrcport=draw(maybe(negatable(port_ranges()))),
        ctstatus=draw(maybe(negatable(subsets(CTSTATUSES, 0)))),
        ctexpire=draw(maybe(negatable(st.integers(0, 99).map(lambda x: (x, x + 5))))),
        ctdir=draw(st.sampled_from([None, "ORIGINAL", "REPLY"])),
    )
    return match if match != ConntrackMatch() else ConntrackMatch(ctdir="REPLY")


@st.composite
def physdevs(draw: st.DrawFn, anywhere: bool = True) -> PhysdevMatch:
    """With ``anywhere``, an outgoing test comes with --physdev-is-bridged (else no OUTPUT)."""
    match = PhysdevMatch(
        physdev_in=draw(maybe(negatable(NAME))),
        physdev_out=draw(maybe(negatable(NAME))),
        physdev_is_in=draw(st.sampled_from([None, True, False])),
        physdev_is_out=draw(st.sampled_from([None, True, False])),
        physdev_is_bridged=draw(st.sampled_from([None, True, False])),
    )
    outgoing = match.physdev_out is not None or match.physdev_is_out is not None
    if anywhere and outgoing:
        match = replace(match, physdev_is_bridged=True)
    return match if match != PhysdevMatch() else PhysdevMatch(physdev_is_bridged=True)


@st.composite
def addrtypes(draw: st.DrawFn) -> AddrtypeMatch:
    src = draw(maybe(negatable(subsets(ADDRESS_TYPES))))
    dst = draw(maybe(negatable(subsets(ADDRESS_TYPES))))
    if src is None and dst is None:
        dst = Negatable(("LOCAL",))
    return AddrtypeMatch(src, dst)


def ids(draw: st.DrawFn) -> tuple[int, int]:
    first = draw(st.integers(0, 70000))
    return first, draw(st.integers(first, 70000))


@st.composite
def owners(draw: st.DrawFn) -> OwnerMatch:
    uid = Negatable(ids(draw), draw(st.booleans())) if draw(st.booleans()) else None
    gid = Negatable(ids(draw), draw(st.booleans())) if draw(st.booleans()) else None
    exists = draw(st.sampled_from([None, True, False]))
    if uid is None and gid is None and exists is None:
        exists = True
    return OwnerMatch(uid, gid, exists, gid is not None and draw(st.booleans()))


GENERAL_MATCHES: st.SearchStrategy[Match] = st.one_of(
    st.builds(CommentMatch, ANY_TEXT),
    st.builds(MarkMatch, U32, U32, st.booleans()),
    st.builds(ConnmarkMatch, U32, U32, st.booleans()),
    addrtypes(),
    conntracks(),
    st.builds(StateMatch, subsets(STATES), st.booleans()),
    statistics(),
    recents(),
    physdevs(),
    st.builds(
        SetMatch,
        NAME,
        st.lists(st.sampled_from(["src", "dst"]), min_size=1, max_size=6).map(tuple),
        st.booleans(),
    ),
    st.builds(NfacctMatch, ANY_TEXT.filter(lambda t: 0 < len(t) < 32)),
    limits(),
    st.builds(PkttypeMatch, st.sampled_from(PKT_TYPES), st.booleans()),
)
PORT_LISTS = st.lists(port_ranges(), min_size=1, max_size=7).map(tuple)


def protocol_matches(number: int | None) -> st.SearchStrategy[Match]:
    """Matches that need ``-p`` to be ``number``."""
    if number == 6:
        return st.builds(
            TcpMatch,
            tcpudp_ports(),
            tcpudp_ports(),
            maybe(negatable(st.integers(1, 255))),
            maybe(negatable(TCP_FLAGS)),
        ) | st.builds(
            MultiportMatch,
            st.sampled_from(["sports", "dports", "ports"]),
            PORT_LISTS,
            st.booleans(),
        )
    if number == 17:
        return st.builds(UdpMatch, tcpudp_ports(), tcpudp_ports())
    if number == 132:
        return st.builds(
            SctpMatch, maybe(negatable(port_ranges())), maybe(negatable(port_ranges()))
        )
    if number == 1:
        return st.one_of(
            st.just(IcmpMatch(None)),
            st.builds(IcmpMatch, st.integers(0, 254), maybe(st.integers(0, 255)), st.booleans()),
        )
    return st.nothing()


# Matches and targets the kernel allows only in some hooks or tables go in chains
# that no built-in chain reaches, so every generated ruleset is one the kernel loads.
UNREACHED_MATCHES: st.SearchStrategy[Match] = st.one_of(
    physdevs(anywhere=False),
    st.builds(SocketMatch, st.booleans(), st.booleans(), st.booleans()),
    owners(),
    st.builds(
        MacMatch, st.from_regex(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", fullmatch=True), st.booleans()
    ),
    st.just(AddrtypeMatch(dst_type=Negatable(("LOCAL",)), limit_iface_in=True)),
)


@st.composite
def nat_ranges(draw: st.DrawFn, ports: bool, base: bool) -> NatRange:
    """A DNAT/SNAT range; a /base offset only after a port range (iptables reads no other)."""
    first = draw(maybe(U32)) if ports else draw(U32)
    last = draw(maybe(U32)) if first is not None else None
    first_port = draw(maybe(PORT)) if ports else None
    if first is None and first_port is None:
        first_port = draw(PORT)
    last_port = draw(maybe(PORT)) if first_port is not None else None
    has_range = first_port is not None and last_port is not None and last_port > first_port
    return NatRange(
        IPv4Address(first) if first is not None else None,
        IPv4Address(last) if first is not None and last is not None and last > first else None,
        first_port,
        last_port if has_range else None,
        draw(maybe(st.integers(1, 65535))) if base and has_range else None,
    )


def targets_for(
    table_name: str, protocol: Negatable[int] | None, chains: list[str], unreached: bool
) -> st.SearchStrategy[Target | None]:
    port_protocol = (
        protocol is not None and not protocol.negated and protocol.value in (6, 17, 132, 33)
    )
    options: list[st.SearchStrategy[object]] = [
        st.none(),
        st.sampled_from(
            [AcceptTarget(), ReturnTarget()] + ([] if table_name == "nat" else [DropTarget()])
        ),
        st.builds(MarkTarget, U32, U32),
        st.builds(ConnmarkTarget, st.just("set"), U32, U32),
        st.builds(ConnmarkTarget, st.sampled_from(["save", "restore"]), st.just(0), U32, U32),
        st.builds(
            LogTarget,
            ANY_TEXT.filter(lambda t: len(t) <= 29),
            st.integers(0, 7),
            st.booleans(),
            st.booleans(),
            st.booleans(),
            st.booleans(),
            st.booleans(),
        ),
    ]
    if chains:
        options.append(st.builds(JumpTarget, st.sampled_from(chains)))
    if table_name == "filter":
        reject = [r for r in REJECT_WITH if r != "tcp-reset" or (protocol == Negatable(6))]
        options.append(st.builds(RejectTarget, st.sampled_from(reject)))
    if table_name == "raw":
        options += [
            st.just(NotrackTarget()),
            st.builds(CtTarget, st.booleans(), maybe(NAME), maybe(st.integers(1, 65535))),
        ]
    if table_name == "nat" and unreached:
        to_ports = maybe(port_ranges()) if port_protocol else st.none()
        dnat = nat_ranges(port_protocol, base=True)
        snat = nat_ranges(port_protocol, base=False)
        options += [
            st.builds(DnatTarget, dnat, st.booleans(), st.booleans()),
            st.builds(SnatTarget, snat, st.booleans(), st.booleans(), st.booleans()),
            st.builds(MasqueradeTarget, to_ports, st.booleans(), st.booleans()),
            st.builds(RedirectTarget, to_ports, st.booleans()),
        ]
    return st.one_of(*options)


@st.composite
def rules(draw: st.DrawFn, table_name: str, chains: list[str], unreached: bool) -> Rule:
    protocol = draw(st.sampled_from([None, 6, 17, 132, 1, 47]))
    negated = draw(st.booleans()) and protocol not in (None,)
    matches: list[Match] = draw(st.lists(GENERAL_MATCHES, max_size=3))
    if protocol in (1, 6, 17, 132) and not negated:
        # one match per module: iptables-nft merges two -m tcp (or udp, ...) into one
        matches += draw(st.lists(protocol_matches(protocol), max_size=2, unique_by=type))
    if unreached:
        matches += draw(st.lists(UNREACHED_MATCHES, max_size=1))
    if any(isinstance(m, MarkMatch) for m in matches):
        # -m mark --mark 1 -m connmark --mark 2 -m mark --mark 3: iptables gives the
        # third --mark to connmark and refuses the rule, so the two do not mix here.
        matches = [m for m in matches if not isinstance(m, ConnmarkMatch)]
    ordered = draw(st.permutations(matches))
    rule_protocol = Negatable(protocol, negated) if protocol is not None else None
    target = draw(targets_for(table_name, rule_protocol, chains, unreached))
    return Rule(
        source=draw(maybe(negatable(NETWORKS))),
        destination=draw(maybe(negatable(NETWORKS))),
        in_interface=draw(maybe(negatable(st.from_regex(r"[a-z0-9.]{1,14}\+?", fullmatch=True)))),
        out_interface=draw(maybe(negatable(st.from_regex(r"[a-z0-9.]{1,14}\+?", fullmatch=True)))),
        protocol=rule_protocol,
        is_fragment=draw(st.sampled_from([None, True, False])),
        matches=tuple(ordered),
        target=target,
        goto=isinstance(target, JumpTarget) and draw(st.booleans()),
        counters=draw(maybe(st.builds(Counters, U32, U32))),
    )


@st.composite
def tables(draw: st.DrawFn, table_name: str) -> Table:
    """Built-in chains jump only to "called" user chains; "unreached" chains hold the rest."""
    count = draw(st.integers(0, 4))
    names = [f"U{i}-{draw(NAME)}"[:28] for i in range(count)]
    called, unreached = names[: count // 2], names[count // 2 :]
    chains: list[Chain] = []
    for name in BUILTIN_CHAINS[table_name]:
        body = draw(
            st.lists(
                rules(table_name, [], False).filter(
                    lambda r: r.target is None or not isinstance(r.target, JumpTarget)
                ),
                max_size=2,
            )
        )
        if name in ("PREROUTING", "INPUT"):  # iptables: "Can't use -o with INPUT"
            body = [replace(rule, out_interface=None) for rule in body]
        if name in ("OUTPUT", "POSTROUTING"):
            body = [replace(rule, in_interface=None) for rule in body]
        jumps = [Rule(target=JumpTarget(c)) for c in called[:1]]
        chains.append(
            Chain(
                name,
                draw(st.sampled_from(["ACCEPT", "DROP"])),
                Counters(draw(U32), draw(U32)),
                (*body, *jumps),
            )
        )
    for index, name in enumerate(called):
        body = draw(st.lists(rules(table_name, called[index + 1 :], False), max_size=3))
        chains.append(Chain(name, None, Counters(0, 0), tuple(body)))
    for name in unreached:
        body = draw(st.lists(rules(table_name, called, True), max_size=3))
        chains.append(Chain(name, None, Counters(0, 0), tuple(body)))
    return Table(table_name, tuple(chains))


@st.composite
def rulesets(draw: st.DrawFn) -> Ruleset:
    names = draw(st.lists(st.sampled_from(list(BUILTIN_CHAINS)), unique=True, max_size=3))
    return Ruleset(tuple(draw(tables(name)) for name in names))
