"""ChromaIndex and the document library against a real Chroma server (`chroma run` on 127.0.0.1, started here)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.container import build_services
from app.documents.library import DocumentLibrary
from app.errors import VectorStoreUnavailableError
from storage.chroma_index import ChromaIndex, server_collection_name
from storage.documents import INDEXED, PENDING
from storage.embedder import shared_embedder
from tests.fixtures.chroma_server import ChromaServer
from tests.fixtures.paths import ROOT
from tests.fixtures.pdf_factory import text_pdf


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    srv = ChromaServer(tmp_path / "chroma-server").start()
    yield srv
    srv.stop()


def test_each_library_gets_its_own_collection_on_a_shared_server(server: ChromaServer, tmp_path: Path) -> None:
    emb = shared_embedder()
    one = ChromaIndex(tmp_path / "one" / "chroma", emb, url=server.url)
    two = ChromaIndex(tmp_path / "two" / "chroma", emb, url=server.url)
    assert one.collection_name != two.collection_name
    one.add(["a:1:0"], ["quarterly revenue of the walrus unit"], [{"doc_id": "a", "page": 1}])
    assert one.count() == 1 and two.count() == 0
    assert two.search(emb.embed(["walrus revenue"])[0], k=5) == []
    # Reopened (another process, a restart): the same collection, the same chunks.
    again = ChromaIndex(tmp_path / "one" / "chroma", emb, url=server.url)
    assert again.collection_name == one.collection_name == server_collection_name(tmp_path / "one" / "chroma")
    assert again.count() == 1
    assert not (tmp_path / "one" / "chroma" / "chroma.sqlite3").exists()  # nothing embedded was created


def test_server_down_at_start_is_a_typed_error_naming_the_url(tmp_path: Path, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(VectorStoreUnavailableError) as info:
        ChromaIndex(tmp_path / "chroma", shared_embedder(), url=url)
    assert url in info.value.message
    assert "chroma_url" in info.value.hint


def test_server_killed_mid_ingest_leaves_nothing_half_visible_and_resume_finishes(
        server: ChromaServer, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(text_pdf([[f"Page {n}: the narwhal budget grew by {n} percent."] for n in range(1, 5)]))
    lib = DocumentLibrary(tmp_path / "data", chroma_url=server.url, batch_chunks=1)

    def kill_after_first_page(event) -> None:
        if event.stage == "page" and event.page == 1:
            server.kill()

    result = lib.ingest_file(pdf, progress=kill_after_first_page)
    assert result.status == "error"
    assert result.error_type == "VectorStoreUnavailableError"
    assert server.url in result.error
    doc = lib.registry.get(result.id)
    assert doc is not None and doc.status == PENDING and "resume" in doc.error
    assert lib.keywords.count(result.id) == 0  # the keyword rows went with the failed ingest

    server.start()  # the server is back, with page 1's vectors still in it
    lib = DocumentLibrary(tmp_path / "data", chroma_url=server.url, batch_chunks=1)  # a new process
    assert lib.search("narwhal budget") == []  # not half-visible
    [resumed] = lib.resume()
    assert resumed.status == INDEXED, resumed.error
    hits = lib.search("narwhal budget")
    assert hits and {h.doc_id for h in hits} == {result.id}
    chunks = lib.registry.get(result.id).chunks
    assert lib.vectors.count(result.id) == lib.keywords.count(result.id) == chunks == 4


def test_changing_chroma_url_in_settings_moves_the_library_to_a_server(server: ChromaServer, settings_factory) -> None:
    services = build_services(settings_factory())
    assert services.documents.vectors.location.endswith("chroma")
    assert services.vector_store_status().kind == "embedded"
    services.apply_settings({"chroma_url": server.url})
    assert services.documents.vectors.location == server.url
    status = services.vector_store_status()
    assert (status.kind, status.location, status.reachable) == ("server", server.url, True)
    services.close()


def test_a_server_that_never_answers_fails_at_start_instead_of_hanging(tmp_path: Path) -> None:
    # A socket that listens but never accepts: connecting works, the heartbeat never comes back.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        code = ("from pathlib import Path; from storage.chroma_index import ChromaIndex; "
                "from storage.embedder import shared_embedder; "
                f"ChromaIndex(Path({str(tmp_path / 'chroma')!r}), shared_embedder(), url={url!r})")
        try:
            done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail("opening the index waited for the silent server without end")
    assert done.returncode != 0
    assert "VectorStoreUnavailableError" in done.stderr and url in done.stderr
