"""Pages that hand work to background jobs (Streamlit AppTest, real services and whisper): an upload on the
Documents page and a long recording on the Images & audio page finish in the job, and the pages show the outcome;
the sidebar's jobs panel lists them with Retry for a failed one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app.ui.common
import app.ui.media
from app.container import Services
from app.jobs.store import Job
from tests.fixtures import pdf_factory as pf
from tests.fixtures.paths import FIXTURES

PAGES = Path(__file__).resolve().parents[2] / "pages"


@pytest.fixture()
def services(media_page_services: Services) -> Services:
    return media_page_services  # tests/ui/conftest.py: real services, one shared Whisper


def _finished(services: Services, timeout: float = 120) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = services.jobs.list(1)[0]
        if job.finished:
            return job
        assert time.monotonic() < deadline, f"the job did not finish in {timeout} s: {job}"
        time.sleep(0.1)


def test_an_upload_becomes_a_job_and_the_page_shows_how_it_went(services: Services) -> None:
    at = AppTest.from_file(str(PAGES / "documents.py"), default_timeout=60).run()
    pdf = pf.text_pdf([["The fleet has 14 delivery vans in Leeds."]])
    uploader = at.get("file_uploader")[0]
    uploader.set_value(("fleet.pdf", pdf, "application/pdf"))
    at.button[0].click().run()  # the form's "Add to library"
    assert not at.exception
    job = _finished(services)  # the app's consumer ran it: no page needed
    assert job.state == "done" and job.kind == "ingest"
    at.run()
    assert any(s.value.startswith("fleet.pdf: 1 pages, 1 passages") for s in at.success)
    assert at.dataframe[0].value["name"].tolist() == ["fleet.pdf"]


def test_a_long_recording_is_transcribed_by_a_job(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.ui.media, "IN_PAGE_MAX_S", 0.5)  # the fixture clip is short; treat it as long
    at = AppTest.from_file(str(PAGES / "media.py"), default_timeout=120).run()
    wav = (FIXTURES / "audio" / "ten_of_clubs.wav").read_bytes()
    at.file_uploader(key="media.audio").set_value(("cards.wav", wav, "audio/wav"))
    at.selectbox(key="media.size").set_value("tiny.en").run()
    at.button(key="media.go").click().run()
    assert not at.exception
    assert any("Transcribing in the background" in p.text for p in at.get("progress"))
    job = _finished(services)
    assert job.state == "done" and job.kind == "transcribe" and job.message.startswith("transcribed")
    at.run()
    assert at.radio(key="media.segment").options  # the transcript from the job
    (record,) = services.records.query(kind="transcribe")
    assert record["origin"] == "images & audio page" and record["status"] == "ok"


def test_the_jobs_panel_shows_a_failed_job_with_its_message_and_retry(services: Services, tmp_path: Path) -> None:
    job = services.jobs.submit("ingest", {"paths": [str(tmp_path / "gone.pdf")]})
    services.jobs.start_consumer()
    assert _finished(services).state == "failed"

    def panel() -> None:
        from app.ui.common import get_services
        from app.ui.jobs import jobs_panel as draw

        draw(get_services())

    at = AppTest.from_function(panel, default_timeout=60).run()
    assert not at.exception
    assert any("failed" in c.value and "gone.pdf" in c.value for c in at.caption)
    at.button(key=f"jobs.retry.{job.id}").click().run()
    assert not at.exception
    again = _finished(services)
    assert again.id == job.id and again.attempts == 2 and "gone.pdf" in again.error
