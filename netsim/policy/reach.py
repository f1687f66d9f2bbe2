"""Who can reach whom: the NetworkPolicy verdict of every (source, destination, port).

:func:`reachability` judges direct pod-IP traffic, i.e. what NetworkPolicy
judges: a connection from a source (every placed non-hostNetwork pod, every
node as ``node:NAME``, every external client as ``ext:NAME``) to a
destination pod's own IP on one of its declared container ports. A
connection is allowed iff the source may send it (egress, judged for pods
only) and the destination may receive it (ingress), each decided by
:func:`netsim.policy.semantics.evaluate`.

It is computed on equivalence classes, not pairs, so it stays fast at scale.
What a policy can see of an endpoint is:

* for isolation (the pod whose policies are judged): the policies that
  select it for the direction (its namespace and labels) and, for ingress,
  its declared ports (named ports resolve against them);
* as the other end: which ``from``/``to`` peers of all policies it matches
  (selectors: namespace labels, labels, is it a pod; ``ipBlock``: its
  address) and, as an egress destination, its declared ports.

Each of the four is interned to a small integer: an *ingress profile*
(isolating ingress policies + ports), a *source signature* (the set of
ingress peers it matches, ipBlocks included, so pods are partitioned by the
ipBlocks their IP falls in), an *egress profile* (isolating egress policies)
and a *destination signature* (egress peers matched + ports). The build
evaluates one representative per (profile, signature, port); a pair is two
table lookups (:func:`query`; :func:`is_allowed` on a :func:`pair_index` says
only allowed or not, without the explanation, from one verdict table per
destination class). Traffic
between a node and its own pods is always allowed and is decided per pair (it
depends on the node, not the class).

Addresses: a pod sends from its own IP; a node sends to its own pods from its
``cni0`` address (its gateway) and to other pods from the address of the
device its route uses (:data:`NODE_SOURCE_ADDRESS`: ``cni0`` in l2, the
underlay IP in l3, ``flannel.1`` in vxlan), which is what an ``ipBlock``
judges; an external client from its IP. Not modelled: traffic through Services or
NodePorts (DNAT picks the endpoint, masquerading changes the source the
destination judges: see ``netsim trace``), hostNetwork pods (never selected;
neither sources nor destinations here), a pod reaching itself (over ``lo``,
never judged), ports a destination does not declare unless asked for.

Where it lives: the values and the build in :mod:`netsim.policy.reach_matrix`,
reading one pair or every cell in :mod:`netsim.policy.reach_query`, the
fast allowed-or-not index in :mod:`netsim.policy.reach_index`; this module
re-exports their names.
"""

from __future__ import annotations

from netsim.policy.reach_index import PairIndex, is_allowed, pair_index
from netsim.policy.reach_matrix import (
    NODE_SOURCE_ADDRESS,
    EndpointKind,
    PortKey,
    ReachCell,
    ReachEndpoint,
    ReachMatrix,
    reachability,
)
from netsim.policy.reach_query import NOT_JUDGED, SELF, cells, query, select_endpoints

__all__ = [
    "NODE_SOURCE_ADDRESS",
    "NOT_JUDGED",
    "SELF",
    "EndpointKind",
    "PairIndex",
    "PortKey",
    "ReachCell",
    "ReachEndpoint",
    "ReachMatrix",
    "cells",
    "is_allowed",
    "pair_index",
    "query",
    "reachability",
    "select_endpoints",
]
