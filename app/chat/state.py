"""What a turn carries and returns: its state, its result, progress and step callbacks, the in-flight register.

`TurnState` is what the tools read and fill in (`app.chat.tools`); `Turn` (app.chat.turn) adds the
lifecycle on top of it, so the tools never need the turn's machinery or the assistant.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from app.chat.attachments import Attachment
from app.chat.guard import TurnGuard
from app.chat.history import History
from app.chat.tools.focus import Unreadable
from app.chat.tools.specs import SqlEvidence, StoredFile
from app.documents.search import Passage
from app.ports import ChatMessage, ChatModel, ModelInfo
from storage.conversations import Scope

Progress = Callable[[float, str], None]
Step = dict[str, Any]  # one tool step as shown live and recorded: {"name", "input", "seconds", "ok", ...}
OnStep = Callable[[Step], None]
FlightKey = tuple[str, str, tuple[str, ...]]  # (conversation, question, attachment names)


@dataclass
class TurnResult:
    """Everything known about a finished (or failed, or stopped) turn."""

    answer: str = ""
    status: str = "ok"  # ok | error | stopped
    backend: str = ""
    model: str = ""
    vision: bool = False
    conversation_id: str | None = None
    record_id: str = ""
    load_s: float = 0.0  # picking and loading the model (first answer after start-up)
    ttft_s: float | None = None  # from the request to the model until its first token
    total_s: float = 0.0  # the whole turn, loading included
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_estimated: bool = False  # True when the backend did not report usage (a stopped answer)
    error: str = ""
    error_hint: str = ""
    notices: list[str] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_mode: str = ""  # "router" | "native": who picked the tools
    not_in_documents: bool = False
    unreadable: list[str] = field(default_factory=list)  # attachments the question was about that could not be read
    guardrails: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The CLI's `ask --json` shape (plus diagnostics)."""
        return asdict(self)


@dataclass
class TurnState:
    """One question and everything gathered to answer it."""

    question: str
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (name, bytes) attached to the question
    model_choice: dict[str, Any] | None = None
    progress: Progress | None = None  # model loading, indexing, transcribing (the UI's progress bar)
    on_step: OnStep | None = None  # live tool steps (the UI)
    result: TurnResult = field(default_factory=TurnResult)
    model: ChatModel | None = None
    # None: the router decides from the question; True: always search the documents; False: never.
    use_documents: bool | None = None
    scope: Scope | None = None  # the conversation's chosen documents and tables; None: all
    stored: list[StoredFile] = field(default_factory=list)  # this turn's attachments as kept files
    history: History = field(default_factory=History)  # the conversation before this turn
    model_question: str = ""  # the question as the model and the tools see it (after the guardrails)
    guard: TurnGuard | None = None  # the turn's guardrails, once the model is known
    tool_mode: str = ""  # "router" | "native", once decided
    attachments: list[Attachment] = field(default_factory=list)  # prepared images and recordings
    passages: list[Passage] = field(default_factory=list)  # retrieved for this turn
    kept_passages: list[Passage] = field(default_factory=list)  # the ones in the prompt: citation [n] = kept[n-1]
    sql: list[SqlEvidence] = field(default_factory=list)  # run_sql results
    docs_required: bool = False  # only the documents can answer: nothing found means saying so
    unreadable: list[Unreadable] = field(default_factory=list)  # attachments the question is about, unreadable
    pasted: bool = False  # a long message without attachments: quoted as pasted text and answered from itself
    prompt: list[ChatMessage] = field(default_factory=list)  # what the model was sent
    user_message_id: str = ""
    answer_message_id: str = ""
    flight_key: FlightKey | None = None

    @property
    def model_info(self) -> ModelInfo | None:
        """The answering model, once resolved."""
        return self.model.info if self.model else None


class InFlight:
    """Questions being answered right now, shared by every session of the process.

    A browser that reconnects while a long turn runs replays its last submission from a new session;
    this register spots it."""

    def __init__(self) -> None:
        self._keys: set[FlightKey] = set()
        self._lock = threading.Lock()

    @staticmethod
    def key(conversation_id: str, question: str, names: Sequence[str] = ()) -> FlightKey:
        """The identity of a submission."""
        return conversation_id, (question or "").strip(), tuple(names)

    def __contains__(self, key: FlightKey) -> bool:
        with self._lock:
            return key in self._keys

    def begin(self, key: FlightKey | None) -> None:
        """The question is being answered."""
        if key is not None:
            with self._lock:
                self._keys.add(key)

    def end(self, key: FlightKey | None) -> None:
        """The question's turn ended (answered, stopped or failed)."""
        if key is not None:
            with self._lock:
                self._keys.discard(key)
