"""``Dataplane.namespaces`` at scale: node and pod namespaces frozen on first access.

A cluster of 5,000 nodes has 150,000 pod namespaces; freezing them all costs
seconds and gigabytes, and most callers look at a few. :class:`LazyNamespaces`
is the read-only mapping ``build_dataplane`` hands out: the same keys in the
same order as freezing everything would give, the same values. A node's root
namespace and its pods' namespaces are made together, the first time any of
them is looked up (``materialize(node name)`` fills them in), and kept.

Iterating ``values()`` or ``items()`` freezes everything, as it must.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netsim.dataplane.devices import NetworkNamespace

__all__ = ["LazyNamespaces"]


class LazyNamespaces(Mapping[str, "NetworkNamespace"]):
    """A read-only ``{netns id: NetworkNamespace}`` whose node groups freeze on first access.

    Args:
        groups: every key in order, with the node whose group makes it (``None``
            for a namespace frozen already).
        frozen: the namespaces frozen already; ``materialize`` adds to it.
        materialize: freezes one node's group into ``frozen``.
    """

    __slots__ = ("_frozen", "_groups", "_materialize", "_members")

    def __init__(
        self,
        groups: dict[str, str | None],
        frozen: dict[str, NetworkNamespace],
        materialize: Callable[[str], None],
    ) -> None:
        self._groups = groups
        self._frozen = frozen
        self._materialize = materialize
        members: dict[str, list[str]] = {}
        for key, group in groups.items():
            if group is not None:
                members.setdefault(group, []).append(key)
        self._members = members

    def __getitem__(self, key: str) -> NetworkNamespace:
        found = self._frozen.get(key)
        if found is not None:
            return found
        group = self._groups.get(key)
        if group is None:
            raise KeyError(key)
        self._materialize(group)
        return self._frozen[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)

    def __contains__(self, key: object) -> bool:
        return key in self._groups

    def __repr__(self) -> str:
        return f"<LazyNamespaces: {len(self)} namespaces, {len(self._frozen)} frozen>"

    def keys_of_group(self, node: str) -> list[str]:
        """The keys a node's group makes: its root namespace, then its pods' (CNI ADD order)."""
        return list(self._members.get(node, ()))

    def frozen_count(self) -> int:
        """How many namespaces are frozen so far."""
        return len(self._frozen)
