"""Append-only, hash-chained store of request records (the base of the audit trail).

Each record is a JSON body plus a few indexed columns for filtering and monitoring.
`hash = sha256(prev_hash + canonical_json(body))`, so editing or deleting any record
breaks the chain from that point on. SQLite triggers refuse UPDATE and DELETE, and
`BEGIN IMMEDIATE` serialises writers across threads and processes (app + CLI).

Retention (`prune`) is the one sanctioned deletion: inside one transaction it lifts the
delete trigger, removes the oldest records (a prefix of the chain), keeps the hash of the
last deleted record as the chain anchor, restores the trigger and appends a "retention"
record naming that anchor. `verify` starts the walk at the anchor and checks it against
that record, so a hand-moved anchor or a deletion outside retention is still reported.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage.sqlite import ThreadConnections

GENESIS = "0" * 64
_INDEXED = ("kind", "user", "backend", "model", "status", "conversation_id")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    user TEXT, backend TEXT, model TEXT, status TEXT, conversation_id TEXT,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_ts ON records(ts);
CREATE INDEX IF NOT EXISTS records_kind ON records(kind, ts);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'request records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'request records are append-only'); END;
-- Expression indexes: no new columns, so databases written before them need no migration.
CREATE INDEX IF NOT EXISTS records_model ON records(model, ts);
CREATE INDEX IF NOT EXISTS records_user ON records(user, ts);
CREATE INDEX IF NOT EXISTS records_flagged ON records(json_extract(body, '$.flagged'));
-- The chain anchor left by retention: the hash of the last pruned record (one row at most).
CREATE TABLE IF NOT EXISTS chain_anchor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hash TEXT NOT NULL,
    retention_id TEXT NOT NULL,
    pruned_total INTEGER NOT NULL
);
"""

_NO_DELETE_TRIGGER = """CREATE TRIGGER records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'request records are append-only'); END"""

# Columns `distinct` may list (filter choices); "tool" reads tool names out of the bodies.
_DISTINCT = (*_INDEXED, "tool")


def canonical_json(data: Any) -> str:
    """Stable JSON used for hashing (sorted keys, no whitespace)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """Hash of a record given the previous record's hash."""
    return hashlib.sha256((prev_hash + canonical_json(body)).encode("utf-8")).hexdigest()


class SqliteRecordStore:
    """Request records in `<data_dir>/records.sqlite`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._connections = ThreadConnections(self.path, "synchronous=NORMAL")
        with self._connect() as con:
            con.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return self._connections.get()

    def append(self, kind: str, body: dict[str, Any]) -> str:
        """Append one record; returns its id. The body gets `id`, `ts` and `kind` added."""
        con = self._connect()
        con.execute("BEGIN IMMEDIATE")
        try:
            record_id = self._insert(con, kind, body)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return record_id

    @staticmethod
    def _last_hash(con: sqlite3.Connection) -> str:
        row = con.execute("SELECT hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        if row:
            return row["hash"]
        anchor = con.execute("SELECT hash FROM chain_anchor WHERE id = 1").fetchone()
        return anchor["hash"] if anchor else GENESIS  # every record was pruned: continue from the anchor

    def _insert(self, con: sqlite3.Connection, kind: str, body: dict[str, Any]) -> str:
        # Caller holds the write transaction.
        record = dict(body)
        record.setdefault("id", uuid.uuid4().hex)
        record.setdefault("ts", _now())
        record["kind"] = kind
        prev = self._last_hash(con)
        con.execute(
            "INSERT INTO records (id, ts, kind, user, backend, model, status, conversation_id,"
            " body, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                record["id"],
                record["ts"],
                kind,
                *(None if record.get(k) is None else str(record.get(k)) for k in _INDEXED[1:]),
                canonical_json(record),
                prev,
                chain_hash(prev, record),
            ),
        )
        return record["id"]

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
            .execute(f"SELECT body FROM records {where} ORDER BY seq DESC LIMIT ?", (*args, int(limit)))
            .fetchall()
        )
        return [json.loads(r["body"]) for r in rows]

    def iter_all(self, batch: int = 500) -> Iterator[dict[str, Any]]:
        """Every record body, oldest first, read in batches (exports of any size stay in bounded memory)."""
        return self.iter_matching(batch, kind=None)

    def get(self, record_id: str) -> dict[str, Any] | None:
        """One record body by id."""
        row = self._connect().execute("SELECT body FROM records WHERE id = ?", (record_id,)).fetchone()
        return json.loads(row["body"]) if row else None

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
    ) -> list[dict[str, Any]]:
        """Newest-first record bodies matching every given filter (None = any); see `_where` for each."""
        where, args = _where(since, until, tool, flagged, text, kind, user=user, model=model, status=status)
        rows = (
            self._connect()
            .execute(
                f"SELECT body FROM records {where} ORDER BY seq DESC LIMIT ? OFFSET ?", (*args, int(limit), int(offset))
            )
            .fetchall()
        )
        return [json.loads(r["body"]) for r in rows]

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
                .execute(f"SELECT seq, body FROM records {where} ORDER BY seq LIMIT ?", (*args, last, batch))
                .fetchall()
            )
            if not rows:
                return
            for row in rows:
                yield json.loads(row["body"])
            last = rows[-1]["seq"]

    def distinct(self, column: str, kind: str | None = "chat") -> list[str]:
        """Sorted distinct non-empty values of an indexed column, or of tool names ("tool"), for filter choices."""
        if column not in _DISTINCT:
            raise ValueError(f"cannot list distinct values of {column!r}")
        kind_clause, args = ("AND kind = ?", (kind,)) if kind else ("", ())
        if column == "tool":
            sql = (
                "SELECT DISTINCT json_extract(t.value, '$.name') AS v FROM records, json_each(records.body, '$.tools')"
                f" AS t WHERE json_valid(records.body) {kind_clause.replace('kind', 'records.kind')} ORDER BY v"
            )
        else:
            sql = f"SELECT DISTINCT {column} AS v FROM records WHERE {column} IS NOT NULL {kind_clause} ORDER BY v"
        return [r["v"] for r in self._connect().execute(sql, args) if r["v"] not in (None, "")]

    def anchor(self) -> dict[str, Any] | None:
        """The chain anchor left by retention ({"hash", "retention_id", "pruned_total"}), or None."""
        row = (
            self._connect().execute("SELECT hash, retention_id, pruned_total FROM chain_anchor WHERE id = 1").fetchone()
        )
        return dict(row) if row else None

    def prune(self, older_than_days: float, now: datetime | None = None) -> dict[str, Any]:
        """Delete the records older than the cutoff and record it; returns {"pruned", "before", "anchor_hash", "id"}.

        Only a prefix of the chain is removed (records are chained in insertion order), so a record
        written with an older timestamp after a newer one is kept until everything before it goes.
        """
        if older_than_days <= 0:
            raise ValueError("older_than_days must be positive")
        before = ((now or datetime.now(UTC)) - timedelta(days=older_than_days)).isoformat(timespec="milliseconds")
        con = self._connect()
        con.execute("BEGIN IMMEDIATE")
        try:
            keep = con.execute("SELECT MIN(seq) FROM records WHERE ts >= ?", (before,)).fetchone()[0]
            bound = (
                keep if keep is not None else con.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM records").fetchone()[0]
            )
            last = con.execute("SELECT hash FROM records WHERE seq < ? ORDER BY seq DESC LIMIT 1", (bound,)).fetchone()
            if last is None:
                con.execute("ROLLBACK")
                return {"pruned": 0, "before": before, "anchor_hash": None, "id": None}
            # DDL is transactional in SQLite: no other connection ever sees the table without its trigger.
            con.execute("DROP TRIGGER IF EXISTS records_no_delete")
            pruned = con.execute("DELETE FROM records WHERE seq < ?", (bound,)).rowcount
            con.execute(_NO_DELETE_TRIGGER)
            previous = con.execute("SELECT pruned_total FROM chain_anchor WHERE id = 1").fetchone()
            total = pruned + (previous["pruned_total"] if previous else 0)
            retention_id = uuid.uuid4().hex
            con.execute(
                "INSERT OR REPLACE INTO chain_anchor (id, hash, retention_id, pruned_total) VALUES (1, ?, ?, ?)",
                (last["hash"], retention_id, total),
            )
            body = {
                "id": retention_id,
                "pruned": pruned,
                "before": before,
                "anchor_hash": last["hash"],
                "older_than_days": older_than_days,
                "pruned_total": total,
            }
            self._insert(con, "retention", body)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return {"pruned": pruned, "before": before, "anchor_hash": last["hash"], "id": retention_id}

    def verify(self) -> list[str]:
        """Walk the chain from the genesis or the retention anchor; return a list of problems (empty when intact)."""
        problems: list[str] = []
        con = self._connect()
        anchor = self.anchor()
        prev = anchor["hash"] if anchor else GENESIS
        last_retention: dict[str, Any] | None = None
        for row in con.execute("SELECT seq, id, kind, body, prev_hash, hash FROM records ORDER BY seq"):
            if row["prev_hash"] != prev:
                problems.append(f"record {row['id']} (#{row['seq']}): previous record missing or altered")
            try:
                body = json.loads(row["body"])
            except ValueError:
                problems.append(f"record {row['id']} (#{row['seq']}): content altered (not readable)")
                prev = row["hash"]
                continue
            if chain_hash(row["prev_hash"], body) != row["hash"]:
                problems.append(f"record {row['id']} (#{row['seq']}): content altered")
            if row["kind"] == "retention":
                last_retention = body
            prev = row["hash"]
        problems.extend(_check_anchor(anchor, last_retention, con))
        return problems


def _check_anchor(anchor: dict[str, Any] | None, retention: dict[str, Any] | None, con: sqlite3.Connection) -> list:
    """The anchor must be the one the newest retention record names (else it was moved or removed by hand)."""
    if anchor is None:
        if retention is not None:
            return [f"chain anchor missing: retention record {retention['id']} names {retention['anchor_hash']}"]
        return []
    if retention is None:
        if con.execute("SELECT 1 FROM records WHERE id = ?", (anchor["retention_id"],)).fetchone() is None:
            return [f"chain anchor names retention record {anchor['retention_id']}, which is missing"]
        return []
    if retention.get("id") != anchor["retention_id"] or retention.get("anchor_hash") != anchor["hash"]:
        return [
            f"chain anchor {anchor['hash'][:12]}… does not match retention record {retention.get('id')} "
            f"({str(retention.get('anchor_hash'))[:12]}…): the anchor was moved or records were deleted by hand"
        ]
    return []


def _where(
    since: str | None = None,
    until: str | None = None,
    tool: str | None = None,
    flagged: bool | None = None,
    text: str | None = None,
    kind: str | None = "chat",
    **equal: Any,
) -> tuple[str, tuple]:
    """SQL WHERE clause for the filters: ts in [since, until), equality on kind and the indexed columns in
    `equal` (user, backend, model, status, conversation_id; None = any), a tool step named `tool`,
    `flagged` true (or false/missing), `text` in the question or answer."""
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
