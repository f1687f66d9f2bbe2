"""The CNI protocol layer in-process: exact stdout and exit codes of ``main``."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from netsim.cni import plugin
from netsim.cni.plugin import go_quote, load_ipam_config, main

BASE_ENV = {"CNI_PATH": "/usr/lib/cni", "CNI_NETNS": "/var/run/netns/none", "CNI_IFNAME": "eth0"}


def net(data_dir: Path, version: str = "1.0.0", /, **ipam: object) -> dict[str, object]:
    return {
        "cniVersion": version,
        "name": "testnet",
        "type": "bridge",
        "ipam": {"type": "host-local", "dataDir": str(data_dir), **ipam},
    }


R24 = [[{"subnet": "10.0.0.0/24"}]]


def call(
    command: str, config: object, container_id: str = "c1", **env: str | None
) -> tuple[int, str]:
    environ = {**BASE_ENV, "CNI_COMMAND": command, "CNI_CONTAINERID": container_id, **env}
    text = config if isinstance(config, str) else json.dumps(config)
    return main({k: v for k, v in environ.items() if v is not None}, text)


def go_json_string(text: str) -> str:
    """A JSON string as Go writes it: HTML characters escaped."""
    quoted = json.dumps(text, ensure_ascii=False)
    return quoted.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def error(code: int, msg: str, details: str = "") -> tuple[int, str]:
    body = f'{{\n    "code": {code},\n    "msg": {go_json_string(msg)}'
    if details:
        body += f',\n    "details": {go_json_string(details)}'
    return 1, body + "\n}"


def test_pinned_public_api() -> None:
    assert sorted(plugin.__all__) == [
        "ABOUT",
        "IMPLEMENTED_SPEC_VERSION",
        "IPAMConfig",
        "Route",
        "SUPPORTED_VERSIONS",
        "go_quote",
        "load_ipam_config",
        "main",
        "run",
    ]


def test_add_prints_as_the_go_plugin(tmp_path: Path) -> None:
    config = net(tmp_path, ranges=[[{"subnet": "10.99.0.0/29"}]], routes=[{"dst": "0.0.0.0/0"}])
    assert call("ADD", config) == (
        0,
        "{\n"
        '    "cniVersion": "1.0.0",\n'
        '    "ips": [\n'
        "        {\n"
        '            "address": "10.99.0.2/29",\n'
        '            "gateway": "10.99.0.1"\n'
        "        }\n"
        "    ],\n"
        '    "routes": [\n'
        "        {\n"
        '            "dst": "0.0.0.0/0"\n'
        "        }\n"
        "    ],\n"
        '    "dns": {}\n'
        "}",
    )
    assert (tmp_path / "testnet" / "10.99.0.2").read_bytes() == b"c1\r\neth0"
    assert call("ADD", config) == error(
        999,
        "failed to allocate for range 0: 10.99.0.2 has been allocated to c1,"
        " duplicate allocation is not allowed",
    )
    assert call("CHECK", config) == (0, "")
    assert call("DEL", config) == (0, "")
    assert call("DEL", config) == (0, "")
    assert call("CHECK", config) == error(
        999, "host-local: Failed to find address added by container c1"
    )


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param(
            "0.2.0",
            '{\n    "cniVersion": "0.2.0",\n    "ip4": {\n        "ip": "10.0.0.2/24",\n'
            '        "gateway": "10.0.0.1",\n        "routes": [\n            {\n'
            '                "dst": "0.0.0.0/0",\n                "gw": "10.0.0.1"\n'
            "            }\n        ]\n    },\n"
            '    "ip6": {\n        "ip": "fd00::2/120",\n        "gateway": "fd00::1"\n    },\n'
            '    "dns": {}\n}',
            id="0.2.0",
        ),
        pytest.param(
            "0.3.1",
            '{\n    "cniVersion": "0.3.1",\n    "ips": [\n        {\n            "version": "4",\n'
            '            "address": "10.0.0.2/24",\n            "gateway": "10.0.0.1"\n        },\n'
            '        {\n            "version": "6",\n            "address": "fd00::2/120",\n'
            '            "gateway": "fd00::1"\n        }\n    ],\n    "routes": [\n        {\n'
            '            "dst": "0.0.0.0/0",\n            "gw": "10.0.0.1"\n        }\n    ],\n'
            '    "dns": {}\n}',
            id="0.3.1",
        ),
    ],
)
def test_results_converted_to_the_config_version(
    tmp_path: Path, version: str, expected: str
) -> None:
    config = net(
        tmp_path,
        version,
        ranges=[*R24, [{"subnet": "fd00::/120"}]],
        routes=[{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}],
    )
    assert call("ADD", config) == (0, expected)


def test_no_cni_version_means_0_1_0(tmp_path: Path) -> None:
    code, out = call("ADD", net(tmp_path, "", ranges=R24))
    assert (code, json.loads(out)["cniVersion"]) == (0, "0.1.0")


def test_version_command_ignores_stdin() -> None:
    assert main({"CNI_COMMAND": "VERSION"}, "not json") == (
        0,
        '{"cniVersion":"1.0.0","supportedVersions":'
        '["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0"]}\n',
    )


def test_no_command_prints_about_on_stderr() -> None:
    stderr = io.StringIO()
    assert main({}, "", stderr=stderr) == (0, "")
    assert stderr.getvalue() == (
        "CNI host-local IPAM plugin (netsim)\n"
        "CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0\n"
    )


@pytest.mark.parametrize(
    ("command", "container_id", "env", "expected"),
    [
        pytest.param(
            "ADD",
            "c1",
            {"CNI_PATH": None},
            (4, "required env variables [CNI_PATH] missing"),
            id="path",
        ),
        pytest.param(
            "ADD",
            "",
            {"CNI_PATH": "", "CNI_NETNS": None},
            (4, "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_PATH] missing"),
            id="several",
        ),
        pytest.param("DEL", "c1", {"CNI_NETNS": None}, None, id="del-needs-no-netns"),
        pytest.param("FOO", "c1", {}, (4, "unknown CNI_COMMAND: FOO"), id="unknown"),
        pytest.param("GC", "c1", {}, (4, "unknown CNI_COMMAND: GC"), id="gc"),
        pytest.param("STATUS", "c1", {}, (4, "unknown CNI_COMMAND: STATUS"), id="status"),
        pytest.param("FOO", "", {}, (3, "missing containerID"), id="unknown-no-id"),
        pytest.param("ADD", "a b", {}, (4, "invalid characters in containerID"), id="bad-id"),
        pytest.param(
            "ADD", "c1", {"CNI_IFNAME": "a" * 16}, (4, "interface name is too long"), id="long-if"
        ),
        pytest.param(
            "ADD", "c1", {"CNI_IFNAME": ".."}, (4, "interface name is . or .."), id="dots"
        ),
        pytest.param(
            "ADD",
            "c1",
            {"CNI_IFNAME": "a\u00a0b"},
            (4, "interface name contains / or : or whitespace characters"),
            id="nbsp",
        ),
    ],
)
def test_environment_errors(
    tmp_path: Path,
    command: str,
    container_id: str,
    env: dict[str, str | None],
    expected: tuple[int, str] | None,
) -> None:
    code, out = call(command, net(tmp_path, ranges=R24), container_id, **env)
    if expected is None:
        assert (code, out) == (0, "")
        return
    assert code == 1
    body = json.loads(out)
    assert (body["code"], body["msg"]) == expected
    assert "cniVersion" not in body


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        pytest.param(
            "", (6, "error unmarshall network config: unexpected end of JSON input"), id="empty"
        ),
        pytest.param(
            "{", (6, "error unmarshall network config: unexpected end of JSON input"), id="open"
        ),
        pytest.param(
            '{"name":"x"} x',
            (6, "error unmarshall network config: invalid character 'x' after top-level value"),
            id="trailing",
        ),
        pytest.param(
            '{"name":"x",}',
            (
                6,
                "error unmarshall network config: invalid character '}' looking for beginning"
                " of object key string",
            ),
            id="trailing-comma",
        ),
        pytest.param(
            '{"a":tru}',
            (
                6,
                "error unmarshall network config: invalid character '}' in literal true (expecting 'e')",
            ),
            id="literal",
        ),
        pytest.param(
            '{"a":"\\x"}',
            (6, "error unmarshall network config: invalid character 'x' in string escape code"),
            id="escape",
        ),
        pytest.param(
            "\ufeff{}",
            (
                6,
                "error unmarshall network config: invalid character 'ï' looking for beginning of value",
            ),
            id="bom",
        ),
        pytest.param(
            "[]",
            (
                6,
                "error unmarshall network config: json: cannot unmarshal array into Go value of"
                ' type struct { Name string "json:\\"name\\"" }',
            ),
            id="array",
        ),
        pytest.param(
            '{"name":5}',
            (
                6,
                "error unmarshall network config: json: cannot unmarshal number into Go struct"
                " field .name of type string",
            ),
            id="name-type",
        ),
        pytest.param("null", (7, "missing network name"), id="null"),
        pytest.param('{"name":"-x"}', (7, "invalid characters found in network name"), id="name"),
        pytest.param(
            '{"name":"x","cniVersion":5}',
            (
                6,
                "decoding version from network config: json: cannot unmarshal number into Go"
                " struct field .cniVersion of type string",
            ),
            id="version-type",
        ),
        pytest.param(
            '{"name":"x","cniVersion":"1.0.0"}',
            (999, "IPAM config missing 'ipam' key"),
            id="no-ipam",
        ),
        pytest.param(
            '{"NAME":"x","CNIVersion":"1.0.0","IPAM":{}}',
            (999, "no IP ranges specified"),
            id="case",
        ),
    ],
)
def test_config_errors(stdin: str, expected: tuple[int, str]) -> None:
    code, out = call("ADD", stdin)
    body = json.loads(out)
    assert (code, body["code"], body["msg"]) == (1, *expected)


@pytest.mark.parametrize(
    ("ipam", "top", "message"),
    [
        pytest.param(
            {"ranges": [[{"subnet": 5}]]},
            {},
            "json: cannot unmarshal number into Go struct field Range.ipam.ranges.subnet of type string",
            id="subnet-number",
        ),
        pytest.param(
            {"ranges": [[{"subnet": "10.0.0.0/24", "gateway": 5}]], "routes": [{"dst": "x"}]},
            {},
            "invalid CIDR address: x",
            id="unmarshaler-error-wins",
        ),
        pytest.param(
            {"ranges": R24, "routes": [5]},
            {},
            "json: cannot unmarshal number into Go struct field IPAMConfig.ipam.routes of type types.route",
            id="route-number",
        ),
        pytest.param(
            {"ranges": R24},
            {"runtimeConfig": {"ips": [5]}},
            "json: cannot unmarshal number into Go struct field .runtimeConfig.ips of type *ip.IP",
            id="runtime-ip-number",
        ),
        pytest.param(
            {"ranges": R24},
            {"args": {"cni": {"ips": ["x"]}}},
            "invalid IP address x",
            id="args-ip",
        ),
        pytest.param(
            {"ranges": R24},
            {"runtimeConfig": {"ips": [""]}},
            "cannot understand ip: IP <nil> not v4 nor v6",
            id="empty-ip",
        ),
        pytest.param(
            {"ranges": [*R24, [{"subnet": "10.1.0.0/24"}]]},
            {"cniVersion": "0.2.0"},
            "CNI version 0.2.0 does not support more than 1 address per family",
            id="two-v4-sets-0.2.0",
        ),
        pytest.param(
            {"ranges": [[{"subnet": "10.97.0.1/29"}]]},
            {},
            "invalid range set 0: Network has host bits set. For a subnet mask of length 29 the"
            " network address is 10.97.0.0",
            id="host-bits",
        ),
    ],
)
def test_ipam_config_errors(
    tmp_path: Path, ipam: dict[str, object], top: dict[str, object], message: str
) -> None:
    assert call("ADD", {**net(tmp_path, **ipam), **top}) == error(999, message)


@pytest.mark.parametrize(
    ("cni_args", "message"),
    [
        pytest.param(
            "K8S_POD_NAME=x;FOO=bar",
            'ARGS: unknown args ["K8S_POD_NAME=x" "FOO=bar"]',
            id="unknown",
        ),
        pytest.param("IgnoreUnknown=1;K8S_POD_NAME=x", None, id="ignored"),
        pytest.param("IgnoreUnknown=0;FOO=1", 'ARGS: unknown args ["FOO=1"]', id="not-ignored"),
        pytest.param(
            "IgnoreUnknown=yes",
            'ARGS: error parsing value of pair "IgnoreUnknown=yes": boolean unmarshal error:'
            " invalid input yes",
            id="bool",
        ),
        pytest.param(
            "IP=x", 'ARGS: error parsing value of pair "IP=x": invalid IP address x', id="ip"
        ),
        pytest.param("IP=10.0.0.9;", 'ARGS: invalid pair ""', id="empty-pair"),
        pytest.param("A=B=C", 'ARGS: invalid pair "A=B=C"', id="two-equals"),
        pytest.param("X=<\t>", 'ARGS: unknown args ["X=<\\t>"]', id="quoted"),
    ],
)
def test_cni_args(tmp_path: Path, cni_args: str, message: str | None) -> None:
    code, out = call("ADD", net(tmp_path, ranges=R24), CNI_ARGS=cni_args)
    if message is None:
        assert code == 0
        return
    assert (code, json.loads(out)["msg"]) == (1, message)


def test_html_characters_escaped_as_go() -> None:
    assert call("ADD", '{"name":"x","cniVersion":"1.0.0","ipam":{}}', CNI_ARGS="X=<&>") == (
        1,
        '{\n    "code": 999,\n    "msg": "ARGS: unknown args [\\"X=\\u003c\\u0026\\u003e\\"]"\n}',
    )


def test_incompatible_version(tmp_path: Path) -> None:
    assert call("ADD", net(tmp_path, "1.1.0", ranges=R24)) == error(
        1,
        "incompatible CNI versions",
        'config is "1.1.0", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0"]',
    )


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param("0.3.1", error(1, "config version does not allow CHECK"), id="old"),
        pytest.param("1.1.0", error(1, "plugin version does not allow CHECK"), id="new"),
        pytest.param(
            "abc",
            error(
                6,
                'failed to convert major version part "abc": strconv.Atoi: parsing "abc": invalid syntax',
            ),
            id="garbage",
        ),
    ],
)
def test_check_version_gates(tmp_path: Path, version: str, expected: tuple[int, str]) -> None:
    assert call("CHECK", net(tmp_path, version, ranges=R24)) == expected


def test_resolv_conf_becomes_dns(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(
        "# comment\nnameserver 1.1.1.1\nnameserver 8.8.8.8 x\ndomain a.example\n"
        "domain b.example\nsearch s1 s2\nsearch s3\noptions ndots:5\nnameserver\n"
    )
    _, out = call("ADD", net(tmp_path, ranges=R24, resolvConf=str(resolv)))
    assert json.loads(out)["dns"] == {
        "nameservers": ["1.1.1.1", "8.8.8.8"],
        "domain": "b.example",
        "search": ["s1", "s2", "s3"],
        "options": ["ndots:5"],
    }
    missing = tmp_path / "missing"
    assert call("ADD", net(tmp_path, ranges=R24, resolvConf=str(missing)), "c2") == error(
        999, f"open {missing}: no such file or directory"
    )


@pytest.mark.parametrize(
    ("config", "allocated"),
    [
        pytest.param({"ranges": R24, "routes": [None]}, True, id="null-route-0.2.0"),
        pytest.param({"ranges": R24, "_runtime_ips": [None]}, False, id="null-runtime-ip"),
    ],
)
def test_where_go_panics(tmp_path: Path, config: dict[str, object], allocated: bool) -> None:
    ipam = {k: v for k, v in config.items() if not k.startswith("_")}
    document = net(tmp_path, "0.2.0", **ipam)
    if "_runtime_ips" in config:
        document["runtimeConfig"] = {"ips": config["_runtime_ips"]}
    stderr = io.StringIO()
    environ = {**BASE_ENV, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1"}
    assert main(environ, json.dumps(document), stderr=stderr) == (2, "")
    assert stderr.getvalue().startswith("panic: runtime error: invalid memory address")
    assert (tmp_path / "testnet" / "10.0.0.2").exists() == allocated


def test_load_ipam_config_orders_sets_and_requests(tmp_path: Path) -> None:
    document = {
        **net(tmp_path, ranges=R24, subnet="10.6.0.0/24"),
        "runtimeConfig": {"ipRanges": [[{"subnet": "10.5.0.0/24"}]], "ips": ["10.0.0.9"]},
        "args": {"cni": {"ips": ["10.6.0.9/24"]}},
    }
    config = load_ipam_config(
        json.loads(json.dumps(document), object_pairs_hook=plugin._JsonObject), "IP=10.5.0.9"
    )
    assert [str(rs[0].subnet) for rs in config.range_sets] == [
        "10.5.0.0/24",
        "10.6.0.0/24",
        "10.0.0.0/24",
    ]
    assert config.requested == (
        IPv4Address("10.5.0.9"),
        IPv4Address("10.6.0.9"),
        IPv4Address("10.0.0.9"),
    )
    assert (config.name, config.cni_version, config.data_dir, config.resolv_conf) == (
        "testnet",
        "1.0.0",
        str(tmp_path),
        "",
    )


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        pytest.param("plain", '"plain"', id="plain"),
        pytest.param('a"b\\c', '"a\\"b\\\\c"', id="escapes"),
        pytest.param("\t\n\x01\x7f", '"\\t\\n\\x01\\x7f"', id="control"),
        pytest.param("é\u00a0\U0001f600", '"é\\u00a0😀"', id="unicode"),
        pytest.param("\udcff", '"\\xff"', id="undecodable-byte"),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_executable_round_trip(tmp_path: Path) -> None:
    """``python -m netsim.cni`` as a runtime runs it: env, stdin, stdout, exit code."""
    config = json.dumps(net(tmp_path, ranges=R24)).encode()
    env = {**BASE_ENV, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1"}
    added = subprocess.run(
        [sys.executable, "-m", "netsim.cni"],
        input=config,
        env=env,
        capture_output=True,
        check=False,
    )
    assert (added.returncode, json.loads(added.stdout)["ips"][0]["address"]) == (0, "10.0.0.2/24")
    again = subprocess.run(
        [sys.executable, "-m", "netsim.cni"],
        input=config,
        env=env,
        capture_output=True,
        check=False,
    )
    assert (again.returncode, json.loads(again.stdout)["code"]) == (1, 999)
    about = subprocess.run(
        [sys.executable, "-m", "netsim.cni"], input=b"", env={}, capture_output=True, check=False
    )
    assert (about.returncode, about.stdout, about.stderr.splitlines()[0]) == (
        0,
        b"",
        b"CNI host-local IPAM plugin (netsim)",
    )


DOCS = Path(__file__).resolve().parents[2] / "docs" / "cni.md"


def docs_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)


def test_docs_network_config_works(tmp_path: Path) -> None:
    """The example of docs/cni.md, as the bridge plugin hands it to its IPAM plugin."""
    (network,) = [json.loads(block) for block in docs_blocks("json")]
    bridge = network["plugins"][0]
    bridge["ipam"]["dataDir"] = str(tmp_path)
    request = {"cniVersion": network["cniVersion"], "name": network["name"], **bridge}
    code, out = call("ADD", request)
    assert code == 0
    assert [ip["address"] for ip in json.loads(out)["ips"]] == [
        "10.244.1.2/24",
        "fd00:10:244:1::2/64",
    ]


def test_docs_by_hand_session(tmp_path: Path) -> None:
    (session,) = [b for b in docs_blocks("sh") if "CNI_COMMAND=ADD" in b]
    script = session.replace("/tmp/demo", str(tmp_path / "demo")).replace(
        "python3 -m netsim.cni", f"{sys.executable} -m netsim.cni"
    )
    done = subprocess.run(
        ["sh", "-e", "-c", script], capture_output=True, check=True, cwd=tmp_path, text=True
    )
    decoder = json.JSONDecoder()
    added, end = decoder.raw_decode(done.stdout)  # ADD prints no final newline, as Go
    version, end = decoder.raw_decode(done.stdout, end)
    assert added["ips"][0]["address"] == "10.99.0.2/29"
    assert version["supportedVersions"][-1] == "1.0.0"
    assert done.stdout[end:].split() == ["last_reserved_ip.0", "lock"]


def test_docs_python_example() -> None:
    (example,) = docs_blocks("python")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, str(DOCS), "exec"), {})
    assert printed.getvalue() == "10.244.1.2/24 10.244.1.1\n"
