"""The analyst's tables: a persistent DuckDB database in the data directory, with a file registry.

DuckDB settings such as `enable_external_access` apply to a whole database instance, so loading
(which must read files) and querying (which must not) cannot share one. Loads take a write lock,
close the locked read-only engine, load in a short-lived writable connection, and reopen it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from app.errors import BadInputError, NotFoundError
from multimodal.kinds import sniff_table
from multimodal.tables import (
    NA_STRINGS,
    Progress,
    dump_excel_sheets,
    sha256_file,
    transcode_to_utf8,
    unique_names,
)
from storage.tables_engine import BASE_CONFIG, QueryEngine, TableInfo, first_line, quote_ident, sql_literal

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
KIND_LABELS = {"csv": "CSV", "excel": "an Excel workbook", "parquet": "Parquet", "json": "JSON",
               "duckdb": "a DuckDB database"}


@dataclass
class LoadResult:
    """What loading one file did."""

    sha256: str
    file_name: str
    kind: str
    tables: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    already_loaded: bool = False
    warnings: list[str] = field(default_factory=list)


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
    """Persistent tables database `<data_dir>/tables.duckdb` with a sha256 registry of source files."""

    def __init__(self, path: Path, memory_limit: str = "1GB", threads: int = 2) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_root = self.path.parent / "tmp"
        self._config = {**BASE_CONFIG, "memory_limit": memory_limit, "threads": threads,
                        "temp_directory": str(self.path.parent / "duckdb_tmp")}
        self._rw = _RWLock()
        with self._writer() as con:
            for stmt in REGISTRY_SQL:
                con.execute(stmt)
            _move_registry(con)
        self._engine: QueryEngine | None = QueryEngine.open_store(self.path)

    @contextmanager
    def engine(self) -> Iterator[QueryEngine]:
        """The locked read-only engine, held steady (no load can swap it) while in use."""
        with self._rw.read():
            if self._engine is None:
                raise BadInputError("The tables database is closed.")
            yield self._engine

    def close(self) -> None:
        """Close the query engine."""
        with self._rw.write():
            if self._engine is not None:
                self._engine.close()
                self._engine = None

    def sources(self) -> list[SourceInfo]:
        """Loaded files, newest first, with their tables."""
        with self.engine() as eng, eng.cursor() as cur:
            rows = cur.execute(
                "SELECT s.sha256, s.file_name, s.kind, s.size_bytes, list(t.table_name ORDER BY t.table_name) "
                "FILTER (WHERE t.table_name IS NOT NULL) FROM app_meta._sources s "
                "LEFT JOIN app_meta._tables t USING (sha256) "
                "GROUP BY ALL ORDER BY max(s.loaded_at) DESC").fetchall()
        return [SourceInfo(r[0], r[1], r[2], int(r[3]), tuple(r[4] or ())) for r in rows]

    def tables(self) -> list[TableInfo]:
        """User tables with columns, row counts and the file each came from."""
        with self.engine() as eng, eng.cursor() as cur:
            origin = dict(cur.execute("SELECT t.table_name, s.file_name || coalesce(' / ' || t.origin, '') "
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
        if not path.is_file():
            raise BadInputError(f"{path} does not exist or is not a file.")
        name = file_name or path.name
        report = progress or (lambda _f, _m: None)
        sniffed = sniff_table(path, name)
        digest = sha256_file(path, report)
        with self._rw.write():
            self._close_engine()
            try:
                with self._writer() as con:
                    known = con.execute("SELECT list(table_name) FROM app_meta._tables WHERE sha256 = ?",
                                        [digest]).fetchone()
                    if con.execute("SELECT count(*) FROM app_meta._sources WHERE sha256 = ?", [digest]).fetchone()[0]:
                        return LoadResult(digest, name, sniffed.kind, list(known[0] or []), already_loaded=True)
                    result = LoadResult(digest, name, sniffed.kind, [])
                    self._tmp_root.mkdir(parents=True, exist_ok=True)
                    tmp = Path(tempfile.mkdtemp(dir=self._tmp_root))
                    # No enclosing transaction: DuckDB aborts a whole transaction on the first error, and
                    # CSV loading retries with laxer options. Clean up by hand instead.
                    try:
                        _load_kind(con, path, sniffed, name, tmp, result, report)
                        con.execute("INSERT INTO app_meta._sources VALUES (?, ?, ?, ?, now())",
                                    [digest, name, sniffed.kind, path.stat().st_size])
                    except BaseException as exc:
                        _undo(con, result)  # a failed load leaves no half-made tables behind
                        if isinstance(exc, duckdb.Error):
                            raise BadInputError(
                                f"{name} cannot be read as {KIND_LABELS[sniffed.kind]}: "
                                f"{_scrub(first_line(exc), name, path, tmp)}",
                                "The file may be damaged or incomplete: open it in the program that made it, "
                                "save or export it again, and load the new file.") from exc
                        if isinstance(exc, BadInputError) and _scrub(exc.message, name, path, tmp) != exc.message:
                            raise BadInputError(_scrub(exc.message, name, path, tmp), exc.hint) from exc
                        raise
                    finally:
                        shutil.rmtree(tmp, ignore_errors=True)
                    result.warnings = [_scrub(w, name, path, tmp) for w in result.warnings]
                    report(1.0, "done")
                    return result
            finally:
                self._engine = QueryEngine.open_store(self.path)

    def delete_source(self, sha256: str) -> list[str]:
        """Remove a loaded file's tables and registry entry; other tables stay."""
        with self._rw.write():
            self._close_engine()
            try:
                with self._writer() as con:
                    if not con.execute("SELECT count(*) FROM app_meta._sources WHERE sha256 = ?",
                                       [sha256]).fetchone()[0]:
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
            finally:
                self._engine = QueryEngine.open_store(self.path)

    def _close_engine(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    @contextmanager
    def _writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = _connect(self.path, config=dict(self._config))
        try:
            yield con
        finally:
            con.close()


def _connect(path: Path, **kwargs) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), **kwargs)
    except duckdb.IOException as exc:
        # DuckDB allows one writing process per file: the app and a CLI load cannot both hold it.
        raise BadInputError(f"The tables database {path} is in use by another program ({first_line(exc)}).",
                            "Close the other Analyst Assistant process (app or CLI) and try again.") from exc


_DUCKDB_CATEGORY = re.compile(r"\b(?:Invalid Input|IO|Conversion|Binder|Parser|Catalog|Not implemented|Internal|"
                              r"Serialization|Out of Range|Invalid) Error:\s*")


def _scrub(text: str, name: str, path: Path, tmp: Path) -> str:
    """DuckDB names the file it read: an upload's temporary path means nothing to the user, their file name does."""
    text = re.sub(re.escape(str(tmp)) + r"[^'\"\s]*", lambda _m: name, text)
    text = text.replace(str(path), name)
    # "Invalid Input Error: ..." names DuckDB's internals, not the problem.
    return _DUCKDB_CATEGORY.sub("", text).strip()


def _undo(con, result: LoadResult) -> None:
    for table in result.tables:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")
        con.execute("DELETE FROM app_meta._names WHERE table_name = ?", [table])
    con.execute("DELETE FROM app_meta._tables WHERE sha256 = ?", [result.sha256])
    con.execute("DELETE FROM app_meta._sources WHERE sha256 = ?", [result.sha256])


def _load_kind(con, path: Path, sniffed, name: str, tmp: Path, result: LoadResult, report: Progress) -> None:
    stem = Path(name).stem
    if sniffed.kind == "csv":
        src = path
        if sniffed.encoding != "utf-8":
            src = tmp / "utf8.csv"
            transcode_to_utf8(path, src, sniffed.encoding, report)
            result.warnings.append(f"Converted from {sniffed.encoding} to UTF-8.")
        _load_csv(con, src, stem, None, sniffed.delimiter, result, report, header=None)
    elif sniffed.kind == "excel":
        dumps = list(dump_excel_sheets(path, tmp, report, name))
        for dump in dumps:
            if dump.csv_path is None:
                result.warnings.append(f"Sheet {dump.sheet!r} is empty and was skipped.")
                continue
            table = stem if len(dumps) == 1 else f"{stem}_{dump.sheet}"
            _load_csv(con, dump.csv_path, table, dump.sheet, ",", result, report, header=True, full_sample=True)
        if not result.tables:
            raise BadInputError(f"Every sheet in {name} is empty.", "Add a header row and data, then load it again.")
    elif sniffed.kind == "parquet":
        _create(con, f"read_parquet({sql_literal(str(path))})", stem, None, result, report)
    elif sniffed.kind == "json":
        src = path
        if sniffed.encoding != "utf-8":
            src = tmp / "utf8.json"
            transcode_to_utf8(path, src, sniffed.encoding, report)
        _create(con, f"read_json_auto({sql_literal(str(src))})", stem, None, result, report)
    elif sniffed.kind == "duckdb":
        _load_duckdb(con, path, result, report)


def _load_csv(con, src: Path, table: str, origin: str | None, delimiter: str | None, result: LoadResult,
              report: Progress, header: bool | None, full_sample: bool = False) -> None:
    nulls = "[" + ", ".join(sql_literal(s) for s in NA_STRINGS) + "]"
    opts = [f"nullstr = {nulls}", "null_padding = true", "strict_mode = false"]
    if delimiter:
        opts += [f"delim = {sql_literal(delimiter)}", "quote = '\"'"]
    if header is not None:
        opts.append(f"header = {str(header).lower()}")
    if full_sample:
        opts.append("sample_size = -1")
    # Strict first; then keep every readable row as text; last, treat quotes as plain characters.
    attempts = [opts, [*opts, "all_varchar = true", "ignore_errors = true"],
                [*(o for o in opts if not o.startswith("quote")), "quote = ''", "escape = ''", "all_varchar = true",
                 "ignore_errors = true"]]
    first_error = ""
    for number, attempt in enumerate(attempts):
        try:
            _create(con, f"read_csv({sql_literal(str(src))}, {', '.join(attempt)})", table, origin, result, report)
        except duckdb.Error as exc:
            first_error = first_error or first_line(exc)
            continue
        if number:
            result.warnings.append(f"Table {result.tables[-1]}: some rows are malformed ({first_error}); "
                                   "loaded every column as text and skipped rows that could not be read.")
        return
    where = f"Sheet {origin!r} of {result.file_name}" if origin else result.file_name
    raise BadInputError(f"{where} cannot be read as CSV: {first_error}",
                        "Check the delimiter and quoting, or re-export the file.")


def _create(con, reader: str, table: str, origin: str | None, result: LoadResult, report: Progress) -> None:
    described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    if not described:
        where = f"{origin!r} in {result.file_name}" if origin else result.file_name
        raise BadInputError(f"{where} has no columns.", "Add a header row and data, then load it again.")
    clean = unique_names([d[0] for d in described], "column")
    taken = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = "
                                       "current_database()").fetchall()]
    name = unique_names([table], "t", taken)[0]
    select = ", ".join(f"{quote_ident(d[0])} AS {quote_ident(c)}" for d, c in zip(described, clean, strict=True))
    _with_progress(con, f"CREATE TABLE {quote_ident(name)} AS SELECT {select} FROM {reader}", report)
    rows = con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0]
    con.execute("INSERT INTO app_meta._tables VALUES (?, ?, ?, ?)", [name, result.sha256, origin, rows])
    # Keep the file's own names: the page shows what each was renamed to (a stale entry of a dropped table goes).
    con.execute("DELETE FROM app_meta._names WHERE table_name = ?", [name])
    con.executemany("INSERT INTO app_meta._names VALUES (?, ?, ?, ?, ?)",
                    [[name, "table", 0, table, name]]
                    + [[name, "column", i, d[0], c] for i, (d, c) in enumerate(zip(described, clean, strict=True))])
    result.tables.append(name)
    result.rows[name] = int(rows)


def _load_duckdb(con, path: Path, result: LoadResult, report: Progress) -> None:
    con.execute(f"ATTACH {sql_literal(str(path))} AS _src (READ_ONLY)")
    try:
        found = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = '_src' "
                            "ORDER BY ALL").fetchall()
        if not found:
            raise BadInputError(f"{result.file_name} contains no tables.")
        for schema, table in found:
            origin = table if schema == "main" else f"{schema}.{table}"
            _create(con, f"_src.{quote_ident(schema)}.{quote_ident(table)}", table, origin, result, report)
    finally:
        con.execute("DETACH _src")


def _with_progress(con, sql: str, report: Progress) -> None:
    # DuckDB reports progress for the running query; poll it from a side thread.
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.5):
            try:
                pct = con.query_progress()
            except duckdb.Error:
                return
            if pct is not None and pct >= 0:
                report(0.4 + 0.6 * min(pct, 100.0) / 100.0, "loading")

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        con.execute(sql)
    finally:
        done.set()
        watcher.join(timeout=2)
        time.sleep(0)


def _move_registry(con: duckdb.DuckDBPyConnection) -> None:
    """Databases made before the registry had its own schema keep it in `main`: move it (once)."""
    old = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = "
                                     "current_database() AND schema_name = 'main' AND table_name IN "
                                     "('_sources', '_tables')").fetchall()}
    for name in sorted(old):
        con.execute(f"INSERT INTO app_meta.{name} SELECT * FROM main.{name} ON CONFLICT DO NOTHING")
        con.execute(f"DROP TABLE main.{name}")
