"""Shared conversations in the Chat page: the Share/Unshare controls of the owner, the list of conversations
others shared in this workspace, and the read-only view a shared link opens (no question box, no Regenerate,
Edit, Delete or pin: the store refuses changes by anyone but the owner too)."""

from __future__ import annotations

import streamlit as st

from app.chat.sharing import LINK_PARAM, open_shared, share_conversation, share_link, unshare_conversation
from app.container import Services
from app.errors import AssistantError
from app.ui.chat_messages import render_message
from app.ui.common import safe_markdown, show_error
from app.ui.reports import report_buttons


def shared_token() -> str | None:
    """The token of the shared link this page was opened with, if any."""
    token = st.query_params.get(LINK_PARAM)
    return str(token) if token else None


def _leave_shared() -> None:
    del st.query_params[LINK_PARAM]


def shared_page(services: Services, token: str) -> None:
    """A conversation shared in this workspace, read-only; anyone else gets a clear message and nothing of it."""
    st.sidebar.button("Back to my conversations", icon=":material/arrow_back:", on_click=_leave_shared,
                      key="shared.back", width="stretch")
    st.title("Shared conversation")
    try:
        conv = open_shared(services.conversations, services.actor, token)
    except AssistantError as exc:
        show_error(exc)
        return
    st.caption(safe_markdown(f"{conv.title} · started by {conv.owner or 'someone before sign-in'} · read-only: "
                             "shared with the members of this workspace"), help=None)
    messages = services.conversations.messages(conv.id)
    for message in messages:
        render_message(services, message)
    if not messages:
        st.info("This conversation has no messages yet.")
    with st.sidebar.expander("Export", icon=":material/summarize:"):
        report_buttons(services, conv.id, key="shared")


def shared_list(services: Services) -> None:
    """Sidebar: conversations other members shared in this workspace (each opens read-only)."""
    if services.actor is None:
        return
    shared = services.conversations.shared_by_others()
    if not shared:
        return
    st.sidebar.caption("Shared in this workspace (read-only)")
    for conv, token in shared[:50]:
        if st.sidebar.button(safe_markdown(f"{conv.title} · {conv.owner}"), key=f"chat.shared.{conv.id}",
                             icon=":material/group:", width="stretch"):
            st.query_params[LINK_PARAM] = token
            st.rerun()


def share_controls(services: Services, conversation_id: str) -> None:
    """The owner's Share / Unshare, with the link to send (shared workspaces only)."""
    actor = services.actor
    if actor is None or actor.kind != "shared":
        return
    store = services.conversations
    if not store.may_change(store.get(conversation_id)):
        return
    with st.sidebar.popover("Share with the workspace", icon=":material/share:", width="stretch"):
        token = store.share_token(conversation_id)
        try:
            if token is None:
                st.caption(safe_markdown(f"Members of {actor.workspace} can then open it read-only through a link "
                                         "(signed in). They cannot change it; you can unshare it any time."))
                if st.button("Share", icon=":material/share:", key="chat.share"):
                    share_conversation(store, services.records, actor, conversation_id)
                    st.rerun()
                return
            st.caption(safe_markdown(f"Shared read-only with the members of {actor.workspace}. Send them this link "
                                     "(it opens only for signed-in members):"))
            st.code(share_link(_page_url(), actor.workspace_id, token), language=None, wrap_lines=True)
            if st.button("Unshare", icon=":material/link_off:", key="chat.unshare"):
                unshare_conversation(store, services.records, actor, conversation_id)
                st.rerun()
        except AssistantError as exc:
            show_error(exc)


def _page_url() -> str:
    try:
        return str(st.context.url or "/")
    except Exception:  # noqa: BLE001 - no browser behind this run (AppTest): a link relative to the app
        return "/"
