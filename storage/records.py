"""Append-only, hash-chained store of request records (the base of the audit trail).

Each record is a JSON body plus a few indexed columns for filtering and monitoring.
`hash = sha256(prev_hash + canonical_json(body))`, so editing or deleting any record
breaks the chain from that point on. SQLite triggers refuse UPDATE and DELETE, and
`BEGIN IMMEDIATE` serialises writers across threads and processes (app + CLI).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from datetime import UTC, datetime
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
"""


def canonical_json(data: Any) -> str:
    """Stable JSON used for hashing (sorted keys, no whitespace)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


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
        record = dict(body)
        record.setdefault("id", uuid.uuid4().hex)
        record.setdefault("ts", datetime.now(UTC).isoformat(timespec="milliseconds"))
        record["kind"] = kind
        con = self._connect()
        con.execute("BEGIN IMMEDIATE")
        try:
            row = con.execute("SELECT hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
            prev = row["hash"] if row else GENESIS
            digest = chain_hash(prev, record)
            con.execute(
                "INSERT INTO records (id, ts, kind, user, backend, model, status, conversation_id,"
                " body, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record["id"], record["ts"], kind,
                    *(None if record.get(k) is None else str(record.get(k)) for k in _INDEXED[1:]),
                    canonical_json(record), prev, digest,
                ),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return record["id"]

    def query(
        self,
        limit: int = 100,
        since: str | None = None,
        until: str | None = None,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """Newest-first record bodies, filtered by ts range and equality on indexed columns."""
        clauses, args = [], []
        for key, value in filters.items():
            if key not in _INDEXED:
                raise ValueError(f"cannot filter records by {key!r}")
            if value is not None:
                clauses.append(f"{key} = ?")
                args.append(value)
        if since:
            clauses.append("ts >= ?")
            args.append(since)
        if until:
            clauses.append("ts < ?")
            args.append(until)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._connect().execute(
            f"SELECT body FROM records {where} ORDER BY seq DESC LIMIT ?", (*args, int(limit))
        ).fetchall()
        return [json.loads(r["body"]) for r in rows]

    def iter_all(self, batch: int = 500):
        """Every record body, oldest first, read in batches (exports of any size stay in bounded memory)."""
        last = 0
        while True:
            rows = self._connect().execute(
                "SELECT seq, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield json.loads(row["body"])
            last = rows[-1]["seq"]

    def get(self, record_id: str) -> dict[str, Any] | None:
        """One record body by id."""
        row = self._connect().execute("SELECT body FROM records WHERE id = ?", (record_id,)).fetchone()
        return json.loads(row["body"]) if row else None

    def count(self) -> int:
        """Number of records."""
        return self._connect().execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def verify(self) -> list[str]:
        """Walk the chain; return a list of problems (empty when intact)."""
        problems: list[str] = []
        prev = GENESIS
        for row in self._connect().execute("SELECT seq, id, body, prev_hash, hash FROM records ORDER BY seq"):
            if row["prev_hash"] != prev:
                problems.append(f"record {row['id']} (#{row['seq']}): previous record missing or altered")
            if chain_hash(row["prev_hash"], json.loads(row["body"])) != row["hash"]:
                problems.append(f"record {row['id']} (#{row['seq']}): content altered")
            prev = row["hash"]
        return problems
