"""The persistent job queue: huey carries "run job ID" messages; the job store says how each job is doing.

Storage: SQLite in `<data_dir>/jobs.sqlite` (the default: jobs survive an app restart), or Redis when `jobs_url`
is set, so worker processes on other machines that share the data directory take jobs too
(`python -m app worker`). The app runs one consumer thread of its own (`start_consumer`), so a job goes on when
the page is left or the tab closed. At start, and then every minute, jobs whose worker died are queued again.
"""

from __future__ import annotations

import builtins
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey
from huey.consumer import Consumer

from app.errors import BadInputError, ConfigError
from app.evaluation.service import RunOptions
from app.jobs.evaluation import evaluation_payload
from app.jobs.identity import ActingServices, BuildServices, identity_of
from app.jobs.store import CANCELLED, FAILED, QUEUED, RUNNING, Job, JobStore
from app.jobs.tasks import EVALUATION, INGEST, KINDS, execute, remove_uploads

log = logging.getLogger(__name__)

# A running job on another host is taken for lost after this long without progress (same host: its pid is checked).
STALE_AFTER_S = 600.0
# A Chroma server that went away is tried again this often, this many times, before the job stays failed.
VECTOR_RETRIES, VECTOR_RETRY_S = 3, 30.0


class _ThreadConsumer(Consumer):
    """huey's consumer without signal handlers: it runs inside the app, not in the main thread."""

    def _set_signal_handlers(self) -> None:
        return None


class JobQueue:
    """submit / cancel / retry / list jobs, and consume them (in a thread of the app or in a worker process)."""

    def __init__(self, data_dir: Path, services: Any, jobs_url: str = "", user: str = "",
                 uploads_kept_days: float = 7.0, build_services: BuildServices | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.jobs_url = jobs_url
        self.user = user
        self.uploads_kept_days = uploads_kept_days
        self.store = JobStore(self.data_dir / "job_status.sqlite")
        self.uploads_dir = self.data_dir / "jobs" / "uploads"
        self._services = services
        self._acting = ActingServices(services, build_services)  # a job runs as the user who submitted it
        self._secrets: dict[str, str] = {}  # passwords of encrypted PDFs: in memory only, never in the queue
        self._consumer: Consumer | None = None
        self._lock = threading.Lock()
        self.huey = _make_huey(self.data_dir, jobs_url)
        self._run_task = self.huey.task(name="run_job")(self._run)
        self.huey.periodic_task(crontab(minute="*"), name="recover_jobs")(self.recover)

    # ---- producing ---------------------------------------------------------------------------------

    def submit(self, kind: str, payload: dict[str, Any], password: str | None = None) -> Job:
        """Queue a job of `kind` ('ingest': {"paths": [...]} or {"resume": True}, 'transcribe': {"path", "name",
        "size", "language"}, 'tables': {"paths": [...]}, 'evaluation': see `submit_evaluation`); the submitter is
        stored with it."""
        if kind not in KINDS:
            raise BadInputError(f"Unknown job kind {kind!r}.", f"Use one of: {', '.join(KINDS)}.")
        # Who submitted it: whichever process runs the job writes its records under this user.
        submitter = identity_of(self._services) if self._services is not None else {"user": self.user}
        job = self.store.create(kind, {**payload, "submitted_by": submitter}, submitter["user"] or self.user)
        if password:
            self._secrets[job.id] = password
        self._enqueue(job.id)
        return job

    def submit_uploads(self, files: Sequence[tuple[str, bytes]], password: str | None = None) -> Job:
        """Keep uploaded files in the data directory and queue their ingestion (the copies go when it is done)."""
        folder = self.uploads_dir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for n, (name, data) in enumerate(files):
            target = folder / str(n) / (Path(name).name or "upload")
            target.parent.mkdir()
            target.write_bytes(data)
            paths.append(str(target))
        return self.submit("ingest", {"paths": paths, "uploads_dir": str(folder)}, password)

    def submit_recording(self, name: str, data: bytes, size: str = "", language: str = "",
                         origin: str = "images & audio page") -> Job:
        """Keep an uploaded recording in the data directory and queue its transcription."""
        folder = self.uploads_dir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (Path(name).name or "recording")
        target.write_bytes(data)
        return self.submit("transcribe", {"path": str(target), "name": target.name, "size": size,
                                          "language": language, "origin": origin, "uploads_dir": str(folder)})

    def submit_evaluation(self, set_path: Path, docs: Path | None, options: RunOptions) -> Job:
        """Queue an evaluation run of a set (a bad model name or a set without usable items is refused now)."""
        return self.submit(EVALUATION, evaluation_payload(Path(set_path), docs, options))

    def submit_resume(self) -> Job:
        """Queue the finishing of every document whose indexing was interrupted (Finish interrupted)."""
        return self.submit(INGEST, {"resume": True})

    def _enqueue(self, job_id: str) -> None:
        try:
            self._run_task(job_id)
        except Exception as exc:  # noqa: BLE001 - e.g. Redis down: the job fails with the reason, nothing is lost
            error = _unreachable(self.jobs_url, exc)
            self.store.finish(job_id, FAILED, error.one_line(), error=error.one_line())
            raise error from exc

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job now; a running one stops at its next page, file, transcribed window or evaluation
        item. The files uploaded for it are removed once it has stopped."""
        job = self.store.cancel(job_id)
        if job.state == CANCELLED:  # it never started: nothing reads its uploads
            remove_uploads(job, self.uploads_dir)
        return job

    def retry(self, job_id: str) -> Job:
        """Queue a failed or cancelled job again (files already indexed are skipped, nothing is duplicated)."""
        job = self.store.get(job_id)
        folder = job.payload.get("uploads_dir")
        if job.finished and folder and not Path(folder).exists():
            why = "cancelled" if job.state == CANCELLED else f"kept {self.uploads_kept_days:g} days after it failed"
            raise BadInputError(f"Job {job_id} cannot be retried: the files uploaded for it were removed (it was "
                                f"{why}).", "Upload the files again.")
        if not self.store.requeue(job_id, f"retry of attempt {job.attempts}"):
            raise BadInputError(f"Job {job_id} is {job.state}; only failed or cancelled jobs can be retried.")
        self._enqueue(job_id)
        return self.store.get(job_id)

    def can_retry(self, job: Job) -> bool:
        """Whether Retry can work: the job failed or was cancelled and the files uploaded for it are still kept."""
        folder = job.payload.get("uploads_dir")
        return job.state in (FAILED, CANCELLED) and not (folder and not Path(folder).exists())

    def list(self, limit: int = 50) -> builtins.list[Job]:
        """The newest jobs first."""
        return self.store.list(limit)

    def get(self, job_id: str) -> Job:
        """One job (NotFoundError for an unknown id)."""
        return self.store.get(job_id)

    # ---- consuming ---------------------------------------------------------------------------------

    def _run(self, job_id: str) -> None:
        password = self._secrets.get(job_id)
        services = self._acting.for_submitter(self.store.get(job_id).payload.get("submitted_by"))
        if execute(self.store, services, job_id, password, self.uploads_dir) == FAILED and self._store_was_down(job_id):
            return  # tried again later, password kept
        self._secrets.pop(job_id, None)

    def _store_was_down(self, job_id: str) -> bool:
        """A job that failed only because the Chroma server did not answer is tried again in a while (the files
        it did not finish are pending, never half-visible); after VECTOR_RETRIES attempts it stays failed."""
        job = self.store.get(job_id)
        failed = [f for f in job.result.get("files", []) if f.get("status") == "error"] or [job.result]
        if any(f.get("error_type") != "VectorStoreUnavailableError" for f in failed):
            return False
        if job.attempts > VECTOR_RETRIES or not self.store.requeue(
                job_id, f"the vector store did not answer; trying again in {VECTOR_RETRY_S:.0f} s", states=(FAILED,)):
            return False
        self._run_task.schedule(args=(job_id,), delay=VECTOR_RETRY_S)
        return True

    def recover(self) -> builtins.list[str]:
        """Queue again the jobs whose worker died mid-job, and queued jobs whose message was lost; their ids.
        Also removes the uploads of failed jobs not retried within `uploads_kept_days`."""
        self.sweep_uploads()
        revived = []
        for job in self.store.interrupted(STALE_AFTER_S):
            if self.store.requeue(job.id, "resumed: its worker stopped mid-job", states=(RUNNING,)):
                revived.append(job.id)
        try:
            waiting = {t.args[0] for t in [*self.huey.pending(), *self.huey.scheduled()] if t.args}
        except Exception as exc:  # noqa: BLE001 - the queue store is down: say so in the log, retry next minute
            log.warning("job queue not readable: %s", exc)
            return revived
        lost = [j.id for j in self.store.list(limit=1000, states=(QUEUED,)) if j.id not in waiting]
        for job_id in {*revived, *lost}:
            self._run_task(job_id)
        return sorted({*revived, *lost})

    def sweep_uploads(self) -> builtins.list[str]:
        """Remove the uploaded files of failed jobs that were not retried within `uploads_kept_days` (and of
        cancelled ones, should a cancel have left them); the ids of the jobs whose files went."""
        cutoff = time.time() - self.uploads_kept_days * 86400
        swept = []
        for job in self.store.list(limit=1000, states=(FAILED, CANCELLED)):
            old = job.state == CANCELLED or (job.finished_at or job.updated_at) < cutoff
            if old and job.payload.get("uploads_dir") and remove_uploads(job, self.uploads_dir):
                swept.append(job.id)
        return swept

    def start_consumer(self, workers: int = 1) -> bool:
        """Start consuming in threads of this process (once; later calls do nothing); False if already running."""
        with self._lock:
            if self._consumer is not None:
                return False
            self.recover()
            self._consumer = _ThreadConsumer(self.huey, workers=workers, worker_type="thread", periodic=True,
                                             initial_delay=0.1, backoff=1.15, max_delay=1.0,
                                             check_worker_health=False)
            self._consumer.start()
            return True

    def run_worker(self, workers: int = 1) -> None:
        """Consume in this process until SIGINT/SIGTERM (`python -m app worker`)."""
        self.recover()
        consumer = self.huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                             initial_delay=0.1, backoff=1.15, max_delay=1.0)
        consumer.run()

    @property
    def consuming(self) -> bool:
        """Whether this process runs a consumer."""
        return self._consumer is not None

    def close(self) -> None:
        """Stop this process's consumer (a job it was running is resumed by the next consumer to start)."""
        with self._lock:
            if self._consumer is not None:
                self._consumer.stop(graceful=False)
                self._consumer = None


def _make_huey(data_dir: Path, jobs_url: str) -> Huey:
    if not jobs_url:
        return SqliteHuey("jobs", filename=str(data_dir / "jobs.sqlite"), results=False)
    return RedisHuey(f"analyst-jobs-{_queue_id(data_dir)}", url=jobs_url, results=False)


def _queue_id(data_dir: Path) -> str:
    """One Redis queue per data directory: machines that share the folder share its id, other workspaces don't."""
    path = data_dir / "jobs.id"
    if not path.exists():
        tmp = path.with_suffix(f".{uuid.uuid4().hex}")
        tmp.write_text(uuid.uuid4().hex[:16])
        with suppress(FileExistsError):
            os.link(tmp, path)  # atomic: two processes starting at once agree on one id
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def _unreachable(url: str, exc: BaseException) -> ConfigError:
    where = f"at {re.sub(r'(?<=://)[^/@]+@', '***@', url)}" if url else "in the data directory"
    return ConfigError(f"The job queue {where} cannot be used: {type(exc).__name__}: {exc}",
                       "Start the Redis server, or clear jobs_url to keep jobs in the data directory."
                       if url else "Check that the data directory is writable.")


__all__ = ["CANCELLED", "JobQueue"]
