"""Netfilter: iptables rulesets as typed values, and packets evaluated through them.

* ``ruleset`` (with ``values``, ``matches``, ``targets``): the model
  (``Ruleset`` → ``Table`` → ``Chain`` → ``Rule`` with typed matches and targets).
* ``parse`` (with ``lexer``, ``parse_rule``, ``parse_matches`` with
  ``parse_packet_matches`` and ``parse_state_matches``, ``parse_targets``, ``checks``):
  ``parse_iptables_save``, which reads a dump or a restore payload as iptables
  1.8.9 and the kernel would, or says why not; ``parse_lazy``: the same, a
  chain at a time as chains are read.
* ``render`` (with ``render_matches``): ``render_iptables_save``, exactly as
  ``iptables-save`` prints.
* ``evaluate`` (with ``packet``, ``conntrack``, ``recent``, ``matching`` with
  ``state_matching``,
  ``compiled`` with ``compiled_rules``, ``compiler``, ``first_match``, ``walk``,
  ``nat``): ``evaluate_hook`` runs a packet through one
  hook in kernel order with conntrack and NAT.
* ``node``, ``diff``: a node's predicted ruleset, and its comparison with a dump.

IPv6 (ip6tables) is not modelled. See docs/iptables.md and docs/netfilter.md.
"""
