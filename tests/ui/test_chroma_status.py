"""The sidebar's status panel names the vector store in use and whether a Chroma server answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures.chroma_server import ChromaServer
from tests.fixtures.paths import ENTRY


def _sidebar(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption) + " ".join(w.value for w in at.sidebar.warning)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    srv = ChromaServer(tmp_path / "chroma-server").start()
    yield srv
    srv.stop()


def test_embedded_store_is_named(data_dir) -> None:
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception
    assert "Vectors: embedded Chroma in the data directory" in _sidebar(at)


def test_unreachable_server_is_shown_with_its_fix(data_dir, closed_port, monkeypatch) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    monkeypatch.setenv("ANALYST_CHROMA_URL", url)
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception
    sidebar = _sidebar(at)
    assert f"Chroma server at `{url}` not reachable" in sidebar
    assert "chroma run" in sidebar and "ANALYST_CHROMA_URL" in sidebar


def test_reachable_server_is_shown(data_dir, server: ChromaServer, monkeypatch) -> None:
    monkeypatch.setenv("ANALYST_CHROMA_URL", server.url)
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception
    sidebar = _sidebar(at)
    assert f"Vectors: Chroma server at `{server.url}`" in sidebar and "not reachable" not in sidebar.split("Vectors")[1]
