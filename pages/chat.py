"""Chat page: conversations, streamed answers, stop, model picker."""

import streamlit as st

from app.ui import KEY_CONVERSATION, get_services, model_choice
from app.ui_chat import conversation_sidebar, documents_toggle, model_picker, render_message, stream_turn

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

question = st.chat_input("Ask a question…")
if question is not None:
    if conversation_id is None:
        conversation_id = services.conversations.create().id
        st.session_state[KEY_CONVERSATION] = conversation_id
    stream_turn(services, conversation_id, question, model_choice(), use_documents)
