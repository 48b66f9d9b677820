"""Errors from an upload name the file as the user knows it, not the stored content-addressed copy."""

from __future__ import annotations

from app.documents.library import DocumentLibrary
from tests.fixtures import pdf_factory as pf


def test_upload_errors_name_the_uploaded_file(tmp_path):
    lib = DocumentLibrary(tmp_path / "data")
    fake = lib.ingest_bytes(b"this is not a pdf", "contract.pdf")
    truncated = lib.ingest_bytes(pf.text_pdf([["Hello world."] * 40])[:400], "report.pdf")

    assert fake.status == "error" and fake.error.startswith("contract.pdf is not a PDF")
    assert truncated.status == "error" and truncated.error.startswith("report.pdf ")
    assert lib.list_documents() == []  # nothing stored from either
