"""The sidebar's status panel says whether the OpenAI-compatible model server answers (AppTest, whole app)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures.openai_stub import OpenAIStub
from tests.fixtures.paths import ENTRY


def _captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.sidebar.caption)


def test_a_reachable_model_server_is_shown_with_its_models(data_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    stub = OpenAIStub().start()
    try:
        monkeypatch.setenv("ANALYST_BACKEND", "openai")
        monkeypatch.setenv("ANALYST_OPENAI_BASE_URL", stub.url)
        at = AppTest.from_file(ENTRY, default_timeout=60).run()
        assert not at.exception
        assert f"Model server at `{stub.url}` · 1 model(s)" in _captions(at)
    finally:
        stub.stop()


def test_an_unreachable_model_server_is_shown_with_the_fix(data_dir, closed_port: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYST_BACKEND", "openai")
    monkeypatch.setenv("ANALYST_OPENAI_BASE_URL", f"http://127.0.0.1:{closed_port}/v1")
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception
    assert f"Model server at `http://127.0.0.1:{closed_port}/v1` not reachable" in _captions(at)
    assert at.sidebar.warning  # with what to do
