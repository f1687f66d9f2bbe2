"""Control-plane simulation: from the declared ClusterSpec to the realized ClusterState.

Scheduler, node IPAM (podCIDRs), CNI with host-local IPAM, Service IP and
NodePort allocation, the EndpointSlice controller and workload controllers.
"""
