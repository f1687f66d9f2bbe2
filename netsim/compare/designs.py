"""The designs being compared: one cluster realized in several modes, or several files.

A :class:`Design` is a name, the realized cluster and its built dataplane.
:func:`designs_in_modes` realizes one :class:`~netsim.model.spec.ClusterSpec`
in each pod-network mode asked for (the topology's ``pod_network.mode``
replaced, every other option kept); :func:`designs_from_files` loads each
file in its own mode. A mode the underlay cannot serve (``l2`` or
``host-gw`` over several subnets) is not an error here but a
:class:`~netsim.compare.model.RefusedDesign` with the builder's reason: that
refusal is itself part of the comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from netsim.compare.model import RefusedDesign
from netsim.control.realize import realize
from netsim.control.state import ClusterState
from netsim.dataplane.build import build_dataplane
from netsim.dataplane.devices import Dataplane
from netsim.errors import InputError, TopologyError
from netsim.model.spec import ClusterSpec, load_cluster
from netsim.model.topology import PodNetworkMode

__all__ = [
    "Design",
    "build_design",
    "designs_from_files",
    "designs_in_modes",
    "parse_modes",
    "spec_in_mode",
]


@dataclass(frozen=True, slots=True)
class Design:
    """One design: its name (the mode, or the file's stem), source file, cluster, dataplane."""

    name: str
    source: str
    state: ClusterState
    dataplane: Dataplane

    @property
    def mode(self) -> PodNetworkMode:
        """The pod-network mode."""
        return self.state.topology.pod_network.mode


def parse_modes(text: str) -> tuple[PodNetworkMode, ...]:
    """``--modes l2,vxlan`` as modes, in the order given, each once.

    >>> parse_modes("vxlan, l2")
    (<PodNetworkMode.VXLAN: 'vxlan'>, <PodNetworkMode.L2: 'l2'>)

    Raises:
        InputError: an unknown or repeated mode, or none.
    """
    known = ", ".join(m.value for m in PodNetworkMode)
    modes: list[PodNetworkMode] = []
    for word in (w.strip() for w in text.split(",")):
        try:
            mode = PodNetworkMode(word)
        except ValueError:
            raise InputError(f"--modes: unknown mode {word!r}; use some of: {known}") from None
        if mode in modes:
            raise InputError(f"--modes: {word!r} given twice")
        modes.append(mode)
    return tuple(modes)


def spec_in_mode(spec: ClusterSpec, mode: PodNetworkMode) -> ClusterSpec:
    """The same cluster with ``pod_network.mode`` set to ``mode``."""
    pod_network = replace(spec.topology.pod_network, mode=mode)
    return replace(spec, topology=replace(spec.topology, pod_network=pod_network))


def build_design(name: str, source: str, spec: ClusterSpec) -> Design | RefusedDesign:
    """Realize and build ``spec``; a mode the underlay cannot serve is a refusal."""
    state = realize(spec)
    try:
        dataplane = build_dataplane(state)
    except TopologyError as exc:
        return RefusedDesign(name, exc.message)
    return Design(name, source, state, dataplane)


def designs_in_modes(
    spec: ClusterSpec, modes: Sequence[PodNetworkMode]
) -> tuple[tuple[Design, ...], tuple[RefusedDesign, ...]]:
    """``spec`` built in each mode: the designs and the refusals."""
    built = [build_design(m.value, spec.topology.source, spec_in_mode(spec, m)) for m in modes]
    return _split(built)


def designs_from_files(
    paths: Sequence[Path],
) -> tuple[tuple[Design, ...], tuple[RefusedDesign, ...]]:
    """Each file loaded and built in its own mode, named by its stem (or path if stems clash).

    Raises:
        InputError: a file is invalid (as ``load_cluster`` raises it).
    """
    stems = [p.stem for p in paths]
    names = [str(p) if stems.count(p.stem) > 1 else p.stem for p in paths]
    built = [build_design(n, str(p), load_cluster(p)) for n, p in zip(names, paths, strict=True)]
    return _split(built)


def _split(
    built: Sequence[Design | RefusedDesign],
) -> tuple[tuple[Design, ...], tuple[RefusedDesign, ...]]:
    designs = tuple(d for d in built if isinstance(d, Design))
    refused = tuple(d for d in built if isinstance(d, RefusedDesign))
    return designs, refused
