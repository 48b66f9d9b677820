"""The Documents page: add PDFs, images and recordings (progress per file, page or transcribed minute), the
library table, delete, re-index, search (recordings cited and played at a timestamp)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app.container import Services
from app.documents.library import DocumentLibrary
from app.documents.results import IngestProgress, IngestResult, ProgressCallback
from app.documents.search import Passage, place
from app.errors import AssistantError
from app.jobs.store import CANCELLED
from app.ui.common import safe_markdown, show_error
from app.ui.demo import demo_button
from app.ui.document_tables import document_tables_panel
from app.ui.jobs import job_status, start_background_jobs
from multimodal.kinds import DOCUMENT_TYPES, mime_type
from multimodal.transcribe import format_timestamp

KEY_QUERY = "documents.query"
KEY_JOBS = "documents.jobs"  # ids of the ingestion jobs this browser session submitted
KEY_SHOWN = "documents.jobs_shown"  # ... of those, the finished ones the page has already reloaded for
IN_BACKGROUND = ("Files are added in the background: you can leave this page or close the tab, indexing goes on "
                 "(the **Background jobs** panel in the sidebar shows it on every page). Nothing half-indexed "
                 "becomes searchable.")


def documents_page(services: Services) -> None:
    """The whole Documents page."""
    lib: DocumentLibrary = services.documents
    st.title("Documents")
    st.caption("PDFs, Word, PowerPoint, HTML, Markdown/text and e-mail files, images (the text in them) and recordings "
               "(their transcript) are indexed on this machine; answers cite the file and page, section, slide or "
               "lines, or the moment in the recording. Tables inside documents become tables you can query.")
    password = upload_form(services)
    submitted_jobs(services)
    st.subheader("Library")
    library_panel(services, password)
    st.subheader("Search")
    search_panel(lib)


def upload_form(services: Services) -> str:
    """The upload form; queues what was submitted as a background job and returns the password typed (for
    Re-index too)."""
    with st.form("documents.upload", clear_on_submit=True):
        uploads = st.file_uploader("Add documents, images or recordings", type=DOCUMENT_TYPES,
                                   accept_multiple_files=True)
        password = st.text_input("Password (only for encrypted PDFs)", type="password")
        st.caption(IN_BACKGROUND)
        submitted = st.form_submit_button("Add to library", type="primary")
    if submitted and uploads:
        try:
            job = services.jobs.submit_uploads([(u.name, u.getvalue()) for u in uploads], password or None)
        except AssistantError as exc:
            show_error(exc)
        else:
            shown = st.session_state.get(KEY_SHOWN, set())  # outcomes of earlier uploads make way for this one
            earlier = [i for i in st.session_state.get(KEY_JOBS, []) if i not in shown]
            st.session_state[KEY_JOBS] = [*earlier, job.id]
            start_background_jobs(services)
    return password


@st.fragment(run_every=1.5)
def submitted_jobs(services: Services) -> None:
    """Progress of the uploads this session queued, then how each file went (the job runs on without the page)."""
    jobs = job_status(services, st.session_state.get(KEY_JOBS, []))
    for job in jobs:
        if not job.finished:
            st.progress(job.progress, text=safe_markdown(job.message or "queued"))
            continue
        for result in job.result.get("files", []):
            show_result(IngestResult(**{**result, "warnings": tuple(result.get("warnings") or ())}),
                        Path(result["path"]).name)
        if job.state == CANCELLED:  # the user's own choice, not an error
            said = job.message if job.message.startswith("cancelled") else f"cancelled: {job.message}"
            st.info(safe_markdown(said[:1].upper() + said[1:]), icon=":material/cancel:")
        elif job.state != "done" and not job.result.get("files"):
            show_error(AssistantError(job.error or job.message))
    seen: set[str] = st.session_state.setdefault(KEY_SHOWN, set())
    if newly_done := {j.id for j in jobs if j.finished} - seen:
        seen |= newly_done
        st.rerun()  # the whole page: the library table below lists the new documents


def page_progress(bar: DeltaGenerator, name: str | None = None) -> ProgressCallback:
    """A progress callback drawing page-by-page (or transcribed-minute) progress of one file on `bar`.

    `name` overrides the file name in the events (uploads are indexed from a temporary path)."""

    def on_progress(event: IngestProgress) -> None:
        label = safe_markdown(name or event.path)
        if event.file_count > 1:
            label += f" ({event.file_index} of {event.file_count})"
        if event.stage == "page" and event.pages:
            bar.progress(min(1.0, event.page / event.pages), text=f"{label}: page {event.page} of {event.pages}")
        elif event.stage == "transcribe" and event.total_seconds:
            bar.progress(min(1.0, event.seconds / event.total_seconds), text=f"{label}: transcribed "
                         f"{format_timestamp(event.seconds)} of {format_timestamp(event.total_seconds)}")

    return on_progress


def show_result(result: IngestResult, name: str) -> None:
    """One file's outcome, as a success, info or error line."""
    if result.status == "indexed":
        extra = f", {result.fallback_pages} pages needed a fallback" if result.fallback_pages else ""
        size = f"{result.pages} pages, " if result.kind == "pdf" else ""
        st.success(safe_markdown(f"{name}: {size}{result.chunks} passages{extra}."))
    elif result.status == "skipped":
        st.info(safe_markdown(f"{name} is already in the library."))
    else:
        show_error(AssistantError(result.error if name in result.error else f"{name}: {result.error}"))
    for warning in result.warnings:  # e.g. "read with repairs", "only its sound track is used"
        st.caption(":orange[:material/warning:] " + safe_markdown(warning))


def library_panel(services: Services, password: str) -> None:
    """Interrupted indexing (with Finish interrupted), the library table, and Re-index / Delete of one document."""
    lib = services.documents
    if pending := lib.pending():  # e.g. the user left this page while a file was being indexed
        st.warning("Not searchable yet, indexing was interrupted: " + safe_markdown(", ".join(d.name for d in pending))
                   + ". "
                   "**Finish interrupted** indexes them again in the background (you can leave the page).")
        # Drawn above the table, so the table below already shows the finished documents (no rerun needed).
        if st.button("Finish interrupted", key="documents.resume"):
            finish_interrupted(services)
    documents = lib.list_documents()
    if not documents:
        st.info("No documents yet. Add files above.")
        demo_button(services)
        return
    st.dataframe(
        [{"name": d.name, "kind": d.kind, "pages": d.pages, "chunks": d.chunks, "status": d.status,
          "added": dt.datetime.fromtimestamp(d.added_at).strftime("%Y-%m-%d %H:%M"),
          "fallback pages": d.fallback_pages, "id": d.id} for d in documents],
        hide_index=True, width="stretch",
    )
    labels = {d.id: f"{d.name} ({d.id})" for d in documents}
    chosen = st.selectbox("Document", list(labels), format_func=lambda i: labels[i], key="documents.chosen")
    if chosen is None:  # never: the list is not empty
        return
    document_tables_panel(services, chosen)  # tables found inside it: loaded as data, or skipped and why
    col_reindex, col_delete = st.columns(2)
    try:
        if col_reindex.button("Re-index", width="stretch"):
            bar = st.progress(0.0, text="Re-indexing…")
            result = lib.reindex(chosen, password=password or None, progress=page_progress(bar))
            bar.empty()
            if result.status == "indexed":
                st.success(result.error or "Re-indexed.")
            else:
                show_error(AssistantError(result.error or "Re-indexed."))
        if col_delete.button("Delete", width="stretch"):
            services.delete_document(chosen)  # recorded
            st.rerun()
    except AssistantError as exc:
        show_error(exc)


def finish_interrupted(services: Services) -> None:
    """Queue the interrupted documents' indexing as a background job, shown like an upload's (it goes on if the
    page is left)."""
    try:
        job = services.jobs.submit_resume()
    except AssistantError as exc:
        show_error(exc)
        return
    st.session_state[KEY_JOBS] = [*st.session_state.get(KEY_JOBS, []), job.id]
    start_background_jobs(services)


def search_panel(lib: DocumentLibrary) -> None:
    """Search the library without a model: the passages found, a recording playing from the passage's moment."""
    query = st.text_input("Search your documents (no language model)", key=KEY_QUERY)
    k = st.slider("Chunks to retrieve", 1, 20, 5, key="documents.k",
                  help="Close chunks of one page are shown together, as one passage.")
    if not query.strip():
        return
    passages = lib.search(query, k=k)
    if not passages:
        st.warning("Not in your documents.")
    for n, p in enumerate(passages, start=1):
        with st.container(border=True):
            show_passage(lib, n, p)


def show_passage(lib: DocumentLibrary, n: int, p: Passage) -> None:
    """One search hit: where it is, its scores, a note when it holds instructions, its text, its recording."""
    st.markdown(f"**\\[{n}\\] {safe_markdown(place(p))}** · score {p.score:.4f} · similarity {p.similarity:.2f}")
    if p.suspicious:
        st.caption(":material/warning: This passage contains instructions aimed at a model; "
                   "it is shown as data only.")
    st.text(p.text)
    if p.start_s is not None:
        try:
            stored = lib.file_path(p.doc_id)
            st.audio(str(stored), format=mime_type(stored), start_time=int(p.start_s))
        except AssistantError as exc:
            show_error(exc)
