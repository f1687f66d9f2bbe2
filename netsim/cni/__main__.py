"""``python -m netsim.cni``: run as a CNI IPAM plugin (host-local semantics)."""

from netsim.cni.plugin import run

run()
