"""Every ``-m`` match module netsim models, with its option table and builder.

The registry the rule reader looks a module up in: ``MATCH_OPTIONS`` (module
name -> option table: alias -> canonical name, number of arguments, whether
``!`` may precede it, as the module's libxt_*.c declares them) and
``MATCH_BUILDERS`` (module name -> the builder that turns the options a rule
gave the module into the match value, normalised as the kernel stores it, or
refuses them with libxt_*.c's words). ``IMPLICIT_MATCHES`` names the protocol
match iptables loads by itself for ``-p tcp --dport 80``.

Not here: each module's table and builder, which live by what the module
tests: the packet's headers and path (``netsim.netfilter.parse_packet_matches``)
or state kept beside it (``netsim.netfilter.parse_state_matches``); which
module an option belongs to and where in a rule it stands
(``netsim.netfilter.parse_rule``), the hooks and protocols a match needs
(``netsim.netfilter.checks``), and options of modules netsim does not model.
"""

from __future__ import annotations

from collections.abc import Callable

from netsim.netfilter.lexer import ICMP, SCTP, TCP, UDP, Fail, Options, OptionSpec
from netsim.netfilter.matches import Match
from netsim.netfilter.parse_packet_matches import PACKET_MATCH_BUILDERS, PACKET_MATCH_OPTIONS
from netsim.netfilter.parse_state_matches import STATE_MATCH_BUILDERS, STATE_MATCH_OPTIONS

__all__ = ["IMPLICIT_MATCHES", "MATCH_BUILDERS", "MATCH_OPTIONS"]

MATCH_OPTIONS: dict[str, OptionSpec] = {**PACKET_MATCH_OPTIONS, **STATE_MATCH_OPTIONS}

MATCH_BUILDERS: dict[str, Callable[[Options, Fail], Match]] = {
    **PACKET_MATCH_BUILDERS,
    **STATE_MATCH_BUILDERS,
}

#: Protocol matches iptables loads by itself for ``-p PROTO --dport ...``.
IMPLICIT_MATCHES = {TCP: "tcp", UDP: "udp", SCTP: "sctp", ICMP: "icmp"}
