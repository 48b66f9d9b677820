"""Shared fixtures: a clean environment, settings on temp dirs, a scripted chat model, the real small models.

Kept generic on purpose: tests in every layer may use these, or only `tmp_path`. The fakes and builders they use
live in the `tests.fixtures` package.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

# Plain `assert`s in shared helpers report their operands like those in test modules.
pytest.register_assert_rewrite("tests.fixtures")

from app.settings import Settings  # noqa: E402
from tests.fixtures.fake_ollama import FakeOllama  # noqa: E402
from tests.fixtures.fakes import FakeChatModel  # noqa: E402
from tests.fixtures.models import (  # noqa: E402
    SQL_MODEL,
    TEST_EMBEDDED_CTX,
    TEST_EMBEDDED_MODEL,
    TEST_MAX_TOKENS,
    packaged_model,
)
from tests.fixtures.paths import config_home_for, keys_dir_for  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The developer's ANALYST_* / OLLAMA_HOST variables never leak into a test; the audit keys live in a temp dir
    (the same one `settings_factory` uses), never in the real home."""
    for name in list(os.environ):
        if name.startswith("ANALYST_") or name == "OLLAMA_HOST":
            monkeypatch.delenv(name, raising=False)
    # The default keys_dir is under XDG_CONFIG_HOME: subprocesses that drop ANALYST_* keep it too.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home_for(tmp_path)))


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One models folder for the whole session, so a packaged model is assembled at most once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def packaged_model_path(models_dir: Path) -> Path:
    """The real qwen2.5-coder-0.5b GGUF, assembled from its part wheels and verified (once per session)."""
    return packaged_model(TEST_EMBEDDED_MODEL, models_dir)


@pytest.fixture(scope="session")
def sql_model_path(models_dir: Path) -> Path:
    """The packaged default model (qwen2.5-coder-1.5b), for tests whose SQL must be answered (once per session)."""
    return packaged_model(SQL_MODEL, models_dir)


@pytest.fixture()
def settings_factory(tmp_path: Path, models_dir: Path):
    """Build `Settings` on a temp data dir and the session's models dir; keyword arguments override fields."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "models_dir": models_dir, "user": "tester",
                                  "keys_dir": keys_dir_for(tmp_path)}
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture()
def embedded_settings(settings_factory, packaged_model_path: Path):
    """Settings for the real embedded 0.5B model; the same values everywhere keep one loaded copy in memory."""
    return settings_factory(
        backend="embedded",
        embedded_model=TEST_EMBEDDED_MODEL,
        embedded_ctx=TEST_EMBEDDED_CTX,
        max_tokens=TEST_MAX_TOKENS,
        temperature=0.0,
        seed=42,
    )


@pytest.fixture()
def fake_model() -> FakeChatModel:
    """A scripted chat model (queue replies with `fake_model.queue("Hel", "lo")`)."""
    return FakeChatModel()


@pytest.fixture()
def fake_ollama(httpserver) -> FakeOllama:
    """An Ollama look-alike on a local port (pytest-httpserver); add models and script replies."""
    return FakeOllama(httpserver)


@pytest.fixture()
def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
