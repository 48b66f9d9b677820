"""Where each table taken from a document came from (`<data_dir>/document_tables.sqlite`).

One row per table found in a document: the document (sha256, id, name), the page, slide or section, the
table's index in the document, its bounding box on a PDF page, and what became of it: `loaded` (with the
DuckDB table's name, its columns as in the document and the raw cell text) or `skipped` with the reason.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from storage.sqlite import prepare, transaction

LOADED, SKIPPED = "loaded", "skipped"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS document_tables (
    doc_sha256 TEXT NOT NULL,
    table_index INTEGER NOT NULL,
    doc_id TEXT NOT NULL,
    doc_name TEXT NOT NULL,
    location INTEGER NOT NULL,
    location_kind TEXT NOT NULL,
    bbox TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    table_name TEXT NOT NULL DEFAULT '',
    row_count INTEGER NOT NULL DEFAULT 0,
    raw_json TEXT NOT NULL DEFAULT '[]',
    added_at REAL NOT NULL,
    PRIMARY KEY (doc_sha256, table_index)
);
CREATE INDEX IF NOT EXISTS document_tables_by_name ON document_tables (table_name);
"""


@dataclass(frozen=True)
class TableOrigin:
    """One table found in a document and what became of it."""

    doc_sha256: str
    table_index: int
    doc_id: str
    doc_name: str
    location: int  # page, slide or section number
    location_kind: str  # "page" | "slide" | "section"
    bbox: tuple[float, ...] | None
    status: str  # LOADED | SKIPPED
    reason: str
    table_name: str
    row_count: int
    raw: list[list[str]]  # the cells as text, header first

    @property
    def place(self) -> str:
        """'q3_report.pdf, page 12', 'deck.pptx, slide 3' or 'report.docx, section 4'."""
        return f"{self.doc_name}, {self.location_kind} {self.location}"


_COLUMNS = ("doc_sha256, table_index, doc_id, doc_name, location, location_kind, bbox, status, reason, table_name, "
            "row_count, raw_json")


def _origin(row: Sequence[object]) -> TableOrigin:
    bbox = str(row[6])
    return TableOrigin(str(row[0]), int(str(row[1])), str(row[2]), str(row[3]), int(str(row[4])), str(row[5]),
                       tuple(json.loads(bbox)) if bbox else None, str(row[7]), str(row[8]), str(row[9]),
                       int(str(row[10])), json.loads(str(row[11])))


class DocumentTableRegistry:
    """The provenance of tables taken from documents."""

    def __init__(self, path: Path, create: bool = True) -> None:
        # create=False: a file known to exist is only read (applying the schema is a write, queued behind others).
        self.path = prepare(path, _SCHEMA) if create else Path(path)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> DocumentTableRegistry:
        """The registry of a data directory."""
        return cls(Path(data_dir) / "document_tables.sqlite")

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    def record(self, origins: Sequence[TableOrigin]) -> None:
        """Store (or replace) what became of each table of a document."""
        now = time.time()
        with self._connect() as con:
            con.executemany(
                f"INSERT OR REPLACE INTO document_tables ({_COLUMNS}, added_at) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(o.doc_sha256, o.table_index, o.doc_id, o.doc_name, o.location, o.location_kind,
                  json.dumps(list(o.bbox)) if o.bbox else "", o.status, o.reason, o.table_name, o.row_count,
                  json.dumps(o.raw, ensure_ascii=False), now) for o in origins])

    def for_document(self, doc_id: str) -> list[TableOrigin]:
        """A document's tables in document order, loaded or skipped."""
        with self._connect() as con:
            rows = con.execute(f"SELECT {_COLUMNS} FROM document_tables WHERE doc_id = ? ORDER BY table_index",
                               (doc_id,)).fetchall()
        return [_origin(r) for r in rows]

    def for_table(self, table_name: str) -> TableOrigin | None:
        """Where a DuckDB table came from, when it was taken from a document (the first document, if several)."""
        with self._connect() as con:
            row = con.execute(f"SELECT {_COLUMNS} FROM document_tables WHERE table_name = ? AND status = ? "
                              "ORDER BY added_at LIMIT 1", (table_name, LOADED)).fetchone()
        return _origin(row) if row else None

    def loaded_among(self, names: Sequence[str]) -> dict[str, TableOrigin]:
        """Which of `names` are DuckDB tables taken from documents, with where each came from (one query)."""
        if not names:
            return {}
        marks = ",".join("?" * len(names))
        query = (f"SELECT {_COLUMNS} FROM document_tables WHERE status = ? AND table_name IN ({marks}) "
                 "ORDER BY added_at DESC")  # the first document's row is the last one kept below
        try:
            with self._connect() as con:
                rows = con.execute(query, (LOADED, *names)).fetchall()
        except sqlite3.OperationalError:  # a file made by an older version, or not yet prepared: prepare it
            self.path = prepare(self.path, _SCHEMA)
            with self._connect() as con:
                rows = con.execute(query, (LOADED, *names)).fetchall()
        return {origin.table_name: origin for origin in map(_origin, rows)}

    def forget_document(self, doc_id: str) -> list[str]:
        """Forget a document's tables; the names of the DuckDB tables it had loaded."""
        with self._connect() as con:
            names = [r[0] for r in con.execute("SELECT table_name FROM document_tables WHERE doc_id = ? AND "
                                               "status = ?", (doc_id, LOADED))]
            con.execute("DELETE FROM document_tables WHERE doc_id = ?", (doc_id,))
        return names
