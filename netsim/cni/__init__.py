"""The CNI protocol layer: ``netsim cni`` / ``python -m netsim.cni`` as a host-local IPAM plugin.

See :mod:`netsim.cni.plugin` for what is modelled and ``docs/cni.md`` for installation.
"""
