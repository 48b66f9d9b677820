"""`chroma_url`: empty keeps the embedded store; a URL is checked (http/https, host, port) and written one way."""

from __future__ import annotations

import pytest

from app.errors import ConfigError
from app.settings import load_settings


@pytest.mark.parametrize(("given", "stored"), [
    ("", ""),
    ("  ", ""),
    ("http://chroma.intranet:8000", "http://chroma.intranet:8000"),
    ("http://chroma.intranet:8000/", "http://chroma.intranet:8000"),
    ("chroma.intranet:9000", "http://chroma.intranet:9000"),
    ("http://chroma.intranet", "http://chroma.intranet:8000"),
    ("https://chroma.intranet", "https://chroma.intranet:443"),
    ("HTTP://Chroma.Intranet:8000", "http://chroma.intranet:8000"),
])
def test_chroma_url_is_normalised(settings_factory, given: str, stored: str) -> None:
    assert settings_factory(chroma_url=given).chroma_url == stored


@pytest.mark.parametrize("bad", [
    "ftp://chroma.intranet:8000", "http://:8000", "http://chroma.intranet:0", "http://chroma.intranet:70000",
    "http://chroma.intranet:port", "http://user:secret@chroma.intranet:8000", "http://chroma.intranet:8000/api",
])
def test_bad_chroma_url_is_refused_with_the_field_named(monkeypatch, tmp_path, bad: str) -> None:
    monkeypatch.setenv("ANALYST_CHROMA_URL", bad)
    with pytest.raises(ConfigError) as info:
        load_settings(data_dir=tmp_path / "data")
    assert "chroma_url" in info.value.message
