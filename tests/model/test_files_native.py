"""The ryaml path of ``parse_yaml_documents`` reads YAML 1.1 as the safe loader does, or steps aside."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ryaml
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ryaml._ryaml import InvalidYamlError

from netsim.errors import InputError
from netsim.model import files
from netsim.model.files import parse_yaml_documents
from netsim.model.spec import load_cluster

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"

# Plain scalars YAML 1.1 (PyYAML) and YAML 1.2 (serde_yaml) read differently, and
# their neighbours that both read alike, in every place a plain scalar can stand.
YAML_1_1 = {
    "booleans": "a: yes\nb: No\nc: ON\nd: off\ne: y\nf: n\ng: True\nh: FALSE\n",
    "octal and friends": "a: 0o17\nb: 017\nc: 0_17\nd: 0x1F\ne: 0b101\nf: 1_000\ng: 00\nh: 08\n",
    "sexagesimal": "a: 1:20\nb: 1:20.5\nc: 12:30:45\nd: -1:00\n",
    "floats": "a: 1e3\nb: 1.0e3\nc: 1.0e+3\nd: +.5\ne: .5\nf: 1.\ng: -.Inf\nh: .NaN\ni: 1e999\n",
    "nulls": "a: ~\nb: null\nc: Null\nd: NULL\ne:\nf: ''\n~: key\n",
    "timestamps": "a: 2024-01-02\nb: 2024-01-02 03:04:05\nc: 2001-12-14t21:59:43.10-05:00\n",
    "folded timestamp": "a: 2024-01-02\n  03:04:05\n",
    "big integers": "a: 123456789012345678901234\nb: -9223372036854775809\nc: 18446744073709551615\n",
    "keys": "8080: a\n017: b\nyes: c\n1.5: d\n0o17: e\n",
    "flow": "a: [017, yes, 1e3, '017']\nb: {c: 0o17, 'd':017}\ne: {f:017}\ng: [h:1]\n",
    "quoted": "a: 'yes'\nb: \"017\"\nc: '1e3'\nd: \"a\\tb\\u00e9\"\n",
    "merge": "a: &x {b: 1}\nc:\n  <<: *x\n  d: 2\n",
    "merge without alias": "<<: {a: 1}\nb: 2\n",
    "value key": "a: =\n",
    "tags": "a: !!str 12\nb: !!int '7'\nc: !!binary aGVsbG8=\nd: !!set {x, y}\ne: !!float '1'\n",
    "anchors": "a: &n 017\nb: *n\nc: &m [1, 2]\nd: *m\n",
    "duplicate keys": "a: 1\na: 2\nb: 3\n",
    "block scalars": "a: |\n  yes\n  017\nb: >-\n  1e3\n  on\n",
    "comments": "a: 1 # yes 017\n# 0o17: on\nb: 2\n",
    "documents": "--- 017\n--- yes\n...\n---\n- 1e3\n",
    "byte order mark": "\ufeffa: yes\n",
    "windows line ends": "a: 1\r\nb: yes\r\nc: text\r\n",
    "versions": "a: 1.0\nb: 1.2.3\nc: 10.0.0.0/8\nd: v1\ne: registry/app:1.0\n",
    "signs": "a: -1\nb: +1\nc: -0\nd: +0.5\ne: -\nf: --\n",
    "plain kubernetes": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
        "spec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: app\n"
        "        ports: [{containerPort: 8080, protocol: TCP}]\n"
    ),
}

# Streams the ryaml path must leave to the libyaml path, and why.
STEPS_ASIDE = {
    "YAML 1.1 boolean": "a: yes\n",
    "a boolean word inside quotes (the check is conservative)": "a: 'it is on now'\n",
    "octal": "a: 017\n",
    "0o is a string in YAML 1.1": "a: 0o17\n",
    "exponent without a dot": "a: 1e3\n",
    "sexagesimal": "a: 1:20\n",
    "date": "a: 2024-01-02\n",
    "integer past 64 bits": "a: 18446744073709551616\n",
    "merge key": "<<: {a: 1}\n",
    "tag": "a: !!str 1\n",
    "anchor": "a: &x 1\n",
    "alias in flow": "a: [*x]\n",
    "duplicate key (ryaml refuses)": "a: 1\na: 2\n",
    "unhashable key (ryaml refuses)": "? [1, 2]\n: x\n",
    "syntax error": "a: [1\n",
    "flow value after a colon": "a: {b:017}\n",
}

READ_ALIKE = {
    "plain kubernetes": YAML_1_1["plain kubernetes"],
    "versions and addresses": YAML_1_1["versions"],
    "small integers and floats": "a: 80\nb: 0\nc: 1.5\nd: -3\ne: 0x1F\nf: .inf\n",
    "true, false, null": "a: true\nb: false\nc: null\nd: ~\ne:\n",
    "empty": "",
    "comments only": "# nothing\n",
}


@pytest.fixture
def only_pure_python(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with monkeypatch.context() as patch:
        patch.setattr(files, "_NATIVE_LOADS_ALL", None)
        patch.setattr(files, "_FAST_LOADER", None)
        yield


def _read(text: str) -> str:
    try:
        return repr(parse_yaml_documents(text, "x.yaml", InputError))
    except InputError as exc:
        return f"error: {exc}"


def _read_without_ryaml(text: str) -> str:
    saved = files._NATIVE_LOADS_ALL
    files._NATIVE_LOADS_ALL = None
    try:
        return _read(text)
    finally:
        files._NATIVE_LOADS_ALL = saved


def _safe_load(text: str) -> str:
    try:
        return repr([d for d in yaml.safe_load_all(text) if d is not None])
    except yaml.YAMLError:
        return "error"


@pytest.mark.parametrize("text", YAML_1_1.values(), ids=YAML_1_1.keys())
def test_yaml_1_1_values_equal_the_safe_loader(text: str) -> None:
    expected = _safe_load(text)
    got = _read(text)
    assert (got.startswith("error") and expected == "error") or got == expected


@pytest.mark.parametrize("text", STEPS_ASIDE.values(), ids=STEPS_ASIDE.keys())
def test_the_ryaml_path_steps_aside(text: str) -> None:
    assert files._native_documents(text) is None


@pytest.mark.parametrize("text", READ_ALIKE.values(), ids=READ_ALIKE.keys())
def test_the_ryaml_path_reads_plain_streams(text: str) -> None:
    documents = files._native_documents(text)
    assert documents is not None
    assert repr([d for d in documents if d is not None]) == _safe_load(text)


def test_a_refusal_by_ryaml_leaves_the_stream_to_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> list[object]:
        raise InvalidYamlError("refused")

    monkeypatch.setattr(files, "_NATIVE_LOADS_ALL", refuse)
    assert parse_yaml_documents("a: 1\n---\nb: [x]\n", "x.yaml", InputError) == [
        {"a": 1},
        {"b": ["x"]},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: [1,\n", "x.yaml: line 3: malformed YAML: expected the node content"),
        ("a: 1\nb: c: d\n", "x.yaml: line 2: malformed YAML: mapping values are not allowed here"),
        ("a: 1\n- b\n", "x.yaml: line 2: malformed YAML: expected <block end>, but found '-'"),
        ("a: !custom 1\n", "x.yaml: line 1: malformed YAML: could not determine a constructor"),
        ("a: =\n", "x.yaml: line 1: malformed YAML: could not determine a constructor"),
        ("? [1, 2]\n: x\n", "x.yaml: line 1: malformed YAML: found unhashable key"),
        (
            "a: 1\nb:\n  - c: 2024-13-01\n",
            "x.yaml: line 3: malformed YAML: invalid timestamp '2024-13-01': month must be in 1..12",
        ),
    ],
    ids=[
        "unclosed flow",
        "nested mapping value",
        "sequence after mapping",
        "tag",
        "=",
        "key",
        "impossible date",
    ],
)
def test_errors_keep_file_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_yaml_documents(text, "x.yaml", InputError)
    assert str(raised.value).startswith(message)
    assert _read_without_ryaml(text) == f"error: {raised.value}"


@pytest.mark.parametrize("name", ["l2.yaml", "l3.yaml", "vxlan.yaml", "services.yaml"])
def test_example_clusters_load_alike_on_every_path(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    native = load_cluster(TOPOLOGIES / name)
    monkeypatch.setattr(files, "_NATIVE_LOADS_ALL", None)
    monkeypatch.setattr(files, "_FAST_LOADER", None)
    assert load_cluster(TOPOLOGIES / name) == native


# Random streams from pieces that exercise every way a plain scalar can start and
# end (keys, values, sequences, flow collections, documents), mixed with
# scalars on which YAML 1.1 and 1.2 disagree.
SCALARS = st.sampled_from(
    [
        *[
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "n",
            "True",
            "~",
            "null",
            "0o17",
            "017",
            "0x1F",
            "0b101",
            "1_000",
            "1:20",
            "1e3",
            "1.0e+3",
            "1.",
            "-.inf",
        ],
        *[
            ".NaN",
            "2024-01-02",
            "+12",
            "-0",
            "00",
            "08",
            "=",
            "<<",
            "0.5",
            "12:30:45",
            "+.5",
            "0_17",
            "abc",
            "a:b",
            "8080",
            "-1",
            "1.5",
        ],
        *[
            "123456789012345678901234",
            "2001-12-14t21:59:43.10-05:00",
            "10.0.0.1",
            "v1.2",
            "-",
            "---",
            "...",
        ],
        "",
        "'yes'",
        '"017"',
        "a b",
        "[017, yes]",
        "{a: 1e3}",
        "{a:017}",
        "{'a':017}",
        "[]",
        "{}",
        "&x 1",
        "*x",
        "!!str 1",
        "|\n  017",
        "# yes",
        "a #c",
        "a\n  017",
        "2024-01-02\n  03:04:05",
    ]
)
KEYS = st.sampled_from(["a", "b", "017", "yes", "~", "'q'", '"d"', "1.5", "x y", "<<", "8080"])


@st.composite
def streams(draw: st.DrawFn) -> str:
    lines = []
    depth = 0
    for _ in range(draw(st.integers(1, 6))):
        indent = "  " * draw(st.integers(0, depth))
        shape = draw(st.sampled_from(["pair", "open", "item", "document", "scalar"]))
        if shape == "pair":
            lines.append(f"{indent}{draw(KEYS)}: {draw(SCALARS)}")
        elif shape == "open":
            lines.append(f"{indent}{draw(KEYS)}:")
            depth = min(depth + 1, 3)
        elif shape == "item":
            lines.append(f"{indent}- {draw(SCALARS)}")
        elif shape == "document":
            lines.append(draw(st.sampled_from(["---", "...", f"--- {draw(SCALARS)}"])))
        else:
            lines.append(f"{indent}{draw(SCALARS)}")
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))


@settings(max_examples=400, deadline=None)
@given(streams())
def test_random_streams_read_as_without_ryaml(text: str) -> None:
    assert _read(text) == _read_without_ryaml(text)


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[A-Za-z][A-Za-z0-9_.+-]{0,7}", fullmatch=True))
def test_ryaml_reads_words_starting_with_a_letter_as_strings(word: str) -> None:
    # what files._STRING_WORD relies on: only these words are values to ryaml
    if word not in files._WORDS_READ_AS_VALUES:
        assert ryaml.loads_all(f"- {word}\n") == [[word]]  # type: ignore[attr-defined]
