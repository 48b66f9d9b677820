"""Small SQLite helpers shared by the stores that open a connection per operation."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def prepare(path: Path, schema: str) -> Path:
    """Create the file's folder, switch the database to WAL and apply `schema` (idempotent)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with transaction(path) as con:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(schema)
    return path


@contextmanager
def transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that commits on success, rolls back on error, and is always closed."""
    con = sqlite3.connect(path, timeout=30)
    try:
        with con:
            yield con
    finally:
        con.close()
