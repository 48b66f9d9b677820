"""A locked, read-only DuckDB connection for running untrusted SQL, and the schema it exposes.

The connection has no file or network access (`enable_external_access=false`) and a locked
configuration, so even SQL that slipped past the checker cannot read files or change settings.
One engine is shared by every thread; each query runs on its own `con.cursor()`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from app.errors import AssistantError, BadInputError
from multimodal.kinds import read_head, sniff_table_format

BASE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
NUMERIC_PREFIXES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                    "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")


class QueryTimeoutError(AssistantError):
    """A query ran past its time limit and was interrupted."""


class QueryError(AssistantError):
    """DuckDB rejected or failed a query (syntax, unknown column, type error ...)."""


class QueryMemoryError(AssistantError):
    """A query needed more memory than the connection's limit and was stopped."""


@dataclass(frozen=True)
class Limits:
    """What one query may use: memory (DuckDB's size syntax, e.g. '1GB') and CPU threads."""

    memory_limit: str = "1GB"
    threads: int = 2


@dataclass(frozen=True)
class ColumnInfo:
    """One column: cleaned name and DuckDB type."""

    name: str
    type: str

    @property
    def is_numeric(self) -> bool:
        """True for integer, decimal and floating types."""
        return self.type.upper().startswith(NUMERIC_PREFIXES)


@dataclass(frozen=True)
class TableInfo:
    """One table as the schema browser and the prompt builder see it."""

    name: str
    columns: tuple[ColumnInfo, ...]
    row_count: int
    schema: str = "main"
    source: str = ""  # file name (and sheet) the table was loaded from, when known


@dataclass
class QueryResult:
    """Rows of one query, JSON-safe, capped at `max_rows` with `truncated` set when cut."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def json_safe(value: Any) -> Any:
    """Convert a DuckDB value into plain JSON types (numbers stay numbers)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, (dt.timedelta, uuid.UUID)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


def quote_ident(name: str) -> str:
    """Double-quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


_VALUES_KEPT = 10_000  # distinct-value answers kept per engine (a few columns × the words of many questions)


class QueryEngine:
    """Read-only, locked DuckDB connection shared by all threads."""

    def __init__(self, con: duckdb.DuckDBPyConnection, catalog: str | None = None, hidden_prefix: str = "_",
                 limits: Limits = Limits()):
        self._con = con
        self.limits = limits
        self._catalog = catalog
        self._hidden = hidden_prefix
        self._schema_cache: list[TableInfo] | None = None
        # Example values for prompts, kept while this engine lives: its data cannot change under it (a load closes
        # the engine first, and another process cannot write while it is open), and every SQL question asked them.
        self._values: dict[tuple[str, str, int, str | None], list[str]] = {}
        self._lock = threading.Lock()

    @classmethod
    def open_store(cls, con: duckdb.DuckDBPyConnection, limits: Limits = Limits()) -> QueryEngine:
        """Lock down a read-only connection to the app's own tables database (opened by storage/tables.py)."""
        _lock_down(con, limits)
        return cls(con, limits=limits)

    @classmethod
    def open_attached(cls, path: Path, limits: Limits = Limits()) -> QueryEngine:
        """Attach an existing .duckdb file read-only (catalog named after the file) and lock it down."""
        path = Path(path)
        if path.is_dir():
            raise BadInputError(f"{path} is a folder, not a DuckDB database.", "Give the path of a .duckdb file.")
        if not path.is_file():
            raise BadInputError(f"Database file {path} does not exist.", "Check the --db path.")
        found = sniff_table_format(read_head(path))
        if found != "duckdb":
            what = "an SQLite database" if read_head(path).startswith(b"SQLite format 3") else _what_file(found)
            raise BadInputError(f"{path.name} is not a DuckDB database (it is {what}).",
                                "Give a .duckdb file with --db; load CSV, Excel, Parquet or JSON files with "
                                "`tables load` (an SQLite database can be exported to CSV first).")
        catalog = path.stem
        con = duckdb.connect(":memory:", config=dict(BASE_CONFIG))
        try:
            con.execute(f"ATTACH {sql_literal(str(path))} AS {quote_ident(catalog)} (READ_ONLY)")
        except duckdb.Error as exc:
            con.close()
            raise BadInputError(f"{path.name} cannot be opened as a DuckDB database ({first_line(exc)}).",
                                "It may be damaged, in use by a program writing to it, or from a newer "
                                "DuckDB version.") from exc
        con.execute(f"USE {quote_ident(catalog)}")
        _lock_down(con, limits)
        return cls(con, catalog=catalog, hidden_prefix="\x00", limits=limits)

    def close(self) -> None:
        """Close the shared connection (cursors in flight fail)."""
        self._con.close()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh cursor on the shared connection, pointed at the right catalog."""
        cur = self._con.cursor()
        try:
            if self._catalog:
                cur.execute(f"USE {quote_ident(self._catalog)}")
            yield cur
        finally:
            cur.close()

    def run(self, sql: str, max_rows: int = 1000, timeout: float = 10.0) -> QueryResult:
        """Run already-checked SQL with a time limit and a row cap."""
        start = time.monotonic()
        with self.cursor() as cur:
            timer = threading.Timer(timeout, cur.interrupt)
            timer.daemon = True
            timer.start()
            try:
                cur.execute(sql)
                if cur.description is None:
                    return QueryResult([], [], [], seconds=time.monotonic() - start)
                columns = [d[0] for d in cur.description]
                types = [str(d[1]) for d in cur.description]
                raw = cur.fetchmany(max_rows + 1)
            except duckdb.InterruptException as exc:
                raise QueryTimeoutError(f"The query took longer than {timeout:g} s and was stopped.",
                                        "Ask for less data, or add filters or a LIMIT.") from exc
            except duckdb.OutOfMemoryException as exc:
                raise QueryMemoryError(
                    f"The query needed more memory than the memory limit of {self.limits.memory_limit} and was "
                    "stopped.", "Ask for less at once: aggregate, filter or add a LIMIT; or raise the "
                    "sql_memory_limit setting.") from exc
            except duckdb.Error as exc:
                raise QueryError(first_line(exc), "Check table and column names in the schema.") from exc
            finally:
                timer.cancel()
        truncated = len(raw) > max_rows
        rows = [[json_safe(v) for v in row] for row in raw[:max_rows]]
        return QueryResult(columns, types, rows, truncated, time.monotonic() - start)

    def parse_info(self, sql: str) -> tuple[list[str], str]:
        """Statement types of `sql` and DuckDB's JSON syntax tree (empty when not a SELECT)."""
        with self.cursor() as cur:
            try:
                types = [s.type.name for s in cur.extract_statements(sql)]
            except duckdb.Error as exc:
                raise QueryError(first_line(exc), "The SQL does not parse.") from exc
            tree = scalar(cur, "SELECT json_serialize_sql(?)", [sql]) if types == ["SELECT"] else ""
        return types, tree

    def tables(self, refresh: bool = False) -> list[TableInfo]:
        """Every user table with columns, types and row count (cached until `refresh`)."""
        with self._lock:
            if self._schema_cache is None or refresh:
                self._schema_cache = self._read_schema()
            return list(self._schema_cache)

    def _read_schema(self) -> list[TableInfo]:
        where = "database_name = current_database() AND NOT internal"
        with self.cursor() as cur:
            tabs = cur.execute(
                f"SELECT schema_name, table_name, estimated_size FROM duckdb_tables() WHERE {where} "
                "ORDER BY schema_name, table_name").fetchall()
            cols = cur.execute(
                f"SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() WHERE {where} "
                "ORDER BY schema_name, table_name, column_index").fetchall()
            out = []
            for schema, name, _ in tabs:
                if name.startswith(self._hidden):
                    continue
                columns = tuple(ColumnInfo(c, t) for s, n, c, t in cols if s == schema and n == name)
                count = scalar(cur, f"SELECT count(*) FROM {quote_ident(schema)}.{quote_ident(name)}")
                out.append(TableInfo(name, columns, int(count), schema))
        return out

    def sample_rows(self, table: str, limit: int = 5) -> QueryResult:
        """First rows of a table, for the schema browser."""
        info = self._find(table)
        return self.run(f"SELECT * FROM {_qualified(info)} LIMIT {int(limit)}", max_rows=limit)

    def column_stats(self, table: str) -> list[dict[str, Any]]:
        """Per column: non-null count, distinct count (approximate), min, max, mean for numbers."""
        info = self._find(table)
        out = []
        with self.cursor() as cur:
            for col in info.columns:
                q = quote_ident(col.name)
                mean = f"avg({q})" if col.is_numeric else "NULL"
                none: tuple[Any, ...] = (None, None, None, None, None)
                try:
                    row = cur.execute(f"SELECT count({q}), approx_count_distinct({q}), min({q})::VARCHAR, "
                                      f"max({q})::VARCHAR, {mean} FROM {_qualified(info)}").fetchone() or none
                except duckdb.Error:  # e.g. min() of a MAP column: stats are optional
                    row = none
                out.append({"column": col.name, "type": col.type, "non_null": row[0], "distinct": row[1],
                            "min": row[2], "max": row[3], "mean": json_safe(row[4])})
        return out

    def distinct_values(self, table: str, column: str, limit: int = 5, like: str | None = None) -> list[str]:
        """A few distinct text values of a column (optionally containing `like`), for prompts."""
        key = (table, column, limit, like)
        if (known := self._values.get(key)) is not None:
            return list(known)
        info = self._find(table)
        q = quote_ident(column)
        where = f"WHERE {q}::VARCHAR ILIKE ?" if like else f"WHERE {q} IS NOT NULL"
        params = [f"%{like}%"] if like else []
        with self.cursor() as cur:
            rows = cur.execute(f"SELECT DISTINCT {q}::VARCHAR FROM {_qualified(info)} {where} LIMIT {int(limit)}",
                               params).fetchall()
        values = [r[0] for r in rows if r[0] is not None]
        if len(self._values) >= _VALUES_KEPT:
            self._values.clear()
        self._values[key] = values
        return list(values)

    def _find(self, table: str) -> TableInfo:
        for info in self.tables():
            if info.name == table:
                return info
        raise BadInputError(f"There is no table named {table!r}.", "Pick a table from the schema.")


def _qualified(info: TableInfo) -> str:
    return f"{quote_ident(info.schema)}.{quote_ident(info.name)}"


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The first value of a query that always returns one row (an aggregate); None if it returned none."""
    row = con.execute(sql, params).fetchone()
    return row[0] if row else None


# DuckDB's advice to change a setting or install an extension: the sandbox refuses both, so it is dropped.
_ADVICE = re.compile(r"\s*\b(?:Use|Try|Run|Please use)\b[^.\n]*?\b(?:SET|PRAGMA|INSTALL|LOAD)\b[^\n]*")


def first_line(exc: Exception | str) -> str:
    """DuckDB's first line of an error, without advice to SET, PRAGMA, INSTALL or LOAD anything."""
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    return _ADVICE.sub("", lines[0]).strip() or lines[0]


def _what_file(found: str | None) -> str:
    return {"parquet": "a Parquet file", "zip": "a zip archive or a workbook", "xls": "an old Excel file"}.get(
        found or "", "another kind of file")


def _lock_down(con: duckdb.DuckDBPyConnection, limits: Limits) -> None:
    # Order matters: once external access is off and the configuration locked, nothing in SQL
    # (SET, PRAGMA, ATTACH, read_csv ...) can turn either back on. No temp directory: a query cannot
    # spill to disk, so the memory limit is the whole budget and untrusted SQL writes no files.
    con.execute(f"SET memory_limit = {sql_literal(limits.memory_limit)}")
    con.execute(f"SET threads = {int(limits.threads)}")
    con.execute("SET temp_directory = ''")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
