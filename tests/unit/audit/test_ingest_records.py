"""Every file added to the library leaves an `ingest` record (indexed, already there, or failed), whichever way it
came in, with the file's name but never the folder it came from; the chain stays valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.container import build_services
from tests.fixtures import pdf_factory as pf


def test_each_ingested_file_is_recorded_once_with_its_outcome(settings_factory, tmp_path: Path) -> None:
    services = build_services(settings_factory(user="ann"))
    try:
        (tmp_path / "private").mkdir()
        report = pf.write(tmp_path / "private" / "report.pdf", pf.text_pdf([["Revenue grew 12 percent in 2025."]]))
        broken = tmp_path / "private" / "broken.pdf"
        broken.write_bytes(b"not a pdf at all")
        services.documents.ingest_paths([report, broken])
        services.documents.ingest_file(report)  # the same content again: skipped, still recorded
        services.documents.ingest_bytes(report.read_bytes(), "upload.pdf")  # the uploader's path
        records = services.records.query(kind="ingest")
        seen = sorted((r["name"], r["outcome"], r["status"], r["user"]) for r in records)
        assert seen == [("broken.pdf", "error", "error", "ann"), ("report.pdf", "indexed", "ok", "ann"),
                        ("report.pdf", "skipped", "ok", "ann"), ("upload.pdf", "skipped", "ok", "ann")]
        indexed = next(r for r in records if r["outcome"] == "indexed")
        assert indexed["pages"] == 1 and indexed["chunks"] >= 1 and indexed["doc_id"]
        failed = next(r for r in records if r["outcome"] == "error")
        assert "broken.pdf" in failed["error"]
        assert all(str(tmp_path) not in str(r) for r in records)  # the folder a file came from is not kept
        assert services.records.verify() == []
    finally:
        services.close()


class _Stopped(BaseException):
    """Like a cancelled job's signal: not an error of the file."""


def test_a_file_stopped_half_way_is_recorded_as_cancelled(settings_factory, tmp_path: Path) -> None:
    services = build_services(settings_factory(user="ann"))
    try:
        manual = pf.write(tmp_path / "manual.pdf", pf.text_pdf([[f"Page {p} of the manual."] for p in range(1, 6)]))

        def stop_at_first_page(event) -> None:
            if event.stage == "page":
                raise _Stopped

        with pytest.raises(_Stopped):  # passed on, not swallowed as a file error
            services.documents.ingest_file(manual, progress=stop_at_first_page)
        (record,) = services.records.query(kind="ingest")
        assert (record["name"], record["status"], record["outcome"]) == ("manual.pdf", "cancelled", "cancelled")
    finally:
        services.close()
