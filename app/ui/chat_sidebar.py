"""The Chat page's sidebar: the conversation list (rename, export, delete), the model picker, the documents
switch and which documents and tables a conversation uses."""

from __future__ import annotations

from typing import Literal

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app.access.roles import WRITE
from app.chat.export import conversation_markdown
from app.container import Services
from app.errors import AssistantError
from app.llm.selector import ModelSpec, embedded_choices
from app.pins.refresh import pin_latest_answer
from app.pins.store import PinStore
from app.ui.common import (
    KEY_CONVERSATION,
    KEY_MODEL_CHOICE,
    report_render_error,
    safe_markdown,
    show_error,
    show_error_note,
)
from app.ui.reports import report_buttons
from app.ui.shared_chat import share_controls, shared_list
from storage.conversations import Conversation, ConversationStore, Scope

KEY_NEW_SCOPE = "chat.scope.new"  # documents and tables chosen before the conversation exists


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
        label = safe_markdown(conv.title)
        kind: Literal["primary", "secondary"] = "primary" if conv.id == current else "secondary"
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
            report_buttons(services, current)
            _pin_button(services, current)
            if may_write(services) and st.button("Delete this conversation", type="primary", key="chat.delete"):
                services.delete_conversation(current)
                st.session_state[KEY_CONVERSATION] = None
                st.rerun()
        share_controls(services, current)
    shared_list(services)
    return current


def _pin_button(services: Services, conversation_id: str) -> None:
    """Pin the conversation's latest SQL-backed answer to the workspace board (those who may write)."""
    if not may_write(services) or not st.button("Pin the latest SQL answer to the Board", icon=":material/push_pin:",
                                                key="chat.pin"):
        return
    try:
        pin = pin_latest_answer(PinStore(services.settings.data_dir / "board.sqlite"), services.conversations,
                                services.records, conversation_id, services.settings.user)
    except AssistantError as exc:
        show_error(exc)
        return
    st.success(safe_markdown(f"Pinned: {pin.headline}. See the Board page."))


def may_write(services: Services) -> bool:
    """Whether this session may delete or change data (sign-in off: yes; a viewer: no)."""
    return services.actor is None or services.actor.may(WRITE)


def _empty_conversation(store: ConversationStore, conversations: list[Conversation]) -> str | None:
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
    if services.settings.openai_base_url:  # the OpenAI-compatible server's models (/v1/models)
        for name in services.router.openai_status().models:
            options[f"Server · {name}"] = str(ModelSpec("openai", name))
    current = st.session_state.get(KEY_MODEL_CHOICE)
    labels = list(options)
    index = next((i for i, v in enumerate(options.values()) if v == current), 0)
    picked = st.sidebar.selectbox("Model for this session", labels, index=index, key="chat.model_picker")
    st.session_state[KEY_MODEL_CHOICE] = options[picked]


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


def scope_picker(services: Services, conversation_id: str | None, use_documents: bool,
                 where: DeltaGenerator | None = None) -> Scope:
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
            show_error_note(f"Tables cannot be listed right now: {exc.message}", box)
        except Exception as exc:  # noqa: BLE001 - a sidebar list must not take the conversation down with it
            report_render_error(services, "chat scope", exc, conversation_id=conversation_id)
            show_error_note(f"Tables cannot be listed right now ({type(exc).__name__}).", box)
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
