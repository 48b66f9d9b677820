"""Building a turn's prompt within the model's context: token estimates, the evidence, the history.

The system prompt and the question must fit; tool results (SQL first: exact numbers) get most of
what is left, and as much recent history as fits gets the rest. What had to be left out is said
in notices, which the turn shows under the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.chat import attachments as attach
from app.chat.grounding import grounded_question
from app.chat.tools.focus import pasted_prompt
from app.chat.tools.specs import SqlEvidence
from app.documents.search import Passage, build_context
from app.errors import PromptTooLongError
from app.ports import ChatMessage, GenerationParams, ModelInfo
from app.settings import Settings

# English prose averages ~4 characters a token with Qwen/Llama tokenizers; numbers,
# code and other scripts run denser. 3 keeps the estimate on the safe side.
_CHARS_PER_TOKEN = 3.0
_PER_MESSAGE_OVERHEAD = 8  # role markers of the chat template
_PER_IMAGE_TOKENS = 768  # what vision models typically spend on one image
_SQL_ROWS = 20  # rows of each SQL result shown when they fit


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


def fit_sql(sql: Sequence[SqlEvidence], budget_tokens: int) -> tuple[str, str]:
    """SQL results as the model reads them, with fewer rows shown until they fit the budget; returns
    (text, notice) where the notice tells the user when rows were left out."""
    if not sql:
        return "", ""
    rows = _SQL_ROWS
    while True:
        text = "\n\n".join(evidence.block(rows) for evidence in sql)
        if estimate_tokens(text) <= budget_tokens or rows <= 1:
            break
        rows //= 2
    notice = ""
    if rows < _SQL_ROWS and any(e.row_count > rows for e in sql):
        notice = (f"Only the first {rows} row(s) of each SQL result fit the model's context; "
                  "the full result is shown with the answer.")
    return text, notice


@dataclass
class PromptRequest:
    """What a turn brings to its prompt."""

    question: str
    pasted: bool  # a long pasted message: quoted as data with the user's request
    attachments: Sequence[attach.Attachment]
    passages: Sequence[Passage]
    sql: Sequence[SqlEvidence]
    history: Sequence[ChatMessage]


@dataclass
class Prompt:
    """The messages and parameters sent to the model, the passages it can cite, and what was left out."""

    messages: list[ChatMessage]
    params: GenerationParams
    kept_passages: list[Passage] = field(default_factory=list)  # citation [n] = kept_passages[n-1]
    notices: list[str] = field(default_factory=list)


def build_prompt(request: PromptRequest, info: ModelInfo, settings: Settings) -> Prompt:
    """System prompt + as much history as fits + the question; raises if the question alone cannot fit."""
    reserve = min(settings.max_tokens, info.context_window // 2)
    budget = info.context_window - reserve
    system = ChatMessage("system", settings.system_prompt)
    asked = pasted_prompt(request.question) if request.pasted else request.question
    question = attach.question_message(asked, request.attachments, info.supports_images)
    fixed = message_tokens(system) + message_tokens(question)
    if fixed > budget:
        raise PromptTooLongError(
            f"The message is about {estimate_tokens(question.content):,} tokens; {info.label} can read "
            f"about {budget:,} tokens at once (context {info.context_window:,}, {reserve:,} kept for the answer).",
            "Shorten it, attach the text as a document, or use a model with a larger context.",
        )
    prompt = Prompt([], GenerationParams(settings.temperature, settings.top_p, reserve, settings.seed))
    if request.passages or request.sql:
        evidence_text = _evidence(request, int((budget - fixed) * 0.7), prompt)
        question = attach.question_message(grounded_question(asked, *evidence_text), request.attachments,
                                           info.supports_images)
        fixed = message_tokens(system) + message_tokens(question)
    kept, dropped = fit_history(request.history, max(0, budget - fixed))
    if dropped:
        prompt.notices.append(
            f"{dropped} earlier message(s) were left out to fit the model's {info.context_window:,}-token context."
        )
    prompt.messages = [system, *kept, question]
    return prompt


def _evidence(request: PromptRequest, room: int, prompt: Prompt) -> tuple[str, str]:
    """(passages text, SQL text) within `room` tokens; keeps the passages used in `prompt`."""
    sql_text, notice = fit_sql(request.sql, room // 2 if request.passages else room)
    if notice:
        prompt.notices.append(notice)
    if not request.passages:
        return "", sql_text
    context = build_context(request.passages, room - estimate_tokens(sql_text), estimate_tokens)
    prompt.kept_passages = list(context.kept)
    if context.dropped:
        prompt.notices.append(f"{context.dropped} weaker passage(s) were left out to fit the model's context.")
    return context.text, sql_text
