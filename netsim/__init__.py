"""netsim: a Kubernetes network model and packet-path tracer.

The pipeline runs one way: ``load`` (topology + manifests -> ClusterSpec),
``realize`` (control-plane simulation -> ClusterState), ``build``
(pod-network mode -> Dataplane), ``trace``/``analyze``, ``render``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
