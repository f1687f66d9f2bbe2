"""Declared objects: the topology file and the Kubernetes manifests it names.

This package knows Nodes, Pods and Services, never interfaces or chains.
"""
