"""Keyword (BM25) index over chunks: SQLite FTS5 is the store of record, Tantivy ranks.

SQLite holds every chunk (incremental adds, exact per-document deletes, one transaction per change; a plain side
table maps each FTS row to its document). Ranking is Tantivy's BM25 over a copy of the same chunks kept next to
the SQLite file (`<name>.tantivy/`): FTS5's `bm25()` must score every chunk an OR-query matches (a median 86% of
100k chunks in bench/retrieval.py, ~2 µs each), while Tantivy's block-max WAND skips chunks that cannot reach
the top k (100k chunks: 1.6 ms instead of 140 ms for the top 40). Neither scorer is hand-rolled.
Every change bumps a generation number in SQLite; the Tantivy copy records the generation it reflects. When they
differ (a crash between the two writes, another process mid-write, a data directory from before the copy existed)
search falls back to FTS5, and opening the index rebuilds the copy from SQLite.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

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
CREATE TABLE IF NOT EXISTS kw_state (id INTEGER PRIMARY KEY CHECK (id = 0), generation INTEGER NOT NULL);
INSERT OR IGNORE INTO kw_state (id, generation) VALUES (0, 0);
"""
_BUMP = "UPDATE kw_state SET generation = generation + 1 WHERE id = 0 RETURNING generation"
WRITER_WAIT_S = 30.0  # like SQLite's busy timeout: how long to wait for another process's Tantivy writer

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


def query_terms(query: str) -> list[str]:
    """The query's distinct lower-case words, function words dropped (unless nothing else is left)."""
    terms = [t.lower() for t in _TOKEN.findall(query)]
    kept = [t for t in terms if t not in _STOPWORDS] or terms
    return list(dict.fromkeys(kept))


def match_expression(query: str) -> str:
    """An FTS5 MATCH expression OR-ing the query's quoted terms (user text never reaches FTS syntax)."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in query_terms(query))


class KeywordIndex:
    """BM25 search over chunk texts: SQLite FTS5 stores them, a Tantivy copy ranks them (see the module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = prepare(path, _SCHEMA)
        self._ranker = TantivyRanker(self.path.with_name(self.path.stem + ".tantivy"))
        if self._ranker.generation() != self._generation():
            self._rebuild_ranker()

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    def _generation(self) -> int:
        with self._connect() as con:
            return con.execute("SELECT generation FROM kw_state WHERE id = 0").fetchone()[0]

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
            generation = con.execute(_BUMP).fetchone()[0]
        self._ranker.add(rows, generation)

    def delete_document(self, doc_id: str) -> int:
        """Remove every row of one document; returns how many were removed."""
        with self._connect() as con:
            con.execute("DELETE FROM kw_fts WHERE rowid IN (SELECT rowid FROM kw_chunks WHERE doc_id = ?)", (doc_id,))
            removed = con.execute("DELETE FROM kw_chunks WHERE doc_id = ?", (doc_id,)).rowcount
            generation = con.execute(_BUMP).fetchone()[0]
        self._ranker.delete_document(doc_id, generation)
        return removed

    def count(self, doc_id: str | None = None) -> int:
        """Number of indexed chunks (of one document, or all)."""
        with self._connect() as con:
            if doc_id is None:
                return con.execute("SELECT count(*) FROM kw_chunks").fetchone()[0]
            return con.execute("SELECT count(*) FROM kw_chunks WHERE doc_id = ?", (doc_id,)).fetchone()[0]

    def search(self, query: str, k: int, exclude_docs: Sequence[str] = ()) -> list[KeywordHit]:
        """Best k chunks by BM25, skipping documents in exclude_docs."""
        terms = query_terms(query)
        if not terms or k <= 0:
            return []
        if self._ranker.generation() == self._generation():
            return self._ranker.search(terms, k, exclude_docs)
        return self.search_fts(query, k, exclude_docs)

    def search_fts(self, query: str, k: int, exclude_docs: Sequence[str] = ()) -> list[KeywordHit]:
        """FTS5's bm25() over every matching chunk: slow on large indexes; used while the Tantivy copy is stale."""
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

    def _rebuild_ranker(self) -> None:
        """Refill the Tantivy copy from SQLite, reading rows and generation in one snapshot."""
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("BEGIN")
            generation = con.execute("SELECT generation FROM kw_state WHERE id = 0").fetchone()[0]
            rows = con.execute("SELECT c.chunk_id, c.doc_id, c.page, f.text FROM kw_chunks c"
                               " JOIN kw_fts f ON f.rowid = c.rowid")
            self._ranker.rebuild(rows, generation)
            con.execute("COMMIT")
        finally:
            con.close()


class TantivyRanker:
    """Tantivy's BM25 over the chunks (stemmed English text; chunk id, document id and page stored)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("text", stored=False, tokenizer_name="en_stem")
        builder.add_text_field("chunk_id", stored=True, tokenizer_name="raw")
        builder.add_text_field("doc_id", stored=True, tokenizer_name="raw")
        builder.add_integer_field("page", stored=True)
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema, path=str(directory), reuse=True)
        self.marker = directory / "generation"

    def generation(self) -> int:
        """The SQLite generation this copy reflects (-1 if never written)."""
        try:
            return int(self.marker.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return -1

    @contextmanager
    def _writer(self, generation: int) -> Iterator[Any]:
        """Tantivy's single writer (other processes wait for it), committed, then the generation recorded."""
        deadline = time.monotonic() + WRITER_WAIT_S
        while True:
            try:
                writer = self.index.writer(heap_size=50_000_000, num_threads=1)
                break
            except ValueError as exc:  # another process holds the writer lock
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        try:
            yield writer
            writer.commit()
            # Still holding the lock: writers record generations one at a time, and never lower one.
            self._mark(max(generation, self.generation()))
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()

    def _mark(self, generation: int) -> None:
        tmp = self.marker.with_name(f"generation.{uuid.uuid4().hex}.tmp")
        tmp.write_text(str(generation), encoding="utf-8")
        os.replace(tmp, self.marker)

    def add(self, rows: Iterable[tuple[str, str, int, str]], generation: int) -> None:
        """Add or replace chunks."""
        with self._writer(generation) as writer:
            for chunk_id, doc_id, page, text in rows:
                writer.delete_documents_by_term("chunk_id", chunk_id)
                writer.add_document(tantivy.Document(chunk_id=chunk_id, doc_id=doc_id, page=int(page), text=text))

    def delete_document(self, doc_id: str, generation: int) -> None:
        """Remove every chunk of one document."""
        with self._writer(generation) as writer:
            writer.delete_documents_by_term("doc_id", doc_id)

    def rebuild(self, rows: Iterable[tuple[str, str, int, str]], generation: int) -> None:
        """Replace the whole copy with `rows`."""
        with self._writer(generation) as writer:
            writer.delete_all_documents()
            for chunk_id, doc_id, page, text in rows:
                writer.add_document(tantivy.Document(chunk_id=chunk_id, doc_id=doc_id, page=int(page), text=text))

    def search(self, terms: list[str], k: int, exclude_docs: Sequence[str]) -> list[KeywordHit]:
        """Best k chunks for any of the terms; the parser sees only lower-case words, never query syntax."""
        self.index.reload()  # see commits made by other processes
        searcher = self.index.searcher()
        query, _ = self.index.parse_query_lenient(" ".join(terms), ["text"])
        if exclude_docs:
            clauses = [(tantivy.Occur.Should, query)] + [
                (tantivy.Occur.MustNot, tantivy.Query.term_query(self.schema, "doc_id", d))
                for d in dict.fromkeys(exclude_docs)]
            query = tantivy.Query.boolean_query(clauses)
        hits = []
        # count=False: the total number of matches is never shown, and counting them all cost 10 -> 8.6 ms p50 at 1M.
        for score, address in searcher.search(query, k, count=False).hits:
            doc = searcher.doc(address)
            hits.append(KeywordHit(doc["chunk_id"][0], doc["doc_id"][0], int(doc["page"][0]), float(score)))
        return hits
