"""Making records in bulk: frozen dataclasses through their slots, the collector paused.

* A frozen dataclass's ``__init__`` sets each field through
  ``object.__setattr__``, which looks the name up on every call; realizing a
  cluster at scale makes 150,000 pods, pod states and endpoints that way. The
  slot descriptors' own setters skip the lookup (about half the cost). The
  control plane builds those records with :func:`slot_setters` in functions
  that set every field, and tests check that they equal the constructor's.
  Only for classes whose ``__init__`` does nothing else: no ``__post_init__``,
  every field set by ``__init__``.
* :func:`gc_paused`: the cyclic collector would walk the young records again
  and again while hundreds of thousands are made (none of which is garbage);
  ``realize`` and ``build_dataplane`` pause it and restore it afterwards.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["gc_paused", "slot_setters"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector for the block; re-enable it after (exceptions
    included) if it was enabled.

    >>> with gc_paused():
    ...     gc.isenabled()
    False
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of ``cls``'s slots, in the order of ``names`` (every field, once).

    >>> @dataclasses.dataclass(frozen=True, slots=True)
    ... class Point:
    ...     x: int
    ...     y: int = 0
    >>> set_x, set_y = slot_setters(Point, "x", "y")
    >>> point = object.__new__(Point)
    >>> set_x(point, 1); set_y(point, 0)
    >>> point == Point(1)
    True

    Raises:
        TypeError: ``cls`` is not a frozen, slotted dataclass whose ``__init__`` only
            sets its fields, or ``names`` are not exactly its fields.
    """
    if not dataclasses.is_dataclass(cls) or "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    fields = dataclasses.fields(cls)
    if (
        hasattr(cls, "__post_init__")
        or not cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        or any(not f.init for f in fields)
    ):
        raise TypeError(f"{cls.__name__}.__init__ does more than set its fields")
    if sorted(names) != sorted(f.name for f in fields):
        raise TypeError(f"{cls.__name__} has the fields {', '.join(f.name for f in fields)}")
    slots = vars(cls)
    return tuple(slots[name].__set__ for name in names)
