"""A library made before documents were read as sections opens as it is: the pages table gains its section
columns in place, PDF pages keep working, and nothing is re-embedded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.documents.library import DocumentLibrary
from storage.documents import DocumentRegistry
from tests.fixtures import pdf_factory as pf


def test_an_older_pages_table_gains_the_section_columns_in_place(tmp_path: Path) -> None:
    lib = DocumentLibrary(tmp_path / "data")
    result = lib.ingest_file(pf.write(tmp_path / "fleet.pdf", pf.text_pdf([["The fleet has 14 vans in Leeds."]])))
    db = tmp_path / "data" / "documents.sqlite"
    with sqlite3.connect(db) as con:  # the pages table as older versions made it
        con.execute("CREATE TABLE old_pages AS SELECT doc_id, page, text, method, problem FROM pages")
        con.execute("DROP TABLE pages")
        con.execute("ALTER TABLE old_pages RENAME TO pages")
    registry = DocumentRegistry(db)
    with sqlite3.connect(db) as con:
        columns = [row[1] for row in con.execute("PRAGMA table_info(pages)")]
    assert columns[-3:] == ["heading", "unit", "first_line"]
    assert registry.section_place(result.id, 1) == ("", "", 1)
    again = DocumentLibrary(tmp_path / "data")
    (hit,) = again.search("how many vans", k=1)
    assert (hit.source, hit.page, hit.locator) == ("fleet.pdf", 1, "")
    assert again.get(result.id).status == "indexed" and "14 vans" in again.page_text(result.id, 1)
