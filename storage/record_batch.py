"""Group commit for the request records: appends that arrive while another is being written go in together.

One append costs a transaction and a rewrite of the head anchor (an fsync and a rename, about 7 ms here), all inside
the anchor lock, so twenty analysts finishing at once queued twenty of those one after the other. Now the thread
that gets its turn writes every record waiting at that moment in one transaction, with one anchor update after it.
Each caller still gets its own id or its own error: a batch that fails is written again one record at a time, so a
bad body fails alone. The chain order is the order the records are written in, as before.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

Insert = Callable[[sqlite3.Connection], str]  # writes one record inside the caller's transaction; returns its id
Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]


class PendingRecord:
    """One append waiting to be written, and its outcome."""

    def __init__(self, insert: Insert) -> None:
        self.insert = insert
        self.record_id = ""
        self.error: BaseException | None = None
        self.inserted = False  # inside a transaction that may yet commit
        self.done = False


class GroupCommit:
    """The queue of appends to one records file, shared by every store object of the process opened on it."""

    def __init__(self) -> None:
        self._waiting: list[PendingRecord] = []
        self._waiting_lock = threading.Lock()
        self._turn = threading.Lock()  # whoever holds it writes everything waiting

    def append(self, insert: Insert, transaction: Transaction) -> str:
        """Write one record (with any others waiting) and return its id; raises its own error."""
        own = PendingRecord(insert)
        with self._waiting_lock:
            self._waiting.append(own)
        with self._turn:
            if not own.done:  # not yet written by the thread before us
                self._write_waiting(own, transaction)
        if own.error is not None:
            raise own.error
        return own.record_id

    def _write_waiting(self, own: PendingRecord, transaction: Transaction) -> None:
        with self._waiting_lock:
            batch, self._waiting = self._waiting, []
        try:
            if not _write(batch, transaction):
                for item in batch:  # one of them failed and the batch was rolled back: each on its own
                    _write([item], transaction)
        except BaseException as exc:
            # Interrupted (e.g. KeyboardInterrupt in the CLI's thread): records not yet inserted go back to the queue
            # for the next writer; those inserted may have been committed, so they are not written again.
            stopped = ConnectionAbortedError(f"The record may not have been written: {type(exc).__name__}.")
            for item in batch:
                if item.inserted and not item.done:
                    item.error, item.done = stopped, True
            with self._waiting_lock:
                self._waiting[:0] = [item for item in batch if item is not own and not item.done]
            raise


def _write(batch: list[PendingRecord], transaction: Transaction) -> bool:
    """Write `batch` in one transaction. False when one of several inserts failed: then nothing was written.
    Otherwise every record is done: written with its id, or (a single record, or a failure after every insert,
    e.g. of the commit or the head anchor) with the error its caller raises; never written twice."""
    ids: list[str] = []
    try:
        with transaction() as con:
            for item in batch:
                ids.append(item.insert(con))
                item.inserted = True
    except Exception as exc:  # noqa: BLE001 - handed to the caller(s) of these appends
        if len(batch) > 1 and len(ids) < len(batch):
            for item in batch:
                item.inserted = False  # rolled back
            return False
        for item in batch:
            item.error, item.done = exc, True
        return True
    for item, record_id in zip(batch, ids, strict=True):
        item.record_id, item.done = record_id, True
    return True


_GROUPS: dict[Path, GroupCommit] = {}
_GROUPS_LOCK = threading.Lock()


def group_commit(path: Path) -> GroupCommit:
    """The process's one append queue for the records file at `path`."""
    key = Path(path).resolve()
    with _GROUPS_LOCK:
        return _GROUPS.setdefault(key, GroupCommit())
