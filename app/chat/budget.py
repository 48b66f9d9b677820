"""Token estimates and fitting text into a model's context window."""

from __future__ import annotations

from collections.abc import Sequence

from app.ports import ChatMessage

# English prose averages ~4 characters a token with Qwen/Llama tokenizers; numbers,
# code and other scripts run denser. 3 keeps the estimate on the safe side.
_CHARS_PER_TOKEN = 3.0
_PER_MESSAGE_OVERHEAD = 8  # role markers of the chat template
_PER_IMAGE_TOKENS = 768  # what vision models typically spend on one image


def estimate_tokens(text: str) -> int:
    """A conservative token count for budgeting (never below the real one by much)."""
    return int(len(text) / _CHARS_PER_TOKEN) + 1


def message_tokens(message: ChatMessage) -> int:
    """Estimated tokens a message costs in the prompt."""
    return estimate_tokens(message.content) + _PER_MESSAGE_OVERHEAD + _PER_IMAGE_TOKENS * len(message.images)


def fit_history(history: Sequence[ChatMessage], budget: int) -> tuple[list[ChatMessage], int]:
    """Keep the newest messages that fit in `budget` tokens; returns (kept, number dropped)."""
    kept: list[ChatMessage] = []
    used = 0
    for message in reversed(history):
        cost = message_tokens(message)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    # Never start the kept history with an orphaned assistant reply.
    while kept and kept[0].role == "assistant":
        kept.pop(0)
    return kept, len(history) - len(kept)
