"""The Settings page and the chat's model picker with an OpenAI-compatible server (pytest-httpserver)."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer
from streamlit.testing.v1 import AppTest
from werkzeug import Response

from tests.fixtures.paths import ENTRY


@pytest.fixture()
def openai_url(httpserver: HTTPServer) -> str:
    models = [{"id": "served-a", "object": "model", "created": 0, "owned_by": "x"},
              {"id": "served-b", "object": "model", "created": 0, "owned_by": "x"}]
    httpserver.expect_request("/v1/models").respond_with_response(
        Response(json.dumps({"object": "list", "data": models}), content_type="application/json"))
    return httpserver.url_for("/v1").rstrip("/")


def test_model_picker_lists_the_servers_models(data_dir, monkeypatch, openai_url):
    monkeypatch.setenv("ANALYST_OPENAI_BASE_URL", openai_url)
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception
    options = at.selectbox(key="chat.model_picker").options
    assert "Server · served-a" in options and "Server · served-b" in options


def test_settings_page_with_the_openai_backend(data_dir, monkeypatch, openai_url):
    monkeypatch.setenv("ANALYST_BACKEND", "openai")
    monkeypatch.setenv("ANALYST_OPENAI_BASE_URL", openai_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-shown")
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    at.switch_page("../pages/settings.py").run()
    assert not at.exception
    assert at.radio(key="settings.backend").value == "openai"
    assert at.text_input(key="settings.openai_base_url").value == openai_url
    assert at.text_input(key="settings.openai_model").value == ""
    assert "sk-never-shown" not in json.dumps([t.value for t in at.text_input])
