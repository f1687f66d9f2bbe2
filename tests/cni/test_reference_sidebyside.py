"""netsim's plugin and the reference host-local, side by side on the same calls.

Each sequence runs on both plugins, each with its own temporary dataDir: exit
codes, stdout (byte for byte, the dataDir path normalised) and every file left
in the dataDir must be identical. Skipped when /usr/lib/cni/host-local is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cni.conftest import DATA_DIR_MARK, RunCNI


@dataclass(frozen=True)
class Call:
    """One plugin invocation."""

    command: str
    container_id: str
    config: object
    env: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Plant:
    """A file written into both dataDirs before the next call (old formats, oddities)."""

    path: str
    content: bytes


Step = Call | Plant
Outcome = tuple[str, int, str]


def net(ipam: Mapping[str, object], version: str = "1.0.0", **top: object) -> dict[str, object]:
    """A network config for a bridge whose IPAM is host-local, dataDir ``@D``."""
    return {
        "cniVersion": version,
        "name": "testnet",
        "type": "bridge",
        "ipam": {"type": "host-local", "dataDir": DATA_DIR_MARK, **ipam},
        **top,
    }


def play(
    argv: Sequence[str], steps: Sequence[Step], data_dir: Path, run_cni: RunCNI
) -> list[Outcome]:
    data_dir.mkdir()
    outcomes: list[Outcome] = []
    for step in steps:
        if isinstance(step, Plant):
            target = data_dir / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(step.content)
            continue
        code, out = run_cni(
            argv, step.command, step.container_id, step.config, data_dir, **step.env
        )
        label = f"{step.command} {step.container_id} {dict(step.env)}"
        outcomes.append((label, code, out.replace(str(data_dir), DATA_DIR_MARK)))
    return outcomes


def compare(
    steps: Sequence[Step],
    reference: Sequence[str],
    netsim: Sequence[str],
    tmp_path: Path,
    run_cni: RunCNI,
    store_files: Callable[[Path], dict[str, bytes]],
) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        expected = pool.submit(play, reference, steps, tmp_path / "reference", run_cni)
        got = pool.submit(play, netsim, steps, tmp_path / "netsim", run_cni)
        assert got.result() == expected.result()
    assert store_files(tmp_path / "netsim") == store_files(tmp_path / "reference")


CONFIG_A = net({"ranges": [[{"subnet": "10.99.0.0/29"}]], "routes": [{"dst": "0.0.0.0/0"}]})
CONFIG_B = net(
    {
        "ranges": [
            [
                {
                    "subnet": "10.98.0.0/28",
                    "rangeStart": "10.98.0.10",
                    "rangeEnd": "10.98.0.12",
                    "gateway": "10.98.0.11",
                },
                {"subnet": "10.98.1.0/30"},
            ]
        ]
    }
)
DUAL = net({"ranges": [[{"subnet": "10.96.100.0/30"}], [{"subnet": "fd00:99::/126"}]]})
DUAL_ROOMY = net({"ranges": [[{"subnet": "10.96.100.0/29"}], [{"subnet": "fd00:99::/126"}]]})
MULTI = net(
    {
        "ranges": [
            [
                {"subnet": "10.10.0.0/29", "rangeStart": "10.10.0.3", "gateway": "10.10.0.4"},
                {"subnet": "10.10.1.0/30"},
                {"subnet": "10.10.2.0/29", "rangeEnd": "10.10.2.3"},
            ]
        ]
    }
)
TWO_SET_RANGES = [[{"subnet": "10.10.0.0/29"}], [{"subnet": "10.11.0.0/29"}]]
TWO_SETS = net({"ranges": TWO_SET_RANGES})
V6 = net(
    {"ranges": [[{"subnet": "fd00:1::/126"}, {"subnet": "fd00:2::/126", "gateway": "fd00:2::3"}]]}
)
R24 = [[{"subnet": "10.0.0.0/24"}]]
PLAIN = net({"ranges": R24})


def args(value: str) -> dict[str, str | None]:
    return {"CNI_ARGS": value}


SEQUENCES: dict[str, list[Step]] = {
    "spec-config-A": [
        Call("ADD", "c1", CONFIG_A),
        Call("ADD", "c2", CONFIG_A),
        Call("ADD", "c3", CONFIG_A),
        Call("ADD", "c1", CONFIG_A),  # duplicate ADD
        Call("ADD", "c1", CONFIG_A, {"CNI_IFNAME": "eth1"}),  # same id, other ifname
        Call("DEL", "c2", CONFIG_A),
        Call("DEL", "c2", CONFIG_A),  # DEL again
        Call("ADD", "c2", CONFIG_A),  # re-ADD: round robin goes on
        Call("ADD", "c4", CONFIG_A),  # wraps past broadcast and gateway
        Call("ADD", "c5", CONFIG_A),  # exhausted
        Call("DEL", "c1", CONFIG_A),
        Call("ADD", "c7", CONFIG_A),
        Call("CHECK", "c7", CONFIG_A),
        Call("CHECK", "c9", CONFIG_A),
        Call("CHECK", "c1", CONFIG_A, {"CNI_IFNAME": "eth1"}),
    ],
    "spec-config-B": [
        Call("ADD", "a1", CONFIG_B),
        Call("ADD", "a2", CONFIG_B),  # gateway .11 skipped
        Call("ADD", "a3", CONFIG_B),  # second range of the set
        Call("ADD", "a4", CONFIG_B),  # exhausted: both ranges in the message
        Call("DEL", "a1", CONFIG_B),
        Call("ADD", "a5", CONFIG_B, args("IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.98.0.10")),
        Call("DEL", "a5", CONFIG_B),
        Call("ADD", "a6", CONFIG_B, args("K8S_POD_NAME=x;IP=10.98.0.10")),  # unknown args
        Call("ADD", "a7", CONFIG_B, args("IP=10.98.0.11")),  # requested gateway
        Call("ADD", "a8", CONFIG_B, args("IP=10.98.0.12")),  # requested but taken
        Call("ADD", "a9", CONFIG_B, args("IgnoreUnknown=1;IP=10.98.0.10")),  # requested, free
        Call("DEL", "a2", CONFIG_B),
        Call("DEL", "a3", CONFIG_B),
        Call("ADD", "b1", CONFIG_B),
        Call("ADD", "b2", CONFIG_B),
        Call("ADD", "b3", CONFIG_B),
    ],
    "dual-stack": [
        Call("ADD", "d1", DUAL),
        Call("ADD", "d2", DUAL),  # fails on set 0, set 1 untouched
        Call("ADD", "d1", DUAL),
        Call("DEL", "d1", DUAL),
        Call("ADD", "d3", DUAL),
        Call("CHECK", "d3", DUAL),
        Call("ADD", "d3", DUAL, {"CNI_IFNAME": "net1"}),
    ],
    "dual-stack-rollback": [
        Call("ADD", "d1", DUAL_ROOMY),
        Call("ADD", "d2", DUAL_ROOMY, args("IP=10.96.100.5")),
        Call("ADD", "d1", DUAL_ROOMY, args("IP=10.96.100.6")),  # set 1 duplicate: rollback
        Call("ADD", "d9", DUAL_ROOMY),
        Call("ADD", "d8", DUAL_ROOMY),
    ],
    "several-ranges-walk": [
        *[Call("ADD", f"m{i}", MULTI) for i in range(10)],
        Call("DEL", "m3", MULTI),
        Call("DEL", "m5", MULTI),
        Call("ADD", "n1", MULTI),
        Call("ADD", "n2", MULTI),
        Call("ADD", "n3", MULTI),
    ],
    "ipv6-ranges": [
        *[Call("ADD", f"v{i}", V6) for i in range(6)],
        Call("DEL", "v2", V6),
        Call("ADD", "w", V6),
        Call("ADD", "w", V6, args("IP=fd00:2::3")),
        Call("ADD", "y", V6, args("IgnoreUnknown=1;IP=FD00:1:0::1")),
    ],
    "requested-ips": [
        Call("ADD", "r1", net({"ranges": R24}, args={"cni": {"ips": ["10.0.0.8"]}})),
        Call("ADD", "r2", net({"ranges": R24}, runtimeConfig={"ips": ["10.0.0.7/8"]})),
        Call("ADD", "r3", net({"ranges": R24}, args={"cni": {"ips": ["10.9.0.8"]}})),
        Call("ADD", "r4", net({"ranges": R24}, runtimeConfig={"ips": [""]})),
        Call("ADD", "r5", PLAIN, args("IP=")),
        Call("ADD", "r6", PLAIN, args("IP=10.0.0.14/24")),
        Call("ADD", "r7", PLAIN, args("IP=::ffff:10.0.0.14")),
        Call("ADD", "r8", PLAIN, args("IP=10.0.0.255")),
        Call("ADD", "r9", PLAIN, args("IP=10.0.0.16;IP=10.0.0.17")),
        Call(
            "ADD",
            "r10",
            net(
                {"ranges": R24},
                args={"cni": {"ips": ["10.0.0.50", "10.0.0.50/8"]}},
                runtimeConfig={"ips": ["10.0.0.50"]},
            ),
            args("IP=10.0.0.50"),
        ),
        Call("ADD", "r11", TWO_SETS, args("IP=10.11.0.3")),
        Call("ADD", "r11", TWO_SETS),  # the requested IP counted as set 1's
        Call(
            "ADD",
            "r12",
            net(
                {"ranges": TWO_SET_RANGES},
                args={"cni": {"ips": ["10.10.0.6"]}},
                runtimeConfig={"ips": ["10.11.0.5"]},
            ),
        ),
    ],
    "runtime-ip-ranges-and-legacy-range": [
        Call(
            "ADD",
            "l1",
            net(
                {"ranges": R24, "subnet": "10.1.0.0/24", "rangeStart": "10.1.0.100"},
                runtimeConfig={"ipRanges": [[{"subnet": "10.5.0.0/24"}]]},
            ),
        ),
        Call("ADD", "l2", net({"ranges": R24, "subnet": "10.1.0.0/24", "gateway": "10.1.0.254"})),
        Call("ADD", "l3", net({"ranges": R24, "rangeStart": "10.0.0.7"})),  # no subnet: ignored
    ],
    "old-format-files": [
        Plant("testnet/10.10.0.5", b"old1"),
        Plant("testnet/10.10.0.6", b" old1 \n"),
        Plant("testnet/10.10.2.2", b"old1\r\neth0"),
        Call("ADD", "old1", MULTI),
        Call("CHECK", "old1", MULTI, {"CNI_IFNAME": "eth9"}),
        Call("DEL", "old1", MULTI),
        Call("CHECK", "old1", MULTI),
        Call("DEL", "old1", MULTI),
        Call("CHECK", "old1", MULTI),
    ],
    "files-in-subdirectories": [
        Plant("testnet/sub/10.10.0.3", b"s1\r\neth0"),
        Plant("testnet/a/b/zz", b"s1\r\neth0"),
        Call("ADD", "s1", MULTI),
        Call("CHECK", "s1", MULTI),
        Call("DEL", "s1", MULTI),
        Call("ADD", "s1", MULTI),
    ],
    "last-reserved-ip-oddities": [
        Plant("testnet/last_reserved_ip.0", b"garbage"),
        Call("ADD", "a", MULTI),
        Plant("testnet/last_reserved_ip.0", b"10.10.1.2\n"),
        Call("ADD", "b", MULTI),
        Plant("testnet/last_reserved_ip.0", b"10.10.1.2"),
        Call("ADD", "c", MULTI),
        Plant("testnet/last_reserved_ip.0", b"10.10.0.4"),  # the gateway
        Call("ADD", "d", MULTI),
        Plant("testnet/last_reserved_ip.0", b"10.10.2.3"),  # the last range's end
        Call("ADD", "e", MULTI),
        Plant("testnet/last_reserved_ip.0", b"::ffff:10.10.0.5"),
        Call("ADD", "f", MULTI),
    ],
    "container-id-that-looks-like-an-ip": [
        Call("ADD", "10.10.0.3", MULTI),
        Call("ADD", "x", MULTI),
        Call("DEL", "10.10.0.3", MULTI),
        Call("DEL", "10.10.0.3", MULTI),  # old-format fallback matches last_reserved_ip.0
        Call("CHECK", "10.10.0.3", MULTI),
    ],
    "duplicate-reports-first-file-name": [
        Plant("testnet/10.10.2.2", b"d\r\neth0"),
        Plant("testnet/10.10.0.10", b"d\r\neth0"),
        Call("ADD", "d", MULTI),
    ],
    "only-the-gateway-in-range": [
        Call(
            "ADD",
            "a",
            net(
                {
                    "ranges": [
                        [
                            {
                                "subnet": "10.20.0.0/29",
                                "rangeStart": "10.20.0.1",
                                "rangeEnd": "10.20.0.1",
                            }
                        ]
                    ]
                }
            ),
        ),
    ],
    "resolv-conf": [
        Plant(
            "resolv.conf",
            b"# c\n; c2\nnameserver 1.1.1.1\nnameserver  8.8.8.8 extra\n  domain example.com\n"
            b"domain ex2.com\nsearch a b\nsearch c\noptions ndots:5 rotate\nnameserver\n"
            b"sortlist 1\r\n\tnameserver\t9.9.9.9\x1c\nsearch <x>&\xc3\xa9\xff\n",
        ),
        Plant("empty.conf", b""),
        Call("ADD", "r1", net({"ranges": R24, "resolvConf": "@D/resolv.conf"})),
        Call("ADD", "r2", net({"ranges": R24, "resolvConf": "@D/resolv.conf"}, "0.2.0")),
        Call("ADD", "r3", net({"ranges": R24, "resolvConf": "@D/empty.conf"})),
        Call("ADD", "r4", net({"ranges": R24, "resolvConf": "@D/missing.conf"})),
        Call("ADD", "r5", net({"ranges": R24, "resolvConf": "@D"})),
    ],
    "data-dir-errors": [
        Plant("file", b"x"),
        Plant("d/testnet/lock/x", b""),
        Call("ADD", "c", net({"ranges": R24, "dataDir": "@D/file/sub"})),
        Call("ADD", "c", net({"ranges": R24, "dataDir": "@D/d"})),
        Call("ADD", "c", net({"ranges": R24, "dataDir": "@D/./a/../b//c/"})),
        Call("CHECK", "c", net({"ranges": R24, "dataDir": "@D/b/c"})),
        Call("DEL", "z", net({"ranges": R24, "dataDir": "@D/new/dir"})),
    ],
    "panics-after-allocation": [
        Call("ADD", "p1", net({"ranges": R24, "routes": [None]}, "0.2.0")),
        Call("ADD", "p2", net({"ranges": R24}, runtimeConfig={"ips": [None]})),
        Call("ADD", "p3", net({"ranges": R24}, args={"cni": {"ips": [None]}})),
    ],
}


@pytest.mark.parametrize("steps", [pytest.param(s, id=name) for name, s in SEQUENCES.items()])
def test_sequence_same_as_reference(
    steps: list[Step],
    reference_plugin: tuple[str, ...],
    netsim_plugin: tuple[str, ...],
    run_cni: RunCNI,
    store_files: Callable[[Path], dict[str, bytes]],
    tmp_path: Path,
) -> None:
    compare(steps, reference_plugin, netsim_plugin, tmp_path, run_cni, store_files)


# Single calls on an empty dataDir, run concurrently: errors of every layer.
SINGLE_CALLS: dict[str, Call] = {
    "VERSION": Call(
        "VERSION", "", "ignored", {"CNI_PATH": None, "CNI_IFNAME": None, "CNI_NETNS": None}
    ),
    "missing-CNI_PATH": Call("ADD", "c1", PLAIN, {"CNI_PATH": None}),
    "missing-several": Call("ADD", "", PLAIN, {"CNI_PATH": "", "CNI_NETNS": "", "CNI_IFNAME": ""}),
    "missing-DEL": Call("DEL", "", PLAIN, {"CNI_PATH": "", "CNI_NETNS": "", "CNI_IFNAME": ""}),
    "missing-CHECK-netns": Call("CHECK", "c1", PLAIN, {"CNI_NETNS": None}),
    "DEL-without-netns": Call("DEL", "c1", PLAIN, {"CNI_NETNS": None}),
    "no-command": Call("", "c1", PLAIN),
    "unknown-command": Call("FOO", "c1", PLAIN),
    "unknown-command-no-id": Call("FOO", "", PLAIN, {"CNI_IFNAME": None, "CNI_PATH": None}),
    "unknown-command-bad-json": Call("FOO", "c1", ""),
    "lowercase-add": Call("add", "c1", PLAIN),
    "GC": Call("GC", "c1", PLAIN, {"CNI_PATH": None, "CNI_IFNAME": None, "CNI_NETNS": None}),
    "GC-with-ifname": Call("GC", "c1", PLAIN),
    "STATUS": Call("STATUS", "c1", PLAIN),
    "cniVersion-1.1.0": Call("ADD", "c1", net({"ranges": R24}, "1.1.0")),
    "cniVersion-bad": Call("ADD", "c1", net({"ranges": R24}, "v1.0.0")),
    "cniVersion-trailing-space": Call("ADD", "c1", net({"ranges": R24}, "0.3.1 ")),
    "CHECK-0.3.1": Call("CHECK", "c1", net({"ranges": R24}, "0.3.1")),
    "CHECK-no-version": Call("CHECK", "c1", net({"ranges": R24}, "")),
    "CHECK-1.1.0": Call("CHECK", "c1", net({"ranges": R24}, "1.1.0")),
    "CHECK-abc": Call("CHECK", "c1", net({"ranges": R24}, "abc")),
    "CHECK-1.0": Call("CHECK", "c1", net({"ranges": R24}, "1.0")),
    "DEL-1.1.0": Call("DEL", "c1", net({"ranges": R24}, "1.1.0")),
    "container-id-dash": Call("ADD", "-abc", PLAIN),
    "container-id-space": Call("ADD", "a b", PLAIN),
    "container-id-unicode": Call("ADD", "\u00e9", PLAIN),
    "container-id-long": Call("ADD", "a" * 300, PLAIN),
    "ifname-15": Call("ADD", "c1", PLAIN, {"CNI_IFNAME": "a" * 15}),
    "ifname-16": Call("ADD", "c1", PLAIN, {"CNI_IFNAME": "a" * 16}),
    "ifname-16-bytes": Call("ADD", "c1", PLAIN, {"CNI_IFNAME": "\u00e9" * 8}),
    "ifname-dot": Call("ADD", "c1", PLAIN, {"CNI_IFNAME": "."}),
    "ifname-colon": Call("ADD", "c1", PLAIN, {"CNI_IFNAME": "a:b"}),
    "ifname-nbsp": Call("ADD", "c1", PLAIN, {"CNI_IFNAME": "a\u00a0b"}),
    "ifname-x1c": Call("ADD", "c1", PLAIN, {"CNI_IFNAME": "a\x1cb"}),
    "network-name-space": Call("ADD", "c1", {**PLAIN, "name": "a b"}),
    "network-name-dash": Call("ADD", "c1", {**PLAIN, "name": "-x"}),
    "unknown-args": Call("ADD", "c1", PLAIN, args("K8S_POD_NAME=x;FOO=bar")),
    "unknown-args-ignored": Call("ADD", "c1", PLAIN, args("IgnoreUnknown=true;FOO=bar")),
    "ignore-unknown-yes": Call("ADD", "c1", PLAIN, args("IgnoreUnknown=YES;FOO=1")),
    "ignore-unknown-0": Call("ADD", "c1", PLAIN, args("IgnoreUnknown=0;FOO=1")),
    "args-bad-ip": Call("ADD", "c1", PLAIN, args("IP=x")),
    "args-leading-zero": Call("ADD", "c1", PLAIN, args("IP=010.0.0.19")),
    "args-trailing-semicolon": Call("ADD", "c1", PLAIN, args("IP=10.0.0.13;")),
    "args-lowercase-ip": Call("ADD", "c1", PLAIN, args("ip=10.0.0.15")),
    "args-common-args": Call("ADD", "c1", PLAIN, args("CommonArgs=1")),
    "args-bad-pair": Call("ADD", "c1", PLAIN, args("FOO=1;A=B=C")),
    "args-quoting": Call("ADD", "c1", PLAIN, args('FOO="q\\;X=\u00e9\t\x01<>&;Y=\u00a0\U0001f600')),
    "args-on-DEL": Call("DEL", "c1", PLAIN, args("FOO=1")),
    "args-kubelet": Call(
        "ADD",
        "c1",
        PLAIN,
        args("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=u"),
    ),
}
for _version in ("", "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"):
    _routes = [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}, {"dst": "::/0"}, {"gw": "10.0.0.1"}]
    SINGLE_CALLS[f"result-v{_version}"] = Call(
        "ADD", "c1", net({"ranges": R24, "routes": _routes}, _version)
    )
    SINGLE_CALLS[f"result-dual-v{_version}"] = Call(
        "ADD",
        "c1",
        net(
            {
                "ranges": [*R24, [{"subnet": "fd00::/120"}]],
                "routes": [*_routes, {"dst": "::ffff:0.0.0.0/96"}],
            },
            _version,
        ),
    )
    SINGLE_CALLS[f"two-v4-sets-v{_version}"] = Call(
        "ADD", "c1", net({"ranges": [*R24, [{"subnet": "10.1.0.0/24"}]]}, _version)
    )
for _i, _raw in enumerate(
    [
        "",
        "{",
        "[]",
        "null",
        "5",
        '"x"',
        '{"name":5}',
        '{"name":"x"} x',
        "{}",
        '{"name":"x","cniVersion":5}',
        '{"name":"x","cniVersion":"1.0.0"}',
        '{"name":"x","cniVersion":"1.0.0","ipam":null}',
        '{"name":"x","cniVersion":"1.0.0","ipam":{}}',
        '{"name":"x","cniVersion":"1.0.0","ipam":5}',
        '{"Name":"x","CNIVERSION":"1.1.0","ipam":{}}',
        '{"name":"x","name":""}',
        '{"name":"x" "a"}',
        '{"name":"x",}',
        "[1,]",
        '{"a":tru}',
        '{"a":nul}',
        '{"a":-}',
        '{"a":1.}',
        '{"a":1e}',
        '{"a":01}',
        '{"a":"\\x"}',
        '{"a":"\\u12g4"}',
        '{"a":"\t"}',
        "{'a':1}",
        "\ufeff{}",
        '{"a" 1}',
        "{1:2}",
        '{"a":\u00e9}',
        '{"a":NaN}',
        '{"name":"<&>"}',
        "[[[",
    ]
):
    SINGLE_CALLS[f"json-{_i}"] = Call("ADD", "c1", _raw)
_IPAM_CASES: dict[str, dict[str, object]] = {
    "ranges-number": {"ranges": 5},
    "range-set-number": {"ranges": [5]},
    "range-number": {"ranges": [[5]]},
    "subnet-number": {"ranges": [[{"subnet": 5}]]},
    "subnet-object": {"ranges": [[{"subnet": {}}]]},
    "subnet-null": {"ranges": [[{"subnet": None}]]},
    "subnet-garbage": {"ranges": [[{"subnet": "foo"}]]},
    "gateway-number": {"ranges": [[{"subnet": "10.0.0.0/24", "gateway": 5}]]},
    "gateway-array": {"ranges": [[{"subnet": "10.0.0.0/24", "gateway": []}]]},
    "gateway-garbage": {"ranges": [[{"subnet": "10.0.0.0/24", "gateway": "x"}]]},
    "gateway-number-then-bad-route": {
        "ranges": [[{"subnet": "10.0.0.0/24", "gateway": 5}]],
        "routes": [{"dst": "x"}],
    },
    "routes-number": {"ranges": R24, "routes": 5},
    "route-number": {"ranges": R24, "routes": [5]},
    "route-dst-number": {"ranges": R24, "routes": [{"dst": 5}]},
    "route-gw-number": {"ranges": R24, "routes": [{"dst": "0.0.0.0/0", "gw": 5}]},
    "route-gw-garbage": {"ranges": R24, "routes": [{"dst": "0.0.0.0/0", "gw": "x"}]},
    "route-odd-dsts": {
        "ranges": R24,
        "routes": [
            {"dst": "10.1.0.5/16", "mtu": 1400},
            {"dst": "::ffff:10.1.0.5/112", "gw": "::ffff:1.2.3.4"},
            {"gw": "10.0.0.1"},
            None,
        ],
    },
    "data-dir-number": {"ranges": R24, "dataDir": 5},
    "name-number": {"ranges": R24, "name": 5},
    "legacy-subnet-number": {"subnet": 5},
    "no-ranges": {"ranges": []},
    "ranges-null": {"ranges": None},
    "empty-range-set": {"ranges": [[]]},
    "range-without-subnet": {"ranges": [[{"gateway": "10.0.0.1"}]]},
    "slash-31": {"ranges": [[{"subnet": "10.97.0.0/31"}]]},
    "slash-31-host-bits": {"ranges": [[{"subnet": "10.97.0.1/31"}]]},
    "host-bits": {"ranges": [[{"subnet": "10.97.0.1/29"}]]},
    "host-bits-v6": {"ranges": [[{"subnet": "fd00::1/64"}]]},
    "slash-127": {"ranges": [[{"subnet": "fd00::/127"}]]},
    "slash-126": {"ranges": [[{"subnet": "fd00::/126"}]]},
    "slash-30": {"ranges": [[{"subnet": "10.97.0.0/30"}]]},
    "v4-mapped-subnet": {"ranges": [[{"subnet": "::ffff:10.0.0.0/120"}]]},
    "prefix-leading-zero": {"ranges": [[{"subnet": "10.0.0.0/024"}]]},
    "prefix-33": {"ranges": [[{"subnet": "10.0.0.0/33"}]]},
    "gateway-outside": {"ranges": [[{"subnet": "10.0.0.0/24", "gateway": "10.1.0.1"}]]},
    "gateway-v6-in-v4": {"ranges": [[{"subnet": "10.0.0.0/24", "gateway": "fd00::1"}]]},
    "start-after-end": {
        "ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "rangeEnd": "10.0.0.5"}]]
    },
    "start-outside": {"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.1.10"}]]},
    "end-outside": {"ranges": [[{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.1.10"}]]},
    "start-network-address": {"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.0"}]]},
    "end-broadcast": {
        "ranges": [
            [{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.254", "rangeEnd": "10.0.0.255"}]
        ]
    },
    "mixed-families": {"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}]]},
    "overlap-in-set": {"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "10.0.0.0/25"}]]},
    "overlap-across-sets": {
        "ranges": [*R24, [{"subnet": "10.0.1.0/25"}], [{"subnet": "10.0.0.128/25"}]]
    },
    "ranges-touching": {
        "ranges": [
            [
                {"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "rangeEnd": "10.0.0.20"},
                {"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.20", "rangeEnd": "10.0.0.30"},
            ]
        ]
    },
    "zone-in-subnet": {"ranges": [[{"subnet": "fe80::%eth0/64"}]]},
}
for _name, _ipam in _IPAM_CASES.items():
    SINGLE_CALLS[f"ipam-{_name}"] = Call("ADD", "c1", net(_ipam))
_TOP_CASES: dict[str, dict[str, object]] = {
    "runtime-config-number": {"runtimeConfig": 5},
    "runtime-ips-number": {"runtimeConfig": {"ips": 5}},
    "runtime-ips-garbage": {"runtimeConfig": {"ips": ["x"]}},
    "runtime-ips-element-number": {"runtimeConfig": {"ips": [5]}},
    "runtime-ip-ranges-number": {"runtimeConfig": {"ipRanges": 5}},
    "args-number": {"args": 5},
    "args-cni-number": {"args": {"cni": 5}},
    "args-cni-ips-number": {"args": {"cni": {"ips": 5}}},
    "args-cni-ips-garbage": {"args": {"cni": {"ips": ["x"]}}},
    "args-null": {"args": None, "runtimeConfig": None},
    "key-case": {"CNIVERSION": "0.3.1", "IPAM": {"ranges": R24, "dataDir": DATA_DIR_MARK}},
}
for _name, _top in _TOP_CASES.items():
    SINGLE_CALLS[f"top-{_name}"] = Call("ADD", "c1", net({"ranges": R24}, "1.0.0", **_top))


def test_single_calls_same_as_reference(
    reference_plugin: tuple[str, ...],
    netsim_plugin: tuple[str, ...],
    run_cni: RunCNI,
    store_files: Callable[[Path], dict[str, bytes]],
    tmp_path: Path,
) -> None:
    def both(name: str, call: Call) -> tuple[str, list[Outcome], list[Outcome], bool]:
        base = tmp_path / name
        base.mkdir()
        expected = play(reference_plugin, [call], base / "reference", run_cni)
        got = play(netsim_plugin, [call], base / "netsim", run_cni)
        same_files = store_files(base / "netsim") == store_files(base / "reference")
        return name, expected, got, same_files

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda item: both(*item), SINGLE_CALLS.items()))
    mismatches = [
        f"{name}:\n  reference: {expected}\n  netsim:    {got}\n  same files: {same}"
        for name, expected, got, same in results
        if expected != got or not same
    ]
    assert not mismatches, "\n".join(mismatches)
    assert len(results) > 150
