"""Fixtures for the AppTest page tests: a fresh data dir and the environment the app reads its settings from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st

import app.ui.common
from app.container import Services, build_services
from multimodal.transcribe import WhisperTranscriber
from tests.fixtures.media import shared_whisper_dir


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models_dir: Path) -> Iterator[Path]:
    """A fresh data dir and the environment the app reads its settings from."""
    data = tmp_path / "data"
    for name, value in {
        "ANALYST_DATA_DIR": str(data),
        "ANALYST_MODELS_DIR": str(models_dir),
        "ANALYST_BACKEND": "embedded",
        "ANALYST_EMBEDDED_MODEL": "qwen2.5-coder-0.5b",
        "ANALYST_EMBEDDED_CTX": "2048",  # the same as the other tests: one loaded model for the session
        "ANALYST_MAX_TOKENS": "32",
        "ANALYST_TEMPERATURE": "0",
        "ANALYST_SEED": "42",
        "ANALYST_OLLAMA_HOST": "http://127.0.0.1:9",  # nothing listens there: the probe fails at once
    }.items():
        monkeypatch.setenv(name, value)
    # Services are cached per process; each test has its own data dir.
    st.cache_resource.clear()
    yield data
    st.cache_resource.clear()


@pytest.fixture()
def media_page_services(monkeypatch: pytest.MonkeyPatch, settings_factory) -> Iterator[Services]:
    """Real services for the Images & audio page; only Whisper is shared, so its weights are converted once."""
    shared = WhisperTranscriber(shared_whisper_dir(), size="tiny.en")
    monkeypatch.setattr(Services, "transcriber", property(lambda self: shared))
    svc = build_services(settings_factory())
    monkeypatch.setattr(app.ui.common, "get_services", lambda: svc)
    yield svc
    svc.close()
