"""CLI: `jobs list|show|cancel|retry` over background jobs, and `worker` (a consumer process for the job queue)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from app.commands.common import command, emit
from app.errors import BadInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `jobs` and `worker` subcommands."""
    jobs = sub.add_parser("jobs", help="Background jobs (ingestion, transcription, table loads, evaluation runs): "
                          "list, show, cancel, retry.")
    jsub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    listing = command(jsub, "list", help="The newest jobs with state, progress and message.", handler=run_list)
    listing.add_argument("--limit", type=int, default=20, help="How many jobs (default 20).")
    for name, handler, text in (("show", run_show, "One job with its result."),
                                ("cancel", run_cancel, "Cancel a queued job, or stop a running one at its next "
                                 "page, file or chunk."),
                                ("retry", run_retry, "Queue a failed or cancelled job again.")):
        command(jsub, name, help=text, handler=handler).add_argument("id")
    worker = command(sub, "worker", help="Run queued jobs in this process until Ctrl+C (for a Redis queue "
                     "(jobs_url): one per machine that shares the data directory).", handler=run_worker,
                     json_help=None)
    worker.add_argument("--workers", type=int, default=1, help="Jobs run at once in this process (default 1).")


def _when(stamp: float | None) -> str:
    return dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S") if stamp else "-"


def job_line(job: Any) -> str:
    """One line per job: id, state, progress, kind, when, message."""
    percent = f"{job.progress * 100:3.0f}%"
    return f"{job.id}  {job.state:9} {percent}  {job.kind:10} {_when(job.created_at)}  {job.message}"


def run_list(args: argparse.Namespace, services: Any) -> int:
    """`jobs list`: newest first."""
    if args.limit < 1:
        raise BadInputError("--limit must be at least 1.")
    jobs = services.jobs.list(args.limit)
    emit(args, {"jobs": [j.to_dict() for j in jobs]}, "\n".join(job_line(j) for j in jobs) or "No jobs yet.")
    return 0


def run_show(args: argparse.Namespace, services: Any) -> int:
    """`jobs show ID`: the job, its error and result (exit 1 if it failed)."""
    job = services.jobs.get(args.id)
    lines = [job_line(job), f"payload: {job.payload}"]
    if job.error:
        lines.append(f"error: {job.error}")
    for f in job.result.get("files", []):
        lines.append(f"  {f['status']:8} {f['path']}  {f['error']}")
    if job.result.get("run_id"):  # an evaluation job: its run, complete or partial
        lines.append(f"evaluation run {job.result['run_id']}: `python -m app eval show {job.result['run_id']}`")
    emit(args, job.to_dict(), "\n".join(lines))
    return 1 if job.state == "failed" else 0


def run_cancel(args: argparse.Namespace, services: Any) -> int:
    """`jobs cancel ID`."""
    job = services.jobs.cancel(args.id)
    emit(args, job.to_dict(), f"{job.id} {job.state}: {job.message}")
    return 0


def run_retry(args: argparse.Namespace, services: Any) -> int:
    """`jobs retry ID`."""
    job = services.jobs.retry(args.id)
    emit(args, job.to_dict(), f"{job.id} queued again ({job.message})")
    return 0


def run_worker(args: argparse.Namespace, services: Any) -> int:
    """`worker`: consume jobs until interrupted."""
    if args.workers < 1:
        raise BadInputError("--workers must be at least 1.")
    queue = services.jobs
    where = queue.jobs_url or str(services.settings.data_dir / "jobs.sqlite")
    sys.stderr.write(f"worker: running jobs from {where} with {args.workers} thread(s); Ctrl+C stops\n")
    queue.run_worker(args.workers)
    return 0
