"""Document registry and ingestion state in a small SQLite file (`<data_dir>/documents.sqlite`).

A document is searchable only once its row says `indexed`; every other status (`indexing`,
`pending`, `deleting`) marks chunks that may be partial and must stay invisible. Page texts
are kept too, so citations can show the whole page and a model change can re-embed without
re-reading the PDF (for a recording, its segments' times too: no re-transcribing). Each call
opens its own short-lived connection, so one registry object is safe to share between threads
(SQLite serialises the writes; WAL keeps readers unblocked).
"""

from __future__ import annotations

import builtins
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from storage.sqlite import prepare, transaction

INDEXED, INDEXING, PENDING, DELETING = "indexed", "indexing", "pending", "deleting"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    stored_path TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    author TEXT NOT NULL DEFAULT '',
    pages INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    fallback_pages INTEGER NOT NULL DEFAULT 0,
    ocr_pages INTEGER NOT NULL DEFAULT 0,
    empty_pages INTEGER NOT NULL DEFAULT 0,
    ocr_skipped_pages INTEGER NOT NULL DEFAULT 0,
    suspicious_chunks INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    embedding_model TEXT NOT NULL DEFAULT '',
    added_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
    doc_id TEXT NOT NULL,
    page INTEGER NOT NULL,
    text TEXT NOT NULL,
    method TEXT NOT NULL,
    problem TEXT NOT NULL DEFAULT '',
    heading TEXT NOT NULL DEFAULT '',
    unit TEXT NOT NULL DEFAULT '',
    first_line INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (doc_id, page)
);
CREATE TABLE IF NOT EXISTS segments (
    doc_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    PRIMARY KEY (doc_id, idx)
);
"""


# Where a page of a document read as sections sits: heading path, unit ("slide" | "section" | "lines") and,
# for text files, its first line. PDF pages and older rows keep the defaults; nothing is re-embedded.
_SECTION_COLUMNS = {"heading": "TEXT NOT NULL DEFAULT ''", "unit": "TEXT NOT NULL DEFAULT ''",
                    "first_line": "INTEGER NOT NULL DEFAULT 1"}


@dataclass(frozen=True)
class DocumentRecord:
    """One row of the library."""

    id: str
    sha256: str
    name: str
    kind: str
    stored_path: str
    size_bytes: int
    title: str
    author: str
    pages: int
    chunks: int
    fallback_pages: int
    ocr_pages: int
    empty_pages: int
    ocr_skipped_pages: int
    suspicious_chunks: int
    status: str
    error: str
    embedding_model: str
    added_at: float
    updated_at: float

    @property
    def queryable(self) -> bool:
        """True when every chunk is indexed and the document may appear in search."""
        return self.status == INDEXED


_COLUMNS = [f for f in DocumentRecord.__dataclass_fields__]


class DocumentRegistry:
    """The list of documents and their ingestion status."""

    def __init__(self, path: Path) -> None:
        self.path = prepare(path, _SCHEMA)
        with self._connect() as con:  # libraries made before documents were read as sections: add the columns
            have = {row[1] for row in con.execute("PRAGMA table_info(pages)")}
            for column, ddl in _SECTION_COLUMNS.items():
                if column not in have:
                    con.execute(f"ALTER TABLE pages ADD COLUMN {column} {ddl}")

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    def get(self, doc_id: str) -> DocumentRecord | None:
        """The document with this id, or None."""
        with self._connect() as con:
            row = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return DocumentRecord(*row) if row else None

    def by_sha(self, sha256: str) -> DocumentRecord | None:
        """The document with this content hash, or None."""
        with self._connect() as con:
            row = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
        return DocumentRecord(*row) if row else None

    def list(self, status: str | None = None) -> list[DocumentRecord]:
        """All documents (optionally with one status), oldest first."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM documents"
        args: tuple[str, ...] = ()
        if status:
            sql, args = sql + " WHERE status = ?", (status,)
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY added_at, id", args).fetchall()
        return [DocumentRecord(*r) for r in rows]

    def not_queryable_ids(self) -> builtins.list[str]:
        """Ids whose chunks must be hidden from search (anything not fully indexed)."""
        with self._connect() as con:
            return [r[0] for r in con.execute("SELECT id FROM documents WHERE status != ?", (INDEXED,))]

    def start(self, doc_id: str, sha256: str, name: str, kind: str, stored_path: str, size: int) -> None:
        """Create (or reset) a row in `indexing` state, forgetting any previous pages."""
        now = time.time()
        with self._connect() as con:
            con.execute("DELETE FROM pages WHERE doc_id = ?", (doc_id,))
            con.execute("DELETE FROM segments WHERE doc_id = ?", (doc_id,))
            con.execute(
                "INSERT INTO documents (id, sha256, name, kind, stored_path, size_bytes, status, added_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " status = excluded.status, error = '', chunks = 0, updated_at = excluded.updated_at",
                (doc_id, sha256, name, kind, stored_path, size, INDEXING, now, now),
            )

    def set_status(self, doc_id: str, status: str, error: str = "") -> None:
        """Change a document's status."""
        with self._connect() as con:
            con.execute(
                "UPDATE documents SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                (status, error, time.time(), doc_id),
            )

    def add_pages(self, doc_id: str, pages: builtins.list[tuple[int, str, str, str]]) -> None:
        """Store page texts: (page, text, method, problem)."""
        with self._connect() as con:
            con.executemany(
                "INSERT OR REPLACE INTO pages (doc_id, page, text, method, problem) VALUES (?, ?, ?, ?, ?)",
                [(doc_id, *p) for p in pages],
            )

    def add_sections(self, doc_id: str, sections: builtins.list[tuple[int, str, str, str, int]], method: str) -> None:
        """Store the sections of a document read as text: (number, text, heading, unit, first_line)."""
        with self._connect() as con:
            con.executemany(
                "INSERT OR REPLACE INTO pages (doc_id, page, text, method, problem, heading, unit, first_line)"
                " VALUES (?, ?, ?, ?, '', ?, ?, ?)",
                [(doc_id, n, text, method, heading, unit, first) for n, text, heading, unit, first in sections],
            )

    def section_place(self, doc_id: str, page: int) -> tuple[str, str, int]:
        """(heading, unit, first_line) of a stored page; unit '' for PDF pages, images and recordings."""
        with self._connect() as con:
            row = con.execute("SELECT heading, unit, first_line FROM pages WHERE doc_id = ? AND page = ?",
                              (doc_id, page)).fetchone()
        return (str(row[0]), str(row[1]), int(row[2])) if row else ("", "", 1)

    def add_segments(self, doc_id: str, segments: builtins.list[tuple[float, float, int, int]]) -> None:
        """Store a transcript's segments: (start_s, end_s, char_start, char_end) into its page text."""
        with self._connect() as con:
            con.execute("DELETE FROM segments WHERE doc_id = ?", (doc_id,))
            con.executemany(
                "INSERT INTO segments (doc_id, idx, start_s, end_s, char_start, char_end) VALUES (?, ?, ?, ?, ?, ?)",
                [(doc_id, n, *seg) for n, seg in enumerate(segments)],
            )

    def segments(self, doc_id: str) -> builtins.list[tuple[float, float, int, int]]:
        """A transcript's segments in order: (start_s, end_s, char_start, char_end); [] for other documents."""
        with self._connect() as con:
            rows = con.execute("SELECT start_s, end_s, char_start, char_end FROM segments WHERE doc_id = ?"
                               " ORDER BY idx", (doc_id,)).fetchall()
        return [(float(a), float(b), int(c), int(d)) for a, b, c, d in rows]

    def page_text(self, doc_id: str, page: int) -> str | None:
        """The stored text of one page (what chunk char spans index into)."""
        with self._connect() as con:
            row = con.execute("SELECT text FROM pages WHERE doc_id = ? AND page = ?", (doc_id, page)).fetchone()
        return row[0] if row else None

    def iter_pages(self, doc_id: str) -> Iterator[tuple[int, str]]:
        """(page, text) of a document in page order, fetched lazily."""
        with self._connect() as con:
            numbers = [r[0] for r in con.execute("SELECT page FROM pages WHERE doc_id = ? ORDER BY page", (doc_id,))]
        for number in numbers:
            text = self.page_text(doc_id, number)
            if text is not None:
                yield number, text

    def finish(self, doc_id: str, **counts: int | str) -> None:
        """Record final counts and mark the document indexed, in one transaction."""
        allowed = {"title", "author", "pages", "chunks", "fallback_pages", "ocr_pages", "empty_pages",
                   "ocr_skipped_pages", "suspicious_chunks", "embedding_model"}
        fields = {k: v for k, v in counts.items() if k in allowed}
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._connect() as con:
            con.execute(
                f"UPDATE documents SET {sets}{', ' if sets else ''}status = ?, error = '', updated_at = ? WHERE id = ?",
                (*fields.values(), INDEXED, time.time(), doc_id),
            )

    def update_meta(self, doc_id: str, **fields: int | str) -> None:
        """Set title/author/pages while ingestion is still running (for progress displays)."""
        allowed = {k: v for k, v in fields.items() if k in ("title", "author", "pages")}
        if allowed:
            with self._connect() as con:
                sets = ", ".join(f"{k} = ?" for k in allowed)
                con.execute(f"UPDATE documents SET {sets} WHERE id = ?", (*allowed.values(), doc_id))

    def remove(self, doc_id: str) -> None:
        """Forget a document, its page texts and segments."""
        with self._connect() as con:
            con.execute("DELETE FROM pages WHERE doc_id = ?", (doc_id,))
            con.execute("DELETE FROM segments WHERE doc_id = ?", (doc_id,))
            con.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
