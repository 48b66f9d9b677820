"""Clean cancellation: a cancelled job's uploaded files are removed (and nothing else), a failed job's are kept for
Retry until `job_uploads_kept_days` has passed, and a cancelled transcription is recorded as cancelled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.container import Services, build_services
from app.errors import BadInputError
from multimodal.transcribe import WhisperTranscriber
from tests.fixtures import pdf_factory as pf
from tests.fixtures.jobs import finished, wait_for_job
from tests.fixtures.media import shared_whisper_dir
from tests.fixtures.paths import FIXTURES


@pytest.fixture()
def services(settings_factory) -> Iterator[Services]:
    svc = build_services(settings_factory(job_uploads_kept_days=2))
    yield svc
    svc.close()


def _manual(pages: int) -> bytes:
    return pf.text_pdf([[f"Page {p} of the fleet manual: van {p} is serviced in depot {p % 7}, line {i}."
                         for i in range(30)] for p in range(1, pages + 1)])


def test_cancelling_a_queued_upload_removes_its_files_and_nothing_else(services: Services) -> None:
    kept = services.jobs.submit_uploads([("keep.pdf", _manual(1))])
    gone = services.jobs.submit_uploads([("notes.pdf", _manual(1)), ("more.pdf", _manual(1))])
    folder, other = Path(gone.payload["uploads_dir"]), Path(kept.payload["uploads_dir"])
    assert services.jobs.cancel(gone.id).state == "cancelled"
    assert not folder.exists()
    assert (other / "0" / "keep.pdf").is_file() and services.jobs.uploads_dir.is_dir()
    assert not services.jobs.can_retry(services.jobs.get(gone.id))  # so the jobs panel offers no Retry
    with pytest.raises(BadInputError, match="the files uploaded for it were removed") as caught:
        services.jobs.retry(gone.id)
    assert caught.value.hint == "Upload the files again."


def test_cancelling_a_running_ingestion_removes_its_upload_once_it_stops(services: Services) -> None:
    job = services.jobs.submit_uploads([("big.pdf", _manual(300))])
    folder = Path(job.payload["uploads_dir"])
    services.jobs.start_consumer()
    wait_for_job(services.jobs.store, job.id, lambda j: j.state == "running" and j.progress > 0)
    assert folder.is_dir()  # read while it runs
    services.jobs.cancel(job.id)
    assert wait_for_job(services.jobs.store, job.id, finished).state == "cancelled"
    assert not folder.exists()


def test_a_failed_jobs_upload_is_kept_for_retry_then_removed_after_the_kept_days(services: Services) -> None:
    job = services.jobs.submit_uploads([("broken.pdf", b"%PDF-1.4 not really a PDF")])
    folder = Path(job.payload["uploads_dir"])
    services.jobs.start_consumer()
    assert wait_for_job(services.jobs.store, job.id, finished).state == "failed"
    assert services.jobs.sweep_uploads() == [] and folder.is_dir()  # kept: the user may fix it and Retry
    assert services.jobs.can_retry(services.jobs.get(job.id))
    three_days_ago = time.time() - 3 * 86400
    services.jobs.store._update("UPDATE jobs SET finished_at = ? WHERE id = ?", (three_days_ago, job.id))
    assert services.jobs.sweep_uploads() == [job.id]
    assert not folder.exists() and services.jobs.get(job.id).state == "failed"  # the job itself stays listed
    assert not services.jobs.can_retry(services.jobs.get(job.id))


def test_a_cancelled_transcription_is_recorded_as_cancelled(services: Services, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    whisper = WhisperTranscriber(shared_whisper_dir(), size="tiny.en")
    job_ids: list[str] = []

    class CancelledWhileRunning:
        """The real transcriber; the user clicks Cancel while it runs (before its progress report)."""

        def transcribe(self, source: Any, **kwargs: Any) -> Any:
            report = kwargs.pop("progress")

            def cancel_then_report(seconds: float, total: float | None) -> None:
                services.jobs.cancel(job_ids[0])
                report(seconds, total)

            return whisper.transcribe(source, progress=cancel_then_report, **kwargs)

    monkeypatch.setattr(Services, "transcriber", property(lambda self: CancelledWhileRunning()))
    wav = (FIXTURES / "audio" / "ten_of_clubs.wav").read_bytes()
    job = services.jobs.submit_recording("cards.wav", wav, size="tiny.en")
    job_ids.append(job.id)
    folder = Path(job.payload["uploads_dir"])
    services.jobs.start_consumer()
    assert wait_for_job(services.jobs.store, job.id, finished, timeout=180).state == "cancelled"
    (record,) = services.records.query(kind="transcribe")
    assert (record["status"], record["file_name"], record["job_id"]) == ("cancelled", "cards.wav", job.id)
    assert record["origin"] == "images & audio page" and record["user"] == "tester"
    assert not folder.exists()
