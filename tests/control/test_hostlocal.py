"""host-local allocator: the reference plugin's verified vectors on both stores."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, ip_address
from pathlib import Path

import pytest

from netsim.control import hostlocal
from netsim.control.hostlocal import (
    Allocation,
    DiskStore,
    IPAddress,
    MemoryStore,
    RangeSet,
    Store,
    allocate,
    canonicalize_range_set,
    canonicalize_range_sets,
    check,
    cidr_text,
    parse_cidr,
    parse_ip,
    range_set_text,
    release,
)
from netsim.errors import IPAMError

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["memory", "disk"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Each test runs on a MemoryStore and on a DiskStore in a temporary dataDir."""
    opened: list[DiskStore] = []

    def factory() -> Store:
        if request.param == "memory":
            return MemoryStore()
        store = DiskStore(tmp_path, "testnet")
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


def sets(*raw_sets: Sequence[Mapping[str, str]]) -> tuple[RangeSet, ...]:
    return canonicalize_range_sets(raw_sets)


def addresses(allocations: Sequence[Allocation]) -> list[str]:
    return [str(a.address) for a in allocations]


def add(store: Store, range_sets: Sequence[RangeSet], cid: str, ifname: str = "eth0") -> str:
    return ",".join(addresses(allocate(store, range_sets, cid, ifname)))


CONFIG_A = sets([{"subnet": "10.99.0.0/29"}])
CONFIG_B = sets(
    [
        {
            "subnet": "10.98.0.0/28",
            "rangeStart": "10.98.0.10",
            "rangeEnd": "10.98.0.12",
            "gateway": "10.98.0.11",
        },
        {"subnet": "10.98.1.0/30"},
    ]
)


def test_pinned_public_api() -> None:
    assert sorted(hostlocal.__all__) == sorted(
        [
            "DEFAULT_DATA_DIR",
            "ERR_INTERNAL",
            "GO_SPACE",
            "LAST_RESERVED_IP_PREFIX",
            "LINE_BREAK",
            "LOCK_FILE",
            "Allocation",
            "DiskStore",
            "IPAddress",
            "IPInterface",
            "IPNetwork",
            "MemoryStore",
            "ParsedCIDR",
            "Range",
            "RangeSet",
            "Store",
            "allocate",
            "canonicalize_range_set",
            "canonicalize_range_sets",
            "check",
            "check_range_sets_disjoint",
            "cidr_text",
            "go_trim_space",
            "parse_cidr",
            "parse_ip",
            "range_contains",
            "range_set_contains",
            "range_set_text",
            "range_text",
            "release",
        ]
    )


def test_config_a_vectors(make_store: StoreFactory) -> None:
    """Spec vectors 1-10: round robin, duplicate ADD, DEL, wrap past the gateway, exhaustion."""
    store = make_store()
    assert [add(store, CONFIG_A, c) for c in ("c1", "c2", "c3")] == [
        "10.99.0.2/29",
        "10.99.0.3/29",
        "10.99.0.4/29",
    ]
    assert store.last_reserved_ip(0) == IPv4Address("10.99.0.4")
    with pytest.raises(
        IPAMError,
        match=r"^failed to allocate for range 0: 10\.99\.0\.2 has been allocated to c1,"
        r" duplicate allocation is not allowed$",
    ):
        add(store, CONFIG_A, "c1")
    assert add(store, CONFIG_A, "c1", "eth1") == "10.99.0.5/29"
    release(store, "c2", "eth0")
    release(store, "c2", "eth0")
    assert store.last_reserved_ip(0) == IPv4Address("10.99.0.5")
    assert add(store, CONFIG_A, "c2") == "10.99.0.6/29"
    assert add(store, CONFIG_A, "c4") == "10.99.0.3/29"
    with pytest.raises(
        IPAMError,
        match=r"^failed to allocate for range 0: no IP addresses available in range set:"
        r" 10\.99\.0\.1-10\.99\.0\.6$",
    ) as caught:
        add(store, CONFIG_A, "c5")
    assert caught.value.code == 999
    release(store, "c1", "eth0")
    assert add(store, CONFIG_A, "c7") == "10.99.0.2/29"


def test_config_b_vectors(make_store: StoreFactory) -> None:
    """Multi-range set with explicit gateway; requested IPs."""
    store = make_store()
    first = allocate(store, CONFIG_B, "a1", "eth0")
    assert first == (Allocation(IPv4Interface("10.98.0.10/28"), IPv4Address("10.98.0.11"), 0),)
    assert [add(store, CONFIG_B, c) for c in ("a2", "a3")] == ["10.98.0.12/28", "10.98.1.2/30"]
    with pytest.raises(
        IPAMError,
        match=r"no IP addresses available in range set: 10\.98\.0\.10-10\.98\.0\.12,10\.98\.1\.1-10\.98\.1\.2$",
    ):
        add(store, CONFIG_B, "a4")
    release(store, "a1", "eth0")
    (again,) = allocate(store, CONFIG_B, "a5", "eth0", [IPv4Address("10.98.0.10")])
    assert str(again.address) == "10.98.0.10/28"
    assert store.last_reserved_ip(0) == IPv4Address("10.98.0.10")


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        pytest.param(
            "10.98.0.11",
            r"^failed to allocate for range 0: requested ip 10\.98\.0\.11 is subnet's gateway$",
            id="gateway",
        ),
        pytest.param(
            "10.98.0.12",
            r"^failed to allocate for range 0: requested IP address 10\.98\.0\.12 is not"
            r" available in range set 10\.98\.0\.10-10\.98\.0\.12,10\.98\.1\.1-10\.98\.1\.2$",
            id="taken",
        ),
        pytest.param(
            "10.98.0.13", r"^failed to allocate all requested IPs: 10\.98\.0\.13$", id="outside"
        ),
    ],
)
def test_requested_ip_errors(make_store: StoreFactory, requested: str, message: str) -> None:
    store = make_store()
    add(store, CONFIG_B, "a1")
    add(store, CONFIG_B, "a2")
    with pytest.raises(IPAMError, match=message):
        allocate(store, CONFIG_B, "r", "eth0", [ip_address(requested)])
    assert store.get_by_id("r", "eth0") == ()


def test_dual_stack_and_rollback(make_store: StoreFactory) -> None:
    store = make_store()
    dual = sets([{"subnet": "10.96.100.0/30"}], [{"subnet": "fd00:99::/126"}])
    assert add(store, dual, "d1") == "10.96.100.2/30,fd00:99::2/126"
    assert store.last_reserved_ip(1) == IPv6Address("fd00:99::2")
    with pytest.raises(IPAMError, match=r"^failed to allocate for range 0: no IP addresses"):
        add(store, dual, "d2")
    assert store.get_by_id("d2", "eth0") == ()
    # Set 0 succeeds, set 1 fails: set 0's address is given back.
    roomy = sets([{"subnet": "10.96.101.0/29"}], [{"subnet": "fd00:99::/126"}])
    assert add(store, roomy, "d4") == "10.96.101.2/29,fd00:99::3/126"
    with pytest.raises(IPAMError, match=r"^failed to allocate for range 1: no IP addresses"):
        add(store, roomy, "d3")
    assert store.get_by_id("d3", "eth0") == ()


def test_rollback_releases_everything_the_attachment_holds(make_store: StoreFactory) -> None:
    """As the reference: the rollback is ReleaseByID, which also frees earlier ADDs."""
    store = make_store()
    two = sets([{"subnet": "10.10.0.0/29"}], [{"subnet": "10.11.0.0/29"}])
    add(store, two, "a")
    with pytest.raises(IPAMError, match="duplicate allocation"):
        allocate(store, two, "a", "eth0", [IPv4Address("10.10.0.6")])
    assert store.get_by_id("a", "eth0") == ()


def test_requested_ip_skips_the_duplicate_check(make_store: StoreFactory) -> None:
    store = make_store()
    one = sets([{"subnet": "10.10.0.0/29"}])
    add(store, one, "a")
    allocate(store, one, "a", "eth0", [IPv4Address("10.10.0.6")])
    assert store.get_by_id("a", "eth0") == (IPv4Address("10.10.0.2"), IPv4Address("10.10.0.6"))


def test_walk_crosses_ranges_and_skips_each_gateway(make_store: StoreFactory) -> None:
    store = make_store()
    multi = sets(
        [
            {"subnet": "10.10.0.0/29", "rangeStart": "10.10.0.3", "gateway": "10.10.0.4"},
            {"subnet": "10.10.1.0/30"},
        ]
    )
    got = [add(store, multi, f"m{i}") for i in range(4)]
    assert got == ["10.10.0.3/29", "10.10.0.5/29", "10.10.0.6/29", "10.10.1.2/30"]
    release(store, "m0", "eth0")
    assert add(store, multi, "n") == "10.10.0.3/29"


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        pytest.param("10.10.0.9", "10.10.0.2/29", id="outside-set"),
        pytest.param("10.10.0.6", "10.10.0.2/29", id="range-end-wraps"),
        pytest.param("10.10.0.3", "10.10.0.4/29", id="after-last"),
    ],
)
def test_walk_starts_after_last_reserved(last: str, expected: str) -> None:
    store = MemoryStore()
    one = sets([{"subnet": "10.10.0.0/29"}])
    store.reserve("seed", "eth0", IPv4Address(last), 0)
    release(store, "seed", "eth0")
    assert add(store, one, "a") == expected


def test_check_and_release(make_store: StoreFactory) -> None:
    store = make_store()
    add(store, CONFIG_A, "c1")
    check(store, "c1", "eth0")
    with pytest.raises(
        IPAMError, match=r"^host-local: Failed to find address added by container c1$"
    ):
        check(store, "c1", "eth1")
    release(store, "c1", "eth0")
    with pytest.raises(IPAMError, match="Failed to find address"):
        check(store, "c1", "eth0")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            [{"subnet": "10.97.0.0/31"}], "Network 10.97.0.0/31 too small to allocate from", id="31"
        ),
        pytest.param(
            [{"subnet": "10.97.0.1/31"}],
            "Network 10.97.0.1/31 too small to allocate from",
            id="31h",
        ),
        pytest.param(
            [{"subnet": "fd00::/127"}], "Network fd00::/127 too small to allocate from", id="127"
        ),
        pytest.param(
            [{"subnet": "10.97.0.1/29"}],
            "Network has host bits set. For a subnet mask of length 29 the network address is"
            " 10.97.0.0",
            id="host-bits",
        ),
        pytest.param(
            [{"subnet": "::ffff:10.0.0.0/120"}], "IPNet IP and Mask version mismatch", id="mapped"
        ),
        pytest.param(
            [{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "rangeEnd": "10.0.0.5"}],
            "RangeStart 10.0.0.10 not in network 10.0.0.0/24",
            id="start-after-end",
        ),
        pytest.param(
            [{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.1.10"}],
            "RangeEnd 10.0.1.10 not in network 10.0.0.0/24",
            id="end-outside",
        ),
        pytest.param(
            [{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}], "mixed address families", id="mix"
        ),
        pytest.param(
            [{"subnet": "10.0.0.0/24"}, {"subnet": "10.0.0.0/25"}],
            "subnets 10.0.0.1-10.0.0.254 and 10.0.0.1-10.0.0.126 overlap",
            id="overlap",
        ),
        pytest.param([], "empty range set", id="empty"),
        pytest.param([{}], "IP <nil> not v4 nor v6", id="no-subnet"),
        pytest.param(
            [{"subnet": "0.0.0.0/30"}], "Network 0.0.0.0/30 starts with a zero byte", id="zero-byte"
        ),
        pytest.param(
            [{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.255"}],
            "rangeStart 10.0.0.255 is after the default rangeEnd 10.0.0.254",
            id="start-broadcast",
        ),
    ],
)
def test_canonicalize_errors(raw: list[dict[str, str]], message: str) -> None:
    with pytest.raises(IPAMError, match=r"^invalid range set 3: " + re.escape(message)):
        canonicalize_range_set(raw, 3)


def test_canonicalize_defaults() -> None:
    (v4,) = canonicalize_range_set([{"subnet": "10.0.0.0/24", "gateway": ""}], 0)
    assert (str(v4.range_start), str(v4.range_end), str(v4.gateway)) == (
        "10.0.0.1",
        "10.0.0.254",
        "10.0.0.1",
    )
    (v6,) = canonicalize_range_set([{"subnet": "fd00::/120"}], 0)
    assert (str(v6.range_start), str(v6.range_end)) == ("fd00::1", "fd00::ff")
    assert range_set_text((v4, v6)) == "10.0.0.1-10.0.0.254,fd00::1-fd00::ff"


def test_range_sets_must_not_overlap() -> None:
    with pytest.raises(IPAMError, match=r"^range set 0 overlaps with 2$"):
        sets(
            [{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.1.0/25"}], [{"subnet": "10.0.0.128/25"}]
        )
    with pytest.raises(IPAMError, match=r"^no IP ranges specified$"):
        canonicalize_range_sets([])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("10.0.0.1", IPv4Address("10.0.0.1"), id="v4"),
        pytest.param("::ffff:10.0.0.1", IPv4Address("10.0.0.1"), id="mapped"),
        pytest.param("FD00::1", IPv6Address("fd00::1"), id="v6"),
        pytest.param("010.0.0.1", None, id="leading-zero"),
        pytest.param("fe80::1%eth0", None, id="zone"),
        pytest.param(" 10.0.0.1", None, id="space"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_ip(text: str, expected: IPAddress | None) -> None:
    assert parse_ip(text) == expected


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        pytest.param("10.0.0.0/024", "10.0.0.0/24", id="leading-zero-prefix"),
        pytest.param("10.1.0.5/16", "10.1.0.5/16", id="host-bits-kept"),
        pytest.param("::ffff:10.1.0.5/112", "10.1.0.5/16", id="mapped"),
        pytest.param("::ffff:10.1.0.5/64", "10.1.0.5/0", id="mapped-short"),
        pytest.param("fd00::/120", "fd00::/120", id="v6"),
        pytest.param("10.0.0.0/33", None, id="too-long"),
        pytest.param("10.0.0.0/+8", None, id="sign"),
        pytest.param("10.0.0.0", None, id="no-prefix"),
        pytest.param("10.0.0.0/24/5", None, id="two-slashes"),
    ],
)
def test_parse_cidr(text: str, printed: str | None) -> None:
    cidr = parse_cidr(text)
    assert (cidr_text(cidr) if cidr is not None else None) == printed


def test_disk_store_layout(tmp_path: Path) -> None:
    with DiskStore(tmp_path, "testnet") as store:
        add(store, CONFIG_A, "c1")
        add(store, CONFIG_A, " c2 ", "net1")
    directory = tmp_path / "testnet"
    assert sorted(p.name for p in directory.iterdir()) == [
        "10.99.0.2",
        "10.99.0.3",
        "last_reserved_ip.0",
        "lock",
    ]
    assert (directory / "10.99.0.2").read_bytes() == b"c1\r\neth0"
    assert (directory / "10.99.0.3").read_bytes() == b"c2\r\nnet1"
    assert (directory / "last_reserved_ip.0").read_bytes() == b"10.99.0.3"
    assert oct((directory / "lock").stat().st_mode & 0o777) == oct(0o750 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_disk_store_reads_old_files_and_subdirectories(tmp_path: Path) -> None:
    directory = tmp_path / "testnet"
    (directory / "sub").mkdir(parents=True)
    (directory / "10.99.0.5").write_bytes(b" old \n")  # pre-ifname format: just the ID
    (directory / "sub" / "10.99.0.4").write_bytes(b"old\r\neth0")
    with DiskStore(tmp_path, "testnet") as store:
        assert store.get_by_id("old", "eth0") == (
            IPv4Address("10.99.0.5"),
            IPv4Address("10.99.0.4"),
        )
        assert store.find_by_id("old", "eth9")
        with pytest.raises(IPAMError, match=r"10\.99\.0\.5 has been allocated to old"):
            add(store, CONFIG_A, "old")
        release(store, "old", "eth0")  # new-format match found: old-format file stays
        assert store.get_by_id("old", "eth0") == (IPv4Address("10.99.0.5"),)
        release(store, "old", "eth0")  # nothing new-format left: falls back to the ID alone
        assert store.get_by_id("old", "eth0") == ()


def test_disk_store_errors_are_worded_as_go(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(IPAMError, match=rf"^mkdir {tmp_path}/file: not a directory$"):
        DiskStore(tmp_path / "file" / "sub", "testnet")
    (tmp_path / "d" / "testnet" / "lock").mkdir(parents=True)
    with pytest.raises(IPAMError, match=r"^is a directory$"):
        DiskStore(tmp_path / "d", "testnet")


def test_disk_store_garbage_last_reserved_ip(tmp_path: Path) -> None:
    with DiskStore(tmp_path, "testnet") as store:
        (tmp_path / "testnet" / "last_reserved_ip.0").write_text("10.99.0.4\n")
        assert store.last_reserved_ip(0) is None
        assert add(store, CONFIG_A, "c1") == "10.99.0.2/29"


def test_memory_and_disk_stores_agree(tmp_path: Path) -> None:
    """The MemoryStore fast path walks exactly as the generic path over a DiskStore."""
    config = sets(
        [
            {"subnet": "10.10.0.0/29", "rangeStart": "10.10.0.3", "gateway": "10.10.0.4"},
            {"subnet": "10.10.1.0/30"},
            {"subnet": "10.10.2.0/29", "rangeEnd": "10.10.2.3", "gateway": "10.10.2.9"},
        ],
        [{"subnet": "fd00:1::/126"}, {"subnet": "fd00:2::/126", "gateway": "fd00:2::3"}],
    )
    memory = MemoryStore()
    with DiskStore(tmp_path, "testnet") as disk:
        for step in range(40):
            cid = f"c{step % 9}"
            outcomes = []
            for store in (memory, disk):
                try:
                    outcomes.append(add(store, config, cid))
                except IPAMError as exc:
                    outcomes.append(exc.msg)
                if step % 4 == 3:
                    release(store, f"c{(step * 5) % 9}", "eth0")
            assert outcomes[0] == outcomes[1], step
        for index in (0, 1):
            assert memory.last_reserved_ip(index) == disk.last_reserved_ip(index)


def test_memory_store_is_fast_enough_structurally() -> None:
    """Sequential allocation tries one candidate each time (no scan of the range)."""
    calls = 0

    class Counting(MemoryStore):
        def reserve(self, container_id: str, ifname: str, ip: IPAddress, index: int) -> bool:
            nonlocal calls
            calls += 1
            return super().reserve(container_id, ifname, ip, index)

    store = Counting()  # a subclass takes the generic path, whose candidates we count
    big = sets([{"subnet": "10.0.0.0/16"}])
    for i in range(200):
        add(store, big, f"p{i}")
    assert calls == 200
    assert len(store) == 200
