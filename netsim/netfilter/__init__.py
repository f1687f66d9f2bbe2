"""Netfilter: iptables rulesets as typed values, read from and written as ``iptables-save``.

* ``netsim.netfilter.ruleset``: the model (``Ruleset`` → ``Table`` → ``Chain`` →
  ``Rule`` with typed matches and targets) and its lookups.
* ``netsim.netfilter.parse``: ``parse_iptables_save``, which reads a dump or a
  restore payload as iptables 1.8.9 and the kernel would, or says why not.
* ``netsim.netfilter.render``: ``render_iptables_save``, which prints a ruleset
  exactly as ``iptables-save`` (1.8.9, nf_tables backend) does.

Evaluating rules against packets and conntrack is not here yet. IPv6
(ip6tables) is not modelled. See docs/iptables.md.
"""
