"""A join graph per database: which column of which table joins which other, and the shortest paths between tables.

Keys come from declared FOREIGN KEY constraints; where a database declares none, from column names
(`customer_id` in two tables, `x_id` -> `x.id`, `airline_icao_code` -> `airline.icao_code`, a same-name column
that is unique on one side) confirmed by value overlap on a sample. Small models invent join keys (orders ->
products without order_items); spelling the paths out in the prompt, bridging tables included, stops that.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb

from storage.tables_engine import QueryEngine, TableInfo, quote_ident

KEY_SUFFIXES = ("id", "_key", "code", "_no", "_num", "number", "_nr", "_uuid")
SAMPLE_VALUES = 200  # distinct values checked per candidate key
MIN_OVERLAP = 0.5  # share of sampled values found on the other side for an undeclared key to count
MAX_UNIQUE_CHECK_ROWS = 2_000_000  # larger tables are not scanned to find out whether a column is unique
_CACHE: dict[tuple[str, tuple], JoinGraph] = {}
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class JoinEdge:
    """One join condition between two tables; `declared` when the database declares it as a foreign key."""

    left: str
    left_column: str
    right: str
    right_column: str
    declared: bool = False

    def condition(self) -> str:
        """The condition as SQL, e.g. `orders.order_id = order_items.order_id`."""
        return f"{_ident(self.left)}.{_ident(self.left_column)} = {_ident(self.right)}.{_ident(self.right_column)}"

    def condition_from(self, table: str) -> str:
        """The condition with `table`'s column on the left (the direction a path walks it)."""
        if table == self.right and table != self.left:
            return JoinEdge(self.right, self.right_column, self.left, self.left_column).condition()
        return self.condition()

    def other(self, table: str) -> str:
        """The table at the other end of the edge."""
        return self.right if table == self.left else self.left


@dataclass(frozen=True)
class JoinGraph:
    """Join edges of one database and path finding over them."""

    edges: tuple[JoinEdge, ...]

    def neighbours(self, table: str) -> list[JoinEdge]:
        """Edges touching `table`."""
        return [e for e in self.edges if table in (e.left, e.right)]

    def path(self, start: str, goal: str) -> list[JoinEdge] | None:
        """The shortest chain of joins from `start` to `goal` (declared keys first on ties); None if unconnected."""
        if start == goal:
            return []
        previous: dict[str, tuple[str, JoinEdge]] = {}
        queue, seen = deque([start]), {start}
        while queue:
            table = queue.popleft()
            for edge in sorted(self.neighbours(table), key=lambda e: (not e.declared, e.other(table))):
                nxt = edge.other(table)
                if nxt in seen:
                    continue
                seen.add(nxt)
                previous[nxt] = (table, edge)
                if nxt == goal:
                    chain, node = [], goal
                    while node != start:
                        node, step = previous[node]
                        chain.append(step)
                    return list(reversed(chain))
                queue.append(nxt)
        return None

    def connect(self, tables: Sequence[str]) -> tuple[list[tuple[str, str, list[JoinEdge]]], list[str]]:
        """Shortest paths between every pair of `tables` and the bridging tables those paths pass through."""
        paths: list[tuple[str, str, list[JoinEdge]]] = []
        bridges: list[str] = []
        for i, first in enumerate(tables):
            for second in tables[i + 1:]:
                chain = self.path(first, second)
                if not chain:
                    continue
                paths.append((first, second, chain))
                for edge in chain:
                    for table in (edge.left, edge.right):
                        if table not in tables and table not in bridges:
                            bridges.append(table)
        return paths, bridges

    def describe(self, focus: Sequence[str], max_lines: int = 12) -> str:
        """Prompt text: the join keys among the `focus` tables (those the question points at) and the bridging
        tables between them, with each path between two of them spelled out; empty for fewer than two tables
        (a one-table question gains nothing from join keys, and they tempt a small model into needless joins)."""
        if len(focus) < 2:
            return ""
        paths, bridges = self.connect(focus)
        if not paths:
            return ""
        involved = set(focus) | set(bridges)
        lines: list[str] = []
        for first, second, chain in paths:
            if len(chain) > 1:
                middle = ", ".join(t for e in chain for t in (e.left, e.right) if t not in (first, second))
                lines.append(f"- {first} to {second} goes through {_dedupe_text(middle)}: " + walk(first, chain))
        for edge in self.edges:
            if edge.left in involved and edge.right in involved:
                lines.append(f"- {edge.condition()}")
        lines = list(dict.fromkeys(lines))[:max_lines]
        return ("Join keys, if the question needs columns from several tables (join only on these; when two "
                "tables connect only through a middle table, join through it):\n" + "\n".join(lines))


def walk(start: str, chain: Sequence[JoinEdge]) -> str:
    """A path's conditions in walking order from `start`: `a.x = b.x AND b.y = c.y`."""
    parts, here = [], start
    for edge in chain:
        parts.append(edge.condition_from(here))
        here = edge.other(here)
    return " AND ".join(parts)


def _dedupe_text(text: str) -> str:
    return ", ".join(dict.fromkeys(p.strip() for p in text.split(",")))


def _ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else quote_ident(name)


def join_graph(engine: QueryEngine, identity: str = "") -> JoinGraph:
    """The join graph of the engine's database, cached per `identity` (file and mtime) and schema."""
    tables = engine.tables()
    fingerprint = tuple((t.schema, t.name, t.row_count, tuple(c.name for c in t.columns)) for t in tables)
    key = (identity, fingerprint)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    graph = build_graph(engine, tables)
    with _CACHE_LOCK:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = graph
    return graph


def build_graph(engine: QueryEngine, tables: Sequence[TableInfo]) -> JoinGraph:
    """Declared foreign keys plus, for tables without declared keys, name-matched keys confirmed by values."""
    declared = _declared_edges(engine, {t.name for t in tables})
    covered = {t for e in declared for t in (e.left, e.right)}
    inferred = [e for e in _name_candidates(engine, tables)
                if not (e.left in covered and e.right in covered) and _overlaps(engine, e, tables)]
    return JoinGraph(tuple(declared + inferred))


def _declared_edges(engine: QueryEngine, names: set[str]) -> list[JoinEdge]:
    sql = ("SELECT table_name, constraint_column_names, referenced_table, referenced_column_names "
           "FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY' AND database_name = current_database()")
    try:
        with engine.cursor() as cur:
            rows = cur.execute(sql).fetchall()
    except duckdb.Error:
        return []
    edges = []
    for table, columns, referenced, ref_columns in rows:
        if table in names and referenced in names:
            for column, ref_column in zip(columns or [], ref_columns or [], strict=False):
                edges.append(JoinEdge(table, column, referenced, ref_column, declared=True))
    return edges


def _stem(name: str) -> str:
    low = name.lower()
    for suffix in ("ies", "es", "s"):
        if len(low) > len(suffix) + 2 and low.endswith(suffix):
            return low[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return low


def _key_like(name: str) -> bool:
    return name.lower().endswith(KEY_SUFFIXES)


def _name_candidates(engine: QueryEngine, tables: Sequence[TableInfo]) -> list[JoinEdge]:
    """Pairs of columns whose names say they may join (each pair once)."""
    found: dict[tuple[str, str, str, str], JoinEdge] = {}
    for i, a in enumerate(tables):
        for b in tables[i + 1:]:
            for edge in _pair_candidates(engine, a, b):
                pair = tuple(sorted([(edge.left, edge.left_column), (edge.right, edge.right_column)]))
                found.setdefault((pair[0][0], pair[0][1], pair[1][0], pair[1][1]), edge)
    return list(found.values())


def _pair_candidates(engine: QueryEngine, a: TableInfo, b: TableInfo) -> Iterable[JoinEdge]:
    # A same-name column joins when it is a key on one side; two tables that merely point at the same third
    # table (two `airline_code` columns) do not join each other.
    b_columns = {c.name.lower(): c.name for c in b.columns}
    for column in a.columns:
        low = column.name.lower()
        if low in b_columns and _keyed(engine, (a, column.name), (b, b_columns[low])):
            yield JoinEdge(a.name, column.name, b.name, b_columns[low])
    for src, dst in ((a, b), (b, a)):
        for edge in _prefixed(src, dst):
            if _is_key(engine, dst, edge.right_column) is not False:
                yield edge


def _keyed(engine: QueryEngine, *sides: tuple[TableInfo, str]) -> bool:
    verdicts = [_is_key(engine, table, column) for table, column in sides]
    if any(v is True for v in verdicts):
        return True
    return None in verdicts and _key_like(sides[0][1])  # too big to scan: trust a key-like name


def _prefixed(src: TableInfo, dst: TableInfo) -> Iterable[JoinEdge]:
    """`customer_id` -> customers.id, `airline_icao_code` -> airline.icao_code (prefix names the table)."""
    stem = _stem(dst.name)
    dst_columns = {c.name.lower(): c.name for c in dst.columns}
    for column in src.columns:
        low = column.name.lower()
        for prefix in {dst.name.lower() + "_", stem + "_"}:
            rest = low[len(prefix):] if low.startswith(prefix) else ""
            if rest and rest in dst_columns and rest != low:
                yield JoinEdge(src.name, column.name, dst.name, dst_columns[rest])
                break


def _is_key(engine: QueryEngine, table: TableInfo, column: str) -> bool | None:
    """True when the column has no repeated or missing values (a candidate key); None for tables too big to scan."""
    if table.row_count > MAX_UNIQUE_CHECK_ROWS:
        return None
    kind = next((c.type.upper() for c in table.columns if c.name == column), "")
    if not table.row_count or kind.startswith(("FLOAT", "DOUBLE", "REAL", "BOOLEAN", "STRUCT", "MAP", "JSON")) \
            or kind.endswith("]"):
        return False
    q = quote_ident(column)
    sql = f"SELECT count(DISTINCT {q}) = count(*) AND count(*) = count({q}) FROM {_qualified(table)}"
    try:
        with engine.cursor() as cur:
            row = cur.execute(sql).fetchone()
    except duckdb.Error:
        return False
    return bool(row and row[0])


def _overlaps(engine: QueryEngine, edge: JoinEdge, tables: Sequence[TableInfo]) -> bool:
    """True when most sampled values of one side occur on the other, either way round (compared as text)."""
    by_name = {t.name: t for t in tables}
    left, right = by_name[edge.left], by_name[edge.right]
    return (_share_found(engine, left, edge.left_column, right, edge.right_column) >= MIN_OVERLAP
            or _share_found(engine, right, edge.right_column, left, edge.left_column) >= MIN_OVERLAP)


def _share_found(engine: QueryEngine, source: TableInfo, column: str, target: TableInfo, target_column: str) -> float:
    sq, tq = quote_ident(column), quote_ident(target_column)
    sql = (f"WITH s AS (SELECT DISTINCT {sq}::VARCHAR AS v FROM {_qualified(source)} WHERE {sq} IS NOT NULL "
           f"LIMIT {SAMPLE_VALUES}), o AS (SELECT DISTINCT {tq}::VARCHAR AS v FROM {_qualified(target)} "
           f"WHERE {tq} IS NOT NULL) SELECT count(*), count(*) FILTER (WHERE v IN (SELECT v FROM o)) FROM s")
    try:
        with engine.cursor() as cur:
            row = cur.execute(sql).fetchone()
    except duckdb.Error:
        return 0.0
    return float(row[1] / row[0]) if row and row[0] else 0.0


def _qualified(table: TableInfo) -> str:
    return f"{quote_ident(table.schema)}.{quote_ident(table.name)}"
