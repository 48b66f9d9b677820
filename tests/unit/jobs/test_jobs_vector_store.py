"""An ingestion job whose Chroma server is down is tried again by itself and finishes once the server is back
(a real `chroma run` on 127.0.0.1)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import app.jobs.queue
from app.container import build_services
from tests.fixtures import pdf_factory as pf
from tests.fixtures.chroma_server import ChromaServer


def test_a_job_waits_for_the_chroma_server_and_finishes_when_it_answers(
        settings_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.jobs.queue, "VECTOR_RETRY_S", 1.0)
    server = ChromaServer(tmp_path / "chroma-server")  # not started yet: the job finds nobody there
    services = build_services(settings_factory(chroma_url=server.url))
    try:
        pdf = pf.write(tmp_path / "fleet.pdf", pf.text_pdf([["The fleet has 14 delivery vans in Leeds."]]))
        job = services.jobs.submit("ingest", {"paths": [str(pdf)]})
        services.jobs.start_consumer()
        deadline = time.monotonic() + 60
        while "vector store did not answer" not in services.jobs.get(job.id).message:
            assert time.monotonic() < deadline, services.jobs.get(job.id)
            time.sleep(0.1)
        assert services.jobs.get(job.id).error  # the reason stays readable meanwhile
        server.start()
        deadline = time.monotonic() + 120
        while not (done := services.jobs.get(job.id)).finished or done.state == "failed" and done.attempts <= 3:
            assert time.monotonic() < deadline, done
            time.sleep(0.2)
        assert done.state == "done", done
        assert services.documents.search("how many delivery vans", k=1)[0].source == "fleet.pdf"
    finally:
        services.close()
        server.stop()
