"""``netsim lab``: the modelled cluster built from real Linux network namespaces.

One module per concept: :mod:`~netsim.lab.names` (prefix, real names, state
file), :mod:`~netsim.lab.kernel` (running ``ip``/``iptables``),
:mod:`~netsim.lab.build` (namespaces and devices from a Dataplane),
:mod:`~netsim.lab.rules` (kube-proxy, CNI and NetworkPolicy iptables),
:mod:`~netsim.lab.lifecycle` (up, down, status), :mod:`~netsim.lab.agent`
(listener and prober run inside a namespace), :mod:`~netsim.lab.probe`,
:mod:`~netsim.lab.flows` (probe sets), :mod:`~netsim.lab.verify` (kernel
against simulation), :mod:`~netsim.lab.random_cluster`. See docs/lab.md.

This package imports nothing on purpose: the agent starts in every namespace
and must start fast.
"""
