"""Background jobs on real services: ingestion through the queue, cancel, retry, a dead worker's job resumed."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.container import Services, build_services
from app.errors import BadInputError, ConfigError
from app.jobs.store import Job
from tests.fixtures import pdf_factory as pf
from tests.fixtures.turns import SALES_CSV


@pytest.fixture()
def services(settings_factory) -> Iterator[Services]:
    svc = build_services(settings_factory())
    yield svc
    svc.close()


def wait_for(services: Services, job_id: str, done: Callable[[Job], bool], timeout: float = 60.0) -> Job:
    """Poll the job store until `done(job)`; fails the test with the job's last state on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        job = services.jobs.get(job_id)
        if done(job):
            return job
        assert time.monotonic() < deadline, f"job did not get there in {timeout} s: {job}"
        time.sleep(0.05)


def manual(pages: int) -> bytes:
    return pf.text_pdf([[f"Page {p} of the fleet manual: van {p} is serviced in depot {p % 7}, line {i}."
                         for i in range(30)] for p in range(1, pages + 1)])


def test_ingestion_job_indexes_the_files_and_reports_progress(services: Services, tmp_path: Path) -> None:
    pdf = pf.write(tmp_path / "fleet.pdf", manual(3))
    job = services.jobs.submit("ingest", {"paths": [str(pdf)]})
    assert job.state == "queued" and job.message == "waiting for a worker"
    services.jobs.start_consumer()
    done = wait_for(services, job.id, lambda j: j.finished)
    assert (done.state, done.progress, done.message) == ("done", 1.0, "1 files: 1 indexed, 0 skipped, 0 failed")
    assert done.result["files"][0]["status"] == "indexed" and done.attempts == 1
    assert services.documents.search("which depot services van 2", k=1)[0].source == "fleet.pdf"


def test_uploads_are_kept_for_the_job_and_removed_when_it_is_done(services: Services) -> None:
    job = services.jobs.submit_uploads([("notes.pdf", manual(1))])
    folder = Path(job.payload["uploads_dir"])
    assert (folder / "0" / "notes.pdf").is_file()
    services.jobs.start_consumer()
    assert wait_for(services, job.id, lambda j: j.finished).state == "done"
    assert not folder.exists()
    assert [d.name for d in services.documents.list_documents()] == ["notes.pdf"]


def test_a_cancelled_queued_job_never_runs(services: Services, tmp_path: Path) -> None:
    pdf = pf.write(tmp_path / "fleet.pdf", manual(1))
    job = services.jobs.submit("ingest", {"paths": [str(pdf)]})
    assert services.jobs.cancel(job.id).state == "cancelled"
    services.jobs.start_consumer()
    time.sleep(1.0)
    assert services.jobs.get(job.id).state == "cancelled"
    assert services.documents.list_documents() == []
    with pytest.raises(BadInputError, match="already cancelled"):
        services.jobs.cancel(job.id)


def test_cancel_stops_a_running_ingestion_between_pages(services: Services, tmp_path: Path) -> None:
    pdf = pf.write(tmp_path / "big.pdf", manual(400))
    job = services.jobs.submit("ingest", {"paths": [str(pdf)]})
    services.jobs.start_consumer()
    wait_for(services, job.id, lambda j: j.state == "running" and j.progress > 0)
    services.jobs.cancel(job.id)
    cancelled = wait_for(services, job.id, lambda j: j.finished)
    assert cancelled.state == "cancelled" and "Finish interrupted" in cancelled.message
    (doc,) = services.documents.list_documents()
    assert doc.status == "pending"  # not half-visible: nothing of it is searchable
    assert services.documents.search("fleet manual van 3 depot", k=3) == []


def test_a_failed_job_keeps_its_message_and_a_retry_finishes_it(services: Services, tmp_path: Path) -> None:
    broken = tmp_path / "report.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a PDF")
    job = services.jobs.submit("ingest", {"paths": [str(broken)]})
    services.jobs.start_consumer()
    failed = wait_for(services, job.id, lambda j: j.finished)
    assert failed.state == "failed" and "report.pdf" in failed.error and "0 indexed" in failed.message
    assert services.jobs.list()[0].error == failed.error  # every page's panel reads it from the store
    broken.write_bytes(manual(2))  # the user fixed the file
    services.jobs.retry(job.id)
    again = wait_for(services, job.id, lambda j: j.finished)
    assert (again.state, again.attempts, again.error) == ("done", 2, "")
    with pytest.raises(BadInputError, match="only failed or cancelled"):
        services.jobs.retry(job.id)


def test_missing_paths_fail_the_job_with_what_to_do(services: Services, tmp_path: Path) -> None:
    job = services.jobs.submit("ingest", {"paths": [str(tmp_path / "gone.pdf")]})
    services.jobs.start_consumer()
    failed = wait_for(services, job.id, lambda j: j.finished)
    assert failed.state == "failed" and "No such file or folder" in failed.error and "gone.pdf" in failed.error


def test_unknown_kind_is_refused(services: Services) -> None:
    with pytest.raises(BadInputError, match="Unknown job kind"):
        services.jobs.submit("mine-bitcoin", {})


def test_a_running_job_whose_worker_died_is_queued_again(services: Services, tmp_path: Path) -> None:
    pdf = pf.write(tmp_path / "fleet.pdf", manual(2))
    job = services.jobs.submit("ingest", {"paths": [str(pdf)]})
    # As a worker killed mid-job leaves it: claimed by a process that no longer exists, its message consumed.
    services.jobs.huey.flush()
    services.jobs.store._update("UPDATE jobs SET state = 'running', worker = ? WHERE id = ?",
                                (f"{socket.gethostname()}:999999", job.id))
    assert services.jobs.recover() == [job.id]
    assert services.jobs.get(job.id).message == "resumed: its worker stopped mid-job"
    services.jobs.start_consumer()
    assert wait_for(services, job.id, lambda j: j.finished).state == "done"


def test_a_redis_queue_that_is_down_fails_the_submission_with_the_fix(settings_factory, closed_port: int,
                                                                       tmp_path: Path) -> None:
    svc = build_services(settings_factory(jobs_url=f"redis://127.0.0.1:{closed_port}/0"))
    try:
        with pytest.raises(ConfigError, match="job queue at redis://127.0.0.1") as caught:
            svc.jobs.submit("ingest", {"paths": [str(tmp_path)]})
        assert "Start the Redis server" in caught.value.hint
        assert svc.jobs.list()[0].state == "failed"  # recorded, not lost
    finally:
        svc.close()


def test_a_table_loading_job_loads_big_files_and_names_a_bad_one(services: Services, tmp_path: Path) -> None:
    sales = tmp_path / "sales.csv"
    sales.write_bytes(SALES_CSV)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 cut off")
    job = services.jobs.submit("tables", {"paths": [str(sales), str(broken)]})
    services.jobs.start_consumer()
    done = wait_for(services, job.id, lambda j: j.finished)
    assert done.state == "failed" and done.message.startswith("2 table files: 1 loaded, 1 failed")
    assert "broken.xlsx" in done.error
    assert [f["status"] for f in done.result["files"]] == ["indexed", "error"]
    assert "sales" in [t.name for t in services.tables.tables()]
