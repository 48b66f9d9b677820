"""Pins in `<data_dir>/board.sqlite`: the question, the SQL, the last result and when it was computed."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import NotFoundError

MAX_ROWS_KEPT = 50
SCHEMA = """
CREATE TABLE IF NOT EXISTS pins (
    id TEXT PRIMARY KEY, question TEXT NOT NULL, sql TEXT NOT NULL, columns TEXT NOT NULL, rows TEXT NOT NULL,
    row_count INTEGER NOT NULL, headline TEXT NOT NULL, previous TEXT NOT NULL DEFAULT '',
    computed_at TEXT NOT NULL, stale TEXT NOT NULL DEFAULT '', conversation_id TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL
);
"""


def now() -> str:
    """The current UTC time, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def headline(columns: list[str], rows: list[list[Any]], row_count: int) -> str:
    """The number a pin shows: the single value of a one-cell result, else the row count."""
    if len(columns) == 1 and row_count == 1 and rows and rows[0]:
        return f"{columns[0]} = {rows[0][0]}"
    return f"{row_count} row(s)"


@dataclass
class Pin:
    """One pinned answer and its last result."""

    id: str
    question: str
    sql: str
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    headline: str
    computed_at: str
    previous: str = ""  # the headline before the last refresh that changed it
    stale: str = ""  # why the last refresh failed (the values are the older ones)
    conversation_id: str = ""
    created_by: str = ""
    # Microseconds: pins added within one second keep the order they were added in.
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="microseconds"))

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape."""
        return dict(vars(self))


class PinStore:
    """The board of one workspace (its data folder)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _con(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=10)
        con.row_factory = sqlite3.Row
        con.executescript(SCHEMA)
        return con

    def add(self, question: str, sql: str, columns: list[str], rows: list[list[Any]], row_count: int,
            conversation_id: str = "", user: str = "") -> Pin:
        """Pin a result; the same question and SQL pinned again returns the existing pin."""
        for pin in self.list():
            if pin.sql == sql and pin.question == question:
                return pin
        pin = Pin(uuid.uuid4().hex[:12], question, sql, columns, rows[:MAX_ROWS_KEPT], row_count,
                  headline(columns, rows, row_count), now(), conversation_id=conversation_id, created_by=user)
        with self._con() as con:
            con.execute("INSERT INTO pins VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", (
                pin.id, pin.question, pin.sql, json.dumps(columns), json.dumps(pin.rows, default=str), row_count,
                pin.headline, "", pin.computed_at, "", conversation_id, user, pin.created_at))
        return pin

    def list(self) -> list[Pin]:
        """Every pin, oldest first."""
        if not self.path.exists():
            return []
        with self._con() as con:
            return [_pin(r) for r in con.execute("SELECT * FROM pins ORDER BY created_at, id")]

    def get(self, pin_id: str) -> Pin:
        """One pin, or NotFoundError."""
        for pin in self.list():
            if pin.id == pin_id:
                return pin
        raise NotFoundError(f"No pin with id {pin_id} on this board.", "List them with `python -m app pins list`.")

    def save(self, pin: Pin) -> None:
        """Store a pin's refreshed (or stale) state."""
        with self._con() as con:
            con.execute("UPDATE pins SET columns=?, rows=?, row_count=?, headline=?, previous=?, computed_at=?, "
                        "stale=? WHERE id=?", (json.dumps(pin.columns), json.dumps(pin.rows, default=str),
                                              pin.row_count, pin.headline, pin.previous, pin.computed_at, pin.stale,
                                              pin.id))

    def delete(self, pin_id: str) -> None:
        """Unpin."""
        with self._con() as con:
            con.execute("DELETE FROM pins WHERE id = ?", (pin_id,))


def _pin(row: sqlite3.Row) -> Pin:
    return Pin(row["id"], row["question"], row["sql"], json.loads(row["columns"]), json.loads(row["rows"]),
               row["row_count"], row["headline"], row["computed_at"], row["previous"], row["stale"],
               row["conversation_id"], row["created_by"], row["created_at"])
