"""How a request record is chained, and the walk that checks a records file (used by storage.records).

Version 2 (keyed, current): each row stores `content_hash = sha256(body text)` and
`hash = HMAC-SHA256(chain key, [prev_hash, 2, id, ts, kind, user, backend, model, status, conversation_id,
content_hash])`: every column is covered and nobody without the key can recompute the chain. The body itself is
only covered through its content hash, so a body may be replaced by a redacted one when a (chained) "redaction"
record names the record with the content hash before and after.

Version 1 (records written before the keyed chain): `hash = sha256(prev_hash + canonical_json(body))`, unkeyed and
over the body only. They still verify; their columns are checked against their body, and a "chain_upgraded"
record seals them when the first keyed record is appended.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from storage.keys import RecordKeys

GENESIS = "0" * 64
CHAIN_VERSION = 2
# The columns of a record besides its body, in the order the keyed hash covers them.
COLUMNS = ("id", "ts", "kind", "user", "backend", "model", "status", "conversation_id")
TRIGGERS = ("records_no_update", "records_no_delete")
# Kinds this version writes; a record of another kind is reported (a newer app, or a record not written by it).
KNOWN_KINDS = frozenset({
    "chat", "retention", "conversation_deleted", "ui_error", "chain_upgraded", "redaction", "integrity_alert",
    "sql", "settings_changed", "document_deleted", "table_deleted", "evaluation_deleted", "evaluation_run",
    "data_deleted", "ingest", "transcribe", "table_loaded", "pii_revealed",
    # Verified queries (storage/sql_examples.py): a question-SQL pair marked correct, or deleted.
    "sql_example_added", "sql_example_deleted",
    # Sign-in, roles and workspaces (app/access/).
    "sign_in", "sign_in_failed", "locked_out", "sign_out", "session_expired", "access_refused", "user_added",
    "role_changed", "user_disabled", "password_changed", "workspace_created", "workspace_deleted", "member_added",
    "member_removed", "permission_denied", "anonymous_serving",
    # Reports (app/reports/): a conversation exported as HTML or PDF with its manifest.
    "report_exported",
    # The demo workspace (app/demo/): the bundled public material loaded.
    "demo_loaded",
    # The workspace board (app/pins/): an answer pinned, a pin's SQL re-run.
    "pin_added", "pin_refreshed",
    # Sharing a conversation read-only with its workspace (app/chat/sharing.py).
    "conversation_shared", "conversation_unshared",
})  # fmt: skip


def canonical_json(data: Any) -> str:
    """Stable JSON used for hashing (sorted keys, no whitespace)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """Version-1 hash of a record given the previous record's hash (unkeyed, body only)."""
    return hashlib.sha256((prev_hash + canonical_json(body)).encode("utf-8")).hexdigest()


def content_hash(text: str) -> str:
    """sha256 of a stored body text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def keyed_hash(keys: RecordKeys, prev_hash: str, columns: list[Any], body_hash: str) -> str:
    """Version-2 hash: every column and the body's content hash, keyed."""
    return keys.chain_hash(prev_hash, [CHAIN_VERSION, *columns, body_hash])


def _label(row: sqlite3.Row) -> str:
    return f"record {row['id']} (#{row['seq']})"


@dataclass
class Walk:
    """What a walk over the records found."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    count: int = 0
    legacy: int = 0
    keyed: int = 0
    redacted: int = 0
    last_hash: str = GENESIS
    last_retention: dict[str, Any] | None = None
    head_position: int | None = None  # position (1-based) of the row the head anchor names


class ChainWalk:
    """Checks rows in chain order: links, hashes, columns against bodies, kinds, redactions."""

    def __init__(self, keys: RecordKeys, start: str, redactions: dict[str, list[dict[str, Any]]],
                 head_hash: str | None) -> None:
        self.keys = keys
        self.redactions = redactions
        self.head_hash = head_hash
        self.walk = Walk(last_hash=start)

    def row(self, row: sqlite3.Row) -> None:
        """Check one row (rows must come in seq order)."""
        walk = self.walk
        walk.count += 1
        label = _label(row)
        if row["prev_hash"] != walk.last_hash:
            walk.problems.append(f"{label}: the record before it is missing or was altered")
        try:
            body = json.loads(row["body"])
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            body = None
            walk.problems.append(f"{label}: body is not readable JSON (damaged or altered)")
        if row["chain_version"] == CHAIN_VERSION:
            self._keyed(row, label)
        else:
            self._legacy(row, body, label)
        if body is not None:
            self._columns(row, body, label)
            if row["kind"] == "retention":
                walk.last_retention = body
        if row["kind"] not in KNOWN_KINDS:
            walk.problems.append(f"{label}: unknown kind {row['kind']!r} (not written by this app)")
        if row["hash"] == self.head_hash:
            walk.head_position = walk.count
        walk.last_hash = row["hash"]

    def _keyed(self, row: sqlite3.Row, label: str) -> None:
        walk = self.walk
        walk.keyed += 1
        expected = keyed_hash(self.keys, row["prev_hash"], [row[c] for c in COLUMNS], row["content_hash"] or "")
        if expected != row["hash"]:
            walk.problems.append(f"{label}: its fields were altered, or it was not written with this chain key")
        actual = content_hash(row["body"])
        if actual != row["content_hash"]:
            if self._redacted_to(row["id"], [row["content_hash"]], actual):
                walk.redacted += 1
            else:
                walk.problems.append(f"{label}: content altered")

    def _legacy(self, row: sqlite3.Row, body: dict[str, Any] | None, label: str) -> None:
        walk = self.walk
        walk.legacy += 1
        if walk.keyed:
            walk.problems.append(f"{label}: an unkeyed (version 1) record after the chain was keyed")
        if body is None or chain_hash(row["prev_hash"], body) == row["hash"]:
            return
        starts = [r.get("content_hash_before") for r in self.redactions.get(row["id"], [])
                  if r.get("chain_hash") == row["hash"]]
        if starts and self._redacted_to(row["id"], starts, content_hash(row["body"])):
            walk.redacted += 1
        else:
            walk.problems.append(f"{label}: content altered")

    def _redacted_to(self, record_id: str, starts: list[Any], actual: str) -> bool:
        # Follow the recorded redactions from the original content hash; the body must be where they end.
        steps = {r.get("content_hash_before"): r.get("content_hash_after") for r in self.redactions.get(record_id, [])}
        for current in starts:
            seen = set()
            while current in steps and current not in seen:
                seen.add(current)
                current = steps[current]
            if current == actual:
                return True
        return False

    def _columns(self, row: sqlite3.Row, body: dict[str, Any], label: str) -> None:
        for column in COLUMNS:
            stored = row[column]
            said = body.get(column)
            said = None if said is None else str(said)
            if stored != said:
                self.walk.problems.append(
                    f"{label}: column {column} says {stored!r} but the record's body says {said!r}")


def check_retention(anchor: dict[str, Any] | None, retention: dict[str, Any] | None,
                    con: sqlite3.Connection) -> list[str]:
    """The retention anchor must be the one the newest retention record names (else moved or removed by hand)."""
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


def check_head(head: dict[str, Any] | None, walk: Walk, anchor_path: str) -> tuple[list[str], list[str]]:
    """Problems and notes from comparing the walk with the head anchor kept outside the records file."""
    if head is None:
        if walk.keyed:
            return [f"no head anchor for this records file ({anchor_path}): a cut tail cannot be ruled out "
                    "(was the data directory moved, or the keys folder changed?)"], []
        return [], ([f"no head anchor yet ({anchor_path}); it is written with the next record"] if walk.count else [])
    if "error" in head:
        return [head["error"]], []
    breaks = [f"at {b.get('detected')}: {b.get('detail')}" for b in head.get("breaks") or []]
    expected = int(head.get("records", 0))
    when = head.get("ts", "?")
    if walk.head_position is None and not (expected == 0 and walk.count == 0):
        return [*breaks, f"records missing at the end: the head anchor written {when} names {expected} record(s) "
                f"ending with record {head.get('last_id')} ({str(head.get('last_hash'))[:12]}…), which is not in "
                f"the file (it holds {walk.count})"], []
    position = walk.head_position or 0
    problems = breaks
    if position != expected:
        problems.append(f"the head anchor written {when} counts {expected} record(s) up to record "
                        f"{head.get('last_id')}, the file holds {position}")
    after = walk.count - position
    notes = [f"{after} record(s) after the head anchor (written after it was last updated)"] if after else []
    return problems, notes
