"""Tables inside documents loaded into DuckDB, named after the document and page (`q3_report_p12_t1`).

Each table found while a document is ingested is typed (multimodal/doc_tables.py), written to a small
Parquet file and loaded through the TableStore like any table file, then registered with its provenance
(storage/document_tables.py). A table that cannot be read cleanly is skipped with its reason kept; its
text was indexed with the document either way. `source_line` is how an SQL answer names where its table
came from: `from q3_report.pdf, page 12`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import duckdb

from app.errors import AssistantError
from multimodal.doc_tables import TypedTable, typed_table
from multimodal.sectioned import RawTable
from multimodal.tables import Progress, clean_name
from storage.document_tables import LOADED, SKIPPED, DocumentTableRegistry, TableOrigin
from storage.table_loading import LoadResult
from storage.tables import SourceInfo
from storage.tables_engine import quote_ident


class TableLoading(Protocol):
    """What loads a table file: the TableStore, or the TablesService in front of it."""

    def load_file(self, path: Path, progress: Progress | None = None, file_name: str | None = None) -> LoadResult:
        """Load one table file."""
        ...

    def sources(self) -> list[SourceInfo]:
        """Loaded files and their tables."""
        ...

    def delete_source(self, sha256: str) -> list[str]:
        """Remove a loaded file's tables."""
        ...

_PREFIX = {"page": "p", "slide": "s", "section": "sec"}


class DocumentTableLoader:
    """Loads a document's tables into the tables database and records where each came from."""

    def __init__(self, data_dir: Path, store: Callable[[], TableLoading]) -> None:
        self.data_dir = Path(data_dir)
        self.registry = DocumentTableRegistry.in_data_dir(self.data_dir)
        self._store = store

    def load(self, doc_id: str, sha: str, name: str, tables: Sequence[RawTable]) -> list[str]:
        """Load what can be loaded; one warning line naming the tables skipped and why."""
        stem = clean_name(Path(name).stem, "document")[:40]
        per_place: dict[tuple[str, int], int] = {}
        origins: list[TableOrigin] = []
        for table in tables:
            key = (table.where, table.location)
            per_place[key] = per_place.get(key, 0) + 1
            typed, reason = typed_table(table)
            table_name, rows = "", 0
            if typed is not None:
                wanted = f"{stem}_{_PREFIX.get(table.where, 'p')}{table.location}_t{per_place[key]}"
                try:
                    table_name, rows = self._load(typed, wanted), len(typed.rows)
                except AssistantError as exc:
                    reason = exc.message
            origins.append(TableOrigin(sha, table.index, doc_id, name, table.location, table.where, table.bbox,
                                       LOADED if table_name else SKIPPED, reason, table_name, rows,
                                       typed.raw if typed is not None else table.rows))
        self.registry.record(origins)
        skipped = [o for o in origins if o.status == SKIPPED]
        if not skipped:
            return []
        listed = "; ".join(f"table {o.table_index} ({o.location_kind} {o.location}): {o.reason}" for o in skipped[:5])
        more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        return [f"{len(skipped)} table(s) in {name} were not loaded as data — {listed}{more}. Their text is "
                "searchable with the document."]

    def _load(self, typed: TypedTable, table_name: str) -> str:
        tmp_root = self.data_dir / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=tmp_root, prefix="doc-table-") as tmp:
            path = Path(tmp) / f"{table_name}.parquet"
            con = duckdb.connect()
            try:
                columns = ", ".join(f"{quote_ident(c)} {t}" for c, t in zip(typed.columns, typed.types, strict=True))
                con.execute(f"CREATE TABLE t ({columns})")
                con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(typed.columns))})", typed.rows)
                con.execute(f"COPY t TO '{str(path).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)")
            finally:
                con.close()
            result = self._store().load_file(path, file_name=path.name)
        return result.tables[0]

    def forget(self, doc_id: str) -> list[str]:
        """Remove a deleted document's tables from the tables database (unless another document has the same one)."""
        names = {n for n in self.registry.forget_document(doc_id) if self.registry.for_table(n) is None}
        if not names:
            return []
        dropped: list[str] = []
        store = self._store()
        for source in store.sources():
            if set(source.tables) & names:
                dropped.extend(store.delete_source(source.sha256))
        return dropped

    def origin(self, table_name: str) -> TableOrigin | None:
        """Where a table came from, when it was taken from a document."""
        return self.registry.for_table(table_name)


def source_line(registry: DocumentTableRegistry, tables: Sequence[str]) -> str:
    """'from q3_report.pdf, page 12' for the document tables an SQL query read ('' when none)."""
    found = registry.loaded_among(list(tables))  # one read
    places = list(dict.fromkeys(found[name].place for name in tables if name in found))
    return ("from " + "; ".join(places)) if places else ""


def sql_source_line(data_dir: Path, sql: str) -> str:
    """Where the document tables an SQL query reads came from ('from q3_report.pdf, page 12'; '' for none)."""
    path = Path(data_dir) / "document_tables.sqlite"
    if not path.is_file() or not sql:
        return ""
    words = list(dict.fromkeys(w.lower() for w in re.findall(r"[A-Za-z_][\w]*", sql)))
    return source_line(DocumentTableRegistry(path, create=False), words)  # read only: asked for every SQL answer
