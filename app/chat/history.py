"""The conversation before this turn, read once per turn (the tools and the prompt both use it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.ports import ChatMessage
from storage.conversations import ERROR, ConversationStore, Message


@dataclass
class History:
    """The conversation's earlier messages (this turn's question and answer left out)."""

    messages: list[Message] = field(default_factory=list)

    def for_prompt(self) -> list[ChatMessage]:
        """The messages the model reads as history."""
        # Failed turns carry no useful content for the model; stopped ones keep their partial text.
        return [ChatMessage(m.role, m.content) for m in self.messages
                if m.role in ("user", "assistant") and m.content and m.status != ERROR]


def read_history(store: ConversationStore, conversation_id: str | None, skip: Sequence[str] = ()) -> History:
    """The conversation's messages except those in `skip` (empty without a conversation)."""
    if not conversation_id:
        return History()
    return History([m for m in store.messages(conversation_id) if m.id not in skip])
