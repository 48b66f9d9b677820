"""Chat page: conversations, streamed answers, stop, model picker."""

import streamlit as st

from app.ui import KEY_CONVERSATION, get_services, model_choice
from app.ui_chat import (
    ATTACHMENT_TYPES,
    conversation_sidebar,
    documents_toggle,
    model_picker,
    read_chat_input,
    render_message,
    stream_turn,
)

services = get_services()
model_picker(services)
use_documents = documents_toggle(services)
conversation_id = conversation_sidebar(services)

st.title("Chat")
if conversation_id:
    for message in services.conversations.messages(conversation_id):
        render_message(services, message)
else:
    st.info("Ask anything below. Your conversations are saved on this machine and survive a restart.")

value = st.chat_input("Ask a question…", accept_file="multiple", file_type=ATTACHMENT_TYPES, accept_audio=True)
if value is not None and (message := read_chat_input(services, value)) is not None:
    question, files = message
    if conversation_id is None:
        conversation_id = services.conversations.create().id
        st.session_state[KEY_CONVERSATION] = conversation_id
    # A question with attachments is about them; without, the documents switch decides.
    stream_turn(services, conversation_id, question, model_choice(), None if files else use_documents, files)
