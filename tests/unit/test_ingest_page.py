"""The Documents page renders, lists the library and searches (Streamlit AppTest, real library)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "pdf"))
import pdf_factory as pf  # noqa: E402

from app.services.ingest import DocumentLibrary  # noqa: E402

PAGE = Path(__file__).resolve().parents[2] / "pages" / "documents.py"


def test_documents_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    streamlit_testing = pytest.importorskip("streamlit.testing.v1")
    import app.ui

    lib = DocumentLibrary(tmp_path / "data")
    lib.ingest_file(pf.write(tmp_path / "fleet.pdf", pf.text_pdf([["The fleet has 14 delivery vans in Leeds."]])))
    monkeypatch.setattr(app.ui, "get_services", lambda: SimpleNamespace(documents=lib))
    at = streamlit_testing.AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception
    assert "fleet.pdf" in at.dataframe[0].value["name"].tolist()
    at.text_input(key="documents.query").input("how many vans").run()
    assert not at.exception
    assert any("fleet.pdf, page 1" in m.value for m in at.markdown)
    at.text_input(key="documents.query").input("volcanic eruptions on Mars in kelvin").run()
    assert any("Not in your documents" in w.value for w in at.warning)
