"""The writing side of the record store: opening (and checking) the file, appending, retention, redaction, verify.

`storage.records.SqliteRecordStore` adds the reading side (queries, filters, exports). Every change goes through
one transaction (`BEGIN IMMEDIATE`) inside the keys folder's anchor lock, and rewrites the head anchor after it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.errors import ConfigError, NotFoundError
from app.settings import Settings
from storage.keys import RecordKeys
from storage.record_batch import group_commit
from storage.record_chain import (
    CHAIN_VERSION,
    COLUMNS,
    GENESIS,
    TRIGGERS,
    ChainWalk,
    canonical_json,
    check_head,
    check_retention,
    content_hash,
    keyed_hash,
)
from storage.sqlite import ThreadConnections

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    user TEXT, backend TEXT, model TEXT, status TEXT, conversation_id TEXT,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    content_hash TEXT,
    chain_version INTEGER
);
CREATE INDEX IF NOT EXISTS records_ts ON records(ts);
CREATE INDEX IF NOT EXISTS records_kind ON records(kind, ts);
CREATE INDEX IF NOT EXISTS records_hash ON records(hash);
-- Expression indexes: no new columns, so databases written before them need no migration.
CREATE INDEX IF NOT EXISTS records_model ON records(model, ts);
CREATE INDEX IF NOT EXISTS records_user ON records(user, ts);
-- The chain anchor left by retention: the hash of the last pruned record (one row at most).
CREATE TABLE IF NOT EXISTS chain_anchor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hash TEXT NOT NULL,
    retention_id TEXT NOT NULL,
    pruned_total INTEGER NOT NULL
);
"""
TRIGGER_SQL = {
    name: f"CREATE TRIGGER {name} BEFORE {name.rsplit('_', 1)[1].upper()} ON records "
    "BEGIN SELECT RAISE(ABORT, 'request records are append-only'); END"
    for name in TRIGGERS
}
# Records the store writes about itself: never masked, never redacted.
OWN_KINDS = ("retention", "redaction", "chain_upgraded", "integrity_alert")

Privacy = Callable[[str, dict[str, Any]], dict[str, Any]]


def stamp() -> str:
    """The current time as the records stamp it (UTC, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class ChainedRecords:
    """Opening, appending, retention, redaction and verification of `records.sqlite`."""

    def __init__(self, path: Path, keys: RecordKeys | None = None, privacy: Privacy | None = None) -> None:
        self.path = Path(path)
        self._keys = keys
        self.privacy = privacy  # masks personal data in every body appended (set by the container)
        self.damaged: str | None = None
        self._connections = ThreadConnections(self.path, "synchronous=NORMAL")
        self._group = group_commit(self.path)
        try:
            missing = self._open()
        except sqlite3.DatabaseError as exc:
            self.damaged = f"{self.path} is not a readable SQLite database ({exc})"
            return
        if missing:
            # Put the protection back at once, and keep in the trail that it was gone.
            self.append("integrity_alert", {"missing_triggers": missing, "detail": (
                f"trigger(s) {', '.join(missing)} were missing when the records were opened; recreated"), "status":
                "error"})

    @property
    def keys(self) -> RecordKeys:
        """The chain keys; without explicit ones, those of the settings' keys folder (ANALYST_KEYS_DIR)."""
        if self._keys is None:
            try:
                keys_dir = Settings().keys_dir
            except ValidationError as exc:
                raise ConfigError(f"The audit keys folder cannot be found: {exc.errors()[0].get('msg')}.",
                                  "Correct the ANALYST_* settings.") from exc
            self._keys = RecordKeys.load(keys_dir)
        return self._keys

    def _open(self) -> list[str]:
        con = self._connections.get()
        existed = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'").fetchone()
        con.executescript(SCHEMA)
        try:
            con.execute("CREATE INDEX IF NOT EXISTS records_flagged ON records(json_extract(body, '$.flagged'))")
        except sqlite3.OperationalError:
            pass  # a body is not JSON: verify reports it; filters on `flagged` read without the index
        columns = {r["name"] for r in con.execute("PRAGMA table_info(records)")}
        for column, kind in (("content_hash", "TEXT"), ("chain_version", "INTEGER")):
            if column not in columns:  # a file written before the keyed chain
                con.execute(f"ALTER TABLE records ADD COLUMN {column} {kind}")
        present = {r["name"] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        missing = [name for name in TRIGGERS if name not in present]
        for name in missing:
            con.execute(TRIGGER_SQL[name])
        return missing if existed else []

    def _connect(self) -> sqlite3.Connection:
        if self.damaged:
            raise ConfigError(f"The request records cannot be used: {self.damaged}.",
                              "Move the file aside and restart (a new trail starts); "
                              "`python -m app audit verify` reports what is known.")
        return self._connections.get()

    @contextmanager
    def _writing(self, on_commit: Callable[[], None] | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction inside the anchor lock; the head anchor is rewritten after it commits (and after
        `on_commit`, which lets the appenders of a group go on)."""
        con = self._connect()
        with self.keys.anchor_lock(self.path):
            con.execute("BEGIN IMMEDIATE")
            try:
                previous = self.keys.read_anchor(self.path)
                broken = anchor_break(con, previous)
                self._seal_legacy(con)
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            if on_commit is not None:
                on_commit()
            # A file that no longer matched its anchor is never "healed" by the next write: the break is kept.
            breaks = [] if previous is None or "error" in previous else list(previous.get("breaks") or [])
            self.keys.write_anchor(self.path, {**self._head(con), "breaks": breaks + ([broken] if broken else [])})

    @staticmethod
    def _head(con: sqlite3.Connection) -> dict[str, Any]:
        count = con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        last = con.execute("SELECT id, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        return {"records": count, "last_id": last["id"] if last else None,
                "last_hash": last["hash"] if last else GENESIS, "ts": stamp()}

    def append(self, kind: str, body: dict[str, Any]) -> str:
        """Append one record; returns its id. The body gets `id`, `ts` and `kind` added."""
        if self.privacy is not None and kind not in OWN_KINDS:
            body = self.privacy(kind, body)
        # Appends arriving together (many analysts at once) share one transaction and one head-anchor update.
        return self._group.append(lambda con: self._insert(con, kind, body), self._writing)

    def _seal_legacy(self, con: sqlite3.Connection) -> None:
        # The first keyed record after version-1 ones is a marker naming them (count and head).
        if con.execute("SELECT 1 FROM records WHERE chain_version IS NOT NULL LIMIT 1").fetchone():
            return
        legacy = con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        if legacy:
            self._insert(con, "chain_upgraded", {"from_version": 1, "to_version": CHAIN_VERSION,
                                                 "legacy_records": legacy, "legacy_head": self._last_hash(con)})

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
        record.setdefault("ts", stamp())
        record["kind"] = kind
        columns = [_text(record.get(c)) for c in COLUMNS]
        text = canonical_json(record)
        body_hash = content_hash(text)
        prev = self._last_hash(con)
        con.execute(
            "INSERT INTO records (id, ts, kind, user, backend, model, status, conversation_id,"
            " body, prev_hash, hash, content_hash, chain_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*columns, text, prev, keyed_hash(self.keys, prev, columns, body_hash), body_hash, CHAIN_VERSION),
        )
        return record["id"]

    def anchor(self) -> dict[str, Any] | None:
        """The chain anchor left by retention ({"hash", "retention_id", "pruned_total"}), or None."""
        row = self._connect().execute("SELECT hash, retention_id, pruned_total FROM chain_anchor WHERE id = 1")
        found = row.fetchone()
        return dict(found) if found else None

    def prune(self, older_than_days: float, now: datetime | None = None) -> dict[str, Any]:
        """Delete the records older than the cutoff and record it; returns {"pruned", "before", "anchor_hash", "id"}.

        Only a prefix of the chain is removed (records are chained in insertion order), so a record
        written with an older timestamp after a newer one is kept until everything before it goes.
        """
        if older_than_days <= 0:
            raise ValueError("older_than_days must be positive")
        before = ((now or datetime.now(UTC)) - timedelta(days=older_than_days)).isoformat(timespec="milliseconds")
        with self._writing() as con:
            keep = con.execute("SELECT MIN(seq) FROM records WHERE ts >= ?", (before,)).fetchone()[0]
            bound = keep if keep is not None else con.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM records").fetchone()[0]
            last = con.execute("SELECT hash FROM records WHERE seq < ? ORDER BY seq DESC LIMIT 1", (bound,)).fetchone()
            if last is None:
                return {"pruned": 0, "before": before, "anchor_hash": None, "id": None}
            # DDL is transactional in SQLite: no other connection ever sees the table without its trigger.
            con.execute("DROP TRIGGER IF EXISTS records_no_delete")
            pruned = con.execute("DELETE FROM records WHERE seq < ?", (bound,)).rowcount
            con.execute(TRIGGER_SQL["records_no_delete"])
            previous = con.execute("SELECT pruned_total FROM chain_anchor WHERE id = 1").fetchone()
            total = pruned + (previous["pruned_total"] if previous else 0)
            retention_id = uuid.uuid4().hex
            con.execute(
                "INSERT OR REPLACE INTO chain_anchor (id, hash, retention_id, pruned_total) VALUES (1, ?, ?, ?)",
                (last["hash"], retention_id, total),
            )
            body = {"id": retention_id, "pruned": pruned, "before": before, "anchor_hash": last["hash"],
                    "older_than_days": older_than_days, "pruned_total": total}
            self._insert(con, "retention", body)
        return {"pruned": pruned, "before": before, "anchor_hash": last["hash"], "id": retention_id}

    def replace_body(self, record_id: str, rewrite: Callable[[dict[str, Any]], dict[str, Any]],
                     note: dict[str, Any]) -> dict[str, Any]:
        """Replace one record's body by `rewrite(body)` (id, ts, kind kept) and append a "redaction" record
        naming the content hash before and after, so the chain still verifies. Returns the redaction's body."""
        with self._writing() as con:
            row = con.execute("SELECT seq, id, ts, kind, body, hash FROM records WHERE id = ?",
                              (record_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"No request record with id {record_id}.", "List ids with `audit export`.")
            if row["kind"] in OWN_KINDS:
                raise ConfigError(f"Record {record_id} is a {row['kind']} record; it holds no personal data.")
            body = rewrite(_loads(row["body"]))
            body.update({"id": row["id"], "ts": row["ts"], "kind": row["kind"]})
            text = canonical_json(body)
            con.execute("DROP TRIGGER IF EXISTS records_no_update")
            con.execute("UPDATE records SET body = ? WHERE seq = ?", (text, row["seq"]))
            con.execute(TRIGGER_SQL["records_no_update"])
            redaction = {**note, "record_id": record_id, "chain_hash": row["hash"],
                         "content_hash_before": content_hash(row["body"]), "content_hash_after": content_hash(text)}
            redaction["id"] = self._insert(con, "redaction", redaction)
        return redaction

    def verify_report(self) -> dict[str, Any]:
        """The whole check: {"ok", "records", "problems", "notes", "legacy", "redacted"}."""
        if self.damaged:
            return {"ok": False, "records": 0, "problems": [self.damaged], "notes": [], "legacy": 0, "redacted": 0}
        con = self._connect()
        anchor = self.anchor()
        head = self.keys.read_anchor(self.path)
        redactions: dict[str, list[dict[str, Any]]] = {}
        for row in con.execute("SELECT body FROM records WHERE kind = 'redaction' ORDER BY seq"):
            body = _loads(row["body"])
            redactions.setdefault(str(body.get("record_id")), []).append(body)
        walker = ChainWalk(self.keys, anchor["hash"] if anchor else GENESIS, redactions,
                           None if head is None else head.get("last_hash"))
        for row in con.execute(f"SELECT seq, {', '.join(COLUMNS)}, body, prev_hash, hash, content_hash, "
                               "chain_version FROM records ORDER BY seq"):
            walker.row(row)
        walk = walker.walk
        walk.problems.extend(check_retention(anchor, walk.last_retention, con))
        problems, notes = check_head(head, walk, str(self.keys.anchor_path(self.path)))
        walk.problems.extend(problems)
        present = {r["name"] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        walk.problems.extend(f"trigger {name} is missing: records can be changed without notice"
                             for name in TRIGGERS if name not in present)
        for row in con.execute("SELECT id, ts, body FROM records WHERE kind = 'integrity_alert' ORDER BY seq"):
            walk.problems.append(f"record {row['id']} ({row['ts']}): {_loads(row['body']).get('detail')}")
        if walk.legacy:
            notes.append(f"{walk.legacy} record(s) were written before the keyed chain (version 1: unkeyed hash "
                         "over the body only); they verify, but someone who rewrote one and recomputed that "
                         "chain before the upgrade cannot be ruled out")
        if walk.redacted:
            notes.append(f"{walk.redacted} record(s) had their personal data erased (each redaction is recorded)")
        return {"ok": not walk.problems, "records": walk.count, "problems": walk.problems, "notes": notes + walk.notes,
                "legacy": walk.legacy, "redacted": walk.redacted}

    def verify(self) -> list[str]:
        """The problems `verify_report` finds (empty when the trail is intact)."""
        return self.verify_report()["problems"]

    def head(self) -> dict[str, Any]:
        """The current head of the chain: {"records", "last_id", "last_hash", "ts", "anchor_file", "anchored"}."""
        head = self._head(self._connect())
        anchored = self.keys.read_anchor(self.path)
        same = bool(anchored) and anchored.get("last_hash") == head["last_hash"]  # type: ignore[union-attr]
        return {**head, "anchor_file": str(self.keys.anchor_path(self.path)), "anchored": same}


def anchor_break(con: sqlite3.Connection, anchor: dict[str, Any] | None) -> dict[str, Any] | None:
    """How the file differs from its head anchor before a write (records cut, file emptied or replaced), or None.
    Records after the anchor's head are no break: the app may have stopped between a commit and its anchor."""
    count = con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    if anchor is None:
        keyed = con.execute("SELECT 1 FROM records WHERE chain_version IS NOT NULL LIMIT 1").fetchone()
        detail = "no head anchor was found although keyed records exist (data directory moved, keys replaced?)"
        return {"detected": stamp(), "detail": detail} if keyed else None
    if "error" in anchor:
        return {"detected": stamp(), "detail": anchor["error"]}
    expected = int(anchor.get("records") or 0)
    row = con.execute("SELECT seq FROM records WHERE hash = ?", (anchor.get("last_hash"),)).fetchone()
    found = 0 if row is None else con.execute("SELECT COUNT(*) FROM records WHERE seq <= ?",
                                              (row["seq"],)).fetchone()[0]
    if (row is not None or expected == 0) and found == expected:
        return None
    return {"detected": stamp(), "detail": (
        f"the file held {count} record(s) where its head anchor (written {anchor.get('ts')}) named {expected} "
        f"ending with record {anchor.get('last_id')}: records were cut, or the file emptied or replaced")}


def _loads(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
