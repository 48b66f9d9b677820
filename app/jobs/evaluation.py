"""An evaluation run as a background job: it goes on after the Evaluation page is left, reports item by item,
stops between items when cancelled (the items done stay in the run, marked cancelled: a partial run), and a retry
or a restart goes on with the same run without running its stored items again."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.errors import AssistantError, BadInputError
from app.evaluation.ports import EvaluationServices
from app.evaluation.runner import select_items
from app.evaluation.service import Evaluations, RunOptions, load_set, parse_model
from app.evaluation.store import CANCELLED as RUN_CANCELLED
from app.jobs.progress import JobCancelled, JobFailed, Reporter
from app.jobs.store import Job

_ITEM_START = re.compile(r"^\d+/\d+ ")  # the runner's "3/40 item-id: question" progress message


def evaluation_payload(set_path: Path, docs: Path | None, options: RunOptions) -> dict[str, Any]:
    """What an evaluation job carries: the set, its documents folder and the run options; checked now, so a bad
    model name or an empty set is refused at once instead of failing in the background."""
    parse_model(options.model)
    parse_model(options.judge)
    eval_set = load_set(set_path, docs)
    if not select_items(eval_set, options):
        raise BadInputError(f"The set {set_path.name} has no items for {', '.join(options.only)}.",
                            "Choose other metric groups, or a set with document or SQL questions.")
    # Absolute paths: a worker may run in another folder.
    return {"set": str(Path(set_path).resolve()), "name": eval_set.name,
            "docs": str(Path(docs).resolve()) if docs else "",
            "options": {**asdict(options), "only": list(options.only)}}


def run_evaluation(services: EvaluationServices, job: Job, report: Reporter, password: str | None) -> tuple[str, dict]:
    """Run (or go on with) the job's evaluation; (message, {"run_id", "status", "items"})."""
    payload = job.payload
    docs = payload.get("docs") or None
    eval_set = load_set(Path(payload["set"]), Path(docs) if docs else None)
    options = RunOptions(**{**payload["options"], "only": tuple(payload["options"]["only"])})
    kept: dict[str, Any] = dict(job.result)  # an earlier attempt's run: a retry or a restart goes on with it

    def started(run_id: int) -> None:
        kept["run_id"] = run_id
        report.keep(kept)

    def progress(fraction: float, message: str) -> None:
        # Each item's start is always written (one write per item: the panel shows progress item by item);
        # indexing the set's documents page by page is throttled.
        report.note(fraction, message, force=_ITEM_START.match(message) is not None)

    try:
        run = Evaluations(services).run(eval_set, options, progress, report.cancel_requested,
                                        resume=kept.get("run_id"), on_start=started)
    except AssistantError as exc:  # the run (if it started) keeps its items; a retry goes on with it
        raise JobFailed(exc.one_line(), {**kept, "error_type": type(exc).__name__}) from exc
    done = len(run.get("items") or [])
    result = {"run_id": run["id"], "status": run["status"], "items": done, "set": eval_set.name}
    if run["status"] == RUN_CANCELLED:
        raise JobCancelled(f"cancelled after {done} item(s); run {run['id']} keeps them (partial). Retry goes on "
                           "from the next item.", result)
    return f"run {run['id']}: {done} item(s) scored", result
