"""The options of the ``-m`` match modules that test state kept beside the packet.

These modules test what the kernel and earlier rules keep rather than the
packet's own bytes: the connection's conntrack entry and mark (``conntrack``,
``state``, ``connmark``), the packet mark (``mark``), address lists and ipsets
(``recent``, ``set``), counters and rates (``statistic``, ``limit``,
``nfacct``); and ``comment``, which tests nothing. For each this holds its
option table (``STATE_MATCH_OPTIONS``: alias -> canonical name, number of
arguments, whether ``!`` may precede it, as the module's libxt_*.c declares
them) and its builder (``STATE_MATCH_BUILDERS``), which turns the options a
rule gave the module into the match value, normalised as the kernel stores it,
and refuses what libxt_*.c refuses with the same words: a mandatory option
missing (``state: option "--state" must be specified``), two options that
exclude each other, a value out of range. ``--limit`` rates become the
kernel's period (``parse_limit_rate``).

Not here: the matches of the packet's headers and path
(``netsim.netfilter.parse_packet_matches``), the registry of every modelled
module (``netsim.netfilter.parse_matches``), and set's options other than
``--match-set``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, cast

from netsim.netfilter.lexer import (
    U32_MAX,
    Fail,
    Options,
    OptionSpec,
    negatable_option,
    option_spec,
    option_value,
    parse_decimal,
    parse_interface_address,
    parse_mark,
    parse_mask_address,
    parse_names,
    parse_port_range,
    parse_protocol,
    require_option,
)
from netsim.netfilter.matches import (
    CTSTATES,
    CTSTATUSES,
    DEFAULT_LIMIT_AVG,
    DEFAULT_LIMIT_BURST,
    RECENT_DEFAULT_MASK,
    STATES,
    XT_LIMIT_SCALE,
    CommentMatch,
    ConnmarkMatch,
    ConntrackMatch,
    CtState,
    CtStatus,
    LimitMatch,
    MarkMatch,
    Match,
    NfacctMatch,
    RecentMatch,
    SetMatch,
    State,
    StateMatch,
    StatisticMatch,
)

__all__ = ["STATE_MATCH_BUILDERS", "STATE_MATCH_OPTIONS", "parse_limit_rate"]

# --- limits, each with its source -----------------------------------------------------

RECENT_NAME_MAX = 199  # XT_RECENT_NAME_LEN 200 with the NUL
SET_NAME_MAX = 31  # IPSET_MAXNAMELEN 32 with the NUL
SET_DIM_MAX = 6  # IPSET_DIM_MAX
NFACCT_NAME_MAX = 31  # NFACCT_NAME_MAX 32 with the NUL
LIMIT_BURST_MAX = 10000  # libxt_limit.c: --limit-burst 0-10000

#: limit units: prefix of the word -> seconds (libxt_limit.c parse_rate).
LIMIT_UNITS = (("second", 1), ("minute", 60), ("hour", 3600), ("day", 86400))

# --- option tables: alias -> (canonical name, number of arguments, negatable) ----------

STATE_MATCH_OPTIONS: dict[str, OptionSpec] = {
    "comment": option_spec(("--comment", 1, False)),
    "mark": option_spec(("--mark", 1, True)),
    "connmark": option_spec(("--mark", 1, True)),
    "conntrack": option_spec(
        *(
            (f"--{name}", 1, True)
            for name in (
                "ctstate",
                "ctproto",
                "ctorigsrc",
                "ctorigdst",
                "ctreplsrc",
                "ctrepldst",
                "ctorigsrcport",
                "ctorigdstport",
                "ctreplsrcport",
                "ctrepldstport",
                "ctstatus",
                "ctexpire",
            )
        ),
        ("--ctdir", 1, False),
    ),
    "state": option_spec(("--state", 1, True)),
    "statistic": option_spec(
        ("--mode", 1, False),
        ("--probability", 1, True),
        ("--every", 1, True),
        ("--packet", 1, False),
    ),
    "recent": option_spec(
        ("--set", 0, True),
        ("--rcheck", 0, True),
        ("--update", 0, True),
        ("--remove", 0, True),
        ("--seconds", 1, False),
        ("--reap", 0, False),
        ("--hitcount", 1, False),
        ("--rttl", 0, False),
        ("--name", 1, False),
        ("--mask", 1, False),
        ("--rsource", 0, False),
        ("--rdest", 0, False),
    ),
    "set": option_spec(("--match-set", 2, True)),
    "nfacct": option_spec(("--nfacct-name", 1, False)),
    "limit": option_spec(("--limit", 1, False), ("--limit-burst", 1, False)),
}

# --- values of match options (pure, raising ValueError with the message) ------------------


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{text!r} is not a probability; use a number from 0 to 1")
    return value


def parse_limit_rate(text: str) -> int:
    """The kernel period of ``--limit N[/unit]`` (1/10000 s per packet).

    >>> parse_limit_rate("3/hour"), parse_limit_rate("5/s"), parse_limit_rate("7")
    (12000000, 2000, 1428)
    """
    count, slash, unit = text.partition("/")
    seconds = 1
    if slash:
        matches = [s for word, s in LIMIT_UNITS if unit and word.startswith(unit.lower())]
        if not matches:
            raise ValueError(f"bad rate {text!r}; use N/second, N/minute, N/hour or N/day")
        seconds = matches[0]
    if not count.isdigit() or int(count) == 0:
        raise ValueError(f"bad rate {text!r}; use N/second, N/minute, N/hour or N/day")
    avg = XT_LIMIT_SCALE * seconds // int(count)
    if avg == 0:
        raise ValueError(f"rate too fast {text!r} (at most 10000/second)")
    return avg


# --- match builders ----------------------------------------------------------------------


def _build_comment(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--comment", "comment", fail)
    return CommentMatch(opts["--comment"][1][0])


def _build_mark(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--mark", "mark", fail)
    value, mask = cast(tuple[int, int], option_value(opts, "--mark", fail, parse_mark))
    return MarkMatch(value, mask, opts["--mark"][0])


def _build_connmark(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--mark", "connmark", fail)
    value, mask = cast(tuple[int, int], option_value(opts, "--mark", fail, parse_mark))
    return ConnmarkMatch(value, mask, opts["--mark"][0])


def _ctstates(text: str) -> tuple[CtState, ...]:
    return parse_names(text, CTSTATES, "conntrack state")


def _ctstatuses(text: str) -> tuple[CtStatus, ...]:
    return () if text.upper() == "NONE" else parse_names(text, CTSTATUSES, "conntrack status")


def _ctexpire(text: str) -> tuple[int, int]:
    low, colon, high = text.partition(":")
    first = parse_decimal(low)
    last = parse_decimal(high) if colon else first
    if last < first:
        raise ValueError(f"bad expiry range {text!r}")
    return first, last


def _build_conntrack(opts: Options, fail: Fail) -> Match:
    if not opts:
        fail("conntrack: at least one option is required", "--ctstate")
    ctdir = option_value(opts, "--ctdir", fail, str.upper)
    if ctdir not in (None, "ORIGINAL", "REPLY"):
        fail(f"unknown direction {ctdir!r}; use ORIGINAL or REPLY", "--ctdir")
    return ConntrackMatch(
        ctstate=negatable_option(opts, "--ctstate", fail, _ctstates),
        ctproto=negatable_option(opts, "--ctproto", fail, parse_protocol),
        ctorigsrc=negatable_option(opts, "--ctorigsrc", fail, parse_interface_address),
        ctorigdst=negatable_option(opts, "--ctorigdst", fail, parse_interface_address),
        ctreplsrc=negatable_option(opts, "--ctreplsrc", fail, parse_interface_address),
        ctrepldst=negatable_option(opts, "--ctrepldst", fail, parse_interface_address),
        ctorigsrcport=negatable_option(opts, "--ctorigsrcport", fail, parse_port_range),
        ctorigdstport=negatable_option(opts, "--ctorigdstport", fail, parse_port_range),
        ctreplsrcport=negatable_option(opts, "--ctreplsrcport", fail, parse_port_range),
        ctrepldstport=negatable_option(opts, "--ctrepldstport", fail, parse_port_range),
        ctstatus=negatable_option(opts, "--ctstatus", fail, _ctstatuses),
        ctexpire=negatable_option(opts, "--ctexpire", fail, _ctexpire),
        ctdir=cast(Literal["ORIGINAL", "REPLY"] | None, ctdir),
    )


def _states(text: str) -> tuple[State, ...]:
    return parse_names(text, STATES, "state")


def _build_state(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--state", "state", fail)
    return StateMatch(
        cast(tuple[State, ...], option_value(opts, "--state", fail, _states)), opts["--state"][0]
    )


def _build_statistic(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--mode", "statistic", fail)
    mode = opts["--mode"][1][0]
    negated = any(opts[o][0] for o in ("--probability", "--every") if o in opts)
    if mode == "random":
        if "--probability" not in opts:
            fail("--probability must be specified when using random mode", "--probability")
        for name in ("--every", "--packet"):
            if name in opts:
                fail(f"{name} can only be used in nth mode", name)
        text = opts["--probability"][1][0]
        probability = option_value(opts, "--probability", fail, _probability)
        return StatisticMatch("random", probability, text, negated=negated)
    if mode == "nth":
        if "--probability" in opts:
            fail("--probability can only be used in random mode", "--probability")
        require_option(opts, "--every", "statistic", fail)
        if "--packet" not in opts:
            fail('statistic: option "--every" also requires "--packet"', "--every")
        every = cast(
            int, option_value(opts, "--every", fail, lambda t: parse_decimal(t, U32_MAX, 1))
        )
        packet = cast(int, option_value(opts, "--packet", fail, parse_decimal))
        if packet >= every:
            fail(f"--packet {packet} must be below --every {every}", "--packet")
        return StatisticMatch("nth", every=every, packet=packet, negated=negated)
    fail(f"unknown mode {mode!r}; use random or nth", "--mode")


_RECENT_COMMANDS = ("set", "rcheck", "update", "remove")


def _build_recent(opts: Options, fail: Fail) -> Match:
    commands = [c for c in _RECENT_COMMANDS if f"--{c}" in opts]
    if not commands:
        fail("recent: specify one of --set, --rcheck, --update or --remove", "--rcheck")
    if len(commands) > 1:
        fail(f"--{commands[0]} cannot be used together with --{commands[1]}", f"--{commands[1]}")
    command = commands[0]
    if command in ("set", "remove"):
        for name in ("--seconds", "--hitcount", "--reap", "--rttl"):
            if name in opts:
                fail(f"{name} only works with --rcheck or --update", name)
    if "--reap" in opts and "--seconds" not in opts:
        fail('recent: option "--reap" also requires "--seconds"', "--reap")
    if "--rsource" in opts and "--rdest" in opts:
        fail("--rsource and --rdest cannot be used together", "--rdest")
    name = opts.get("--name", (False, ("DEFAULT",)))[1][0]
    if not name or len(name) > RECENT_NAME_MAX:
        fail(f"list name must be 1-{RECENT_NAME_MAX} characters", "--name")
    hitcount = option_value(opts, "--hitcount", fail, lambda t: parse_decimal(t, 255))
    return RecentMatch(
        command=cast(Literal["set", "rcheck", "update", "remove"], command),
        name=name,
        seconds=option_value(opts, "--seconds", fail, lambda t: parse_decimal(t, U32_MAX, 1)),
        reap="--reap" in opts,
        hitcount=hitcount or None,
        rttl="--rttl" in opts,
        mask=option_value(opts, "--mask", fail, parse_mask_address) or RECENT_DEFAULT_MASK,
        side="dest" if "--rdest" in opts else "source",
        negated=opts[f"--{command}"][0],
    )


def _build_set(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--match-set", "set", fail)
    negated, (name, flags) = opts["--match-set"]
    if not name or len(name) > SET_NAME_MAX:
        fail(f"set name must be 1-{SET_NAME_MAX} characters", "--match-set")
    directions = flags.split(",")
    if not 1 <= len(directions) <= SET_DIM_MAX or set(directions) - {"src", "dst"}:
        fail(f"bad set flags {flags!r}; use src or dst, comma separated", "--match-set")
    return SetMatch(name, tuple(cast(list[Literal["src", "dst"]], directions)), negated)


def _build_nfacct(opts: Options, fail: Fail) -> Match:
    require_option(opts, "--nfacct-name", "nfacct", fail)
    name = opts["--nfacct-name"][1][0]
    if not name or len(name) > NFACCT_NAME_MAX:
        fail(f"nfacct name must be 1-{NFACCT_NAME_MAX} characters", "--nfacct-name")
    return NfacctMatch(name)


def _build_limit(opts: Options, fail: Fail) -> Match:
    avg = option_value(opts, "--limit", fail, parse_limit_rate)
    burst = option_value(
        opts, "--limit-burst", fail, lambda t: parse_decimal(t, LIMIT_BURST_MAX, 1)
    )
    return LimitMatch(
        DEFAULT_LIMIT_AVG if avg is None else avg,
        DEFAULT_LIMIT_BURST if burst is None else burst,
    )


STATE_MATCH_BUILDERS: dict[str, Callable[[Options, Fail], Match]] = {
    "comment": _build_comment,
    "mark": _build_mark,
    "connmark": _build_connmark,
    "conntrack": _build_conntrack,
    "state": _build_state,
    "statistic": _build_statistic,
    "recent": _build_recent,
    "set": _build_set,
    "nfacct": _build_nfacct,
    "limit": _build_limit,
}
