"""How the chat draws a stored message: the text (a long one collapsed), the tool steps, citations, notices,
the model's timings, attachments; and the failed, stopped or interrupted state of an answer."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.container import Services
from app.errors import AssistantError
from app.evaluation.numbers import UNTRACED_MARK
from app.ui.chat_citations import render_citations
from app.ui.common import report_render_error, safe_markdown, show_error, show_error_note
from multimodal.kinds import content_kind, read_head
from storage.conversations import ERROR, INTERRUPTED, STOPPED, STREAMING, Message

# A message longer than this is shown collapsed: a 20,000-character paste was a wall of text in the chat.
COLLAPSE_CHARS, COLLAPSE_LINES = 1_200, 15
_STEP_ICONS = {"search_documents": ":material/manage_search:", "run_sql": ":material/table_chart:",
               "describe_image": ":material/image:", "read_transcript": ":material/graphic_eq:",
               "index_document": ":material/description:", "load_table": ":material/upload_file:"}

_STATUS_NOTE = {
    STOPPED: ":material/stop_circle: Stopped — the partial answer is kept.",
    INTERRUPTED: ":material/warning: Interrupted (the app stopped while answering) — the partial answer is kept.",
    STREAMING: ":material/hourglass_top: Still being written in another tab…",
}
# A turn stopped (or cut off) before its first word: "the partial answer is kept" would point at nothing.
_EMPTY_STATUS_NOTE = {
    STOPPED: ":material/stop_circle: Stopped before any answer was written — use Regenerate to ask again.",
    INTERRUPTED: ":material/warning: Interrupted before any answer was written (the page was closed or the app "
                 "stopped) — use Regenerate to ask again.",
}


def render_message(services: Services, message: Message) -> None:
    """One stored message with its model, timings, notices and status.

    No stored message may make a conversation unopenable: whatever fails to draw is named, recorded
    for Monitoring, and the rest of the conversation is drawn as usual."""
    with st.chat_message(message.role if message.role in ("user", "assistant") else "assistant"):
        try:
            _render_message_body(services, message)
        except Exception as exc:  # noqa: BLE001 - see the docstring; the error is recorded, not hidden
            report_render_error(services, "chat message", exc, conversation_id=message.conversation_id)
            show_error_note(f"Part of this message could not be shown ({type(exc).__name__}). The rest of the "
                            "conversation is unaffected.")


def _render_message_body(services: Services, message: Message) -> None:
    if message.content and message.role == "user":
        user_text(message.content)
    elif message.content:
        # A number the sources do not hold is marked in the saved answer; the mark is drawn so it stands out.
        st.markdown(safe_markdown(message.content).replace(UNTRACED_MARK, f" :orange[{UNTRACED_MARK.strip()}]"))
    meta = message.meta if isinstance(message.meta, dict) else {}
    if message.role == "assistant":
        if message.status == ERROR:
            show_error(AssistantError(str(meta.get("error", "The answer failed.")), str(meta.get("hint") or "")))
        elif message.status in _STATUS_NOTE:
            notes = _STATUS_NOTE if message.content.strip() else {**_STATUS_NOTE, **_EMPTY_STATUS_NOTE}
            st.caption(notes[message.status])
        render_steps(message)
        render_citations(services, message)
        for notice in meta.get("notices") or []:
            if notice.startswith("Guardrail"):
                st.caption(":orange[:material/shield:] " + safe_markdown(notice))
            else:
                st.caption(":material/info: " + safe_markdown(notice))
        if meta.get("model"):
            st.caption(safe_markdown(_stats_line(meta)))
    elif meta.get("attachments"):
        render_attachments(services, message.id, meta["attachments"])


def render_attachments(services: Services, message_id: str, refs: list[dict]) -> None:
    """Thumbnails of attached images, a player for recordings, and a button to add them to the documents."""
    for i, ref in enumerate(refs):
        path = ref.get("path")
        name = ref.get("name", "file")
        if not (path and Path(path).exists()):
            st.caption(":material/attach_file: " + safe_markdown(name))
            continue
        # Only the head is read on a rerun; the player and the image read the file themselves.
        kind = content_kind(read_head(Path(path)))
        if kind == "image":
            st.image(path, caption=name, width=240)
        elif kind == "audio":
            st.caption(":material/mic: " + safe_markdown(name))
            st.audio(path)
        else:
            icon = {"pdf": ":material/description:", "table": ":material/table_chart:"}.get(
                ref.get("kind", ""), ":material/attach_file:")
            st.caption(f"{icon} " + safe_markdown(name))
            continue
        if st.button("Add to documents", icon=":material/library_add:", key=f"chat.keep.{message_id}.{i}",
                     help="Index its text (OCR or transcript) so later questions can cite it."):
            with st.spinner(f"Adding {name} to your documents…"):
                result = services.documents.ingest_bytes(Path(path).read_bytes(), name)
            if result.status == "error":
                show_error(AssistantError(result.error))
            else:
                st.success(safe_markdown(f"{name} is in your documents ({result.chunks} passage(s))."))


def user_text(text: str) -> None:
    """A user's message; a long one shows its first lines and the rest in an expander."""
    lines = text.splitlines()
    if len(text) <= COLLAPSE_CHARS and len(lines) <= COLLAPSE_LINES:
        st.markdown(safe_markdown(text))
        return
    head = "\n".join(lines[:8])
    if len(head) > 600:
        cut = head.rfind(" ", 0, 600)
        head = head[:cut if cut > 300 else 600]
    st.markdown(safe_markdown(head + " …"))
    with st.expander(f"Show the whole message ({len(text):,} characters, {len(lines):,} line(s))",
                     icon=":material/unfold_more:"):
        st.markdown(safe_markdown(text[len(head):].lstrip()))


def _stats_line(meta: dict) -> str:
    parts = [meta["model"], "sees images" if meta.get("vision") else "text only"]
    if (meta.get("load_s") or 0) > 0.5:
        parts.append(f"model loaded in {meta['load_s']:.1f} s")
    if meta.get("ttft_s") is not None:
        parts.append(f"first token {meta['ttft_s']:.1f} s")
    if meta.get("total_s"):
        parts.append(f"total {meta['total_s']:.1f} s")
    if meta.get("tokens_out"):
        parts.append(f"{meta.get('tokens_in', 0)} → {meta['tokens_out']} tokens")
    return " · ".join(parts)


def step_line(step: dict) -> str:
    """One step as a line: tool, input, result, time."""
    icon = _STEP_ICONS.get(step["name"], ":material/build:")
    state = ":green[:material/check:]" if step.get("ok") else ":red[:material/close:]"
    if step.get("running"):
        state = ":material/hourglass_top:"
    text = f"{state} {icon} **{step['name']}** · " + safe_markdown(str(step.get("input", ""))[:160])
    if not step.get("running"):
        text += " → " + safe_markdown(str(step.get("output", ""))) + f" ({step.get('seconds', 0):.2f} s)"
        if step.get("error"):
            text += "  \n:red[" + safe_markdown(str(step["error"])) + "]"
    return text


def render_step(step: dict) -> None:
    """A finished step with what came back (the SQL on one line, passages, text read).

    An SQL step's rows are not drawn here: the answer's SQL citation shows them once, with a chart."""
    if step.get("sql") and step.get("columns") is not None:
        # The output sentence repeats the first rows in words; the row count is enough next to the citation.
        st.markdown(step_line({**step, "output": f"{step.get('row_count', 0)} row(s)"}))
    else:
        st.markdown(step_line(step))
    if step.get("sql"):
        st.code(" ".join(str(step["sql"]).split()), language="sql", wrap_lines=True)
    if step.get("passages"):
        st.caption(safe_markdown(" · ".join(f"{p['source']} p.{p['page']}" for p in step["passages"][:8])))
    if step.get("text"):
        st.caption(safe_markdown(step["text"][:400] + ("…" if len(step["text"]) > 400 else "")))


def render_steps(message: Message) -> None:
    """The tools a turn used, collapsed: which tool, with what input, how long, what came back."""
    steps = message.meta.get("tools") or []
    if not steps:
        return
    failed = sum(not s.get("ok") for s in steps)
    label = f"{len(steps)} step(s)" + (f", {failed} failed" if failed else "")
    with st.expander(label, icon=":material/checklist:"):
        for step in steps:
            render_step(step)
