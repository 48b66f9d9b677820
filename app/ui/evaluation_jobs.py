"""The Evaluation page's background runs: a run is a job (app/jobs/evaluation.py) that goes on when the page is
left; the page shows the running ones item by item with Cancel, and the run of this session's job once it ends."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.container import Services
from app.errors import AssistantError
from app.evaluation.service import RunOptions
from app.jobs.store import CANCELLED, DONE
from app.ui.common import safe_markdown, show_error
from app.ui.jobs import act, start_background_jobs

KEY_JOB = "evaluation.job_id"  # the evaluation job this browser session started, until it ends
KEY_ENDED = "evaluation.job_ended"  # ... then its id, for the page to show its run and how it ended
REFRESH_S = 1.5


def submit_run(services: Services, path: Path, docs: Path | None, options: RunOptions) -> None:
    """Queue the run as a job (a bad model or a set without usable items is shown at once) and start the app's
    consumer; the page follows it with `running_evaluations`."""
    try:
        job = services.jobs.submit_evaluation(path, docs, options)
    except AssistantError as exc:
        show_error(exc)
        return
    st.session_state[KEY_JOB] = job.id
    start_background_jobs(services)


@st.fragment(run_every=REFRESH_S)
def running_evaluations(services: Services) -> None:
    """Progress of every evaluation job of this workspace that has not ended (it runs without the page), with
    Cancel; when this session's job ends, the whole page is drawn again to show its run."""
    jobs = [j for j in services.jobs.list(limit=50) if j.kind == "evaluation" and not j.finished]
    for job in reversed(jobs):
        text = "waiting for a worker" if job.state == "queued" else job.message
        st.progress(job.progress, text=safe_markdown(f"Evaluating {job.payload.get('name', '')}: {text}"))
        if job.cancel_requested:
            st.caption("Cancelling: the run stops after the item under way; the items done are kept.")
        else:
            st.button("Cancel", key=f"evaluation.cancel.{job.id}", icon=":material/stop_circle:",
                      on_click=act, args=(services.jobs.cancel, job.id),
                      help="Stops after the item under way; the items done are kept (a partial run).")
    mine = st.session_state.get(KEY_JOB)
    if mine and mine not in {j.id for j in jobs}:
        st.session_state.pop(KEY_JOB)
        st.session_state[KEY_ENDED] = mine
        st.rerun()  # the whole page: the run picker and history show the new run


def ended_run(services: Services) -> int | None:
    """Once this session's job has ended: say how (cancelled with its partial run, or failed with the reason)
    and return the id of its run, for the page to show."""
    job_id = st.session_state.pop(KEY_ENDED, None)
    if not job_id:
        return None
    try:
        job = services.jobs.get(job_id)
    except AssistantError:
        return None
    run_id = job.result.get("run_id")
    if job.state == CANCELLED:
        st.info(safe_markdown(f"Run {run_id} was cancelled; the {job.result.get('items', 0)} item(s) done are "
                              "kept (a partial run). **Retry** in the Background jobs panel goes on from the next "
                              "item.") if run_id else "The evaluation was cancelled before its first item.",
                icon=":material/stop_circle:")
    elif job.state != DONE:
        show_error(AssistantError(job.error or job.message, "Fix the cause, then Retry the job in the Background "
                                  "jobs panel; the items done are kept."))
    return int(run_id) if run_id else None
