"""Repair hints from DuckDB's binder errors, the schema and the join graph.

"Table "p" does not have a column named "customer_id"" means the model invented a join key or took a column
from the wrong table; the hint names the table that really has the column and the join path to it (through a
bridging table when there is one), instead of repeating DuckDB's words.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from app.tables.joins import JoinGraph, walk
from storage.tables_engine import TableInfo

_TABLE_REF = re.compile(r"\b(?:FROM|JOIN)\s+((?:\"[^\"]+\"|[\w]+)(?:\.(?:\"[^\"]+\"|[\w]+))?)"
                        r"(?:\s+(?:AS\s+)?(?!(?:ON|USING|WHERE|JOIN|LEFT|RIGHT|INNER|OUTER|FULL|CROSS|NATURAL|GROUP|"
                        r"ORDER|LIMIT|HAVING|QUALIFY|WINDOW|UNION|EXCEPT|INTERSECT|SELECT|AND|OR)\b)([A-Za-z_]\w*))?",
                        re.I)
_NO_COLUMN = re.compile(r'Table "([^"]+)" does not have a column named "([^"]+)"')
_NOT_FOUND = re.compile(r'Referenced column "([^"]+)" not found')
_AMBIGUOUS = re.compile(r'Ambiguous reference to column name "([^"]+)" \(use: ([^)]*)\)')
_CANDIDATES = re.compile(r"Candidate bindings:[:\s]*(.*)")


def query_tables(sql: str, tables: Sequence[TableInfo]) -> dict[str, str]:
    """Alias (or name) -> real table name for every schema table the query reads."""
    known = {t.name.lower(): t.name for t in tables}
    found: dict[str, str] = {}
    for match in _TABLE_REF.finditer(sql):
        name = match.group(1).split(".")[-1].strip('"')
        real = known.get(name.lower())
        if real is None:
            continue
        found[name.lower()] = real
        if match.group(2):
            found[match.group(2).lower()] = real
    return found


def _homes(column: str, tables: Sequence[TableInfo]) -> list[str]:
    return [t.name for t in tables if any(c.name.lower() == column.lower() for c in t.columns)]


def _columns_of(table: str, tables: Sequence[TableInfo]) -> list[str]:
    return next(([c.name for c in t.columns] for t in tables if t.name == table), [])


def _paths(graph: JoinGraph | None, used: Sequence[str], target: str) -> str:
    if graph is None or not used:
        return ""
    lines = []
    for table in dict.fromkeys(used):
        chain = graph.path(table, target)
        if chain:
            through = [t for e in chain for t in (e.left, e.right) if t not in (table, target)]
            via = f" through {', '.join(dict.fromkeys(through))}" if through else ""
            lines.append(f"{table} joins {target}{via}: " + walk(table, chain) + ".")
    return " ".join(dict.fromkeys(lines[:3]))


def binder_hint(raw_error: str, sql: str, tables: Sequence[TableInfo], graph: JoinGraph | None) -> str:
    """A precise repair hint for a binder error (missing or ambiguous column); empty for other errors."""
    aliases = query_tables(sql, tables)
    used = list(dict.fromkeys(aliases.values()))
    ambiguous = _AMBIGUOUS.search(raw_error)
    if ambiguous:
        options = re.findall(r"'([^']+)'", ambiguous.group(2))
        return (f"Hint: `{ambiguous.group(1)}` is in several joined tables; write it with its table, "
                f"e.g. {' or '.join(options[:2]) or 'table.' + ambiguous.group(1)}.")
    missing = _NO_COLUMN.search(raw_error)
    if missing:
        alias, column = missing.group(1), missing.group(2)
        table = aliases.get(alias.lower(), alias)
        return _missing_hint(column, table, used, tables, graph)
    not_found = _NOT_FOUND.search(raw_error)
    if not_found:
        qualifier, _, column = not_found.group(1).rpartition(".")
        table = aliases.get(qualifier.lower(), qualifier) if qualifier else ""
        hint = _missing_hint(column, table, used, tables, graph)
        candidates = _CANDIDATES.search(raw_error)
        if candidates and "is in" not in hint:
            names = re.findall(r'"([^"]+)"', candidates.group(1))[:4]
            hint += f" Columns of the query's tables with similar names: {', '.join(names)}." if names else ""
        return hint
    return ""


def _missing_hint(column: str, table: str, used: list[str], tables: Sequence[TableInfo],
                  graph: JoinGraph | None) -> str:
    homes = [h for h in _homes(column, tables) if h != table]
    own = _columns_of(table, tables)
    parts = [f"Hint: table {table} has no column {column}" + (f" (its columns: {', '.join(own)})." if own else ".")
             if table else f"Hint: no table in the query has a column {column}."]
    if homes:
        parts.append(f"{column} is in {', '.join(homes)}.")
        path = _paths(graph, [t for t in used if t not in homes], homes[0])
        if path:
            parts.append("Join it this way: " + path)
        else:
            parts.append(f"JOIN {homes[0]} on its key column and write {homes[0]}.{column}.")
    else:
        every = sorted({c.name for t in tables for c in t.columns})
        near = difflib.get_close_matches(column, every, n=3, cutoff=0.6)
        if near:
            parts.append(f"Similar columns: {', '.join(near)} (in {', '.join(_homes(near[0], tables))}).")
    if graph is not None and len(used) > 1:
        joins = [e.condition() for e in graph.edges if e.left in used and e.right in used]
        bridges = graph.connect(used)[1]
        if bridges:
            parts.append(f"The query's tables connect only through {', '.join(bridges)}: "
                         + _paths(graph, used[:1], used[-1]))
        elif joins:
            parts.append("Valid join keys between the query's tables: " + ", ".join(joins[:4]) + ".")
    return " ".join(parts)
