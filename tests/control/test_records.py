"""The bulk paths of the control plane make the same values as the plain ones."""

from __future__ import annotations

import dataclasses
import gc
import ipaddress

import pytest

from netsim.control import endpoints, realize, workloads
from netsim.control.hostlocal import (
    MemoryStore,
    add_in_memory,
    allocate,
    canonicalize_range_set,
)
from netsim.control.records import gc_paused, slot_setters
from netsim.control.state import PodState
from netsim.errors import IPAMError
from netsim.model.objects import (
    Container,
    Endpoint,
    LabelSelector,
    Pod,
    PodTemplate,
    Workload,
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Checked:
    value: int

    def __post_init__(self) -> None:
        assert self.value >= 0


@dataclasses.dataclass(slots=True)
class _Mutable:
    value: int


@dataclasses.dataclass(frozen=True)
class _Unslotted:
    value: int


@pytest.mark.parametrize(
    ("cls", "names", "match"),
    [
        (_Checked, ("value",), "does more than set"),
        (_Mutable, ("value",), "does more than set"),
        (_Unslotted, ("value",), "not a slotted dataclass"),
        (Endpoint, ("address",), "has the fields"),
    ],
    ids=["post-init", "not-frozen", "no-slots", "missing-field"],
)
def test_slot_setters_refuse(cls: type, names: tuple[str, ...], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        slot_setters(cls, *names)


def test_fast_records_equal_the_constructors() -> None:
    template = PodTemplate(labels={"app": "web"}, containers=(Container("c"),))
    workload = Workload("Deployment", "shop", "web", 1, LabelSelector(), template, source="f")
    pod = workloads._pod(workload, "web-1", template, "ReplicaSet shop/web-x")
    assert pod == Pod("shop", "web-1", template, owner="ReplicaSet shop/web-x", source="f")
    assert repr(pod) == repr(
        Pod("shop", "web-1", template, owner="ReplicaSet shop/web-x", source="f")
    )
    ip = ipaddress.IPv4Address("10.244.1.2")
    state = realize._pod_state(pod, "node-1", ip, "abc", 24)
    assert state == PodState(pod, "node-1", ip, "abc", 24)
    endpoint = endpoints._endpoint(ip, True, True, False, "node-1", "z", "shop/web-1")
    assert endpoint == Endpoint(ip, True, True, False, "node-1", "z", "shop/web-1")


def test_add_in_memory_is_allocate() -> None:
    """The simulator's ADD reserves and fails exactly as ``allocate``."""
    range_set = canonicalize_range_set([{"subnet": "10.99.0.0/29"}], 0)
    plain, fast = MemoryStore(), MemoryStore()
    for step in range(8):
        cid = f"c{step % 7}"
        try:
            (allocation,) = allocate(plain, [range_set], cid, "eth0")
            expected: object = str(allocation.address)
        except IPAMError as exc:
            expected = exc.msg
        try:
            n, taken_from = add_in_memory(fast, range_set, cid, "eth0")
            got: object = f"{ipaddress.IPv4Address(n)}/{taken_from.subnet.prefixlen}"
        except IPAMError as exc:
            got = exc.msg
        assert got == expected, step
    assert fast.last_reserved_ip(0) == plain.last_reserved_ip(0)


def test_gc_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    seen = []

    def fail() -> None:
        with gc_paused():
            seen.append(gc.isenabled())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    assert seen == [False]
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
