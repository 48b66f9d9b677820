"""Job states, progress, errors and results in `<data_dir>/job_status.sqlite`, read by every page and process.

The queue library (huey) only carries "run job ID" messages; what a user sees about a job lives here, so the
UI, the CLI and any worker process sharing the data directory agree on it.
"""

from __future__ import annotations

import builtins
import json
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import BadInputError, NotFoundError
from storage.sqlite import prepare, transaction

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    user TEXT NOT NULL DEFAULT '',
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    worker TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
"""

# Who runs a job: host, pid and a token of this process start, so a restart on the same machine can tell a dead
# worker's job from a live one (even when the new process got the old pid back, as in a container).
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Job:
    """One job as every page shows it."""

    id: str
    kind: str
    state: str
    payload: dict[str, Any]
    user: str = ""
    progress: float = 0.0
    message: str = ""
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    cancel_requested: bool = False
    worker: str = ""
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0

    @property
    def finished(self) -> bool:
        """Done, failed or cancelled."""
        return self.state in FINISHED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the CLI's `jobs list --json`)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {"finished": self.finished}


def _job(row: sqlite3.Row) -> Job:
    data = dict(row)
    data["payload"] = json.loads(data["payload"] or "{}")
    data["result"] = json.loads(data["result"] or "{}")
    data["cancel_requested"] = bool(data["cancel_requested"])
    return Job(**data)


class JobStore:
    """The jobs table; every method opens its own connection (safe across threads and processes)."""

    def __init__(self, path: Path) -> None:
        self.path = prepare(path, _SCHEMA)

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with transaction(self.path) as con:
            con.row_factory = sqlite3.Row
            return con.execute(sql, args).fetchall()

    def _update(self, sql: str, args: tuple[Any, ...]) -> int:
        with transaction(self.path) as con:
            return con.execute(sql, args).rowcount

    def create(self, kind: str, payload: dict[str, Any], user: str = "") -> Job:
        """A new queued job."""
        now = time.time()
        job_id = uuid.uuid4().hex[:12]
        self._update("INSERT INTO jobs (id, kind, state, payload, user, created_at, updated_at, message) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (job_id, kind, QUEUED, json.dumps(payload), user, now, now, "waiting for a worker"))
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        """One job; NotFoundError (with the fix) for an unknown id."""
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise NotFoundError(f"No job with id {job_id}.", "List jobs with `python -m app jobs list`.")
        return _job(rows[0])

    def list(self, limit: int = 50, states: tuple[str, ...] = ()) -> builtins.list[Job]:
        """The newest jobs first (only those in `states`, when given)."""
        where = f"WHERE state IN ({','.join('?' * len(states))})" if states else ""
        rows = self._query(f"SELECT * FROM jobs {where} ORDER BY created_at DESC LIMIT ?", (*states, limit))
        return [_job(r) for r in rows]

    def active_count(self) -> int:
        """How many jobs are queued or running."""
        return int(self._query("SELECT COUNT(*) FROM jobs WHERE state IN (?, ?)", (QUEUED, RUNNING))[0][0])

    def claim(self, job_id: str) -> Job | None:
        """Mark a queued job running on this worker; None if it is not queued any more (cancelled, or already
        taken by another worker after a duplicate message)."""
        now = time.time()
        taken = self._update("UPDATE jobs SET state = ?, worker = ?, started_at = ?, updated_at = ?, "
                             "attempts = attempts + 1, progress = 0, message = 'starting' "
                             "WHERE id = ? AND state = ?", (RUNNING, WORKER_ID, now, now, job_id, QUEUED))
        return self.get(job_id) if taken else None

    def progress(self, job_id: str, fraction: float, message: str) -> bool:
        """Record progress (also the heartbeat); returns whether the user asked to cancel."""
        with transaction(self.path) as con:
            con.execute("UPDATE jobs SET progress = ?, message = ?, updated_at = ? WHERE id = ? AND state = ?",
                        (max(0.0, min(1.0, fraction)), message[:500], time.time(), job_id, RUNNING))
            row = con.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def finish(self, job_id: str, state: str, message: str, result: dict[str, Any] | None = None,
               error: str = "") -> None:
        """Done, failed or cancelled, with what the user should read and the result."""
        now = time.time()
        self._update("UPDATE jobs SET state = ?, message = ?, error = ?, result = ?, finished_at = ?, updated_at = ?, "
                     "progress = CASE WHEN ? = 'done' THEN 1 ELSE progress END WHERE id = ?",
                     (state, message[:1000], error[:4000], json.dumps(result or {}, default=str), now, now, state,
                      job_id))

    def keep_result(self, job_id: str, result: dict[str, Any]) -> None:
        """Store a running job's result so far (kept if its worker dies: the next attempt reads it)."""
        self._update("UPDATE jobs SET result = ?, updated_at = ? WHERE id = ? AND state = ?",
                     (json.dumps(result, default=str), time.time(), job_id, RUNNING))

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, ask a running one to stop at its next file or chunk; a finished job is
        refused with a message."""
        job = self.get(job_id)
        if job.finished:
            raise BadInputError(f"Job {job_id} is already {job.state}; there is nothing to cancel.")
        now = time.time()
        self._update("UPDATE jobs SET state = CASE WHEN state = ? THEN ? ELSE state END, cancel_requested = 1, "
                     "message = CASE WHEN state = ? THEN 'cancelled before it started' ELSE 'cancelling…' END, "
                     "finished_at = CASE WHEN state = ? THEN ? ELSE finished_at END, updated_at = ? WHERE id = ?",
                     (QUEUED, CANCELLED, QUEUED, QUEUED, now, now, job_id))
        return self.get(job_id)

    def requeue(self, job_id: str, why: str, states: tuple[str, ...] = (FAILED, CANCELLED)) -> bool:
        """Put a job back in the queue (retry, or resume after its worker died); its last error stays readable
        until the new attempt ends. False if it is not in one of `states` any more."""
        marks = ",".join("?" * len(states))
        return bool(self._update(f"UPDATE jobs SET state = ?, cancel_requested = 0, message = ?, worker = '', "
                                 f"finished_at = NULL, updated_at = ? WHERE id = ? AND state IN ({marks})",
                                 (QUEUED, why, time.time(), job_id, *states)))

    def interrupted(self, stale_after_s: float) -> builtins.list[Job]:
        """Running jobs whose worker is gone: a dead process on this host, or (another host) no progress reported
        for `stale_after_s`."""
        host = WORKER_ID.split(":", 1)[0]
        now = time.time()
        lost = []
        for job in self.list(limit=1000, states=(RUNNING,)):
            worker_host, pid, _ = (job.worker.split(":") + ["", ""])[:3]
            if worker_host == host and pid.isdigit():  # this machine: ask the process itself, however slow the job
                # Our pid under another start token is the process before this one, which had the same pid.
                gone = job.worker != WORKER_ID and (pid == str(os.getpid()) or not _alive(int(pid)))
            else:  # another machine: a job that has not reported progress for a long time is taken for lost
                gone = now - job.updated_at > stale_after_s
            if gone:
                lost.append(job)
        return lost


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
