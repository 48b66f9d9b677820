"""Group commit for the request records: appends that arrive while another is being written go in together.

One append costs a transaction and a rewrite of the head anchor (an fsync and a rename, about 7 ms here), all inside
the anchor lock, so twenty analysts finishing at once queued twenty of those one after the other. Now the thread
that gets its turn writes every record waiting at that moment in one transaction, with one anchor update after it.
Each caller still gets its own id or its own error: a batch that fails is written again one record at a time, so a
bad body fails alone. Callers go on as soon as their batch commits; the writing thread rewrites the head anchor
after, and the next batch starts once it has (the anchors stay in chain order). The chain order is the order the
records are written in, as before.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

Insert = Callable[[sqlite3.Connection], str]  # writes one record inside the caller's transaction; returns its id
# Opens one write transaction and calls its argument right after COMMIT, before the head anchor is rewritten.
Transaction = Callable[[Callable[[], None]], AbstractContextManager[sqlite3.Connection]]


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
        self._cond = threading.Condition()
        self._waiting: list[PendingRecord] = []
        self._writer = False  # a thread is writing a batch (until its head anchor is written: anchors stay in order)

    def append(self, insert: Insert, transaction: Transaction) -> str:
        """Write one record (with any others waiting) and return its id once committed; raises its own error."""
        own = PendingRecord(insert)
        with self._cond:
            self._waiting.append(own)
            while self._writer and not own.done:
                self._cond.wait()
            leading = not own.done  # not written by the thread before us: we write everything waiting
            if leading:
                self._writer = True
                batch, self._waiting = self._waiting, []
        if leading:
            try:
                self._write_batch(own, batch, transaction)
            finally:
                with self._cond:
                    self._writer = False
                    self._cond.notify_all()
        if own.error is not None:
            raise own.error
        return own.record_id

    def _settle(self, items: list[PendingRecord], ids: list[str] | None = None,
                error: BaseException | None = None) -> None:
        """Hand each waiting caller its id (or error) and wake them."""
        with self._cond:
            for n, item in enumerate(items):
                item.record_id, item.error, item.done = (ids[n] if ids else ""), error, True
            self._cond.notify_all()

    def _write_batch(self, own: PendingRecord, batch: list[PendingRecord], transaction: Transaction) -> None:
        try:
            if not self._write(batch, transaction):
                for item in batch:  # one of them failed and the batch was rolled back: each on its own
                    self._write([item], transaction)
        except BaseException as exc:
            # Interrupted (e.g. KeyboardInterrupt in the CLI's thread), or the head anchor could not be rewritten
            # after a commit (the writer's caller hears of it): records not yet inserted go back to the queue for
            # the next writer; those inserted may have been committed, so they are never written twice.
            stopped = ConnectionAbortedError(f"The record may not have been written: {type(exc).__name__}.")
            with self._cond:
                for item in batch:
                    if item.inserted and not item.done:
                        item.error, item.done = stopped, True
                self._waiting[:0] = [item for item in batch if item is not own and not item.done]
                self._cond.notify_all()
            raise

    def _write(self, batch: list[PendingRecord], transaction: Transaction) -> bool:
        """Write `batch` in one transaction; its callers go on as soon as it commits. False when one of several
        inserts failed: then nothing was written. Otherwise every record is done: written with its id, or (a single
        record) with the error its caller raises. A failure after the commit is raised here."""
        ids: list[str] = []
        committed = False

        def on_commit() -> None:
            nonlocal committed
            committed = True
            self._settle(batch, ids)

        try:
            with transaction(on_commit) as con:
                for item in batch:
                    ids.append(item.insert(con))
                    item.inserted = True
        except Exception as exc:  # noqa: BLE001 - handed to the caller(s) of these appends
            if committed:
                raise
            if len(batch) > 1 and len(ids) < len(batch):
                for item in batch:
                    item.inserted = False  # rolled back
                return False
            self._settle(batch, error=exc)
        return True


_GROUPS: dict[Path, GroupCommit] = {}
_GROUPS_LOCK = threading.Lock()


def group_commit(path: Path) -> GroupCommit:
    """The process's one append queue for the records file at `path`."""
    key = Path(path).resolve()
    with _GROUPS_LOCK:
        return _GROUPS.setdefault(key, GroupCommit())
