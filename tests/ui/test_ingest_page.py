"""The Documents page renders, lists the library and searches (Streamlit AppTest, real library)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from app.documents.library import DocumentLibrary
from tests.fixtures import pdf_factory as pf

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


class _LeavesThePage(DocumentLibrary):
    """A library whose resume is cut short at a page, as Streamlit does when the user leaves the page."""

    stop_at_page: int | None = None

    def resume(self, progress=None):  # noqa: ANN001, ANN201 - the page's callback
        import streamlit as st

        def relay(event) -> None:  # noqa: ANN001 - IngestProgress
            progress(event)
            if event.stage == "page" and event.page == self.stop_at_page:
                st.stop()  # the script run ends here, like a rerun caused by leaving the page

        return super().resume(relay)


def test_finish_interrupted_shows_page_progress_like_an_upload(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    lib = _LeavesThePage(tmp_path / "data")
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

    at = _page_with(lib, monkeypatch).run()
    assert any("indexing was interrupted: manual.pdf" in w.value for w in at.warning)
    lib.stop_at_page = 2
    at.button(key="documents.resume").click().run()
    # The run ended at page 2: the bar shows the page reached, and the document is still honestly pending.
    assert any(p.text == "manual.pdf: page 2 of 3" for p in at.get("progress"))
    assert [d.status for d in lib.list_documents()] == ["pending"]

    lib.stop_at_page = None
    at.button(key="documents.resume").click().run()
    assert not at.exception
    assert any(p.text == "1 of 1 documents" and p.value == 100 for p in at.get("progress"))
    assert any(s.value.startswith("manual.pdf: 3 pages") for s in at.success)
    assert at.dataframe[0].value["status"].tolist() == ["indexed"]
    assert lib.search("fleet manual van number 3", k=1)
