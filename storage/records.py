"""Append-only, hash-chained store of request records (the base of the audit trail).

Each record is a JSON body plus a few indexed columns for filtering and monitoring. The chain is keyed
(HMAC-SHA256 over every column and the body's content hash, see storage.record_chain) with a key kept outside
the data directory (storage.keys), and the head of the chain (record count, last hash) is kept there too, so
editing, deleting, cutting the tail or emptying the file is found by `verify`. SQLite triggers refuse UPDATE and
DELETE, and `BEGIN IMMEDIATE` serialises writers across threads and processes (app + CLI).

Two changes are sanctioned, each inside one transaction that lifts a trigger and records itself:
retention (`prune`) removes the oldest records (a prefix of the chain), keeps the hash of the last deleted record
as the chain anchor and appends a "retention" record naming it; redaction (`replace_body`) replaces one record's
body (its personal data erased) and appends a "redaction" record naming the content hash before and after.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from storage.record_chain import GENESIS, KNOWN_KINDS, canonical_json, chain_hash
from storage.record_writes import ChainedRecords

__all__ = ["GENESIS", "KNOWN_KINDS", "SqliteRecordStore", "canonical_json", "chain_hash"]

_INDEXED = ("kind", "user", "backend", "model", "status", "conversation_id")
# Columns `distinct` may list (filter choices); "tool" reads tool names out of the bodies.
_DISTINCT = (*_INDEXED, "tool", "workspace")
_ROW = "seq, id, ts, kind, body"


def _body(row: sqlite3.Row) -> dict[str, Any]:
    """A stored body; a damaged one reads as its envelope and a note (readers never fall over)."""
    try:
        body = json.loads(row["body"])
        if isinstance(body, dict):
            return body
    except ValueError:
        pass
    return {"id": row["id"], "ts": row["ts"], "kind": row["kind"], "body_error": "the stored body is not readable JSON"}


class SqliteRecordStore(ChainedRecords):
    """Request records in `<data_dir>/records.sqlite`: the chained writes (storage.record_writes) and the reads.

    `SqliteRecordStore(path, keys, privacy)`: `keys` are the chain keys (storage.keys; default: those of the
    settings' keys folder), `privacy` masks personal data in every appended body (wired by the container).
    """

    def query(
        self,
        limit: int = 100,
        since: str | None = None,
        until: str | None = None,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """Newest-first record bodies, filtered by ts range and equality on indexed columns (any kind)."""
        where, args = _where(since, until, kind=filters.pop("kind", None), **filters)
        rows = (
            self._connect()
            .execute(f"SELECT {_ROW} FROM records {where} ORDER BY seq DESC LIMIT ?", (*args, int(limit)))
            .fetchall()
        )
        return [_body(r) for r in rows]

    def iter_all(self, batch: int = 500) -> Iterator[dict[str, Any]]:
        """Every record body, oldest first, read in batches (exports of any size stay in bounded memory)."""
        return self.iter_matching(batch, kind=None)

    def get(self, record_id: str) -> dict[str, Any] | None:
        """One record body by id."""
        row = self._connect().execute(f"SELECT {_ROW} FROM records WHERE id = ?", (record_id,)).fetchone()
        return _body(row) if row else None

    def count(self) -> int:
        """Number of records."""
        return self._connect().execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def search(
        self,
        since: str | None = None,
        until: str | None = None,
        user: str | None = None,
        model: str | None = None,
        tool: str | None = None,
        flagged: bool | None = None,
        status: str | None = None,
        kind: str | None = "chat",
        text: str | None = None,
        limit: int = 100,
        offset: int = 0,
        workspace: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest-first record bodies matching every given filter (None = any); see `_where` for each."""
        where, args = _where(since, until, tool, flagged, text, kind, workspace, user=user, model=model,
                             status=status)
        rows = (
            self._connect()
            .execute(
                f"SELECT {_ROW} FROM records {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                (*args, int(limit), int(offset)),
            )
            .fetchall()
        )
        return [_body(r) for r in rows]

    def count_matching(self, **filters: Any) -> int:
        """How many records `search(**filters)` would page through."""
        where, args = _where(**filters)
        return self._connect().execute(f"SELECT COUNT(*) FROM records {where}", args).fetchone()[0]

    def iter_matching(self, batch: int = 500, **filters: Any) -> Iterator[dict[str, Any]]:
        """Oldest-first bodies matching the `search` filters, read in batches (bounded memory for exports)."""
        where, args = _where(**filters)
        where = f"{where} AND seq > ?" if where else "WHERE seq > ?"
        last = 0
        while True:
            rows = (
                self._connect()
                .execute(f"SELECT {_ROW} FROM records {where} ORDER BY seq LIMIT ?", (*args, last, batch))
                .fetchall()
            )
            if not rows:
                return
            for row in rows:
                yield _body(row)
            last = rows[-1]["seq"]

    def distinct(self, column: str, kind: str | None = "chat") -> list[str]:
        """Sorted distinct non-empty values of an indexed column, or of tool names ("tool"), for filter choices."""
        if column not in _DISTINCT:
            raise ValueError(f"cannot list distinct values of {column!r}")
        kind_clause, args = ("AND kind = ?", (kind,)) if kind else ("", ())
        if column == "workspace":
            sql = ("SELECT DISTINCT json_extract(body, '$.workspace') AS v FROM records WHERE json_valid(body) "
                   f"{kind_clause} ORDER BY v")
        elif column == "tool":
            sql = (
                "SELECT DISTINCT json_extract(t.value, '$.name') AS v FROM records, json_each(records.body, '$.tools')"
                f" AS t WHERE json_valid(records.body) {kind_clause.replace('kind', 'records.kind')} ORDER BY v"
            )
        else:
            sql = f"SELECT DISTINCT {column} AS v FROM records WHERE {column} IS NOT NULL {kind_clause} ORDER BY v"
        return [r["v"] for r in self._connect().execute(sql, args) if r["v"] not in (None, "")]


def _where(
    since: str | None = None,
    until: str | None = None,
    tool: str | None = None,
    flagged: bool | None = None,
    text: str | None = None,
    kind: str | None = "chat",
    workspace: str | None = None,
    **equal: Any,
) -> tuple[str, tuple]:
    """SQL WHERE clause for the filters: ts in [since, until), equality on kind and the indexed columns in
    `equal` (user, backend, model, status, conversation_id; None = any), a tool step named `tool`,
    `flagged` true (or false/missing), `text` in the question or answer, the `workspace` a record was made in."""
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in {"kind": kind, **equal}.items():
        if column not in _INDEXED:
            raise ValueError(f"cannot filter records by {column!r}")
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if since:
        clauses.append("ts >= ?")
        args.append(since)
    if until:
        clauses.append("ts < ?")
        args.append(until)
    if tool:
        clauses.append(
            "EXISTS (SELECT 1 FROM json_each(records.body, '$.tools') WHERE json_extract(value, '$.name') = ?)"
        )
        args.append(tool)
    if workspace:
        clauses.append("json_extract(body, '$.workspace') = ?")
        args.append(workspace)
    if flagged is True:
        clauses.append("json_extract(body, '$.flagged') = 1")
    elif flagged is False:
        clauses.append("COALESCE(json_extract(body, '$.flagged'), 0) = 0")
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(
            "(json_extract(body, '$.question') LIKE ? ESCAPE '\\' OR json_extract(body, '$.answer') LIKE ? ESCAPE '\\')"
        )
        args.extend([pattern, pattern])
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)
