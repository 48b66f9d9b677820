"""The Chat page: conversations, streamed answers with a Stop button, regenerate and edit, voice notes.

The sidebar is drawn by app/ui/chat_sidebar.py, stored messages by app/ui/chat_messages.py and their
citations by app/ui/chat_citations.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.elements.lib.mutable_status_container import StatusContainer

from app.chat.turn import Turn
from app.container import Services
from app.errors import AssistantError
from app.ui.chat_messages import render_message, render_step, step_line, user_text
from app.ui.chat_sidebar import conversation_sidebar, documents_toggle, model_picker, scope_picker
from app.ui.common import (
    KEY_CONVERSATION,
    model_choice,
    progress_reporter,
    report_render_error,
    safe_markdown,
    show_error,
)
from app.ui.demo import suggested_question
from multimodal.kinds import ATTACHMENT_TYPES
from storage.conversations import STREAMING, Message, Scope

KEY_PENDING = "chat.pending"  # a regenerate or edited question waiting to be sent


def chat_page(services: Services) -> None:
    """The whole Chat page: the sidebar, the conversation, and the question box (with files and voice notes)."""
    model_picker(services)
    use_documents = documents_toggle(services)
    scope_slot = st.sidebar.container()  # filled below, once the conversation is known
    conversation_id = conversation_sidebar(services)
    scope = scope_picker(services, conversation_id, use_documents, scope_slot)
    st.title("Chat")
    if conversation_id:
        messages = services.conversations.messages(conversation_id)
        for message in messages:
            render_message(services, message)
        message_actions(services, conversation_id, messages)
        unanswered_question(services, conversation_id, messages)
    else:
        st.info("Ask anything below, and attach what you work with: PDFs, Word, PowerPoint, HTML, text and e-mail "
                "files, tables (CSV, Excel, Parquet, DuckDB), images and recordings. Conversations are saved on this "
                "machine and survive a restart.")
    value = st.chat_input("Ask a question, attach files or record a voice note…", accept_file="multiple",
                          file_type=ATTACHMENT_TYPES, accept_audio=True)
    pending = take_pending(services, conversation_id) if conversation_id else None
    if pending is None and value is not None:
        pending = read_chat_input(services, value)
    if pending is None and not (conversation_id and services.conversations.messages(conversation_id)):
        pending = suggested_question(services)  # the demo's questions as chips in an empty chat
    if pending is not None:
        question, files = pending
        if conversation_id is None:
            conversation_id = services.conversations.create().id
            st.session_state[KEY_CONVERSATION] = conversation_id
        stream_turn(services, conversation_id, question, model_choice(), documents_choice(use_documents), files,
                    scope=scope)


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


def _draw_turn(services: Services, turn: Turn, conversation_id: str, files: list[tuple[str, bytes]] | None) -> bool:
    """The question, the live steps and the streamed answer; False when the turn ended in an error."""
    with st.chat_message("user"):
        user_text(turn.question)
        for name, _ in files or []:
            st.caption(":material/attach_file: " + safe_markdown(name))
    if files:
        st.caption("Attachments are read, indexed or loaded first; each step is shown as it runs.")
    with st.chat_message("assistant"):
        status = st.status("Working…", expanded=True)
        turn.on_step = _step_drawer(status)
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
        st.caption(safe_markdown(f"Answering with {info.label}…"))
        if reading := services.assistant.reading_notice(turn):
            st.info(safe_markdown(reading), icon=":material/hourglass_top:")  # said before the wait, not after it
        return _stream_answer(services, turn, conversation_id, status, clear)


def _step_drawer(status: StatusContainer) -> Callable[[dict[str, Any]], None]:
    """A callback drawing each tool step inside `status`: a step is reported when it starts and when it ends,
    and the same line is updated in place."""
    live: dict[int, DeltaGenerator] = {}

    def show_step(step: dict[str, Any]) -> None:
        key = id(step)
        if key not in live:
            live[key] = status.empty()
        with live[key].container():
            if step.get("running"):
                st.markdown(step_line(step))
            else:
                render_step(step)

    return show_step


def _stream_answer(services: Services, turn: Turn, conversation_id: str, status: StatusContainer,
                   clear: Callable[[], None]) -> bool:
    """The answer, word by word with a cursor; False (and the error shown) when it stopped on an error."""
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
            placeholder.markdown(safe_markdown(text) + "▌")
    except AssistantError as exc:
        placeholder.markdown(safe_markdown(text))
        status.update(label="Stopped by an error", state="error", expanded=False)
        show_error(exc)
        return False
    except Exception as exc:  # noqa: BLE001 - the page failed while drawing the answer (a bug)
        # Recorded as a failed turn (not "stopped") and as a display error, so Monitoring shows it;
        # the partial answer stays saved and the rest of the page is drawn.
        turn.close(error=exc)
        report_render_error(services, "chat answer", exc, conversation_id=conversation_id)
        show_error(AssistantError(f"The answer could not be shown ({type(exc).__name__}).",
                                  "It was recorded (see Monitoring); reload the page to see what was saved."))
        return False
    return True
