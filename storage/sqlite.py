"""Small SQLite helpers shared by the stores that open a connection per operation."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_WRITE_LOCKS: dict[Path, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(path: Path) -> threading.RLock:
    """The process's one lock for writing the database at `path`, shared by every store object opened on it.

    Threads of one process queue on it instead of in SQLite's busy handler, which sleeps in growing steps (up to
    100 ms) while another connection holds the write lock: with 20 turns at once, a message saved waited 100s of
    ms. Other processes still meet SQLite's own lock."""
    key = Path(path).resolve()
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


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


class ThreadConnections:
    """One autocommit connection per thread (sqlite3 connections must not cross threads), rows by name."""

    def __init__(self, path: Path, *pragmas: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pragmas = ("journal_mode=WAL", *pragmas)
        self._local = threading.local()
        self.write_lock = write_lock(self.path)

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            for pragma in self._pragmas:
                con.execute(f"PRAGMA {pragma}")
            con.row_factory = sqlite3.Row
            self._local.con = con
        return con

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection inside one write transaction (BEGIN IMMEDIATE), holding the file's write lock;
        committed on success, rolled back on error."""
        with self.write_lock:
            con = self.get()
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
