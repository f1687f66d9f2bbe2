"""What iptables and the kernel refuse about where a rule stands, checked before loading.

A rule that parses can still be one ``iptables-restore`` or the kernel
refuses. These are those checks, worded as iptables words them where it has
words:

* chain names: at most 28 characters, not a target's name, not starting
  with ``-`` or ``!`` (``check_chain_name``);
* tables: a target that only works in one table (``REJECT`` in filter, the NAT
  targets in nat, ``NOTRACK``/``CT`` in raw), and ``DROP`` in nat, which
  iptables inhibits (``check_target_table``); ``-i`` in OUTPUT/POSTROUTING and
  ``-o`` in PREROUTING/INPUT (``NO_IN_INTERFACE``, ``NO_OUT_INTERFACE``);
* protocols: ``-m tcp`` without ``-p tcp``, multiport without a port protocol,
  ports in a NAT target without TCP, UDP, SCTP or DCCP, ``tcp-reset`` without
  ``-p tcp`` (``check_protocols``);
* hooks: matches and targets the kernel allows only in some hooks (``DNAT`` in
  PREROUTING/OUTPUT, ``-m owner`` in OUTPUT/POSTROUTING, ...), also when they
  sit in a user chain that a wrong hook reaches by jumps (``hook_limits``,
  ``reachable_hooks``, ``misplaced_rule``), judged at COMMIT when the whole
  table is known;
* jump loops: a cycle of jumps and gotos that a built-in chain reaches, which
  the kernel refuses with "Too many links" (``find_jump_loop``); a loop no
  built-in chain reaches is accepted, as the kernel accepts it.

The checks report through a ``Fail`` callback or return what is wrong; the
parser (``netsim.netfilter.parse``) says where. Not checked: kernel limits on
sizes (rules per chain, memory), modules the running kernel lacks, and IPv6.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from netsim.netfilter.lexer import DCCP, ICMP, SCTP, TCP, UDP, UDPLITE, Fail
from netsim.netfilter.matches import AddrtypeMatch, Match, MultiportMatch, PhysdevMatch
from netsim.netfilter.parse_targets import TARGET_BUILDERS
from netsim.netfilter.ruleset import BUILTIN_CHAINS
from netsim.netfilter.targets import (
    DnatTarget,
    JumpTarget,
    MasqueradeTarget,
    RedirectTarget,
    RejectTarget,
    SnatTarget,
    Target,
)
from netsim.netfilter.values import Negatable

__all__ = [
    "CHAIN_NAME_MAX",
    "MATCH_HOOKS",
    "NO_IN_INTERFACE",
    "NO_OUT_INTERFACE",
    "TARGET_HOOKS",
    "TARGET_TABLES",
    "Edges",
    "HookLimit",
    "check_chain_name",
    "check_protocols",
    "check_target_table",
    "find_jump_loop",
    "hook_limits",
    "misplaced_rule",
    "reachable_hooks",
]

# --- limits, each with its source -----------------------------------------------------

CHAIN_NAME_MAX = 28  # XT_EXTENSION_MAXNAMELEN 29 with the NUL: "must be under 29 chars"

NAT_PORT_PROTOCOLS = frozenset({TCP, UDP, SCTP, DCCP})  # "Need TCP, UDP, SCTP or DCCP"
MULTIPORT_PROTOCOLS = frozenset({TCP, UDP, UDPLITE, SCTP, DCCP})
#: Matches that need ``-p`` to be their protocol (libxt_tcp.c etc.: "requires '-p tcp'").
PROTOCOL_MATCHES = {"tcp": TCP, "udp": UDP, "sctp": SCTP, "icmp": ICMP}

#: Hooks a target or match may run in (the kernel's .hooks): name -> chains.
PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING = (
    "PREROUTING",
    "INPUT",
    "FORWARD",
    "OUTPUT",
    "POSTROUTING",
)
NO_IN_INTERFACE = frozenset({OUTPUT, POSTROUTING})  # iptables: "Can't use -i with OUTPUT"
NO_OUT_INTERFACE = frozenset({PREROUTING, INPUT})  # iptables: "Can't use -o with INPUT"
TARGET_TABLES: dict[str, str] = {
    "REJECT": "filter",
    "DNAT": "nat",
    "SNAT": "nat",
    "MASQUERADE": "nat",
    "REDIRECT": "nat",
    "NOTRACK": "raw",
    "CT": "raw",
}
TARGET_HOOKS: dict[str, frozenset[str]] = {
    "DNAT": frozenset({PREROUTING, OUTPUT}),
    "SNAT": frozenset({POSTROUTING, INPUT}),
    "MASQUERADE": frozenset({POSTROUTING}),
    "REDIRECT": frozenset({PREROUTING, OUTPUT}),
}
MATCH_HOOKS: dict[str, frozenset[str]] = {
    "mac": frozenset({PREROUTING, INPUT, FORWARD}),
    "owner": frozenset({OUTPUT, POSTROUTING}),
    "socket": frozenset({PREROUTING, INPUT}),
    "addrtype --limit-iface-in": frozenset({PREROUTING, INPUT, FORWARD}),
    "addrtype --limit-iface-out": frozenset({OUTPUT, POSTROUTING, FORWARD}),
    # xt_physdev.c: --physdev-out/--physdev-is-out without --physdev-is-bridged
    "physdev --physdev-out": frozenset({PREROUTING, INPUT, FORWARD, POSTROUTING}),
}

# --- one rule, as it is read ------------------------------------------------------------


def check_chain_name(name: str, fail: Fail) -> None:
    """Fail on a chain name iptables refuses."""
    if len(name) > CHAIN_NAME_MAX:
        fail(f"chain name {name!r} is longer than {CHAIN_NAME_MAX} characters")
    if name in TARGET_BUILDERS:
        fail(f"chain name {name!r} is the name of a target; rename the chain")
    if name[0] in "-!":
        fail(f"chain name {name!r} may not start with '-' or '!'")


def check_target_table(name: str, table_name: str, option: str, fail: Fail) -> None:
    """Fail when target ``name`` does not work in table ``table_name``."""
    table_only = TARGET_TABLES.get(name)
    if table_only is not None and table_only != table_name:
        fail(f"target {name} only works in the {table_only} table", option)
    if name == "DROP" and table_name == "nat":
        fail(
            'the "nat" table is not intended for filtering, the use of DROP is '
            "therefore inhibited (iptables); drop in the filter table",
            option,
        )


def check_protocols(
    protocol: Negatable[int] | None, matches: Iterable[Match], target: Target | None, fail: Fail
) -> None:
    """What iptables and the kernel check about ``-p`` before loading a rule."""
    number = protocol.value if protocol is not None else None
    for match in matches:
        wanted = PROTOCOL_MATCHES.get(match.module)
        if wanted is not None and number != wanted:
            fail(f"{match.module.upper()} match requires '-p {match.module}'", "-p")
        if isinstance(match, MultiportMatch) and (
            protocol is None or protocol.negated or number not in MULTIPORT_PROTOCOLS
        ):
            fail("multiport needs -p tcp, udp, udplite, sctp or dccp", "-p")
    has_ports = (
        (isinstance(target, DnatTarget) and target.to_destination.first_port is not None)
        or (isinstance(target, SnatTarget) and target.to_source.first_port is not None)
        or (isinstance(target, MasqueradeTarget | RedirectTarget) and target.to_ports)
    )
    if has_ports and (protocol is None or protocol.negated or number not in NAT_PORT_PROTOCOLS):
        fail("Need TCP, UDP, SCTP or DCCP with port specification", "-p")
    if (
        isinstance(target, RejectTarget)
        and target.reject_with == "tcp-reset"
        and (protocol is None or protocol.negated or number != TCP)
    ):
        fail("--reject-with tcp-reset needs -p tcp", "--reject-with")


def hook_limits(
    matches: tuple[Match, ...], target: Target | None
) -> list[tuple[str, frozenset[str]]]:
    """The parts of a rule the kernel allows only in some hooks, with those hooks.

    >>> [(what, sorted(hooks)) for what, hooks in hook_limits((), RedirectTarget())]
    [('-j REDIRECT', ['OUTPUT', 'PREROUTING'])]
    """
    limits = []
    for match in matches:
        key = match.module
        if isinstance(match, AddrtypeMatch):
            key = (
                "addrtype --limit-iface-in"
                if match.limit_iface_in
                else "addrtype --limit-iface-out"
                if match.limit_iface_out
                else ""
            )
        elif isinstance(match, PhysdevMatch):
            outgoing = match.physdev_out is not None or match.physdev_is_out is not None
            key = "physdev --physdev-out" if outgoing and not match.physdev_is_bridged else ""
        if key in MATCH_HOOKS:
            limits.append((f"-m {key}", MATCH_HOOKS[key]))
    if target is not None and not isinstance(target, JumpTarget) and target.name in TARGET_HOOKS:
        limits.append((f"-j {target.name}", TARGET_HOOKS[target.name]))
    return limits


# --- a whole table, at COMMIT -----------------------------------------------------------

#: The jumps and gotos of a table: chain -> [(target chain, line of the rule)].
Edges = Mapping[str, Sequence[tuple[str, int]]]


@dataclass(slots=True)
class HookLimit:
    """A rule that may only run in some hooks, checked at COMMIT."""

    chain: str
    rule: int
    line: int
    what: str
    hooks: frozenset[str]


def find_jump_loop(
    table_name: str, chains: Collection[str], edges: Edges
) -> tuple[int, str] | None:
    """A cycle of jumps and gotos that a built-in chain reaches: (line, message), else None.

    The kernel refuses those ("Too many links"); it accepts a loop among
    chains no built-in chain reaches, and so does netsim. The line is the
    rule's whose jump closes the loop.

    >>> edges = {"INPUT": [("A", 3)], "A": [("B", 4)], "B": [("A", 5)]}
    >>> find_jump_loop("filter", ("INPUT", "A", "B"), edges)
    (5, 'jump loop in table filter: A -> B -> A')
    """
    color: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in BUILTIN_CHAINS[table_name]:
        if start not in chains or color.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        color[start] = 1
        while stack:
            name, position = stack[-1]
            targets = edges.get(name, [])
            if position >= len(targets):
                stack.pop()
                path.pop()
                color[name] = 2
                continue
            stack[-1] = (name, position + 1)
            nxt, line = targets[position]
            if color.get(nxt) == 1:
                loop = " -> ".join([*path[path.index(nxt) :], nxt])
                return line, f"jump loop in table {table_name}: {loop}"
            if not color.get(nxt):
                color[nxt] = 1
                stack.append((nxt, 0))
                path.append(nxt)
    return None


def reachable_hooks(table_name: str, edges: Edges) -> dict[str, set[str]]:
    """For each chain, the built-in chains (hooks) that reach it.

    >>> sorted(reachable_hooks("nat", {"OUTPUT": [("A", 3)], "PREROUTING": [("A", 2)]})["A"])
    ['OUTPUT', 'PREROUTING']
    """
    reached: dict[str, set[str]] = {}
    for hook in BUILTIN_CHAINS[table_name]:
        todo = [hook]
        while todo:
            name = todo.pop()
            hooks = reached.setdefault(name, set())
            if hook not in hooks:
                hooks.add(hook)
                todo.extend(target for target, _ in edges.get(name, ()))
    return reached


def misplaced_rule(
    limits: Iterable[HookLimit], chains: Collection[str], reached: Mapping[str, set[str]]
) -> tuple[HookLimit, str] | None:
    """The first rule of a chain still in the table that a hook it may not run in reaches.

    Returns:
        The rule and the message, or None when every rule is where it may run.

    >>> limit = HookLimit("A", 1, 7, "-j DNAT", frozenset({"PREROUTING", "OUTPUT"}))
    >>> misplaced_rule([limit], ("A",), {"A": {"POSTROUTING"}})[1]
    '-j DNAT only works in OUTPUT, PREROUTING, but chain A is reached from POSTROUTING'
    """
    for item in limits:
        if item.chain not in chains:
            continue
        wrong = sorted(reached.get(item.chain, set()) - item.hooks)
        if wrong:
            return item, (
                f"{item.what} only works in {', '.join(sorted(item.hooks))}, "
                f"but chain {item.chain} is reached from {', '.join(wrong)}"
            )
    return None
