"""Documents: add PDFs, images and recordings (progress per file, page or transcribed minute), the library
table, delete, re-index, search (recordings cited and played at a timestamp)."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from app.errors import AssistantError
from app.services.ingest_media import UPLOAD_TYPES, media_type
from app.services.search import place
from app.services.transcribe import format_timestamp
from app.ui import get_services, show_error

KEY_QUERY = "documents.query"

lib = get_services().documents
st.title("Documents")
st.caption("PDFs, images (the text in them) and recordings (their transcript) are indexed on this machine; "
           "answers cite the file and page, or the moment in the recording.")

with st.form("documents.upload", clear_on_submit=True):
    uploads = st.file_uploader("Add PDFs, images or recordings", type=UPLOAD_TYPES, accept_multiple_files=True)
    password = st.text_input("Password (only for encrypted PDFs)", type="password")
    submitted = st.form_submit_button("Add to library", type="primary")

if submitted and uploads:
    overall = st.progress(0.0, text=f"0 of {len(uploads)} files")
    for n, upload in enumerate(uploads, start=1):
        bar = st.progress(0.0, text=upload.name)

        def on_progress(event, bar=bar, name=upload.name) -> None:  # noqa: ANN001 - IngestProgress
            if event.stage == "page" and event.pages:
                bar.progress(event.page / event.pages, text=f"{name}: page {event.page} of {event.pages}")
            elif event.stage == "transcribe" and event.total_seconds:
                bar.progress(min(1.0, event.seconds / event.total_seconds), text=f"{name}: transcribed "
                             f"{format_timestamp(event.seconds)} of {format_timestamp(event.total_seconds)}")

        result = lib.ingest_bytes(upload.getvalue(), upload.name, password or None, on_progress, n, len(uploads))
        bar.empty()
        if result.status == "indexed":
            extra = f", {result.fallback_pages} pages needed a fallback" if result.fallback_pages else ""
            size = f"{result.pages} pages, " if result.kind == "pdf" else ""
            st.success(f"{upload.name}: {size}{result.chunks} passages{extra}.")
        elif result.status == "skipped":
            st.info(f"{upload.name} is already in the library.")
        else:
            st.error(result.error if upload.name in result.error else f"{upload.name}: {result.error}")
        overall.progress(n / len(uploads), text=f"{n} of {len(uploads)} files")

documents = lib.list_documents()
st.subheader("Library")
if pending := lib.pending():  # e.g. the user left this page while a file was being indexed
    st.warning(f"Not searchable yet, indexing was interrupted: {', '.join(d.name for d in pending)}. "
               "Press **Finish interrupted** below (keep this page open while files are indexed).")
if not documents:
    st.info("No documents yet. Add files above.")
else:
    st.dataframe(
        [{"name": d.name, "kind": d.kind, "pages": d.pages, "chunks": d.chunks, "status": d.status,
          "added": dt.datetime.fromtimestamp(d.added_at).strftime("%Y-%m-%d %H:%M"),
          "fallback pages": d.fallback_pages, "id": d.id} for d in documents],
        hide_index=True, width="stretch",
    )
    labels = {d.id: f"{d.name} ({d.id})" for d in documents}
    chosen = st.selectbox("Document", list(labels), format_func=labels.get, key="documents.chosen")
    col_reindex, col_delete, col_resume = st.columns(3)
    try:
        if col_reindex.button("Re-index", width="stretch"):
            with st.spinner("Re-indexing…"):
                result = lib.reindex(chosen, password=password or None)
            (st.success if result.status == "indexed" else st.error)(result.error or "Re-indexed.")
        if col_delete.button("Delete", width="stretch"):
            lib.delete(chosen)
            st.rerun()
        if lib.pending() and col_resume.button("Finish interrupted", width="stretch"):
            with st.spinner("Indexing interrupted documents…"):
                lib.resume()
            st.rerun()
    except AssistantError as exc:
        show_error(exc)

st.subheader("Search")
query = st.text_input("Search your documents (no language model)", key=KEY_QUERY)
k = st.slider("Passages", 1, 20, 5, key="documents.k")
if query.strip():
    passages = lib.search(query, k=k)
    if not passages:
        st.warning("Not in your documents.")
    for n, p in enumerate(passages, start=1):
        with st.container(border=True):
            st.markdown(f"**[{n}] {place(p)}** · score {p.score:.4f} · similarity {p.similarity:.2f}")
            if p.suspicious:
                st.caption(":material/warning: This passage contains instructions aimed at a model; "
                           "it is shown as data only.")
            st.text(p.text)
            if p.start_s is not None:
                try:
                    stored = lib.file_path(p.doc_id)
                    st.audio(str(stored), format=media_type(stored), start_time=int(p.start_s))
                except AssistantError as exc:
                    show_error(exc)
