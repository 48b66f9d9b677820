"""The one path every answer takes: validate, pick the model, fit the prompt, stream, record.

Later features (documents, tables, tools, guardrails) add evidence to the same Turn
and the same request record instead of opening side paths.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from app.errors import AssistantError, BadInputError, NotFoundError, PromptTooLongError
from app.ports import ChatMessage, ChatModel, GenerationParams, ModelInfo, RecordStore
from app.services import attachments as attach
from app.services.budget import estimate_tokens, fit_history, message_tokens
from app.services.grounding import NOT_IN_DOCUMENTS, citations_for, evidence, grounded_question
from storage.conversations import ERROR, OK, STOPPED, STREAMING, ConversationStore

Progress = Callable[[float, str], None]
_SAVE_EVERY_S = 0.5  # how often a streaming answer is written to disk


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
    error: str = ""
    error_hint: str = ""
    notices: list[str] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The CLI's `ask --json` shape (plus diagnostics)."""
        return asdict(self)


class Turn:
    """One question and its streamed answer. Iterate it for text deltas."""

    def __init__(
        self,
        assistant: Assistant,
        question: str,
        conversation_id: str | None,
        files: Sequence[tuple[str, bytes]],
        progress: Progress | None,
        model_choice: dict | None = None,
    ) -> None:
        self._assistant = assistant
        self.model_choice = model_choice
        self.files = list(files)
        self.attachments: list[attach.Attachment] = []
        self.use_documents = False
        self.passages: list[Any] = []  # retrieved for this turn
        self.kept_passages: list[Any] = []  # the ones that fit in the prompt; citation [n] = kept[n-1]
        self.question = question
        self.progress = progress
        self.result = TurnResult(conversation_id=conversation_id)
        self.model: ChatModel | None = None
        self._user_message_id = ""
        self._answer_message_id = ""
        self._started = time.monotonic()
        self._prompt: list[ChatMessage] = []
        self._iterator: Iterator[str] | None = None

    @property
    def model_info(self) -> ModelInfo | None:
        """The answering model, once resolved."""
        return self.model.info if self.model else None

    def resolve_model(self) -> ModelInfo:
        """Pick and load the model (may take a while the first time); recorded if it fails."""
        if self.model is None:
            started = time.monotonic()
            try:
                self.model = self._assistant.router.get_model(self.progress, self.model_choice)
            except AssistantError as exc:
                self._fail(exc)
                raise
            self.result.load_s = time.monotonic() - started
        return self.model.info

    def __iter__(self) -> Iterator[str]:
        if self._iterator is None:
            self._iterator = self._generate()
        return self._iterator

    def close(self) -> None:
        """Stop generating (the stop button); the partial answer is kept and recorded."""
        if self._iterator is not None:
            self._iterator.close()
        elif self.model is not None and not self.result.record_id:
            self._finish("", STOPPED)  # stopped before the first token

    def run(self) -> TurnResult:
        """Consume the whole answer and return the result (CLI, benchmarks)."""
        for _ in self:
            pass
        return self.result

    def _generate(self) -> Iterator[str]:
        self.resolve_model()
        info = self.model.info
        self.result.backend, self.result.model, self.result.vision = info.backend, info.name, info.supports_images
        store = self._assistant.conversations
        parts: list[str] = []
        finished = False
        try:
            self._prepare_attachments(info)
            if self.use_documents and not self._retrieve():
                parts.append(NOT_IN_DOCUMENTS)
                yield NOT_IN_DOCUMENTS
                finished = True
                return
            self._prompt, params = self._assistant.build_prompt(self, info)
            if self.result.conversation_id:
                self._answer_message_id = store.add_message(
                    self.result.conversation_id, "assistant", "", STREAMING, {"model": info.label}
                ).id
            last_save = generation_started = time.monotonic()
            for chunk in self.model.stream(self._prompt, params):
                if chunk.usage is not None:
                    self.result.tokens_in, self.result.tokens_out = chunk.usage.tokens_in, chunk.usage.tokens_out
                    if chunk.usage.finish_reason == "context_truncated":
                        self.result.notices.append("The context was full; the model cut the oldest text.")
                    elif chunk.usage.finish_reason == "length":
                        self.result.notices.append("The answer reached the maximum length set in Settings.")
                    continue
                if not chunk.text:
                    continue
                if self.result.ttft_s is None:
                    self.result.ttft_s = time.monotonic() - generation_started
                parts.append(chunk.text)
                yield chunk.text
                if self._answer_message_id and time.monotonic() - last_save > _SAVE_EVERY_S:
                    store.update_message(self._answer_message_id, "".join(parts))
                    last_save = time.monotonic()
            finished = True
        except AssistantError as exc:
            self.result.answer = "".join(parts)
            self._fail(exc)
            raise
        except Exception as exc:
            # A bug, not a user error: record it, keep the partial answer, and let it surface.
            self.result.answer = "".join(parts)
            self._fail(AssistantError(f"Internal error: {type(exc).__name__}: {exc}", "Please report this."))
            raise
        finally:
            if finished:
                self._cite("".join(parts))
                self._finish("".join(parts), OK)
            elif self.result.status != "error":
                # Closed early: the stop button, a rerun, or the consumer going away.
                self._finish("".join(parts), STOPPED)

    def _retrieve(self) -> bool:
        """Search the user's documents; False when nothing clears the relevance floor."""
        started = time.monotonic()
        ok, error = True, ""
        try:
            self.passages = list(self._assistant.documents.search(self.question))
        except AssistantError as exc:
            ok, error = False, exc.message
            self.passages = []
        step = {"name": "search_documents", "input": self.question, "seconds": round(time.monotonic() - started, 4),
                "ok": ok, "output": f"{len(self.passages)} passage(s)"}
        if error:
            step["error"] = error
        self.result.tools.append(step)
        if not self.passages:
            self.result.notices.append(
                "No passage in your documents matched this question well enough to answer from it."
                if ok else f"Document search failed: {error}"
            )
        return bool(self.passages)

    def _prepare_attachments(self, info: ModelInfo) -> None:
        """OCR images (for text-only models) and transcribe recordings; a failure is reported, not fatal."""
        settings = self._assistant.settings
        for name, data in self.files:
            started = time.monotonic()
            step: dict[str, Any] = {"name": "attachment", "input": name, "ok": True}
            try:
                item = attach.prepare(
                    name, data, transcriber=lambda: self._assistant.transcriber, run_ocr=not info.supports_images,
                    max_side=settings.image_max_side, progress=self.progress,
                )
            except AssistantError as exc:
                step.update(ok=False, error=exc.message, output="could not be used")
                self.result.notices.append(f"{name} could not be used: {exc.message} {exc.hint}".strip())
            else:
                self.attachments.append(item)
                if item.kind == "image":
                    ocr = item.image.ocr
                    step.update(name="describe_image", output=f"{item.image.width}x{item.image.height} image"
                                + (f", {len(ocr.lines)} line(s) of text" if ocr else ", sent to the vision model"))
                else:
                    t = item.transcript
                    step.update(name="read_transcript", output=f"{t.duration:.0f} s of audio, {len(t.segments)} "
                                f"segment(s), language {t.language}")
            step["seconds"] = round(time.monotonic() - started, 4)
            self.result.tools.append(step)
        self.result.notices.extend(attach.notices(self.attachments, info.supports_images))

    def _cite(self, answer: str) -> None:
        citations: list[dict[str, Any]] = []
        if self.kept_passages:
            citations, notice = citations_for(answer, self.kept_passages)
            if notice:
                self.result.notices.append(notice)
        for extra in attach.timestamp_citations(answer, self.attachments):
            citations.append({**extra, "n": len(citations) + 1})
        self.result.citations = citations

    def _finish(self, answer: str, status: str) -> None:
        self.result.answer = answer
        self.result.status = "ok" if status == OK else "stopped"
        self.result.total_s = time.monotonic() - self._started
        meta = self._message_meta()
        if self._answer_message_id:
            self._assistant.conversations.update_message(self._answer_message_id, answer, status, meta)
        self.result.record_id = self._assistant.record(self)

    def _fail(self, exc: AssistantError) -> None:
        self.result.status = "error"
        self.result.error, self.result.error_hint = exc.message, exc.hint
        self.result.total_s = time.monotonic() - self._started
        store = self._assistant.conversations
        if self.result.conversation_id:
            text = self.result.answer
            meta = {**self._message_meta(), "error": exc.message, "hint": exc.hint}
            if self._answer_message_id:
                store.update_message(self._answer_message_id, text, ERROR, meta)
            else:
                try:
                    store.add_message(self.result.conversation_id, "assistant", text, ERROR, meta)
                except NotFoundError:
                    pass  # the conversation was deleted (another tab); the record below still keeps the turn
        self.result.record_id = self._assistant.record(self)

    def _message_meta(self) -> dict[str, Any]:
        r = self.result
        return {
            "model": f"{r.model} ({r.backend})" if r.model else "",
            "vision": r.vision,
            "load_s": round(r.load_s, 3),
            "ttft_s": r.ttft_s,
            "total_s": round(r.total_s, 3),
            "tokens_in": r.tokens_in,
            "tokens_out": r.tokens_out,
            "notices": r.notices,
            "citations": r.citations,
            "tools": r.tools,
        }


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
    ) -> Turn:
        """Validate the question, save it, and return a Turn ready to stream.

        `files` are (name, bytes) attachments (images, recordings); `images` are unnamed images.
        """
        text = (question or "").strip()
        files = [*files, *((f"image-{i + 1}", data) for i, data in enumerate(images))]
        if not text and not files:
            raise BadInputError("The question is empty.", "Type a question first.")
        limit = self.settings.max_prompt_chars
        if len(text) > limit:
            raise BadInputError(
                f"The message is {len(text):,} characters; the limit is {limit:,}.",
                "Attach long text as a document instead of pasting it.",
            )
        if not text:
            text = "Describe the attachment(s)."
        turn = Turn(self, text, conversation_id, files, progress, model_choice)
        # A question about an attached file is about that file, unless documents are asked for explicitly.
        auto = self.has_documents() and not files
        turn.use_documents = auto if use_documents is None else use_documents
        if turn.use_documents and self._documents_provider is None:
            raise BadInputError("Document search is not available.", "Ingest documents first.")
        if conversation_id:
            conv = self.conversations.get(conversation_id)
            meta = {"attachments": [self._keep_file(name, data) for name, data in files]} if files else {}
            turn._user_message_id = self.conversations.add_message(conversation_id, "user", text, OK, meta).id
            if conv.title == "New conversation":
                self.conversations.rename(conversation_id, self.conversations.title_from(text))
        return turn

    def _keep_file(self, name: str, data: bytes) -> dict[str, Any]:
        # Attachments stay with the conversation (content-addressed, so a re-sent file is stored once).
        ref = _file_ref(name, data)
        folder = self.settings.data_dir / "attachments"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / ref["sha256"]
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return {**ref, "path": str(path)}

    def has_documents(self) -> bool:
        """True when at least one document is fully indexed."""
        if self._documents_provider is None or not self.documents_present():
            return False
        return any(doc.status == "indexed" for doc in self.documents.list_documents())

    def build_prompt(self, turn: Turn, info: ModelInfo) -> tuple[list[ChatMessage], GenerationParams]:
        """System prompt + as much history as fits + the question; raises if the question alone cannot fit."""
        settings = self.settings
        reserve = min(settings.max_tokens, info.context_window // 2)
        budget = info.context_window - reserve
        system = ChatMessage("system", settings.system_prompt)
        question = attach.question_message(turn.question, turn.attachments, info.supports_images)
        fixed = message_tokens(system) + message_tokens(question)
        if fixed > budget:
            raise PromptTooLongError(
                f"The message is about {estimate_tokens(question.content):,} tokens; {info.label} can read "
                f"about {budget:,} tokens at once (context {info.context_window:,}, {reserve:,} kept for the answer).",
                "Shorten it, attach the text as a document, or use a model with a larger context.",
            )
        if turn.passages:
            # Passages get most of what is left; history gets the rest.
            from app.services.search import build_context

            context = build_context(turn.passages, int((budget - fixed) * 0.7), estimate_tokens)
            turn.kept_passages = context.kept
            if context.dropped:
                turn.result.notices.append(
                    f"{context.dropped} weaker passage(s) were left out to fit the model's context."
                )
            question = attach.question_message(
                grounded_question(turn.question, context.text), turn.attachments, info.supports_images
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
            "notices": r.notices,
            "citations": r.citations,
            "tools": r.tools,
            "evidence": evidence(turn.passages),
            "guardrails": [],
        }
        return self.records.append("chat", body)


def _image_ref(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _file_ref(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, **_image_ref(data)}
