"""How the chat shows what an answer cites: an SQL result, a moment in a recording, an image, a PDF page, a
paragraph of a Word file or web page, a slide, or lines of a text file (highlighted in context, escaped).

A citation that cannot be shown says so in one line; the rest of the conversation is drawn as usual."""

from __future__ import annotations

import html
from pathlib import Path

import streamlit as st

from app.container import Services
from app.errors import AssistantError
from app.ui.common import report_render_error, safe_markdown, show_error, show_error_note
from app.ui.results import render_sql_result
from multimodal.kinds import SECTION_KINDS, mime_type
from multimodal.pdf_render import render_page
from storage.attachments import AttachmentStore
from storage.conversations import Message


def render_citations(services: Services, message: Message) -> None:
    """Each citation opens its passage: a recording plays from the cited moment, an image shows itself,
    a PDF passage shows its page; SQL shows query and rows. A citation that cannot be shown says so
    instead of breaking the conversation."""
    for index, cite in enumerate(message.meta.get("citations") or []):
        if not isinstance(cite, dict):
            continue
        kind = cite.get("kind", "pdf")
        try:
            if kind == "sql":
                render_sql_citation(cite, f"{message.id}.{index}")
            elif kind in ("audio", "image"):
                render_media_citation(services, cite, f"{message.id}.{index}")
            elif kind in SECTION_KINDS:
                render_section_citation(services, cite, f"{message.id}.{index}")
            else:
                render_pdf_citation(services, cite, f"{message.id}.{index}")
        except Exception as exc:  # noqa: BLE001 - one damaged citation must not make the conversation unopenable
            report_render_error(services, "chat citation", exc, conversation_id=message.conversation_id)
            show_error_note(f"Citation {cite.get('n', index + 1)} could not be shown ({type(exc).__name__}).")


def render_sql_citation(cite: dict, key: str) -> None:
    """An SQL result the answer cites: the query, its rows and a chart — the one place a turn shows them."""
    origin = f" {cite['origin']}" if cite.get("origin") else ""  # a table taken from a document: its page
    with st.expander(safe_markdown(f"[{cite.get('label', cite.get('n', ''))}] SQL result{origin} · "
                                   f"{cite.get('row_count', 0)} row(s)"),
                     icon=":material/table_chart:"):
        render_sql_result(cite.get("sql", ""), cite.get("columns") or [], cite.get("rows") or [],
                          int(cite.get("row_count") or 0), key=f"chat.sql.{key}", types=cite.get("types"),
                          truncated=bool(cite.get("truncated")), question=cite.get("question", ""))


def render_media_citation(services: Services, cite: dict, key: str) -> None:
    """A moment in a recording (played from there) or an image; the transcript or text read on request.

    Recordings attached to a question are cited from the attachment (no document id): they play from the
    stored attachment; indexed recordings and images play from the document library."""
    kind = cite.get("kind")
    source = cite.get("source", "recording" if kind == "audio" else "image")
    if kind == "audio":
        label = f"[{cite.get('n', '')}] {source}" + (f" @ {cite['timestamp']}" if cite.get("timestamp") else "")
        icon = ":material/graphic_eq:"
    else:
        label, icon = f"[{cite.get('n', '')}] {source}", ":material/image:"
    with st.expander(safe_markdown(label), icon=icon):
        if cite.get("quote"):
            st.markdown(safe_markdown(f"> {cite['quote']}"))
        _render_removed(cite)
        stored = _media_path(services, cite)
        if stored is None:
            st.caption("The file itself is no longer stored; the quoted text above is what was cited.")
        elif kind == "audio":
            st.audio(str(stored), format=mime_type(stored), start_time=int(cite.get("start") or 0))
        else:
            st.image(str(stored), caption=source, width=320)
        doc_id = cite.get("doc_id")
        if not doc_id:
            return  # an attachment: its transcript is in the conversation, not in the library
        toggle = "Show the transcript" if kind == "audio" else "Show the text read"
        if st.toggle(toggle, key=f"chat.page.{key}"):
            try:
                page = services.documents.page_text(doc_id, cite.get("page") or 1)
            except AssistantError as exc:
                show_error(exc)
                return
            st.html(highlighted_page(page, int(cite.get("char_start") or 0), int(cite.get("char_end") or 0)))


def section_label(cite: dict) -> str:
    """'[2] report.docx › 3.2 Revenue ¶4', '[1] deck.pptx, slide 7' or '[3] notes.md › Setup (lines 12–30)'."""
    source, locator = cite.get("source", "document"), str(cite.get("locator") or "")
    if not locator:
        return f"[{cite.get('n', '')}] {source}"
    return f"[{cite.get('n', '')}] {source}" + (f", {locator}" if locator.startswith("slide ") else f" › {locator}")


def render_section_citation(services: Services, cite: dict, key: str) -> None:
    """A passage of a Word, PowerPoint, HTML, text or e-mail document: the quote, and on request its section,
    slide or lines with the passage highlighted (as escaped text: nothing from the file is rendered as HTML)."""
    icon = ":material/slideshow:" if cite.get("kind") == "pptx" else ":material/article:"
    with st.expander(safe_markdown(section_label(cite)), icon=icon):
        st.markdown(safe_markdown(f"> {cite.get('quote', '')}"))
        _render_removed(cite)
        doc_id = cite.get("doc_id")
        what = "slide" if cite.get("kind") == "pptx" else "section"
        if not doc_id or not st.toggle(f"Show the {what}", key=f"chat.page.{key}"):
            return
        try:
            text = services.documents.page_text(doc_id, int(cite.get("page") or 1))
        except AssistantError as exc:
            show_error(exc)
            return
        st.html(highlighted_page(text, int(cite.get("char_start") or 0), int(cite.get("char_end") or 0)))


def _media_path(services: Services, cite: dict) -> Path | None:
    """Where the cited recording or image is stored: the library (doc_id) or the attachments folder (sha256)."""
    if cite.get("doc_id"):
        try:
            return services.documents.file_path(cite["doc_id"])
        except AssistantError:
            return None
    return AttachmentStore.in_data_dir(services.settings.data_dir).path(str(cite.get("sha256") or ""))


def render_pdf_citation(services: Services, cite: dict, key: str) -> None:
    """A passage of a document: the quote, and on request its page drawn as an image with the passage
    highlighted; the page's extracted text (highlighted too) is a second view, and the only one when the
    page cannot be drawn (a password-protected or missing file says so)."""
    with st.expander(safe_markdown(f"[{cite.get('n', '')}] {cite.get('source', 'document')}, "
                                   f"page {cite.get('page', '?')}"), icon=":material/description:"):
        st.markdown(safe_markdown(f"> {cite.get('quote', '')}"))
        _render_removed(cite)
        doc_id = cite.get("doc_id")
        if not doc_id or not st.toggle("Show the page", key=f"chat.page.{key}"):
            return
        number = int(cite.get("page") or 1)
        start, end = int(cite.get("char_start") or 0), int(cite.get("char_end") or 0)
        text: str | None = None
        text_error: AssistantError | None = None
        try:
            text = services.documents.page_text(doc_id, number)
        except AssistantError as exc:
            text_error = exc
        # The index's own passage (the quote is cut at 300 characters) is what gets located on the page.
        passage = text[start:end] if text and end > start else str(cite.get("quote", "")).rstrip("…")
        try:
            drawn = render_page(services.documents.file_path(doc_id), number, passage,
                                name=str(cite.get("source") or ""))
        except AssistantError as exc:
            drawn = None
            show_error_note(exc.message + (" The page's extracted text is shown instead." if text is not None else ""))
        if drawn is not None:
            # PNG, not the JPEG Streamlit would pick: small text stays sharp.
            alt = f"Page {number} of {cite.get('source', 'the document')}"
            st.image(drawn.png, width="stretch", output_format="PNG",
                     alt=alt + (", the cited passage highlighted" if drawn.highlighted else ""))
            if drawn.note:
                st.caption(":material/info: " + safe_markdown(drawn.note))
            if not st.toggle("Show the extracted text", key=f"chat.pagetext.{key}"):
                return
        if text_error is not None:
            show_error(text_error)
        elif text is not None:
            st.html(highlighted_page(text, start, end))


def _render_removed(cite: dict) -> None:
    """Sentences cut from the passage before the model read it (they read as instructions to the assistant)."""
    if cite.get("removed"):
        st.caption(":material/block: Removed before the model read this passage (it reads as instructions to "
                   "the assistant; […] marks where):")
        st.markdown(safe_markdown("\n".join(f"- {sentence}" for sentence in cite["removed"])))


def highlighted_page(page: str, start: int, end: int, context: int = 500) -> str:
    """The page text around a passage, with the passage marked; the passage is always in view."""
    lo, hi = max(0, start - context), min(len(page), end + context)
    before = ("…" if lo else "") + html.escape(page[lo:start])
    after = html.escape(page[end:hi]) + ("…" if hi < len(page) else "")
    return ('<div style="white-space: pre-wrap; font-size: 0.9em; max-height: 24em; overflow-y: auto">'
            f"{before}<mark>{html.escape(page[start:end])}</mark>{after}</div>")
