"""How a running job talks to the job store: progress (also its heartbeat), the user's cancel, and the two ways a
job ends other than done (cancelled, or failed with a partial result)."""

from __future__ import annotations

import time
from typing import Any

from app.jobs.store import JobStore


class JobCancelled(BaseException):  # noqa: N818 - a signal, not an error
    """Raised inside a job when the user cancelled it; a BaseException so no per-file handler swallows it.
    `message` and `result` (e.g. the partial evaluation run) are kept with the cancelled job."""

    def __init__(self, message: str = "", result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message, self.result = message, result or {}


class JobFailed(Exception):  # noqa: N818 - carries a partial result with the message
    """A job that ran to its end but did not succeed (e.g. one file of several could not be read)."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.message, self.result = message, result


class Reporter:
    """Progress of one job into the store, at most every `every_s` seconds; raises JobCancelled when asked to."""

    def __init__(self, store: JobStore, job_id: str, every_s: float = 0.5) -> None:
        self.store, self.job_id, self.every_s = store, job_id, every_s
        self._last = 0.0

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        if self.note(fraction, message, force):
            raise JobCancelled

    def note(self, fraction: float, message: str, force: bool = False) -> bool:
        """Record progress without stopping; whether the user asked to cancel (for work that must not be cut off
        half-way, e.g. a table load, which checks between files)."""
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return False
        self._last = now
        return self.store.progress(self.job_id, fraction, message)

    def cancel_requested(self) -> bool:
        """Whether the user asked to cancel (read now, not throttled: checked between evaluation items)."""
        return self.store.get(self.job_id).cancel_requested

    def keep(self, result: dict[str, Any]) -> None:
        """Store part of the result while the job runs (e.g. the evaluation run it started, for a resume)."""
        self.store.keep_result(self.job_id, result)
