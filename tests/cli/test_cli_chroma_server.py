"""`ANALYST_CHROMA_URL`: ingest, search, status and resume through a real Chroma server started by the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.documents.library import DocumentLibrary
from tests.fixtures.chroma_server import ChromaServer
from tests.fixtures.pdf_factory import text_pdf


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    srv = ChromaServer(tmp_path / "chroma-server").start()
    yield srv
    srv.stop()


def _pdf(path: Path, *lines: str) -> Path:
    path.write_bytes(text_pdf([[line] for line in lines]))
    return path


def _sources(cli, query: str, url: str) -> set[str]:
    done = cli("search", query, "--json", ANALYST_CHROMA_URL=url)
    assert done.returncode == 0, done.stderr
    return {r["source"] for r in json.loads(done.stdout)["results"]}


def test_ingest_and_search_through_a_chroma_server(cli, server: ChromaServer, tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / "walrus.pdf", "The walrus division reported revenue of 42 million euros.")
    done = cli("ingest", str(pdf), "--json", ANALYST_CHROMA_URL=server.url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["files"][0]["status"] == "indexed"
    assert _sources(cli, "walrus division revenue", server.url) == {"walrus.pdf"}
    assert not (cli.data_dir / "chroma" / "chroma.sqlite3").exists()  # the vectors are on the server
    status = cli("status", "--json", ANALYST_CHROMA_URL=server.url)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["vector_store"] == {
        "kind": "server", "location": server.url, "reachable": True, "error": ""}
    assert f"Chroma server {server.url} — reachable" in cli("status", ANALYST_CHROMA_URL=server.url).stdout


def test_two_data_dirs_on_one_server_stay_apart(cli, server: ChromaServer, tmp_path: Path) -> None:
    other = type(cli)(tmp_path / "other-data", cli.env)
    walrus = _pdf(tmp_path / "walrus.pdf", "The walrus division reported revenue of 42 million euros.")
    narwhal = _pdf(tmp_path / "narwhal.pdf", "The narwhal team hired seven engineers in March.")
    assert cli("ingest", str(walrus), ANALYST_CHROMA_URL=server.url).returncode == 0
    assert other("ingest", str(narwhal), ANALYST_CHROMA_URL=server.url).returncode == 0
    for query in ("walrus division revenue", "narwhal team engineers"):
        assert _sources(cli, query, server.url) <= {"walrus.pdf"}
        assert _sources(other, query, server.url) <= {"narwhal.pdf"}
    assert _sources(cli, "walrus division revenue", server.url) == {"walrus.pdf"}
    assert _sources(other, "narwhal team engineers", server.url) == {"narwhal.pdf"}


def test_server_down_at_start_exits_2_with_one_line(cli, closed_port: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    pdf = _pdf(tmp_path / "walrus.pdf", "The walrus division reported revenue.")
    for args in (("ingest", str(pdf)), ("search", "walrus")):
        done = cli(*args, ANALYST_CHROMA_URL=url)
        assert done.returncode == 2, (done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and url in lines[0] and "chroma_url" in lines[0], done.stderr
    status = cli("status", "--json", ANALYST_CHROMA_URL=url)
    assert status.returncode == 0, status.stderr
    store = json.loads(status.stdout)["vector_store"]
    assert store["kind"] == "server" and store["reachable"] is False and url in store["error"]


def test_bad_chroma_url_is_a_config_error(cli) -> None:
    done = cli("status", ANALYST_CHROMA_URL="ftp://chroma.intranet:8000")
    assert done.returncode == 2 and "chroma_url" in done.stderr and "http://" in done.stderr


def test_server_killed_mid_ingest_then_docs_resume_finishes(cli, server: ChromaServer, tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / "budget.pdf", *(f"Page {n}: the narwhal budget grew by {n} percent." for n in range(1, 5)))
    lib = DocumentLibrary(cli.data_dir, chroma_url=server.url, batch_chunks=1)

    def kill_after_first_page(event) -> None:
        if event.stage == "page" and event.page == 1:
            server.kill()

    result = lib.ingest_file(pdf, progress=kill_after_first_page)
    assert result.status == "error" and server.url in result.error

    server.start()
    assert _sources(cli, "narwhal budget", server.url) == set()  # not half-visible
    listed = json.loads(cli("docs", "list", "--json", ANALYST_CHROMA_URL=server.url).stdout)
    assert [d["status"] for d in listed["documents"]] == ["pending"]
    resumed = cli("docs", "resume", ANALYST_CHROMA_URL=server.url)
    assert resumed.returncode == 0, resumed.stderr
    assert _sources(cli, "narwhal budget", server.url) == {"budget.pdf"}
