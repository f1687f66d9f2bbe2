"""The examples in docs/trace.md and docs/trace-format.md run and say what the code does."""

from __future__ import annotations

import contextlib
import io
import os
import re

import pytest

from tests.conftest import REPO
from tests.trace.test_render import NO_ROUTE_TEXT


def _blocks(name: str, language: str) -> list[str]:
    text = (REPO / "docs" / name).read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def test_python_example_of_trace_md_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    (block,) = _blocks("trace.md", "python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "docs/trace.md", "exec"), {})
    assert out.getvalue().startswith("flow client/curl -> svc:shop/web:80: tcp 10.244.0.2:40000")
    assert os.getcwd() == str(REPO)


def test_text_example_of_trace_format_md_is_the_renderer_output() -> None:
    block = _blocks("trace-format.md", "")[0]
    assert block == NO_ROUTE_TEXT
