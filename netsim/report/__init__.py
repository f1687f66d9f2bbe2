"""Renderers: pure functions from results to text, JSON-ready data and diagrams.

A renderer never computes: it formats what the pipeline produced.
"""
