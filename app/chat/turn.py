"""One question and its streamed answer: attachments, retrieval, streaming, saving, citations, recording."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from app.chat import attachments as attach
from app.chat.budget import estimate_tokens
from app.chat.grounding import citations_for, unsupported_terms
from app.documents.refusals import NOT_IN_DOCUMENTS
from app.errors import AssistantError, GuardrailBlockedError, NotFoundError
from app.ports import ChatMessage, ChatModel, ModelInfo
from storage.conversations import ERROR, OK, STOPPED, STREAMING

if TYPE_CHECKING:
    from app.chat.assistant import Assistant

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
        self.sql: list[Any] = []  # run_sql results (SqlEvidence) for this turn
        self.stored: list[Any] = []  # this turn's attachments as kept files (StoredFile)
        self.on_step: Callable[[dict[str, Any]], None] | None = None  # live tool steps (the UI)
        self.tool_mode = ""  # "router" | "native", once decided
        self.guard: Any = None  # the turn's guardrails (TurnGuard), once the model is known
        self.flight_key: tuple[str, str, tuple[str, ...]] | None = None  # while it is being answered
        self.model_question = question  # the question as the model sees it (masked when the policy says so)
        self.docs_required = False  # the question was about the documents: nothing found means "not in them"
        self.kept_passages: list[Any] = []  # the ones that fit in the prompt; citation [n] = kept[n-1]
        self.scope: Any = None  # the conversation's chosen documents and tables (storage Scope), None: all
        self.unreadable: list[Any] = []  # attachments the question is about that could not be read (Unreadable)
        self.pasted = False  # a long message without attachments: quoted as pasted text and answered from itself
        self._written_by_app = False  # the answer is the app's own text (no model tokens to count)
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

    def close(self, error: Exception | None = None) -> None:
        """Stop generating (the stop button); the partial answer is kept and recorded.

        With `error`, the consumer failed mid-answer (e.g. the page could not draw it): the turn is recorded
        as failed, not as stopped, so Monitoring counts it as an error."""
        if error is not None and self._iterator is not None and not self.result.record_id:
            try:
                # Raised at the paused `yield`: the generator's own failure path records the turn, keeping the
                # partial answer, then raises it again.
                self._iterator.throw(error)
            except Exception:  # noqa: BLE001 - the same error, already recorded; the caller reports it
                pass
        if self._iterator is not None:
            self._iterator.close()
        elif self.model is not None and not self.result.record_id:
            self._finish("", STOPPED)  # stopped before the first token
        else:
            self._assistant._track(self.flight_key, False)

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
            self._use_tools(info)
            if self.unreadable:
                # The file the question is about could not be read: say so plainly rather than let the model
                # answer from whatever else it has (it "summarised" an empty PDF from unrelated documents).
                text = self._unreadable_answer()
                self._written_by_app = True
                self._open_answer_message(info)
                parts.append(text)
                yield text
                finished = True
                return
            if self._not_in_documents():
                # Answered without the model, but saved and shown like any answer (with the search step).
                self.result.not_in_documents = True
                self._written_by_app = True
                self._open_answer_message(info)
                parts.append(NOT_IN_DOCUMENTS)
                yield NOT_IN_DOCUMENTS
                finished = True
                return
            self._prompt, params = self._assistant.build_prompt(self, info)
            self._prompt = self.guard.prompt(self._prompt)
            self._open_answer_message(info)
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
            elif self.result.status not in ("error", "blocked"):
                # Closed early: the stop button, a rerun, or the consumer going away.
                self._finish("".join(parts), STOPPED)

    def _open_answer_message(self, info: ModelInfo) -> None:
        """The answer's message in the conversation, saved before its first word so a reload shows it."""
        if self.result.conversation_id and not self._answer_message_id:
            self._answer_message_id = self._assistant.conversations.add_message(
                self.result.conversation_id, "assistant", "", STREAMING, {"model": info.label}
            ).id

    def _use_tools(self, info: ModelInfo) -> None:
        """Add this turn's PDFs and tables, pick the tools (router or the model), run them, keep the evidence."""
        from app.chat.guard import RedactingModel, TurnGuard
        from app.chat.tools.planning import run_tools

        self.guard = TurnGuard(self._assistant.settings, info)
        self.model_question = self.guard.question(self.question)  # a blocked question runs no tool
        if self.guard.redacting:
            self.model = RedactingModel(self.model, self.guard)
        box = run_tools(self, info)
        self.passages, self.sql = self.guard.passages(box.passages), box.sql
        self.result.tools = box.steps
        self.guard.evidence(self.sql, self.attachments)
        if box.searched and not box.passages:
            self.result.notices.append(
                "No passage in your documents matched this question well enough to answer from it."
                + ("" if self.docs_required else " The answer below is from the model's general knowledge.")
            )
        self.result.notices.extend(attach.notices(self.attachments, info.supports_images))

    def _unreadable_answer(self) -> str:
        from app.chat.tools.focus import unreadable_answer

        self.result.unreadable = [u.name for u in self.unreadable]
        # The answer says why each file failed; the same words as notices under it would only repeat it.
        repeated = tuple(f"{u.name} could not be used:" for u in self.unreadable)
        self.result.notices = [n for n in self.result.notices if not n.startswith(repeated)]
        return unreadable_answer(self.unreadable)

    def _not_in_documents(self) -> bool:
        """Only the documents could answer, and nothing in them matched: say so instead of guessing."""
        searched = any(step["name"] == "search_documents" for step in self.result.tools)
        return searched and self.docs_required and not (self.passages or self.sql or self.attachments)

    def _cite(self, answer: str) -> None:
        citations: list[dict[str, Any]] = []
        if self.kept_passages:
            citations, notice = citations_for(answer, self.kept_passages)
            if notice:
                self.result.notices.append(notice)
            if missing := unsupported_terms(answer, self.kept_passages):
                self.result.notices.append(
                    "Not found in the cited passages: " + ", ".join(f"`{t}`" for t in missing[:5])
                    + ". This part may come from the model's general knowledge, not your documents."
                )
        moments = attach.timestamp_citations(answer, self.attachments)
        if not moments and any(a.kind == "audio" for a in self.attachments):
            moments = attach.best_moment(answer, self.attachments)
            if moments:
                self.result.notices.append(attach.INFERRED_MOMENT)
        for extra in moments:
            citations.append({**extra, "n": len(citations) + 1})
        for evidence in self.sql:  # the SQL and its rows are the evidence for any number the answer gives
            citations.append(evidence.citation(len(citations) + 1))
        self.result.citations = citations

    def _guard_notes(self, answer: str = "") -> None:
        if self.guard is None:
            return
        self.guard.answer(answer)
        self.result.guardrails = self.guard.as_dicts()
        for decision in self.result.guardrails:
            note = f"Guardrail ({decision['guard']}, {decision['action']}): {decision['detail']}"
            if note not in self.result.notices:
                self.result.notices.append(note)

    def _finish(self, answer: str, status: str) -> None:
        self._assistant._track(self.flight_key, False)
        self._guard_notes(answer)
        self.result.answer = answer
        self.result.status = "ok" if status == OK else "stopped"
        self.result.total_s = time.monotonic() - self._started
        if answer and not self.result.tokens_out and not self._written_by_app:
            # A stopped stream never delivers the backend's usage: estimate, and say so in the record.
            self.result.tokens_out = estimate_tokens(answer)
            self.result.tokens_estimated = True
        meta = self._message_meta()
        if self._answer_message_id:
            self._assistant.conversations.update_message(self._answer_message_id, answer, status, meta)
        elif status == STOPPED and self.result.conversation_id:
            try:  # stopped while the tools ran: the conversation still shows the turn and its steps
                self._assistant.conversations.add_message(self.result.conversation_id, "assistant", answer,
                                                          STOPPED, meta)
            except NotFoundError:
                pass
        self.result.record_id = self._assistant.record(self)

    def _fail(self, exc: AssistantError) -> None:
        self._assistant._track(self.flight_key, False)
        self._guard_notes()
        self.result.status = "blocked" if isinstance(exc, GuardrailBlockedError) else "error"
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


def _image_ref(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _file_ref(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, **_image_ref(data)}
