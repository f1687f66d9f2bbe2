"""The libyaml fast path of ``parse_yaml_documents`` gives what the safe loader gives."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.errors import InputError
from netsim.model import files
from netsim.model.files import parse_yaml_documents

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "on", "off", "0o17", "017", "0x1F", "1_000", "~", "2024-01-02"]),
)
DATA = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
TRICKY = [
    "a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n  e: 2\n",
    "when: 2024-01-02 03:04:05\nbin: !!binary aGVsbG8=\n",
    "s: !!str 12\ni: !!int '7'\nset: !!set {a, b}\n",
    "plain: yes\nquoted: 'yes'\noctal: 0755\nfloat: .inf\n",
    "? [1, 2]\n: unhashable\n",
    "a: !custom 1\n",
    "- &a [*a]\n",
    "a: [1\n",
    "key: value\n\t- tab\n",
    "---\n---\na: 1\n...\n---\nb: 2\n",
    "{a: 1, a: 2}\n",
]


def _safe(text: str) -> list[object] | str:
    try:
        return parse_yaml_documents(text, "x.yaml", InputError)
    except InputError as exc:
        return f"error: {exc}"


def _reference(text: str, monkeypatch: pytest.MonkeyPatch) -> list[object] | str:
    with monkeypatch.context() as patch:
        patch.setattr(files, "_FAST_LOADER", None)
        return _safe(text)


@settings(max_examples=150, deadline=None)
@given(st.lists(DATA, min_size=1, max_size=3), st.sampled_from([None, True]))
def test_fast_path_equals_the_safe_loader(documents: list[object], flow: bool | None) -> None:
    text = yaml.safe_dump_all(documents, default_flow_style=flow)
    expected = [d for d in yaml.safe_load_all(text) if d is not None]
    assert parse_yaml_documents(text, "x.yaml", InputError) == expected


@pytest.mark.parametrize("text", TRICKY, ids=range(len(TRICKY)))
def test_tricky_streams_equal_the_safe_loader(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    got = _safe(text)
    assert repr(got) == repr(_reference(text, monkeypatch))
