"""Chat page: conversations, streamed answers, stop, model picker."""

import streamlit as st

from app.ui.chat import (
    conversation_sidebar,
    documents_choice,
    documents_toggle,
    message_actions,
    model_picker,
    read_chat_input,
    render_message,
    scope_picker,
    stream_turn,
    take_pending,
    unanswered_question,
)
from app.ui.common import KEY_CONVERSATION, get_services, model_choice
from multimodal.kinds import ATTACHMENT_TYPES

services = get_services()
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
    st.info("Ask anything below, and attach what you work with: PDFs, tables (CSV, Excel, Parquet, DuckDB), "
            "images and recordings. Conversations are saved on this machine and survive a restart.")

value = st.chat_input("Ask a question, attach files or record a voice note…", accept_file="multiple",
                      file_type=ATTACHMENT_TYPES, accept_audio=True)
pending = take_pending(services, conversation_id) if conversation_id else None
if pending is None and value is not None:
    pending = read_chat_input(services, value)
if pending is not None:
    question, files = pending
    if conversation_id is None:
        conversation_id = services.conversations.create().id
        st.session_state[KEY_CONVERSATION] = conversation_id
    stream_turn(services, conversation_id, question, model_choice(), documents_choice(use_documents), files,
                scope=scope)
