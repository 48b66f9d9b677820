"""Widgets of the Chat page: conversation list, message rendering, model picker, streaming a turn."""

from __future__ import annotations

import html
from pathlib import Path

import streamlit as st

from app.chat.export import conversation_markdown
from app.container import Services
from app.errors import AssistantError
from app.llm.selector import ModelSpec, embedded_choices
from app.ui.common import KEY_CONVERSATION, KEY_MODEL_CHOICE, progress_reporter, report_render_error, show_error
from multimodal.kinds import content_kind, mime_type, read_head
from storage.attachments import AttachmentStore
from storage.conversations import ERROR, INTERRUPTED, STOPPED, STREAMING, Message, Scope

KEY_PENDING = "chat.pending"  # a regenerate or edited question waiting to be sent
KEY_NEW_SCOPE = "chat.scope.new"  # documents and tables chosen before the conversation exists
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


def conversation_sidebar(services: Services) -> str | None:
    """List, create, rename and delete conversations; returns the selected id."""
    store = services.conversations
    conversations = store.list()
    current = st.session_state.get(KEY_CONVERSATION)
    if current and current not in {c.id for c in conversations}:
        current = None  # deleted, maybe in another tab
    st.sidebar.subheader("Conversations")
    if st.sidebar.button("New conversation", icon=":material/add:", width="stretch"):
        # An untouched "New conversation" is reused: clicking twice must not list two empty ones.
        current = _empty_conversation(store, conversations) or store.create().id
        conversations = store.list()
    if current is None and conversations:
        current = conversations[0].id
    st.session_state[KEY_CONVERSATION] = current
    for conv in conversations[:50]:
        label = conv.title
        kind = "primary" if conv.id == current else "secondary"
        if st.sidebar.button(label, key=f"chat.open.{conv.id}", type=kind, width="stretch"):
            st.session_state[KEY_CONVERSATION] = conv.id
            st.rerun()
    if current:
        with st.sidebar.popover("Rename, export or delete", width="stretch"):
            title = st.text_input("Title", value=store.get(current).title, key=f"chat.title.{current}")
            if st.button("Rename", key="chat.rename"):
                try:
                    store.rename(current, title)
                    st.rerun()
                except AssistantError as exc:
                    show_error(exc)
            # Built only when clicked (a callable): a long conversation is not rendered to Markdown on every rerun.
            st.download_button(
                "Export as Markdown", lambda: conversation_markdown(store, current), file_name="conversation.md",
                mime="text/markdown", icon=":material/download:", key="chat.export",
            )
            if st.button("Delete this conversation", type="primary", key="chat.delete"):
                services.delete_conversation(current)
                st.session_state[KEY_CONVERSATION] = None
                st.rerun()
    return current


def _empty_conversation(store, conversations) -> str | None:  # noqa: ANN001 - ConversationStore, list
    """The newest conversation that still has its default title and no message, if any."""
    for conv in conversations:  # most recently active first
        if conv.title == "New conversation" and not store.messages(conv.id):
            return conv.id
    return None


@st.cache_data(ttl=300, show_spinner=False)
def _embedded_choices(configured: str) -> dict[str, str]:
    # Checking ~30 installed packages on every rerun is wasted I/O; installs change rarely.
    return embedded_choices(configured)


def model_picker(services: Services) -> None:
    """Per-session model choice: follow Settings, an embedded model, or a pulled Ollama model."""
    options: dict[str, str | None] = {"As in Settings": None}  # label -> model spec (read by model_choice())
    for key, label in _embedded_choices(services.settings.embedded_model).items():
        options[f"Embedded · {label}"] = str(ModelSpec("embedded", key))
    status = services.router.ollama_status()
    for name in status.models:
        options[f"Ollama · {name}"] = str(ModelSpec("ollama", name))
    current = st.session_state.get(KEY_MODEL_CHOICE)
    labels = list(options)
    index = next((i for i, v in enumerate(options.values()) if v == current), 0)
    picked = st.sidebar.selectbox("Model for this session", labels, index=index, key="chat.model_picker")
    st.session_state[KEY_MODEL_CHOICE] = options[picked]


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
            else:
                render_pdf_citation(services, cite, f"{message.id}.{index}")
        except Exception as exc:  # noqa: BLE001 - one damaged citation must not make the conversation unopenable
            report_render_error(services, "chat citation", exc, conversation_id=message.conversation_id)
            st.caption(f":orange[:material/warning:] Citation {cite.get('n', index + 1)} could not be shown "
                       f"({type(exc).__name__}).")


def render_sql_citation(cite: dict, key: str) -> None:
    """An SQL result the answer cites: the query, its rows and a chart — the one place a turn shows them."""
    from app.ui.results import render_sql_result

    with st.expander(f"[{cite.get('label', cite.get('n', ''))}] SQL result · {cite.get('row_count', 0)} row(s)",
                     icon=":material/table_chart:"):
        render_sql_result(cite.get("sql", ""), cite.get("columns") or [], cite.get("rows") or [],
                          int(cite.get("row_count") or 0), key=f"chat.sql.{key}", types=cite.get("types"),
                          truncated=bool(cite.get("truncated")))


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
    with st.expander(label, icon=icon):
        if cite.get("quote"):
            st.markdown(f"> {cite['quote']}")
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
    from multimodal.pdf_render import render_page

    with st.expander(f"[{cite.get('n', '')}] {cite.get('source', 'document')}, page {cite.get('page', '?')}",
                     icon=":material/description:"):
        st.markdown(f"> {cite.get('quote', '')}")
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
            st.caption(f":orange[:material/warning:] {exc.message}"
                       + (" The page's extracted text is shown instead." if text is not None else ""))
        if drawn is not None:
            # PNG, not the JPEG Streamlit would pick: small text stays sharp.
            alt = f"Page {number} of {cite.get('source', 'the document')}"
            st.image(drawn.png, width="stretch", output_format="PNG",
                     alt=alt + (", the cited passage highlighted" if drawn.highlighted else ""))
            if drawn.note:
                st.caption(f":material/info: {drawn.note}")
            if not st.toggle("Show the extracted text", key=f"chat.pagetext.{key}"):
                return
        if text_error is not None:
            show_error(text_error)
        elif text is not None:
            st.html(highlighted_page(text, start, end))


def highlighted_page(page: str, start: int, end: int, context: int = 500) -> str:
    """The page text around a passage, with the passage marked; the passage is always in view."""
    lo, hi = max(0, start - context), min(len(page), end + context)
    before = ("…" if lo else "") + html.escape(page[lo:start])
    after = html.escape(page[end:hi]) + ("…" if hi < len(page) else "")
    return ('<div style="white-space: pre-wrap; font-size: 0.9em; max-height: 24em; overflow-y: auto">'
            f"{before}<mark>{html.escape(page[start:end])}</mark>{after}</div>")


def render_rows(columns: list[str], rows: list[list], total: int) -> None:
    """A small result table (numbers keep their decimals), with how many rows exist in all."""
    from app.ui.results import render_rows as render_result_rows

    if columns:
        render_result_rows(columns, rows, total)
    elif total > len(rows):
        st.caption(f"First {len(rows)} of {total} row(s).")


def step_line(step: dict) -> str:
    """One step as a line: tool, input, result, time."""
    icon = _STEP_ICONS.get(step["name"], ":material/build:")
    state = ":green[:material/check:]" if step.get("ok") else ":red[:material/close:]"
    if step.get("running"):
        state = ":material/hourglass_top:"
    text = f"{state} {icon} **{step['name']}** · {html.escape(str(step.get('input', '')))[:160]}"
    if not step.get("running"):
        text += f" → {step.get('output', '')} ({step.get('seconds', 0):.2f} s)"
        if step.get("error"):
            text += f"  \n:red[{step['error']}]"
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
        st.caption(" · ".join(f"{p['source']} p.{p['page']}" for p in step["passages"][:8]))
    if step.get("text"):
        st.caption(step["text"][:400] + ("…" if len(step["text"]) > 400 else ""))


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


def message_actions(services: Services, conversation_id: str, messages: list[Message]) -> None:
    """Under the last answer: regenerate, edit and resend the question, copy the answer."""
    if len(messages) < 2 or messages[-1].role != "assistant" or messages[-1].status == STREAMING:
        return
    question = next((m for m in reversed(messages) if m.role == "user"), None)
    if question is None:
        return
    answer = messages[-1]
    row = st.container(horizontal=True)
    if row.button("Regenerate", icon=":material/refresh:", key="chat.regenerate"):
        st.session_state[KEY_PENDING] = {"from": question.id, "text": question.content,
                                         "attachments": question.meta.get("attachments") or []}
        st.rerun()
    with row.popover("Edit", icon=":material/edit:"):
        edited = st.text_area("Question", value=question.content, key=f"chat.edit.{question.id}")
        if st.button("Send", icon=":material/send:", key="chat.edit.send", disabled=not edited.strip()):
            st.session_state[KEY_PENDING] = {"from": question.id, "text": edited,
                                             "attachments": question.meta.get("attachments") or []}
            st.rerun()
    with row.popover("Copy", icon=":material/content_copy:"):
        st.caption("Use the copy button at the top right of the box.")
        st.code(answer.content or "", language=None, wrap_lines=True)


def unanswered_question(services: Services, conversation_id: str, messages: list[Message]) -> None:
    """A last question without an answer: still being answered (another tab, or before a reload), or lost.

    Either way the user sees a state and a way on, never a bare question: a running turn is watched
    and the page refreshes when its answer is saved; a lost one (the app stopped) can be asked again."""
    if not messages or messages[-1].role != "user":
        return
    question = messages[-1]
    names = [ref.get("name", "") for ref in question.meta.get("attachments") or [] if isinstance(ref, dict)]
    if services.assistant.is_in_flight(conversation_id, question.content, names):
        _watch_running_turn(services, conversation_id, question.content, names)
        return
    with st.chat_message("assistant"):
        st.warning("No answer was saved for this question: the app stopped or the page was closed while it "
                   "was being answered.", icon=":material/warning:")
        if st.button("Ask again", icon=":material/refresh:", key="chat.ask_again"):
            st.session_state[KEY_PENDING] = {"from": question.id, "text": question.content,
                                             "attachments": question.meta.get("attachments") or []}
            st.rerun()


def _watch_running_turn(services: Services, conversation_id: str, question: str, names: list[str]) -> None:
    @st.fragment(run_every=2)
    def watch() -> None:
        if not services.assistant.is_in_flight(conversation_id, question, names):
            st.rerun(scope="app")  # the answer is saved: draw the conversation with it
        with st.chat_message("assistant"):
            st.info("Still being answered (the question was sent before a reload or from another tab); the "
                    "answer appears here when it is ready.", icon=":material/hourglass_top:")

    watch()


def take_pending(services: Services, conversation_id: str) -> tuple[str, list[tuple[str, bytes]]] | None:
    """A regenerate or edit waiting to be sent: drops the old question and answer, returns what to ask."""
    pending = st.session_state.pop(KEY_PENDING, None)
    if not pending:
        return None
    files = []
    for ref in pending["attachments"]:
        path = Path(ref.get("path", ""))
        if path.is_file():
            files.append((ref.get("name", path.name), path.read_bytes()))
    try:
        services.conversations.delete_from(conversation_id, pending["from"])
    except AssistantError as exc:
        show_error(exc)
        return None
    return pending["text"], files


def render_message(services: Services, message: Message) -> None:
    """One stored message with its model, timings, notices and status.

    No stored message may make a conversation unopenable: whatever fails to draw is named, recorded
    for Monitoring, and the rest of the conversation is drawn as usual."""
    with st.chat_message(message.role if message.role in ("user", "assistant") else "assistant"):
        try:
            _render_message_body(services, message)
        except Exception as exc:  # noqa: BLE001 - see the docstring; the error is recorded, not hidden
            report_render_error(services, "chat message", exc, conversation_id=message.conversation_id)
            st.warning(f"Part of this message could not be shown ({type(exc).__name__}). The rest of the "
                       "conversation is unaffected.", icon=":material/warning:")


def _render_message_body(services: Services, message: Message) -> None:
    if message.content and message.role == "user":
        user_text(message.content)
    elif message.content:
        st.markdown(message.content)
    meta = message.meta if isinstance(message.meta, dict) else {}
    if message.role == "assistant":
        if message.status == ERROR:
            error = f"**{meta.get('error', 'The answer failed.')}**\n\n{meta.get('hint', '')}"
            st.error(error, icon=":material/error:")
        elif message.status in _STATUS_NOTE:
            notes = _STATUS_NOTE if message.content.strip() else {**_STATUS_NOTE, **_EMPTY_STATUS_NOTE}
            st.caption(notes[message.status])
        render_steps(message)
        render_citations(services, message)
        for notice in meta.get("notices") or []:
            if notice.startswith("Guardrail"):
                st.caption(f":orange[:material/shield:] {notice}")
            else:
                st.caption(f":material/info: {notice}")
        if meta.get("model"):
            st.caption(_stats_line(meta))
    elif meta.get("attachments"):
        render_attachments(services, message.id, meta["attachments"])


def render_attachments(services: Services, message_id: str, refs: list[dict]) -> None:
    """Thumbnails of attached images, a player for recordings, and a button to add them to the documents."""
    for i, ref in enumerate(refs):
        path = ref.get("path")
        name = ref.get("name", "file")
        if not (path and Path(path).exists()):
            st.caption(f":material/attach_file: {name}")
            continue
        # Only the head is read on a rerun; the player and the image read the file themselves.
        kind = content_kind(read_head(Path(path)))
        if kind == "image":
            st.image(path, caption=name, width=240)
        elif kind == "audio":
            st.caption(f":material/mic: {name}")
            st.audio(path)
        else:
            icon = {"pdf": ":material/description:", "table": ":material/table_chart:"}.get(
                ref.get("kind", ""), ":material/attach_file:")
            st.caption(f"{icon} {name}")
            continue
        if st.button("Add to documents", icon=":material/library_add:", key=f"chat.keep.{message_id}.{i}",
                     help="Index its text (OCR or transcript) so later questions can cite it."):
            with st.spinner(f"Adding {name} to your documents…"):
                result = services.documents.ingest_bytes(Path(path).read_bytes(), name)
            if result.status == "error":
                st.error(result.error, icon=":material/error:")
            else:
                st.success(f"{name} is in your documents ({result.chunks} passage(s)).")


def user_text(text: str) -> None:
    """A user's message; a long one shows its first lines and the rest in an expander."""
    lines = text.splitlines()
    if len(text) <= COLLAPSE_CHARS and len(lines) <= COLLAPSE_LINES:
        st.markdown(text)
        return
    head = "\n".join(lines[:8])
    if len(head) > 600:
        cut = head.rfind(" ", 0, 600)
        head = head[:cut if cut > 300 else 600]
    st.markdown(head + " …")
    with st.expander(f"Show the whole message ({len(text):,} characters, {len(lines):,} line(s))",
                     icon=":material/unfold_more:"):
        st.markdown(text[len(head):].lstrip())


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


def documents_toggle(services: Services) -> bool:
    """Sidebar switch: answer from the document library (with citations) or from the model alone."""
    available = services.assistant.has_documents()
    if not available:
        # No toggle until something is indexed: a toggle drawn disabled would keep "off" once documents arrive.
        st.sidebar.caption(":material/description: No documents yet: add them on the Documents page, or attach a "
                           "PDF to a question.")
        return True
    on = st.sidebar.toggle("Answer from my documents", value=True, key="chat.use_documents",
                           help="On: questions that need your documents search them and cite file and page. "
                                "Off: documents are never searched. Add documents on the Documents page or attach "
                                "a PDF to a question.")
    return bool(on)


def scope_picker(services: Services, conversation_id: str | None, use_documents: bool, where=None) -> Scope:
    """Sidebar: which documents and tables this conversation uses (none picked = all); saved with the
    conversation, so a reload or another tab keeps the choice."""
    box = where if where is not None else st.sidebar
    store = services.conversations
    saved = store.scope(conversation_id) if conversation_id else st.session_state.get(KEY_NEW_SCOPE, Scope())
    key = conversation_id or "new"
    documents = {d.id: d.name for d in services.assistant.indexed_documents()} if use_documents else {}
    picked_docs = list(saved.documents)
    if documents:
        picked_docs = box.multiselect(
            "Documents this conversation uses", list(documents), format_func=lambda i: documents.get(i, i),
            default=[d for d in saved.documents if d in documents], placeholder="All documents",
            key=f"chat.scope.docs.{key}",
            help="Questions search only these documents (and PDFs attached in this conversation). None picked: all.")
    tables: list[str] = []
    if services.assistant.tables_present():
        try:
            tables = [t.name for t in services.tables.tables()]
        except AssistantError as exc:
            box.caption(f":material/table_chart: Tables cannot be listed right now: {exc.message}")
        except Exception as exc:  # noqa: BLE001 - a sidebar list must not take the conversation down with it
            report_render_error(services, "chat scope", exc, conversation_id=conversation_id)
            box.caption(f":material/table_chart: Tables cannot be listed right now ({type(exc).__name__}).")
    picked_tables = list(saved.tables)
    if tables:
        picked_tables = box.multiselect(
            "Tables this conversation uses", tables, default=[t for t in saved.tables if t in tables],
            placeholder="All tables", key=f"chat.scope.tables.{key}",
            help="SQL uses only these tables (and tables attached in this conversation). None picked: all.")
    scope = Scope(list(picked_docs), list(picked_tables))
    if conversation_id is None:
        st.session_state[KEY_NEW_SCOPE] = scope  # saved with the conversation its first message creates
    elif scope != saved:
        store.set_scope(conversation_id, scope)
    return scope


def documents_choice(on: bool) -> bool | None:
    """The switch on lets each question decide (the router searches when it fits); off never searches."""
    return None if on else False


def read_chat_input(services: Services, value) -> tuple[str, list[tuple[str, bytes]]] | None:
    """Text and attachments from the chat input; a voice note alone becomes the question (transcribed)."""
    text = (value.text or "").strip()
    files = [(f.name, f.getvalue()) for f in (value.get("files") or [])]
    audio = value.get("audio")
    if audio is not None:
        voice = audio.getvalue()
        if text or files:
            files.append(("voice-note.wav", voice))
        else:
            try:
                with st.spinner("Transcribing your voice note…"):
                    text = services.transcriber.transcribe(voice, name="voice-note.wav").text.strip()
            except AssistantError as exc:
                show_error(exc)
                return None
            if not text:
                st.warning("No speech was heard in the voice note; please try again.")
                return None
    return text, files


def stream_turn(
    services: Services,
    conversation_id: str,
    question: str,
    model_choice: dict | None,
    use_documents: bool | None = False,
    files: list[tuple[str, bytes]] | None = None,
    scope: Scope | None = None,
) -> None:
    """Ask, then stream the answer into the page with a Stop button; everything is saved as it goes."""
    if services.assistant.is_in_flight(conversation_id, question, [name for name, _ in files or []]):
        # A browser that lost its connection resends its last message; that question is already being answered.
        st.info("This question is already being answered; the answer appears here when it is ready.",
                icon=":material/hourglass_top:")
        return
    try:
        turn = services.assistant.ask(
            question, conversation_id=conversation_id, model_choice=model_choice, use_documents=use_documents,
            files=files or [], scope=scope,
        )
    except AssistantError as exc:
        show_error(exc)
        return
    try:
        finished = _draw_turn(services, turn, conversation_id, files)
    finally:
        # Whatever ends the drawing (Stop, a reload, Streamlit stopping the script between two widgets),
        # the turn is closed: its partial answer is kept and it no longer counts as "being answered".
        turn.close()
    if finished:
        st.rerun()


def _draw_turn(services: Services, turn, conversation_id: str, files: list[tuple[str, bytes]] | None) -> bool:  # noqa: ANN001
    """The question, the live steps and the streamed answer; False when the turn ended in an error."""
    with st.chat_message("user"):
        user_text(turn.question)
        for name, _ in files or []:
            st.caption(f":material/attach_file: {name}")
    if files:
        st.caption("Attachments are read, indexed or loaded first; each step is shown as it runs.")
    with st.chat_message("assistant"):
        status = st.status("Working…", expanded=True)
        live: dict[int, object] = {}

        def show_step(step: dict) -> None:
            # A step is reported when it starts and when it ends; the same line is updated in place.
            key = id(step)
            if key not in live:
                live[key] = status.empty()
            with live[key].container():
                if step.get("running"):
                    st.markdown(step_line(step))
                else:
                    render_step(step)

        turn.on_step = show_step
        report, clear = progress_reporter("Preparing the model…")
        turn.progress = report
        try:
            info = turn.resolve_model()
        except AssistantError as exc:
            clear()
            show_error(exc)
            return False
        # Clicking Stop reruns the script, which interrupts this loop; `finally` keeps the partial answer.
        st.button("Stop", icon=":material/stop_circle:", key="chat.stop")
        st.caption(f"Answering with {info.label}…")
        if reading := services.assistant.reading_notice(turn):
            st.info(reading, icon=":material/hourglass_top:")  # said before the wait, not after it
        placeholder = st.empty()
        text = ""
        try:
            for delta in turn:
                if not text:
                    clear()  # the tools are done: the answer starts
                    steps = turn.result.tools
                    status.update(label=f"{len(steps)} step(s)" if steps else "No tools needed",
                                  state="complete", expanded=False)
                text += delta
                placeholder.markdown(text + "▌")
        except AssistantError as exc:
            placeholder.markdown(text)
            status.update(label="Stopped by an error", state="error", expanded=False)
            show_error(exc)
            return False
        except Exception as exc:  # noqa: BLE001 - the page failed while drawing the answer (a bug)
            # Recorded as a failed turn (not "stopped") and as a display error, so Monitoring shows it;
            # the partial answer stays saved and the rest of the page is drawn.
            turn.close(error=exc)
            report_render_error(services, "chat answer", exc, conversation_id=conversation_id)
            st.error(f"**The answer could not be shown ({type(exc).__name__}).** It was recorded (see Monitoring); "
                     "reload the page to see what was saved.", icon=":material/error:")
            return False
    return True
