"""The jobs panel in the sidebar of every page (running with progress, recent outcomes, cancel and retry), and the
start of the app's own job consumer (one thread per server process, shared by every browser session)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence

import streamlit as st

from app.container import Services
from app.errors import AssistantError
from app.jobs.store import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Job
from app.ui.common import safe_markdown, show_error

REFRESH_S = 2.0
RECENT_S = 6 * 3600  # finished jobs stay in the panel this long
KIND_LABEL = {"ingest": "Adding documents", "transcribe": "Transcription", "tables": "Loading tables",
              "evaluation": "Evaluation"}


def start_background_jobs(services: Services) -> None:
    """Run jobs in threads of this server process once there is work (queued, or interrupted by a restart); only
    the first call starts the consumer, which then serves every browser session."""
    queue = services.jobs
    if queue.consuming or not queue.store.active_count():
        return
    try:
        queue.start_consumer()
    except AssistantError as exc:  # e.g. the Redis queue of jobs_url is down: pages work, jobs wait
        st.warning(safe_markdown(exc.one_line()), icon=":material/build:")


def jobs_sidebar(services: Services) -> None:
    """The jobs panel in the sidebar (it also starts the consumer when there is work)."""
    with st.sidebar:
        jobs_panel(services)


@st.fragment(run_every=REFRESH_S)
def jobs_panel(services: Services) -> None:
    """Compact list of active and recent jobs; refreshes itself every few seconds without rerunning the page."""
    start_background_jobs(services)
    now = time.time()
    jobs = [j for j in services.jobs.list(limit=20) if not j.finished or now - (j.finished_at or now) < RECENT_S]
    if not jobs:
        return
    with st.container(border=True):
        st.markdown("**Background jobs**")
        for job in jobs[:6]:
            job_row(services, job)


def job_row(services: Services, job: Job) -> None:
    """One job: what it does, its state and progress or outcome, and Cancel or Retry."""
    label = f"{KIND_LABEL.get(job.kind, job.kind)} · {_what(job)}"
    if job.state in (QUEUED, RUNNING):
        text = "waiting for a worker" if job.state == QUEUED else job.message
        st.progress(job.progress, text=safe_markdown(f"{label}: {text}"))
        if not job.cancel_requested:  # on_click: done before the panel is drawn again, so it shows the new state
            st.button("Cancel", key=f"jobs.cancel.{job.id}", type="tertiary", on_click=act,
                      args=(services.jobs.cancel, job.id))
        return
    icon = {DONE: ":green[:material/check_circle:]", FAILED: ":red[:material/error:]",
            CANCELLED: ":gray[:material/cancel:]"}.get(job.state, "")
    when = dt.datetime.fromtimestamp(job.finished_at or job.updated_at).strftime("%H:%M")
    st.caption(f"{icon} {safe_markdown(label)} · {job.state} {when}: {safe_markdown(job.message)}")
    if services.jobs.can_retry(job):  # not when the uploads of a cancelled job are gone: it would only refuse
        st.button("Retry", key=f"jobs.retry.{job.id}", type="tertiary", on_click=act,
                  args=(services.jobs.retry, job.id))


def act(action: Callable[[str], object], job_id: str) -> None:
    """Run cancel or retry of a job from a button's on_click; a refusal (e.g. finished meanwhile) is shown."""
    try:
        action(job_id)
    except AssistantError as exc:  # e.g. finished meanwhile in another tab
        show_error(exc)


def _what(job: Job) -> str:
    if job.payload.get("resume"):
        return "finishing interrupted documents"
    paths: Sequence[str] = job.payload.get("paths") or [job.payload.get("name") or job.payload.get("path", "")]
    names = [str(p).rstrip("/").rsplit("/", 1)[-1] for p in paths]
    return names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"


def job_status(services: Services, job_ids: Sequence[str]) -> list[Job]:
    """The jobs with these ids that still exist (a page's own submissions)."""
    found = []
    for job_id in job_ids:
        try:
            found.append(services.jobs.get(job_id))
        except AssistantError:
            continue
    return found
