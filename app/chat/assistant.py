"""The one path every answer takes: validate, pick the model, fit the prompt, stream, record.

Later features (documents, tables, tools, guardrails) add evidence to the same Turn
and the same request record instead of opening side paths. The Turn itself lives in
`app.chat.turn`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from app.chat import attachments as attach
from app.chat.budget import estimate_tokens, fit_history, message_tokens
from app.chat.grounding import evidence, grounded_question
from app.chat.reading import reading_estimate
from app.chat.tools.focus import pasted_prompt
from app.chat.tools.specs import StoredFile
from app.chat.tools.toolbox import classify
from app.chat.turn import Progress, Turn, TurnResult, _file_ref, _image_ref
from app.errors import AssistantError, BadInputError, PromptTooLongError
from app.ports import ChatMessage, GenerationParams, ModelInfo, RecordStore
from storage.attachments import AttachmentStore
from storage.conversations import ERROR, OK, ConversationStore, Scope

__all__ = ["Assistant", "Turn", "TurnResult"]


class Assistant:
    """Answers questions; shared by every browser session and the CLI."""

    def __init__(
        self,
        router: Any,
        conversations: ConversationStore,
        records: RecordStore,
        documents: Callable[[], Any] | None = None,
    ) -> None:
        self.router = router
        self.conversations = conversations
        self.records = records
        # Built on first use: opening the vector index costs seconds a plain chat should not pay.
        self._documents_provider = documents
        self.documents_present: Callable[[], bool] = lambda: True
        self._transcriber_provider: Callable[[], Any] | None = None
        self._tables_provider: Callable[[], Any] | None = None
        self.tables_present: Callable[[], bool] = lambda: False
        # Questions being answered right now, by (conversation, text, attachment names). A browser that
        # reconnects while a long turn runs replays its last submission from a new session; this spots it.
        self._in_flight: set[tuple[str, str, tuple[str, ...]]] = set()
        self._in_flight_lock = threading.Lock()

    def is_in_flight(self, conversation_id: str, question: str, names: Sequence[str] = ()) -> bool:
        """True while the same question (with the same attachments) is being answered in this conversation."""
        with self._in_flight_lock:
            return (conversation_id, (question or "").strip(), tuple(names)) in self._in_flight

    def _track(self, key: tuple[str, str, tuple[str, ...]] | None, active: bool) -> None:
        if key is None:
            return
        with self._in_flight_lock:
            (self._in_flight.add if active else self._in_flight.discard)(key)

    def attach_tables(self, provider: Callable[[], Any], present: Callable[[], bool]) -> None:
        """Use a tables service (built lazily by `provider`); `present` cheaply says if any table may exist."""
        self._tables_provider = provider
        self.tables_present = present

    @property
    def tables(self) -> Any:
        """The tables service (TablesService) for run_sql."""
        if self._tables_provider is None:
            raise BadInputError("Tables are not available here.", "Load tables on the Tables page.")
        return self._tables_provider()

    def attach_documents(self, provider: Callable[[], Any], present: Callable[[], bool]) -> None:
        """Use a document library (built lazily by `provider`); `present` cheaply says if any may exist."""
        self._documents_provider = provider
        self.documents_present = present

    def attach_transcriber(self, provider: Callable[[], Any]) -> None:
        """Use this speech-to-text service (built lazily) for recordings attached to questions."""
        self._transcriber_provider = provider

    @property
    def transcriber(self) -> Any:
        """The speech-to-text service for attached recordings."""
        if self._transcriber_provider is None:
            raise BadInputError("Transcription is not available here.", "Use the app or the CLI to attach audio.")
        return self._transcriber_provider()

    @property
    def documents(self) -> Any:
        """The document library (DocumentLibrary), or None when not configured."""
        return self._documents_provider() if self._documents_provider else None

    @property
    def settings(self):
        """Current settings (the router holds the live copy)."""
        return self.router.settings

    def ask(
        self,
        question: str,
        conversation_id: str | None = None,
        images: Sequence[bytes] = (),
        progress: Progress | None = None,
        model_choice: dict | None = None,
        use_documents: bool | None = None,
        files: Sequence[tuple[str, bytes]] = (),
        scope: Scope | None = None,
    ) -> Turn:
        """Validate the question, save it, and return a Turn ready to stream.

        `files` are (name, bytes) attachments (images, recordings); `images` are unnamed images.
        `scope`: the documents and tables this conversation uses (saved with it); None uses the saved one.
        """
        text = (question or "").strip()
        files = [*files, *((f"image-{i + 1}", data) for i, data in enumerate(images))]
        if not text and not files:
            raise BadInputError("The question is empty.", "Type a question first.")
        limit = self.settings.max_prompt_chars
        if len(text) > limit:
            raise BadInputError(
                f"The message is {len(text):,} characters (about {estimate_tokens(text):,} tokens); the limit is "
                f"{limit:,} characters, so it was not sent.",
                "Shorten it to the part you need, or save the text as a PDF document and attach it: its passages are "
                "then searched instead of being read in full. The limit is the max_prompt_chars setting.",
            )
        if not text:
            text = "Describe the attachment(s)."
        turn = Turn(self, text, conversation_id, files, progress, model_choice)
        # None: the router decides from the question; True: always search; False: never.
        turn.use_documents = use_documents
        if turn.use_documents and self._documents_provider is None:
            raise BadInputError("Document search is not available.", "Ingest documents first.")
        kept = [self._keep_file(name, data) for name, data in files]
        turn.stored = [StoredFile(ref["name"], ref["sha256"], ref["path"], ref["kind"], new=True) for ref in kept]
        turn.scope = scope
        if conversation_id:
            conv = self.conversations.get(conversation_id)
            if scope is None:
                turn.scope = self.conversations.scope(conversation_id)
            elif scope != self.conversations.scope(conversation_id):
                self.conversations.set_scope(conversation_id, scope)  # chosen for this conversation: kept
            turn.flight_key = (conversation_id, text, tuple(name for name, _ in files))
            self._track(turn.flight_key, True)
            meta = {"attachments": kept} if files else {}
            turn._user_message_id = self.conversations.add_message(conversation_id, "user", text, OK, meta).id
            if conv.title == "New conversation":
                self.conversations.rename(conversation_id, self.conversations.title_from(text))
        return turn

    def _keep_file(self, name: str, data: bytes) -> dict[str, Any]:
        # Attachments stay with the conversation (content-addressed, so a re-sent file is stored once).
        path = AttachmentStore.in_data_dir(self.settings.data_dir).keep(data).path
        return {**_file_ref(name, data), "path": str(path), "kind": classify(path)}

    def reading_notice(self, turn: Turn) -> str:
        """Before a long message is read: how long the model will take ('' when it is quick)."""
        info = turn.model_info
        estimate = reading_estimate(turn.question, info, self.records) if info else None
        return estimate.notice(info.label) if estimate else ""

    def indexed_documents(self) -> list[Any]:
        """Fully indexed documents of the library ([] when there is none, without opening the index)."""
        if self._documents_provider is None or not self.documents_present():
            return []
        return [doc for doc in self.documents.list_documents() if doc.status == "indexed"]

    def has_documents(self) -> bool:
        """True when at least one document is fully indexed."""
        return bool(self.indexed_documents())

    def build_prompt(self, turn: Turn, info: ModelInfo) -> tuple[list[ChatMessage], GenerationParams]:
        """System prompt + as much history as fits + the question; raises if the question alone cannot fit."""
        settings = self.settings
        reserve = min(settings.max_tokens, info.context_window // 2)
        budget = info.context_window - reserve
        system = ChatMessage("system", settings.system_prompt)
        # Long pasted text is quoted as data with the user's request (never obeyed, answered from itself).
        asked = pasted_prompt(turn.question) if turn.pasted else turn.question
        question = attach.question_message(asked, turn.attachments, info.supports_images)
        fixed = message_tokens(system) + message_tokens(question)
        if fixed > budget:
            raise PromptTooLongError(
                f"The message is about {estimate_tokens(question.content):,} tokens; {info.label} can read "
                f"about {budget:,} tokens at once (context {info.context_window:,}, {reserve:,} kept for the answer).",
                "Shorten it, attach the text as a document, or use a model with a larger context.",
            )
        if turn.passages or turn.sql:
            # Tool results get most of what is left (SQL first: exact numbers), history gets the rest.
            from app.documents.search import build_context

            room = int((budget - fixed) * 0.7)
            sql_text = fit_sql(turn, room // 2 if turn.passages else room)
            passages_text = ""
            if turn.passages:
                context = build_context(turn.passages, room - estimate_tokens(sql_text), estimate_tokens)
                turn.kept_passages, passages_text = context.kept, context.text
                if context.dropped:
                    turn.result.notices.append(
                        f"{context.dropped} weaker passage(s) were left out to fit the model's context."
                    )
            question = attach.question_message(
                grounded_question(asked, passages_text, sql_text), turn.attachments, info.supports_images
            )
            fixed = message_tokens(system) + message_tokens(question)
        history = self._history(turn)
        kept, dropped = fit_history(history, max(0, budget - fixed))
        if dropped:
            turn.result.notices.append(
                f"{dropped} earlier message(s) were left out to fit the model's {info.context_window:,}-token context."
            )
        params = GenerationParams(settings.temperature, settings.top_p, reserve, settings.seed)
        return [system, *kept, question], params

    def _history(self, turn: Turn) -> list[ChatMessage]:
        if not turn.result.conversation_id:
            return []
        history = []
        for msg in self.conversations.messages(turn.result.conversation_id):
            if msg.id in (turn._user_message_id, turn._answer_message_id):
                continue
            # Failed turns carry no useful content for the model; stopped ones keep their partial text.
            if msg.role in ("user", "assistant") and msg.content and msg.status != ERROR:
                history.append(ChatMessage(msg.role, msg.content))
        return history

    def _with_document_hashes(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Evidence names each passage's document by its sha256 too: ids are local, hashes prove the bytes."""
        if not items or self._documents_provider is None:
            return items
        hashes = {doc_id: _sha256_of(self.documents, doc_id) for doc_id in {e["doc_id"] for e in items}}
        return [{**e, "document_sha256": hashes[e["doc_id"]]} for e in items]

    def record(self, turn: Turn) -> str:
        """Write the turn's request record (append-only)."""
        r = turn.result
        info = turn.model_info
        settings = self.settings
        body = {
            "user": settings.user,
            "conversation_id": r.conversation_id,
            "message_id": turn._answer_message_id or None,
            "backend": r.backend or (info.backend if info else None),
            "model": r.model or (info.name if info else None),
            "model_digest": info.digest if info else None,
            "vision": r.vision,
            "params": {
                "temperature": settings.temperature,
                "top_p": settings.top_p,
                "max_tokens": settings.max_tokens,
                "seed": settings.seed,
                "context_window": info.context_window if info else None,
            },
            "question": turn.question,
            "attachments": [a.ref() for a in turn.attachments]
            + [_file_ref(n, d) for n, d in turn.files if not any(a.name == n for a in turn.attachments)],
            "prompt": [
                {"role": m.role, "content": m.content, "images": [_image_ref(i) for i in m.images]}
                for m in turn._prompt
            ],
            "answer": r.answer,
            "status": r.status,
            "error": {"message": r.error, "hint": r.error_hint} if r.error else None,
            "load_s": round(r.load_s, 4),
            "ttft_s": None if r.ttft_s is None else round(r.ttft_s, 4),
            "total_s": round(r.total_s, 4),
            "tokens_in": r.tokens_in,
            "tokens_out": r.tokens_out,
            "tokens_estimated": r.tokens_estimated,
            "notices": r.notices,
            "citations": r.citations,
            "tools": r.tools,
            "evidence": self._with_document_hashes(evidence(turn.passages)),
            "guardrails": r.guardrails,
            "flagged": bool(r.guardrails),
            "not_in_documents": r.not_in_documents,
            "unreadable": r.unreadable,
            "tool_mode": r.tool_mode,
            "sql": [{"label": e.label, "sql": e.sql, "row_count": e.row_count, "result_sha256": e.result_sha256}
                    for e in turn.sql],
        }
        return self.records.append("chat", body)


def _sha256_of(documents: Any, doc_id: str) -> str | None:
    try:
        return documents.get(doc_id).sha256
    except (AssistantError, AttributeError):
        return None


def fit_sql(turn: Turn, budget_tokens: int) -> str:
    """SQL results as the model reads them, with fewer rows shown until they fit the budget (the user is told)."""
    if not turn.sql:
        return ""
    rows = 20
    while True:
        text = "\n\n".join(evidence.block(rows) for evidence in turn.sql)
        if estimate_tokens(text) <= budget_tokens or rows <= 1:
            break
        rows //= 2
    if rows < 20 and any(e.row_count > rows for e in turn.sql):
        turn.result.notices.append(f"Only the first {rows} row(s) of each SQL result fit the model's context; "
                                   "the full result is shown with the answer.")
    return text
