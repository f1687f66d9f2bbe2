"""A ruleset prepared for evaluation: rule tests as callables, long chains indexed.

``compile_ruleset`` turns each rule into the sequence of tests the kernel
runs for it — the built-in ``-s/-d/-i/-o/-p/-f`` tests first
(``ip_packet_match``), then each ``-m`` match in rule order — dropping
``-m comment`` (it always matches and changes nothing).

A chain of ``INDEX_MIN_RULES`` rules or more is indexed the way a long
``KUBE-SERVICES`` chain needs: every rule that tests exactly one destination
address (``-d A/32``), one port protocol (``-p tcp|udp|sctp``) and one
destination port (``--dport P``) goes into a bucket keyed by
``(A, protocol, P)``; a rule testing the protocol and port but no address
(``KUBE-NODEPORTS``) into the bucket ``(any, protocol, P)``; every other rule
is "always a candidate". A packet's candidates are its address's bucket (or,
without one, the any-address bucket of its port), the any-address rules of its
port and the always-candidates, merged in rule order, so
first-match semantics and rule positions are exactly those of a linear walk:
a rule left out can never match the packet. Rules reached through their
bucket skip the three tests the key already decided.

``first_match_index`` is the index at work on its own: the position of the
first rule of a chain that matches a packet (statistic and recent count as
matching, see its docstring).

Where it lives: the compiled values and their cached texts in
:mod:`netsim.netfilter.compiled_rules`, compiling in
:mod:`netsim.netfilter.compiler`, the candidate search in
:mod:`netsim.netfilter.first_match`; this module re-exports their names.
"""

from __future__ import annotations

from netsim.netfilter.compiled_rules import (
    CheckKind,
    CompiledChain,
    CompiledRule,
    CompiledRuleset,
    CompiledTable,
    RuleCheck,
    describe_check,
    rule_text,
)
from netsim.netfilter.compiler import (
    INDEX_MIN_RULES,
    ChainOverlay,
    LazyChains,
    compile_all,
    compile_ruleset,
    compile_tables,
    overlay_compiled,
)
from netsim.netfilter.first_match import candidates, first_match_index

__all__ = [
    "INDEX_MIN_RULES",
    "ChainOverlay",
    "CheckKind",
    "CompiledChain",
    "CompiledRule",
    "CompiledRuleset",
    "CompiledTable",
    "LazyChains",
    "RuleCheck",
    "candidates",
    "compile_all",
    "compile_ruleset",
    "compile_tables",
    "describe_check",
    "first_match_index",
    "overlay_compiled",
    "rule_text",
]
