"""Chat page: conversations, streamed answers, stop, model picker."""

from app.ui.chat import chat_page
from app.ui.common import get_services

chat_page(get_services())
