"""What a job does, by kind: document ingestion (files or folders, or finishing interrupted documents),
transcription of a recording, loading big table files and evaluation runs (app/jobs/evaluation.py).

A job reports progress to the job store (throttled; it is also the heartbeat) and checks there whether the user
asked to cancel, between pages, files and transcribed windows. Ingestion is idempotent: the library skips files
whose content is already indexed and re-indexes an interrupted one from scratch, so running a job again after a
killed worker never duplicates chunks.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from app.documents.library import DocumentLibrary
from app.documents.results import IngestProgress
from app.errors import AssistantError, BadInputError
from app.evaluation.ports import EvaluationServices
from app.jobs.evaluation import run_evaluation
from app.jobs.progress import JobCancelled, JobFailed, Reporter
from app.jobs.store import CANCELLED, DONE, FAILED, Job, JobStore
from app.tables.service import TablesService
from multimodal.transcribe import Transcript, format_timestamp

log = logging.getLogger(__name__)

INGEST, TRANSCRIBE, TABLES, EVALUATION = "ingest", "transcribe", "tables", "evaluation"
KINDS = (INGEST, TRANSCRIBE, TABLES, EVALUATION)
CANCELLED_INGEST = ("cancelled; a file cut off half-way is not searchable (Finish interrupted on the Documents page "
                    "completes it, or delete it)")


class JobServices(EvaluationServices, Protocol):
    """What jobs need from the app's services (app.container.Services provides it)."""

    @property
    def documents(self) -> DocumentLibrary: ...

    @property
    def tables(self) -> TablesService: ...

    def transcribe(self, source: bytes | Path, *, name: str, origin: str, size: str | None = None,
                   language: str | None = None, progress: Callable[[float, float | None], None] | None = None,
                   ) -> Transcript: ...


def run_ingest(services: JobServices, job: Job, report: Reporter, password: str | None) -> tuple[str, dict]:
    """Ingest the job's files and folders, or (payload `resume`) finish the documents whose indexing was
    interrupted; (message, result). Raises BadInputError when nothing can be read."""
    resume = bool(job.payload.get("resume"))
    paths = [Path(p) for p in job.payload.get("paths", [])]
    missing = [str(p) for p in paths if not p.exists()]
    if not resume and (not paths or missing):
        raise BadInputError(f"No such file or folder: {', '.join(missing) or '(none given)'}.",
                            "Add the files again; an upload kept for a job is removed once the job is done.")

    def on_progress(event: IngestProgress) -> None:
        name = Path(event.path).name
        within = event.page / event.pages if event.stage == "page" and event.pages else 0.0
        if event.stage == "transcribe" and event.total_seconds:
            within = event.seconds / event.total_seconds
            detail = f"transcribed {format_timestamp(event.seconds)} of {format_timestamp(event.total_seconds)}"
        elif event.stage == "page":
            detail = f"page {event.page} of {event.pages}"
        else:
            detail = event.stage
        fraction = (event.file_index - 1 + within) / max(1, event.file_count)
        report(fraction, f"{name}: {detail} (file {event.file_index} of {event.file_count})",
               force=event.stage == "start")

    if resume:
        results = services.documents.resume(progress=on_progress)
    else:
        results = services.documents.ingest_paths(paths, password=password, progress=on_progress)
    files = [r.to_dict() for r in results]
    count = {s: sum(r.status == s for r in results) for s in ("indexed", "skipped", "error")}
    message = f"{len(results)} files: {count['indexed']} indexed, {count['skipped']} skipped, {count['error']} failed"
    if count["error"]:
        failures = "; ".join(r.error for r in results if r.status == "error")
        raise JobFailed(f"{message}. {failures}", {"files": files})
    return message, {"files": files}


def run_transcribe(services: JobServices, job: Job, report: Reporter, password: str | None) -> tuple[str, dict]:
    """Transcribe the job's recording; (message, the transcript as plain data with its warnings)."""
    payload = job.payload
    path = Path(payload["path"])
    if not path.is_file():
        raise BadInputError(f"The recording {payload.get('name', path.name)} is no longer there.",
                            "Upload it again.")

    def on_progress(seconds: float, total: float | None) -> None:
        of = f" of {format_timestamp(total)}" if total else ""
        report(seconds / total if total else 0.0, f"transcribed {format_timestamp(seconds)}{of}")

    name, origin, size = payload.get("name", path.name), payload.get("origin", "job"), payload.get("size") or None
    started = time.monotonic()
    try:
        transcript = services.transcribe(path, name=name, origin=origin, size=size,
                                         language=payload.get("language") or None, progress=on_progress)
    except JobCancelled:  # stopped between windows: recorded like any other run of the model on the user's audio
        services.records.append("transcribe", {
            "user": services.settings.user, "origin": origin, "file_name": name, "status": "cancelled",
            "whisper_model": size or services.settings.whisper_model, "job_id": job.id,
            "seconds": round(time.monotonic() - started, 3)})
        raise
    result = {**transcript.to_dict(), "warnings": list(transcript.warnings), "model": transcript.model}
    return f"transcribed {format_timestamp(transcript.duration)} ({transcript.language})", result


def run_tables(services: JobServices, job: Job, report: Reporter, password: str | None) -> tuple[str, dict]:
    """Load big table files into DuckDB one after another; a file is never cut off half-way (cancel is checked
    between files)."""
    paths = [Path(p) for p in job.payload.get("paths", [])]
    if missing := [str(p) for p in paths if not p.is_file()]:
        raise BadInputError(f"No such table file: {', '.join(missing) or '(none given)'}.", "Check the paths.")
    files: list[dict[str, Any]] = []
    for n, path in enumerate(paths):
        if report.note(n / len(paths), f"{path.name}: loading (file {n + 1} of {len(paths)})", force=True):
            raise JobCancelled
        started = time.monotonic()
        entry: dict[str, Any] = {"path": str(path), "kind": "table", "status": "indexed", "error": "", "tables": []}
        try:
            loaded = services.tables.load_file(path, _table_progress(report, path.name, n, len(paths)))
        except AssistantError as exc:
            entry.update(status="error", error=exc.one_line())
        else:
            entry.update(tables=list(loaded.tables), rows=dict(loaded.rows), warnings=list(loaded.warnings),
                         status="skipped" if loaded.already_loaded else "indexed")
        files.append(entry | {"seconds": round(time.monotonic() - started, 3)})
    failed = [f["error"] for f in files if f["status"] == "error"]
    message = f"{len(files)} table files: {len(files) - len(failed)} loaded, {len(failed)} failed"
    if failed:
        raise JobFailed(f"{message}. {'; '.join(failed)}", {"files": files})
    return message, {"files": files}


def _table_progress(report: Reporter, name: str, index: int, count: int) -> Callable[[float, str], None]:
    def note(fraction: float, message: str) -> None:
        report.note((index + fraction) / count, f"{name}: {message}")

    return note


RUNNERS: dict[str, Callable[[JobServices, Job, Reporter, str | None], tuple[str, dict]]] = {
    INGEST: run_ingest, TRANSCRIBE: run_transcribe, TABLES: run_tables, EVALUATION: run_evaluation,
}


def execute(store: JobStore, services: JobServices, job_id: str, password: str | None = None,
            uploads_dir: Path | None = None) -> str:
    """Run one job to its end and store how it went; returns its final state ('' if it was not queued)."""
    job = store.claim(job_id)
    if job is None:
        return ""  # cancelled before it started, or taken by another worker
    report = Reporter(store, job_id)
    try:
        message, result = RUNNERS[job.kind](services, job, report, password)
    except JobCancelled as exc:
        if uploads_dir is not None:  # before the state changes: once a job reads cancelled, its files are gone
            remove_uploads(job, uploads_dir)
        store.finish(job_id, CANCELLED, exc.message or (CANCELLED_INGEST if job.kind == INGEST else "cancelled"),
                     exc.result)
        return CANCELLED
    except JobFailed as exc:
        store.finish(job_id, FAILED, exc.message, exc.result, error=exc.message)
        return FAILED
    except AssistantError as exc:
        store.finish(job_id, FAILED, exc.one_line(), {"error_type": type(exc).__name__}, error=exc.one_line())
        return FAILED
    except Exception as exc:  # noqa: BLE001 - the job fails with the reason; the worker goes on with the next
        log.exception("job %s (%s) failed", job_id, job.kind)
        text = (f"The job stopped on a fault in the app ({type(exc).__name__}: {exc}). Retry it; report it if it "
                "repeats.")
        store.finish(job_id, FAILED, text, error=text)
        return FAILED
    cleanup_uploads(job)  # before the state changes, as for a cancelled job
    store.finish(job_id, DONE, message, result)
    return DONE


def cleanup_uploads(job: Job) -> None:
    """Remove the copies of uploaded files kept for a job (the library keeps its own copy)."""
    folder = job.payload.get("uploads_dir")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def remove_uploads(job: Job, uploads_dir: Path) -> bool:
    """Remove the folder of files uploaded for a cancelled or long-failed job, and nothing else: only a folder
    inside `uploads_dir` is touched. Whether there was one to remove."""
    folder = job.payload.get("uploads_dir")
    if not folder:
        return False
    path, root = Path(folder).resolve(), Path(uploads_dir).resolve()
    if path == root or root not in path.parents or not path.is_dir():
        return False
    shutil.rmtree(path, ignore_errors=True)
    return True
