"""The analyst's tables: a persistent DuckDB database in the data directory, with a file registry.

DuckDB settings such as `enable_external_access` apply to a whole database instance, so loading
(which must read files) and querying (which must not) cannot share one. Loads take a write lock,
close the locked read-only engine and load in a short-lived writable connection; the next read reopens it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from app.errors import BadInputError, NotFoundError
from multimodal.kinds import Sniffed, sniff_table
from multimodal.tables import Progress, sha256_file
from storage.table_files import check_loadable, connect_waiting, sweep_orphans
from storage.table_loading import DEFAULT_MAX_ROWS, KIND_LABELS, LoadResult, load_kind, scrub, undo
from storage.tables_engine import BASE_CONFIG, Limits, QueryEngine, TableInfo, first_line, quote_ident, scalar

# The registry lives in its own schema: `SHOW TABLES` in a user's query lists only the user's tables.
REGISTRY_SQL = (
    "CREATE SCHEMA IF NOT EXISTS app_meta",
    "CREATE TABLE IF NOT EXISTS app_meta._sources (sha256 VARCHAR PRIMARY KEY, file_name VARCHAR, kind VARCHAR, "
    "size_bytes BIGINT, loaded_at TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS app_meta._tables (table_name VARCHAR PRIMARY KEY, sha256 VARCHAR, origin VARCHAR, "
    "row_count BIGINT)",
    # Names as they were in the file, beside the snake_case names they were stored under (kind 'table' or
    # 'column'). Added later: tables loaded before it have no rows here, and the Tables page says so.
    "CREATE TABLE IF NOT EXISTS app_meta._names (table_name VARCHAR, kind VARCHAR, position INTEGER, "
    "original VARCHAR, stored VARCHAR)",
)


@dataclass(frozen=True)
class NameChange:
    """One table or column name: as it was in the file, and as it is stored (and queried)."""

    kind: str  # "table" or "column"
    original: str
    stored: str


@dataclass(frozen=True)
class SourceInfo:
    """A loaded file and the tables it produced."""

    sha256: str
    file_name: str
    kind: str
    size_bytes: int
    tables: tuple[str, ...]


@dataclass
class _RegistryView:
    """What the open engine read from the registry; None until first asked."""

    sources: list[SourceInfo] | None = None
    origin: dict[str, str] | None = None


class _RWLock:
    """Many readers or one writer; queries read, loads write."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and self._readers == 0)
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class TableStore:
    """Persistent tables database `<data_dir>/tables.duckdb` with a sha256 registry of source files.

    Nothing is opened until first use (a document ingest never touches it). Reading uses one read-only
    connection, which other processes may share; loads and deletes hold the one writable connection only
    while they run, so a reader in another process waits at most that long."""

    def __init__(self, path: Path, memory_limit: str = "1GB", threads: int = 2, max_rows: int = DEFAULT_MAX_ROWS,
                 lock_wait_s: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_root = self.path.parent / "tmp"
        self._spill_root = self.path.parent / "duckdb_tmp"
        self.limits = Limits(memory_limit, threads)
        self.max_rows = max_rows
        self._wait_s = lock_wait_s
        self._config = {**BASE_CONFIG, "memory_limit": memory_limit, "threads": threads,
                        "temp_directory": str(self._spill_root / str(os.getpid()))}
        self._rw = _RWLock()
        self._opening = threading.Lock()
        self._engine: QueryEngine | None = None
        # The registry as the open engine sees it (loaded files; where each table came from): it cannot change while
        # that engine is open, and every question about tables read it several times. Dropped with the engine.
        self._registry = _RegistryView()
        self._closed = False
        sweep_orphans(self._tmp_root, self._spill_root)  # left behind by a load that was killed

    @contextmanager
    def engine(self) -> Iterator[QueryEngine]:
        """The locked read-only engine, held steady (no load can swap it) while in use."""
        with self._rw.read():
            if self._closed:
                raise BadInputError("The tables database is closed.")
            with self._opening:
                if self._engine is None:
                    self._engine = self._open_engine()
                engine = self._engine
            yield engine

    def set_limits(self, memory_limit: str, threads: int, max_rows: int, lock_wait_s: float | None = None) -> None:
        """Use new limits from the next query or load on (the read-only engine is reopened with them)."""
        with self._rw.write():
            self._close_engine()
            self.limits = Limits(memory_limit, threads)
            self.max_rows = max_rows
            self._config.update(memory_limit=memory_limit, threads=threads)
            if lock_wait_s is not None:
                self._wait_s = lock_wait_s

    def close(self) -> None:
        """Close the query engine."""
        with self._rw.write():
            self._closed = True
            self._close_engine()

    def sources(self) -> list[SourceInfo]:
        """Loaded files, newest first, with their tables."""
        with self.engine() as eng:
            if (known := self._registry.sources) is None:
                with eng.cursor() as cur:
                    rows = cur.execute(
                        "SELECT s.sha256, s.file_name, s.kind, s.size_bytes, list(t.table_name ORDER BY t.table_name) "
                        "FILTER (WHERE t.table_name IS NOT NULL) FROM app_meta._sources s "
                        "LEFT JOIN app_meta._tables t USING (sha256) "
                        "GROUP BY ALL ORDER BY max(s.loaded_at) DESC").fetchall()
                known = self._registry.sources = [SourceInfo(r[0], r[1], r[2], int(r[3]), tuple(r[4] or ()))
                                                     for r in rows]
        return list(known)

    def tables(self) -> list[TableInfo]:
        """User tables with columns, row counts and the file each came from."""
        with self.engine() as eng:
            if (origin := self._registry.origin) is None:
                with eng.cursor() as cur:
                    origin = self._registry.origin = dict(cur.execute(
                        "SELECT t.table_name, s.file_name || coalesce(' / ' || t.origin, '') "
                        "FROM app_meta._tables t JOIN app_meta._sources s USING (sha256)").fetchall())
            infos = eng.tables()
        return [TableInfo(i.name, i.columns, i.row_count, i.schema, origin.get(i.name, "")) for i in infos]

    def names(self) -> dict[str, list[NameChange]]:
        """Per table: its own and its columns' names in the file and as stored, in column order.

        Tables loaded before the names were recorded are absent."""
        with self.engine() as eng, eng.cursor() as cur:
            rows = cur.execute("SELECT table_name, kind, original, stored FROM app_meta._names "
                               "ORDER BY table_name, kind DESC, position").fetchall()
        out: dict[str, list[NameChange]] = {}
        for table, kind, original, stored in rows:
            out.setdefault(table, []).append(NameChange(kind, original, stored))
        return out

    def load_file(self, path: Path, progress: Progress | None = None, file_name: str | None = None) -> LoadResult:
        """Load a CSV/TSV, Excel, Parquet, JSON or DuckDB file; the same bytes load only once.

        `file_name` is the name the user knows the file by (an upload is saved under a temporary name):
        every message and warning names it, never the temporary path."""
        path = Path(path)
        name = file_name or path.name
        check_loadable(path, name)
        report = progress or (lambda _f, _m: None)
        sniffed = sniff_table(path, name)
        digest = sha256_file(path, report)
        with self._rw.write():
            self._close_engine()  # the next read reopens it
            with self._writer() as con:
                known = scalar(con, "SELECT list(table_name) FROM app_meta._tables WHERE sha256 = ?", [digest])
                if scalar(con, "SELECT count(*) FROM app_meta._sources WHERE sha256 = ?", [digest]):
                    return LoadResult(digest, name, sniffed.kind, list(known or []), already_loaded=True)
                sweep_orphans(self._tmp_root, self._spill_root)
                result = self._load_new(con, path, sniffed, LoadResult(digest, name, sniffed.kind, []), report)
        report(1.0, "done")
        return result

    def _load_new(self, con: duckdb.DuckDBPyConnection, path: Path, sniffed: Sniffed, result: LoadResult,
                  report: Progress) -> LoadResult:
        name = result.file_name
        self._tmp_root.mkdir(parents=True, exist_ok=True)
        # The folder carries this process's id: the next start or load removes it if the process was killed.
        tmp = Path(tempfile.mkdtemp(prefix=f"load-{os.getpid()}-", dir=self._tmp_root))
        # No enclosing transaction: DuckDB aborts a whole transaction on the first error, and
        # CSV loading retries with laxer options. Clean up by hand instead.
        try:
            load_kind(con, path, sniffed, name, tmp, result, report, self.max_rows)
            con.execute("INSERT INTO app_meta._sources VALUES (?, ?, ?, ?, now())",
                        [result.sha256, name, sniffed.kind, path.stat().st_size])
        except BaseException as exc:
            undo(con, result)  # a failed load leaves no half-made tables behind
            if isinstance(exc, duckdb.Error):
                raise BadInputError(
                    f"{name} cannot be read as {KIND_LABELS[sniffed.kind]}: "
                    f"{scrub(first_line(exc), name, path, tmp)}",
                    "The file may be damaged or incomplete: open it in the program that made it, "
                    "save or export it again, and load the new file.") from exc
            if isinstance(exc, BadInputError) and scrub(exc.message, name, path, tmp) != exc.message:
                raise BadInputError(scrub(exc.message, name, path, tmp), exc.hint) from exc
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        result.warnings = [scrub(w, name, path, tmp) for w in result.warnings]
        return result

    def delete_source(self, sha256: str) -> list[str]:
        """Remove a loaded file's tables and registry entry; other tables stay."""
        with self._rw.write():
            self._close_engine()
            with self._writer() as con:
                if not scalar(con, "SELECT count(*) FROM app_meta._sources WHERE sha256 = ?", [sha256]):
                    raise NotFoundError(f"No loaded file has sha256 {sha256}.")
                names = [r[0] for r in con.execute("SELECT table_name FROM app_meta._tables WHERE sha256 = ?",
                                                   [sha256]).fetchall()]
                con.execute("BEGIN TRANSACTION")
                for table in names:
                    con.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")
                    con.execute("DELETE FROM app_meta._names WHERE table_name = ?", [table])
                con.execute("DELETE FROM app_meta._tables WHERE sha256 = ?", [sha256])
                con.execute("DELETE FROM app_meta._sources WHERE sha256 = ?", [sha256])
                con.execute("COMMIT")
                return names

    def _close_engine(self) -> None:
        self._registry = _RegistryView()
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def _open_engine(self) -> QueryEngine:
        if not self.path.exists():
            with self._writer():
                pass  # a new database: created with its registry
        con = connect_waiting(self.path, self._wait_s, read_only=True, config=dict(BASE_CONFIG))
        if not _registry_ready(con):  # made by an older version: add or move the registry, once
            con.close()
            with self._writer():
                pass
            con = connect_waiting(self.path, self._wait_s, read_only=True, config=dict(BASE_CONFIG))
        return QueryEngine.open_store(con, self.limits)

    @contextmanager
    def _writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect_waiting(self.path, self._wait_s, config=dict(self._config))
        try:
            for stmt in REGISTRY_SQL:
                con.execute(stmt)
            _move_registry(con)
            yield con
        finally:
            con.close()


def _registry_ready(con: duckdb.DuckDBPyConnection) -> bool:
    found = {(r[0], r[1]) for r in con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE "
                                               "database_name = current_database()").fetchall()}
    wanted = {("app_meta", "_sources"), ("app_meta", "_tables"), ("app_meta", "_names")}
    return wanted <= found and not found & {("main", "_sources"), ("main", "_tables")}


def _move_registry(con: duckdb.DuckDBPyConnection) -> None:
    """Databases made before the registry had its own schema keep it in `main`: move it (once)."""
    old = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = "
                                     "current_database() AND schema_name = 'main' AND table_name IN "
                                     "('_sources', '_tables')").fetchall()}
    for name in sorted(old):
        con.execute(f"INSERT INTO app_meta.{name} SELECT * FROM main.{name} ON CONFLICT DO NOTHING")
        con.execute(f"DROP TABLE main.{name}")
