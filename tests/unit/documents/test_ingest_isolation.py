"""One bad file fails alone (issue 17, finding 9): the others are ingested, the summary names both, no traceback."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest

from app.commands import docs
from app.documents.library import DocumentLibrary
from app.documents.results import IngestProgress
from storage.tables import TableStore
from tests.fixtures import pdf_factory as pf


def _run(services: Any, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    docs.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.handler(args, services)
    return code, capsys.readouterr().out


def _pdf(path: Path, text: str) -> Path:
    return pf.write(path, pf.text_pdf([[text]]))


@pytest.fixture()
def lib(tmp_path: Path) -> DocumentLibrary:
    return DocumentLibrary(tmp_path / "data")


def test_a_file_that_vanishes_mid_folder_fails_alone(tmp_path: Path, lib: DocumentLibrary) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(3):
        _pdf(folder / f"doc{n}.pdf", f"Document {n} says the budget is {n} thousand euros.")

    def delete_the_next(event: IngestProgress) -> None:  # the file is gone by the time the folder reaches it
        if event.stage == "start" and event.path.endswith("doc0.pdf"):
            (folder / "doc1.pdf").unlink()

    results = lib.ingest_paths([folder], progress=delete_the_next)
    assert [(Path(r.path).name, r.status) for r in results] == [
        ("doc0.pdf", "indexed"), ("doc1.pdf", "error"), ("doc2.pdf", "indexed")]
    assert "doc1.pdf" in results[1].error and "No such file" in results[1].error


def test_an_unexpected_failure_inside_one_file_does_not_stop_the_others(
        tmp_path: Path, lib: DocumentLibrary, monkeypatch: pytest.MonkeyPatch) -> None:
    # No real file makes the page loop fail on demand: stand in for a library bug on one file only.
    real = DocumentLibrary._index_pages

    def flaky(self: DocumentLibrary, doc_id: str, source: str, *rest: Any) -> dict[str, int]:
        if source == "doc1.pdf":
            raise RuntimeError("simulated fault in a PDF library")
        return real(self, doc_id, source, *rest)

    monkeypatch.setattr(DocumentLibrary, "_index_pages", flaky)
    paths = [_pdf(tmp_path / f"doc{n}.pdf", f"Document {n} mentions invoices.") for n in range(3)]
    results = lib.ingest_paths(paths)
    assert [r.status for r in results] == ["indexed", "error", "indexed"]
    assert "doc1.pdf" in results[1].error and "RuntimeError: simulated fault" in results[1].error
    assert results[1].error_type == "RuntimeError"
    # Nothing half-visible is left of it: the row waits for `docs resume`, its chunks are not searchable.
    assert [d.status for d in lib.list_documents() if d.name == "doc1.pdf"] == ["pending"]
    assert all(p.source != "doc1.pdf" for p in lib.search("invoices", k=10))


def test_files_named_as_documents_but_unreadable_are_errors_not_skips(tmp_path: Path, lib: DocumentLibrary) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _pdf(folder / "good.pdf", "The travel budget for 2024 is 15,000 euros.")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "random.png").write_bytes(b"\x00" + os.urandom(3000))
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.xyz").write_text("# Notes\nNot a document the library takes.\n")
    (folder / "blank").write_bytes(b"")
    results = {Path(r.path).name: r for r in lib.ingest_paths([folder])}
    assert results["good.pdf"].status == "indexed"
    assert results["empty.pdf"].status == "error"
    assert results["empty.pdf"].error.startswith("empty.pdf is empty (0 bytes).")
    assert results["random.png"].status == "error" and "random.png is not a supported image" in results[
        "random.png"].error
    assert results["empty.wav"].status == "error" and "empty" in results["empty.wav"].error
    # Files that do not claim to be documents are still passed over, each with its reason.
    assert (results["notes.xyz"].status, results["blank"].status) == ("skipped", "skipped")
    assert results["blank"].error == "an empty file"
    assert "not a PDF, image or recording" in results["notes.xyz"].error


class _FlakyTables:
    """The real table store, except that one file makes it fail in a way nobody planned for."""

    def __init__(self, store: TableStore) -> None:
        self.store = store

    def load_table_file(self, path: Path) -> Any:
        if Path(path).name == "boom.csv":
            raise RuntimeError("simulated fault in the table loader")
        return self.store.load_file(path)


def test_cli_folder_with_damaged_and_failing_tables_lists_all(tmp_path: Path, lib: DocumentLibrary,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _pdf(folder / "report.pdf", "Quarterly report: revenue grew 12 percent.")
    (folder / "sales.csv").write_text("region,amount\nnorth,10\nsouth,20\n")
    (folder / "boom.csv").write_text("region,amount\neast,30\n")
    (folder / "empty.csv").write_bytes(b"")
    duckdb.connect().execute(f"COPY (SELECT range AS n FROM range(50)) TO '{folder / 'good.parquet'}' (FORMAT parquet)")
    raw = (folder / "good.parquet").read_bytes()
    (folder / "damaged.parquet").write_bytes(raw[: len(raw) // 2])
    (folder / "cut.xlsx").write_bytes(b"PK\x03\x04" + b"\x14\x00" * 40)  # a workbook cut off after its first bytes
    services = SimpleNamespace(documents=lib, tables=_FlakyTables(TableStore(tmp_path / "data" / "tables.duckdb")))

    code, out = _run(services, ["ingest", str(folder), "--json"], capsys)
    files = {Path(f["path"]).name: f for f in json.loads(out)["files"]}
    assert code == 1
    assert {n: f["status"] for n, f in files.items()} == {
        "boom.csv": "error", "cut.xlsx": "error", "damaged.parquet": "error", "empty.csv": "error",
        "good.parquet": "indexed", "report.pdf": "indexed", "sales.csv": "indexed"}
    assert "RuntimeError: simulated fault in the table loader" in files["boom.csv"]["error"]
    assert "damaged.parquet" in files["damaged.parquet"]["error"]
    assert json.loads(out)["summary"] == {"files": 7, "indexed": 3, "skipped": 0, "failed": 4}

    code, out = _run(services, ["ingest", str(folder)], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[-1] == "7 files: 0 indexed, 3 skipped, 4 failed"
    assert any(line.startswith("error") and "boom.csv" in line and "RuntimeError" in line for line in lines)
    assert any(line.startswith("skipped") and "sales.csv" in line and "already" in line for line in lines)
