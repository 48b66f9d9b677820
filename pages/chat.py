"""Chat page: conversations, streamed answers, stop, model picker; a shared link (?shared=...) opens a
conversation shared in the workspace, read-only."""

from app.ui.chat import chat_page
from app.ui.common import get_services
from app.ui.shared_chat import shared_page, shared_token

services = get_services()
token = shared_token()
if token:
    shared_page(services, token)
else:
    chat_page(services)
