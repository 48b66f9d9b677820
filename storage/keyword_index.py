"""Keyword (BM25) index over chunks with SQLite FTS5: incremental adds and exact per-document deletes.

FTS5's built-in `bm25()` does the scoring (no hand-rolled scorer). A plain side table maps
each FTS row to its document, so deleting a document touches only its own rows.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from storage.sqlite import prepare, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kw_chunks (
    rowid INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    page INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kw_chunks_doc ON kw_chunks (doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS kw_fts USING fts5 (text, tokenize = 'porter unicode61 remove_diacritics 2');
"""

# Function words carry no topic; dropping them keeps OR-queries fast and rankings sharper.
_STOPWORDS = frozenset(
    "a an and are as at be but by can do does for from how i if in into is it its me my of on or "
    "should so than that the their then there these this to was what when where which who why will "
    "with would you your".split()
)
_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class KeywordHit:
    """A chunk matched by keywords; higher score is better."""

    chunk_id: str
    doc_id: str
    page: int
    score: float


def match_expression(query: str) -> str:
    """An FTS5 MATCH expression OR-ing the query's quoted terms (user text never reaches FTS syntax)."""
    terms = [t.lower() for t in _TOKEN.findall(query)]
    kept = [t for t in terms if t not in _STOPWORDS] or terms
    unique = list(dict.fromkeys(kept))
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in unique)


class KeywordIndex:
    """BM25 search over chunk texts in an SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = prepare(path, _SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    def add(self, rows: Sequence[tuple[str, str, int, str]]) -> None:
        """Add (chunk_id, doc_id, page, text) rows; re-adding a chunk id replaces it."""
        with self._connect() as con:
            for chunk_id, doc_id, page, text in rows:
                old = con.execute("SELECT rowid FROM kw_chunks WHERE chunk_id = ?", (chunk_id,)).fetchone()
                if old:
                    con.execute("DELETE FROM kw_fts WHERE rowid = ?", old)
                    con.execute("DELETE FROM kw_chunks WHERE rowid = ?", old)
                cur = con.execute(
                    "INSERT INTO kw_chunks (chunk_id, doc_id, page) VALUES (?, ?, ?)", (chunk_id, doc_id, page)
                )
                con.execute("INSERT INTO kw_fts (rowid, text) VALUES (?, ?)", (cur.lastrowid, text))

    def delete_document(self, doc_id: str) -> int:
        """Remove every row of one document; returns how many were removed."""
        with self._connect() as con:
            con.execute("DELETE FROM kw_fts WHERE rowid IN (SELECT rowid FROM kw_chunks WHERE doc_id = ?)", (doc_id,))
            return con.execute("DELETE FROM kw_chunks WHERE doc_id = ?", (doc_id,)).rowcount

    def count(self, doc_id: str | None = None) -> int:
        """Number of indexed chunks (of one document, or all)."""
        with self._connect() as con:
            if doc_id is None:
                return con.execute("SELECT count(*) FROM kw_chunks").fetchone()[0]
            return con.execute("SELECT count(*) FROM kw_chunks WHERE doc_id = ?", (doc_id,)).fetchone()[0]

    def search(self, query: str, k: int, exclude_docs: Sequence[str] = ()) -> list[KeywordHit]:
        """Best k chunks by BM25, skipping documents in exclude_docs."""
        expr = match_expression(query)
        if not expr or k <= 0:
            return []
        exclude = list(exclude_docs)
        placeholders = ",".join("?" * len(exclude))
        where_excl = f" AND c.doc_id NOT IN ({placeholders})" if exclude else ""
        sql = (
            "SELECT c.chunk_id, c.doc_id, c.page, bm25(kw_fts) AS s"
            " FROM kw_fts JOIN kw_chunks c ON c.rowid = kw_fts.rowid"
            f" WHERE kw_fts MATCH ?{where_excl} ORDER BY s LIMIT ?"
        )
        with self._connect() as con:
            rows = con.execute(sql, (expr, *exclude, k)).fetchall()
        # FTS5's bm25() is "lower is better" (negated); flip it so higher is better everywhere.
        return [KeywordHit(cid, did, page, -score) for cid, did, page, score in rows]
