"""Decide whether untrusted SQL may run, using DuckDB's own parser (never regular expressions).

Rules: exactly one statement; it parses as a SELECT (SELECT/WITH/FROM/SHOW/DESCRIBE/SUMMARIZE);
every query node in its syntax tree is a plain query (DuckDB accepts `WITH x AS (DELETE ...)`);
table functions come from a small allow-list (no read_csv, glob, query, read_text ...); and no
table reference looks like a file path (DuckDB's replacement scans read `FROM 'x.csv'`).
The locked connection is the second wall; this check gives the clear message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from app.errors import BadInputError
from storage.tables_engine import QueryEngine

SAFE_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
SAFE_TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest", "duckdb_tables", "duckdb_columns", "duckdb_views", "duckdb_schemas",
    "duckdb_databases", "duckdb_constraints", "duckdb_indexes", "duckdb_types", "duckdb_keywords",
    "duckdb_functions", "pragma_table_info", "pragma_show_tables",
})
# Statement types as DuckDB names them, mapped to why they are refused (for a clear message).
REFUSED_TYPES = {
    "COPY": "COPY reads or writes files", "ATTACH": "ATTACH opens other databases",
    "DETACH": "DETACH changes the databases", "LOAD": "INSTALL/LOAD add extensions", "SET": "SET changes settings",
    "VARIABLE_SET": "SET changes settings", "PRAGMA": "PRAGMA changes or reveals settings",
    "EXPORT": "EXPORT writes files", "CALL": "CALL runs procedures", "EXPLAIN": "EXPLAIN is not a query",
}


class UnsafeSQLError(BadInputError):
    """SQL that is not a single read-only query over the loaded tables."""


def check_sql(engine: QueryEngine, sql: str) -> str:
    """Return the SQL (trimmed) if it is one read-only query; raise UnsafeSQLError otherwise."""
    text = sql.strip()
    if not text:
        raise UnsafeSQLError("There is no SQL to run.")
    types, tree = engine.parse_info(text)
    if len(types) != 1:
        raise UnsafeSQLError(f"Only one SQL statement may run at a time; this has {len(types)}.",
                             "Remove the extra statements.")
    kind = types[0]
    if kind == "MULTI" and re.match(r"\s*(?:FROM\s+\S+\s+)?PIVOT(?:_WIDER)?\b", text, re.I):
        # DuckDB runs a PIVOT without an IN list as two statements (one finds the values); it reads only,
        # but the checker can verify single statements only. With the values listed it is one SELECT.
        raise UnsafeSQLError("PIVOT without an IN list is not supported here: list the values to turn into "
                             "columns, for example PIVOT sales ON region IN ('North', 'South') USING sum(units).",
                             "Or group instead: SELECT region, sum(units) FROM sales GROUP BY region.")
    if kind == "MULTI":
        raise UnsafeSQLError("Refused: this statement runs several statements inside DuckDB, which cannot be "
                             "checked one by one. Only single read-only queries (SELECT or WITH) may run.")
    if kind != "SELECT":
        reason = REFUSED_TYPES.get(kind, f"{kind} statements change data or settings")
        raise UnsafeSQLError(f"Refused: {reason}. Only read-only queries (SELECT or WITH) may run.")
    parsed = json.loads(tree)
    if parsed.get("error"):
        raise UnsafeSQLError(f"Refused: the query cannot be verified ({parsed.get('error_message', '')}).",
                             "Write it as a plain SELECT.")
    for node in _walk(parsed):
        _check_node(node)
    return text.rstrip(";").strip()


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_node(node: dict[str, Any]) -> None:
    kind = node.get("type")
    if "cte_map" in node and "modifiers" in node and kind not in SAFE_QUERY_NODES:
        raise UnsafeSQLError(f"Refused: the query contains a {str(kind).replace('_QUERY_NODE', '')} "
                             "that would change data. Only read-only queries may run.")
    if kind == "TABLE_FUNCTION":
        name = str((node.get("function") or {}).get("function_name", "")).lower()
        if name not in SAFE_TABLE_FUNCTIONS:
            raise UnsafeSQLError(f"Refused: the table function {name}() may read files or run other SQL.",
                                 "Query the loaded tables by name instead.")
    if kind == "BASE_TABLE":
        name = str(node.get("table_name", ""))
        if any(ch in name for ch in "/\\:") or "." in name:
            raise UnsafeSQLError(f"Refused: {name!r} looks like a file, and SQL may not read files.",
                                 "Load the file on the Tables page, then query its table.")
