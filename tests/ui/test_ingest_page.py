"""The Documents page renders, lists the library and searches (Streamlit AppTest, real library)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from app.container import build_services
from app.documents.library import DocumentLibrary
from tests.fixtures import pdf_factory as pf
from tests.fixtures.jobs import finished, wait_for_job

PAGE = Path(__file__).resolve().parents[2] / "pages" / "documents.py"


def test_documents_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    streamlit_testing = pytest.importorskip("streamlit.testing.v1")
    import app.ui.common

    lib = DocumentLibrary(tmp_path / "data")
    lib.ingest_file(pf.write(tmp_path / "fleet.pdf", pf.text_pdf([["The fleet has 14 delivery vans in Leeds."]])))
    monkeypatch.setattr(app.ui.common, "get_services", lambda: SimpleNamespace(documents=lib))
    at = streamlit_testing.AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception
    assert "fleet.pdf" in at.dataframe[0].value["name"].tolist()
    at.text_input(key="documents.query").input("how many vans").run()
    assert not at.exception
    assert any("fleet.pdf, page 1" in m.value for m in at.markdown)
    at.text_input(key="documents.query").input("volcanic eruptions on Mars in kelvin").run()
    assert any("Not in your documents" in w.value for w in at.warning)


def _page_with(lib: DocumentLibrary, monkeypatch: pytest.MonkeyPatch):
    streamlit_testing = pytest.importorskip("streamlit.testing.v1")
    import app.ui.common

    monkeypatch.setattr(app.ui.common, "get_services", lambda: SimpleNamespace(documents=lib))
    return streamlit_testing.AppTest.from_file(str(PAGE), default_timeout=60)


def test_the_page_says_before_anything_is_added_that_indexing_goes_on_without_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page_with(DocumentLibrary(tmp_path / "data"), monkeypatch).run()
    assert not at.exception
    # Shown with the upload form, i.e. before the click that starts indexing (uploads are background jobs).
    assert any("you can leave this page or close the tab, indexing goes on" in c.value for c in at.caption)


def test_finish_interrupted_is_a_background_job_shown_like_an_upload(
        settings_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    streamlit_testing = pytest.importorskip("streamlit.testing.v1")
    import app.ui.common

    services = build_services(settings_factory())
    lib = services.documents
    pages = [[f"Chapter {i} of the fleet manual covers van number {i}."] for i in range(1, 4)]
    pdf = pf.write(tmp_path / "manual.pdf", pf.text_pdf(pages))

    def crash_at_page_2(event) -> None:  # noqa: ANN001 - IngestProgress
        if event.stage == "page" and event.page == 2:
            raise RuntimeError("the tab was closed")

    try:
        lib.ingest_file(pdf, progress=crash_at_page_2)
    except RuntimeError:
        pass  # raised by versions before a failing file was reported as an error result (issue 17, finding 9)
    assert [d.status for d in lib.list_documents()] == ["pending"]
    monkeypatch.setattr(app.ui.common, "get_services", lambda: services)
    try:
        at = streamlit_testing.AppTest.from_file(str(PAGE), default_timeout=60).run()
        assert any("indexing was interrupted: manual.pdf" in w.value and "in the background" in w.value
                   for w in at.warning)
        at.button(key="documents.resume").click().run()
        assert not at.exception
        (job,) = services.jobs.list()
        assert job.kind == "ingest" and job.payload["resume"] is True
        done = wait_for_job(services.jobs.store, job.id, finished)  # the app's consumer runs it: no page needed
        assert done.state == "done" and done.message == "1 files: 1 indexed, 0 skipped, 0 failed"
        at.run()
        assert not at.exception
        assert any(s.value.startswith("manual.pdf: 3 pages") for s in at.success)
        assert at.dataframe[0].value["status"].tolist() == ["indexed"]
        assert lib.search("fleet manual van number 3", k=1)
    finally:
        services.close()
