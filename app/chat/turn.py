"""One question and its streamed answer: tools, prompt, streaming, saving, citations, recording.

The turn gets what it uses (`TurnServices`) from whoever starts it; it never imports the
assistant. Its state (`TurnState`, app.chat.state) is what the tools read and fill in.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.chat import answer_checks as checks
from app.chat import attachments as attach
from app.chat.answerability import Answerability, HeldBack, assess, reordered
from app.chat.grounding import citation, citations_for, unsupported_terms
from app.chat.guard import RedactingModel, TurnGuard
from app.chat.history import read_history
from app.chat.prompt import PromptRequest, build_prompt, estimate_tokens
from app.chat.record import chat_record
from app.chat.state import InFlight, Progress, TurnResult, TurnState
from app.chat.tools.focus import unreadable_answer
from app.chat.tools.planning import run_tools
from app.chat.workspace import Workspace
from app.documents.refusals import NOT_IN_DOCUMENTS
from app.errors import AssistantError, GuardrailBlockedError, NotFoundError
from app.evaluation.numbers import NumberTrace
from app.ports import ChatModel, GenerationParams, ModelInfo, RecordStore
from app.settings import Settings
from storage.conversations import ERROR, OK, STOPPED, STREAMING, ConversationStore

__all__ = ["ModelSource", "Progress", "Turn", "TurnResult", "TurnServices"]

_SAVE_EVERY_S = 0.5  # how often a streaming answer is written to disk


class ModelSource(Protocol):
    """Picks and loads the answering model (the app's ModelRouter); holds the live settings."""

    @property
    def settings(self) -> Settings:
        """Current settings."""
        ...

    def get_model(self, progress: Progress | None = None, overrides: dict[str, Any] | None = None, /) -> ChatModel:
        """The model that answers now, loaded and ready."""
        ...


@dataclass(frozen=True)
class TurnServices:
    """What a turn uses besides its own state; shared by every turn of the process."""

    models: ModelSource
    conversations: ConversationStore
    records: RecordStore
    workspace: Workspace
    in_flight: InFlight

    @property
    def settings(self) -> Settings:
        """Current settings (the model source holds the live copy)."""
        return self.models.settings


class Turn(TurnState):
    """One question and its streamed answer. Iterate it for text deltas."""

    def __init__(self, services: TurnServices, question: str, conversation_id: str | None,
                 files: Sequence[tuple[str, bytes]], progress: Progress | None,
                 model_choice: dict[str, Any] | None = None) -> None:
        super().__init__(question=question, files=list(files), model_choice=model_choice, progress=progress,
                         result=TurnResult(conversation_id=conversation_id), model_question=question)
        self.services = services
        self.written_by_app = False  # the answer is the app's own text (no model tokens to count)
        self.withheld = False  # the model's answer followed removed text: the explanation replaced it
        self.started = time.monotonic()
        self.answerability: Answerability | None = None  # the passages' verdict before answering (documents only)
        self.numbers: NumberTrace | None = None  # numbers of the answer traced to its sources
        self.retried = False  # the model refused although the passages answer: asked once more
        self._iterator: Generator[str, None, None] | None = None

    def resolve_model(self) -> ModelInfo:
        """Pick and load the model (may take a while the first time); recorded if it fails."""
        if self.model is None:
            started = time.monotonic()
            try:
                self.model = self.services.models.get_model(self.progress, self.model_choice)
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
            self.services.in_flight.end(self.flight_key)

    def run(self) -> TurnResult:
        """Consume the whole answer and return the result (CLI, benchmarks)."""
        for _ in self:
            pass
        return self.result

    def _generate(self) -> Generator[str, None, None]:
        info = self.resolve_model()
        self.result.backend, self.result.model, self.result.vision = info.backend, info.name, info.supports_images
        parts: list[str] = []
        finished = False
        try:
            self._use_tools(info)
            written = self._written_answer()
            if written:
                # Answered without the model, but saved and shown like any answer (with the tool steps).
                self.written_by_app = True
                self._open_answer_message(info)
                parts.append(written)
                yield written
            else:
                yield from self._stream_answer(info, parts)
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
                answer = checks.recognise_refusal(self, "".join(parts))
                self._cite(answer)
                answer, self.numbers = checks.traced(self, answer, self.services.settings)
                self._finish(answer, OK)
            elif self.result.status not in ("error", "blocked"):
                # Closed early: the stop button, a rerun, or the consumer going away.
                self._finish("".join(parts), STOPPED)

    def _written_answer(self) -> str:
        """The app's own answer when the model must not write one ('' when it should)."""
        if self.unreadable:
            # The file the question is about could not be read: say so plainly rather than let the model
            # answer from whatever else it has (it "summarised" an empty PDF from unrelated documents).
            return self._unreadable_answer()
        if self._not_in_documents():
            self.result.not_in_documents = True
            return NOT_IN_DOCUMENTS
        self.answerability = checks.verdict(self, self.services.settings)
        if self.answerability and not self.answerability.answerable:
            self.result.not_in_documents = True
            self.result.notices.append(checks.not_answerable_notice(self.answerability))
            return NOT_IN_DOCUMENTS
        return ""

    def _stream_answer(self, info: ModelInfo, parts: list[str]) -> Iterator[str]:
        """Build the prompt and stream the model's answer into `parts`, saving it as it grows."""
        assert self.model is not None and self.guard is not None  # set by resolve_model and _use_tools
        request = PromptRequest(self.question, self.pasted, self.attachments, self.passages, self.sql,
                                self.history.for_prompt())
        prompt = build_prompt(request, info, self.services.settings)
        self.kept_passages = prompt.kept_passages
        self.result.notices.extend(prompt.notices)
        self.prompt = self.guard.prompt(prompt.messages)
        self._open_answer_message(info)
        last_save = time.monotonic()
        texts = self._generated(prompt.params)
        if self.guard.checks_answer:  # text was removed from the evidence: check the answer before showing it
            texts = self._checked(texts)
        held = HeldBack(texts) if self.kept_passages and not self.sql else None
        for text in held or texts:
            parts.append(text)
            yield text
            if self.answer_message_id and time.monotonic() - last_save > _SAVE_EVERY_S:
                self.services.conversations.update_message(self.answer_message_id, "".join(parts))
                last_save = time.monotonic()
        if held is not None and held.held is not None:  # opened like a refusal, or was only "[2]"
            final = self._instead_of_refusal(held.held, info)
            parts.append(final)
            yield final

    def _instead_of_refusal(self, text: str, info: ModelInfo) -> str:
        """A held-back answer's replacement (see answer_checks.instead_of_refusal); the retry is a second model call."""
        return checks.instead_of_refusal(self, text, self.answerability, lambda: self._retry(info))

    def _retry(self, info: ModelInfo) -> str:
        """Ask once more with the passage that covers the question best first and an instruction to answer from it."""
        assert self.guard is not None
        self.retried = True
        self.result.notices.append(checks.RETRIED)
        passages = reordered(self.kept_passages, assess(self.model_question, self.kept_passages).best)
        request = PromptRequest(self.question, self.pasted, self.attachments, passages, self.sql,
                                self.history.for_prompt())
        prompt = build_prompt(request, info, self.services.settings)
        self.kept_passages = prompt.kept_passages
        self.prompt = self.guard.prompt(checks.with_retry_instruction(prompt.messages))
        tokens = (self.result.tokens_in, self.result.tokens_out)
        texts = self._generated(prompt.params)
        text = "".join(self._checked(texts) if self.guard.checks_answer else texts)
        self.result.tokens_in += tokens[0]
        self.result.tokens_out += tokens[1]
        return text

    def _generated(self, params: GenerationParams) -> Iterator[str]:
        """The model's text deltas; usage and finish notices go to the result."""
        assert self.model is not None
        generation_started = time.monotonic()
        for chunk in self.model.stream(self.prompt, params):
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
            yield chunk.text

    def _checked(self, texts: Iterator[str]) -> Iterator[str]:
        """The whole answer once it is checked, or the explanation of why it is withheld."""
        assert self.guard is not None
        answer = "".join(texts)
        explanation = self.guard.followed(answer, self.prompt)
        self.withheld = bool(explanation)
        yield explanation or answer

    def _open_answer_message(self, info: ModelInfo) -> None:
        """The answer's message in the conversation, saved before its first word so a reload shows it."""
        if self.result.conversation_id and not self.answer_message_id:
            self.answer_message_id = self.services.conversations.add_message(
                self.result.conversation_id, "assistant", "", STREAMING, {"model": info.label}
            ).id

    def _use_tools(self, info: ModelInfo) -> None:
        """Add this turn's PDFs and tables, pick the tools (router or the model), run them, keep the evidence."""
        assert self.model is not None  # resolved first
        services = self.services
        guard = self.guard = TurnGuard(services.settings, info)
        self.model_question = guard.question(self.question)  # a blocked question runs no tool
        if guard.redacting:
            self.model = RedactingModel(self.model, guard)
        self.history = read_history(services.conversations, self.result.conversation_id,
                                    (self.user_message_id, self.answer_message_id))
        box = run_tools(self, info, services.workspace, services.settings)
        self.passages, self.sql = guard.passages(box.passages), box.sql
        self.result.tools = box.steps
        guard.evidence(self.sql, self.attachments)
        if box.searched and not box.passages:
            self.result.notices.append(
                "No passage in your documents matched this question well enough to answer from it."
                + ("" if self.docs_required else " The answer below is from the model's general knowledge.")
            )
        self.result.notices.extend(attach.notices(self.attachments, info.supports_images))

    def _unreadable_answer(self) -> str:
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
        removed = self.guard.removed if self.guard else {}
        if self.withheld:  # the passages the removed text came from, so it can be read there
            citations = [citation(n, p) for n, p in enumerate(
                [p for p in self.kept_passages if p.chunk_id in removed], start=1)]
        elif self.kept_passages and not self.result.not_in_documents:
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
        for cite in citations:
            if cite.get("chunk_id") in removed:  # kept and marked in the citation view, never shown to the model
                cite["removed"] = removed[cite["chunk_id"]]
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
        self.services.in_flight.end(self.flight_key)
        self._guard_notes(answer)
        self.result.answer = answer
        self.result.status = "ok" if status == OK else "stopped"
        self.result.total_s = time.monotonic() - self.started
        if answer and not self.result.tokens_out and not self.written_by_app:
            # A stopped stream never delivers the backend's usage: estimate, and say so in the record.
            self.result.tokens_out = estimate_tokens(answer)
            self.result.tokens_estimated = True
        meta = self._message_meta()
        store = self.services.conversations
        if self.answer_message_id:
            store.update_message(self.answer_message_id, answer, status, meta)
        elif status == STOPPED and self.result.conversation_id:
            try:  # stopped while the tools ran: the conversation still shows the turn and its steps
                store.add_message(self.result.conversation_id, "assistant", answer, STOPPED, meta)
            except NotFoundError:
                pass
        self._record()

    def _fail(self, exc: AssistantError) -> None:
        self.services.in_flight.end(self.flight_key)
        self._guard_notes()
        self.result.status = "blocked" if isinstance(exc, GuardrailBlockedError) else "error"
        self.result.error, self.result.error_hint = exc.message, exc.hint
        self.result.total_s = time.monotonic() - self.started
        store = self.services.conversations
        if self.result.conversation_id:
            text = self.result.answer
            meta = {**self._message_meta(), "error": exc.message, "hint": exc.hint}
            if self.answer_message_id:
                store.update_message(self.answer_message_id, text, ERROR, meta)
            else:
                try:
                    store.add_message(self.result.conversation_id, "assistant", text, ERROR, meta)
                except NotFoundError:
                    pass  # the conversation was deleted (another tab); the record below still keeps the turn
        self._record()

    def _record(self) -> None:
        """Write the turn's request record (append-only)."""
        services = self.services
        record = chat_record(self, services.settings, services.workspace, self.numbers, self.answerability,
                             self.retried)
        self.result.record_id = services.records.append(record.kind, record.body())

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
