"""The dataplane: what the hosts' kernels hold (devices, routes, neighbours, FDB, chains).

Modules here model the kernel's tables as frozen values and answer lookups on
them; the model of the cluster (Pods, Services) lives in :mod:`netsim.model`.
:func:`netsim.dataplane.build.build_dataplane` builds every namespace of a
cluster (``docs/dataplane.md``). The only place Services appear is the graph
index's virtual service network (:mod:`netsim.dataplane.graph`), read from the
ClusterState for display, never for forwarding.
"""
