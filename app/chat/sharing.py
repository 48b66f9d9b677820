"""Sharing a conversation read-only with the members of its workspace: share and unshare (both recorded, refused
or not) and opening a shared link. The link names the workspace and an unguessable token; Streamlit's sign-in
lets only the workspace's members enter it, and the token opens the conversation only inside that workspace."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from app.access.roles import Actor
from app.errors import AssistantError, BadInputError, NotFoundError
from storage.conversations import Conversation, ConversationStore, NotOwnerError

LINK_PARAM = "shared"  # ?shared=<token> on the Chat page opens a shared conversation read-only
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class Recorder(Protocol):
    """Where sharing is recorded (the request records)."""

    def append(self, kind: str, body: dict[str, Any]) -> str: ...


def _fingerprint(token: str) -> str:
    # The records name the link by a hash: the trail is read by auditors outside the workspace.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


def _workspace_for_sharing(actor: Actor | None) -> Actor:
    if actor is None:
        raise BadInputError("Sharing needs sign-in: with sign-in off, everyone who opens the app already sees "
                            "every conversation.", "Turn sign-in on (ANALYST_AUTH=password) to share with a team.")
    if actor.kind != "shared":
        raise BadInputError(f"{actor.workspace} is your private workspace: nobody else is a member to share with.",
                            "Switch to a shared workspace (or ask an admin for one), or export a report instead.")
    return actor


def share_conversation(conversations: ConversationStore, records: Recorder, actor: Actor | None,
                       conversation_id: str) -> str:
    """Share a conversation with its workspace's members (read-only); returns the link token. Recorded."""
    return _change(conversations, records, actor, conversation_id, share=True) or ""


def unshare_conversation(conversations: ConversationStore, records: Recorder, actor: Actor | None,
                         conversation_id: str) -> None:
    """Stop sharing: the link no longer opens it. Recorded."""
    _change(conversations, records, actor, conversation_id, share=False)


def _change(conversations: ConversationStore, records: Recorder, actor: Actor | None, conversation_id: str, *,
            share: bool) -> str | None:
    kind = "conversation_shared" if share else "conversation_unshared"
    body: dict[str, Any] = {"user": actor.user if actor else "", "conversation_id": conversation_id}
    try:
        where = _workspace_for_sharing(actor)
        conv = conversations.get(conversation_id)
        body["title"] = conv.title
        if not conversations.may_change(conv):
            raise NotOwnerError(f"Only {conv.owner}, who started this conversation, may "
                                f"{'share' if share else 'unshare'} it.", "Start a conversation of your own.")
        before = conversations.share_token(conversation_id)
        token = conversations.share(conversation_id) if share else None
        if not share:
            conversations.unshare(conversation_id)
    except AssistantError as exc:
        records.append(kind, {**body, "status": "error", "error": exc.one_line()})
        raise
    link = token or before
    records.append(kind, {**body, "status": "ok", "owner": conv.owner, "workspace_id": where.workspace_id,
                          "workspace": where.workspace, "link_sha256": _fingerprint(link) if link else "",
                          "changed": (before is None) == share})
    return token


def open_shared(conversations: ConversationStore, actor: Actor | None, token: str) -> Conversation:
    """The conversation a shared link opens for this signed-in member of its workspace, or a clear refusal."""
    if actor is None:
        raise BadInputError("Shared links work only with sign-in on: a shared conversation is for the members of "
                            "a workspace.", "Open the Chat page without the link.")
    found = conversations.by_token(token) if token and set(token) <= TOKEN_CHARS and len(token) <= 64 else None
    if found is None:
        raise NotFoundError(f"This link does not open a shared conversation in {actor.workspace}.",
                            "It was unshared or mistyped, or it was shared in a workspace you are not a member of. "
                            "Ask whoever sent it to share it again.")
    return found


def share_link(page_url: str, workspace_id: str, token: str) -> str:
    """The link to send: the app's address with the workspace (entered by members only) and the token."""
    parts = urlsplit(page_url or "/")
    query = urlencode({"workspace": workspace_id, LINK_PARAM: token})
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))
