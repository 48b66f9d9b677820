"""Loading one table file into DuckDB: a reader per kind, CSV retries, progress, and clean-up on failure.

Runs inside TableStore.load_file on its short-lived writable connection (storage/tables.py).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from app.errors import BadInputError
from multimodal.kinds import Sniffed
from multimodal.tables import EXCEL_MAX_ROWS, NA_STRINGS, Progress, dump_excel_sheets, transcode_to_utf8, unique_names
from storage.tables_engine import first_line, quote_ident, scalar, sql_literal

Connection = duckdb.DuckDBPyConnection

DEFAULT_MAX_ROWS = 20_000_000
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
    max_rows: int = field(default=DEFAULT_MAX_ROWS, repr=False)  # the most rows one table may have


_DUCKDB_CATEGORY = re.compile(r"\b(?:Invalid Input|IO|Conversion|Binder|Parser|Catalog|Not implemented|Internal|"
                              r"Serialization|Out of Range|Invalid) Error:\s*")


def scrub(text: str, name: str, path: Path, tmp: Path) -> str:
    """A load message for the user: DuckDB names the file it read, an upload's temporary path; the user knows
    their own file name."""
    text = re.sub(re.escape(str(tmp)) + r"[^'\"\s]*", lambda _m: name, text)
    text = text.replace(str(path), name)
    # "Invalid Input Error: ..." names DuckDB's internals, not the problem.
    return _DUCKDB_CATEGORY.sub("", text).strip()


def undo(con: Connection, result: LoadResult) -> None:
    """Drop what a failed load made: its tables, their names and its registry rows."""
    for table in result.tables:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")
        con.execute("DELETE FROM app_meta._names WHERE table_name = ?", [table])
    con.execute("DELETE FROM app_meta._tables WHERE sha256 = ?", [result.sha256])
    con.execute("DELETE FROM app_meta._sources WHERE sha256 = ?", [result.sha256])


def load_kind(con: Connection, path: Path, sniffed: Sniffed, name: str, tmp: Path, result: LoadResult,
              report: Progress, max_rows: int = DEFAULT_MAX_ROWS) -> None:
    """Load one sniffed file into tables (recorded in `result`); raises BadInputError or duckdb.Error.

    A table over `max_rows` rows is refused: reading stops one row past the limit (a small compressed file can
    expand to far more than the disk holds)."""
    result.max_rows = max_rows
    stem = Path(name).stem
    if sniffed.kind == "csv":
        src = path
        if sniffed.encoding != "utf-8":
            src = tmp / "utf8.csv"
            transcode_to_utf8(path, src, sniffed.encoding, report)
            result.warnings.append(f"Converted from {sniffed.encoding} to UTF-8.")
        _load_csv(con, src, stem, None, sniffed.delimiter, result, report, header=None)
    elif sniffed.kind == "excel":
        dumps = list(dump_excel_sheets(path, tmp, report, name, max_rows=min(max_rows, EXCEL_MAX_ROWS)))
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


def _load_csv(con: Connection, src: Path, table: str, origin: str | None, delimiter: str | None, result: LoadResult,
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


def _create(con: Connection, reader: str, table: str, origin: str | None, result: LoadResult, report: Progress) -> None:
    described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    if not described:
        where = f"{origin!r} in {result.file_name}" if origin else result.file_name
        raise BadInputError(f"{where} has no columns.", "Add a header row and data, then load it again.")
    clean = unique_names([d[0] for d in described], "column")
    taken = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = "
                                       "current_database()").fetchall()]
    name = unique_names([table], "t", taken)[0]
    select = ", ".join(f"{quote_ident(d[0])} AS {quote_ident(c)}" for d, c in zip(described, clean, strict=True))
    _with_progress(con, f"CREATE TABLE {quote_ident(name)} AS SELECT {select} FROM {reader} "
                        f"LIMIT {int(result.max_rows) + 1}", report)
    rows = scalar(con, f"SELECT count(*) FROM {quote_ident(name)}")
    if rows > result.max_rows:
        con.execute(f"DROP TABLE {quote_ident(name)}")
        where = f"{origin!r} in {result.file_name}" if origin else result.file_name
        raise BadInputError(f"{where} has more than {result.max_rows:,} rows, the most one table may have.",
                            "Load a filtered or split file, or raise the max_table_rows setting.")
    con.execute("INSERT INTO app_meta._tables VALUES (?, ?, ?, ?)", [name, result.sha256, origin, rows])
    # Keep the file's own names: the page shows what each was renamed to (a stale entry of a dropped table goes).
    con.execute("DELETE FROM app_meta._names WHERE table_name = ?", [name])
    con.executemany("INSERT INTO app_meta._names VALUES (?, ?, ?, ?, ?)",
                    [[name, "table", 0, table, name]]
                    + [[name, "column", i, d[0], c] for i, (d, c) in enumerate(zip(described, clean, strict=True))])
    result.tables.append(name)
    result.rows[name] = int(rows)


def _load_duckdb(con: Connection, path: Path, result: LoadResult, report: Progress) -> None:
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


def _with_progress(con: Connection, sql: str, report: Progress) -> None:
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
