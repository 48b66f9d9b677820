"""An ingestion started in the browser finishes after the tab is closed, and every page's jobs panel shows it."""

from __future__ import annotations

import time
from pathlib import Path

from app.jobs.store import JobStore
from storage.documents import DocumentRegistry
from tests.fixtures import pdf_factory as pf
from tests.fixtures.browser import assert_no_exception


def _manual(pages: int) -> bytes:
    return pf.text_pdf([[f"Page {p} of the fleet manual: van {p} is serviced in depot {p % 7}, line {i}."
                         for i in range(60)] for p in range(1, pages + 1)])


def test_an_upload_goes_on_after_the_tab_is_closed(running_app, browser_page, tmp_path: Path) -> None:
    page = browser_page
    pdf = pf.write(tmp_path / "manual.pdf", _manual(40))
    page.goto(f"{running_app.url}/documents")
    page.get_by_text("you can leave this page or close the tab").first.wait_for(timeout=60_000)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(pdf))
    page.get_by_text("manual.pdf").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Add to library").click()

    jobs = JobStore(running_app.data_dir / "job_status.sqlite")
    deadline = time.monotonic() + 120
    while not (listed := jobs.list(1)) or listed[0].state != "running":
        assert time.monotonic() < deadline, f"no job started: {listed}\n{running_app.log()[-2000:]}"
        time.sleep(0.2)
    page.close()  # the user closes the tab mid-ingestion

    deadline = time.monotonic() + 300
    while not (job := jobs.get(listed[0].id)).finished:
        assert time.monotonic() < deadline, f"the job did not finish: {job}\n{running_app.log()[-2000:]}"
        time.sleep(0.5)
    assert job.state == "done", job
    (doc,) = DocumentRegistry(running_app.data_dir / "documents.sqlite").list()
    assert (doc.name, doc.status, doc.pages) == ("manual.pdf", "indexed", 40)

    # Back in a new tab, any page: the sidebar's jobs panel says how it went.
    browser = page.context.browser
    assert browser is not None
    again = browser.new_page()
    again.goto(f"{running_app.url}/tables")
    again.get_by_text("Background jobs").first.wait_for(timeout=60_000)
    again.get_by_text("1 files: 1 indexed").first.wait_for(timeout=30_000)
    assert_no_exception(again)
