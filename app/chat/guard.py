"""Guardrails applied to a turn: the question before any tool runs, the evidence before the prompt,
the prompt before it leaves for the model, and the answer after it.

Decisions (flags, redactions, blocks) are kept on the turn, shown with the answer and written to
the request record. Personal data is masked only where the policy says so (by default: before
it is sent to a model on another machine, which its adapter declares as `remote`); the local
record keeps the user's own text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from app.chat.attachments import Attachment
from app.chat.tools.specs import SqlEvidence
from app.documents.search import Passage, place
from app.errors import GuardrailBlockedError
from app.guardrails import GuardDecision, Guardrails, redact_pii
from app.guardrails.injection import scan_chunks, strip_instructions
from app.ports import ChatMessage, ChatModel, Chunk, GenerationParams, ModelInfo, ToolReply
from app.settings import Settings


class TurnGuard:
    """The guardrails of one turn, with the decisions they made."""

    def __init__(self, settings: Settings, info: ModelInfo | None) -> None:
        self.guards = Guardrails(settings.pii_policy, settings.injection_policy)
        self.remote = bool(info and info.remote)
        policy = settings.pii_policy
        self.redacting = policy == "redact_always" or (policy == "redact_remote" and self.remote)
        self.decisions: list[GuardDecision] = []
        # Instruction-like sentences cut from what the model reads: by passage (for the citation view) and all of
        # them with where they came from (for the answer check).
        self.removed: dict[str, list[str]] = {}
        self.watched: list[tuple[str, str]] = []

    def question(self, text: str) -> str:
        """The question as the model may see it; raises GuardrailBlockedError when the policy blocks it."""
        out, decisions = self.guards.check_text(text, "question", remote=self.remote)
        self.decisions += decisions
        if Guardrails.blocked(decisions):
            detail = next(d.detail for d in decisions if d.action == "blocked")
            raise GuardrailBlockedError(
                f"This question was blocked: {detail}",
                "Rephrase it as a question about your data. An administrator can set the injection policy to "
                "'flag' in Settings.",
            )
        return out

    def passages(self, passages: list[Passage]) -> list[Passage]:
        """Retrieved passages, PII-checked; one that carries instructions (also split over two) is marked."""
        if not passages:
            return passages
        texts = [p.text for p in passages]
        checked, decisions = self.guards.check_chunks(texts, "passage", remote=self.remote,
                                                      sources=[place(p) for p in passages])
        self.decisions += decisions
        hostile = {index for index, _ in scan_chunks(texts)}
        for i in sorted(hostile):
            self._watch(strip_instructions(texts[i]).removed, place(passages[i]), passages[i].chunk_id)
        return [replace(p, text=t, suspicious=p.suspicious or i in hostile) for i, (p, t) in
                enumerate(zip(passages, checked, strict=True))]

    def evidence(self, sql: list[SqlEvidence], attachments: list[Attachment]) -> None:
        """Flag personal data and instructions in SQL results, text read from images and transcripts."""
        for result in sql:
            self.decisions += self.guards.check_text(result.block(), "sql_result", remote=self.remote,
                                                     source=result.label)[1]
        for item in attachments:
            ocr = item.image.ocr if item.kind == "image" and item.image else None
            if ocr and ocr.lines and item.image:
                text = "\n".join(line.text for line in ocr.lines)
                found = self.guards.check_text(text, "ocr", remote=self.remote, source=item.name)[1]
                self.decisions += found
                if any(d.guard == "injection" for d in found):  # the model reads the OCR text without them
                    stripped = strip_instructions(ocr.text)
                    self._watch(strip_instructions(text).removed + stripped.removed, item.name)
                    item.image = replace(item.image, ocr=replace(ocr, text=stripped.text))
            elif item.kind == "audio" and item.transcript:
                self.decisions += self.guards.check_text(item.transcript.text, "transcript", remote=self.remote,
                                                         source=item.name)[1]

    def prompt(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """The prompt as it leaves for the model: personal data masked everywhere when the policy says so."""
        if not self.redacting:
            return list(messages)
        return [m if m.role == "system" else replace(m, content=redact_pii(m.content)) for m in messages]

    def _watch(self, removed: list[str], source: str, chunk_id: str = "") -> None:
        if chunk_id and removed:
            self.removed[chunk_id] = removed
        self.watched += [(sentence, source) for sentence in dict.fromkeys(removed)]

    @property
    def checks_answer(self) -> bool:
        """Something was removed from what the model reads: hold the answer until it is checked."""
        return bool(self.watched)

    def followed(self, answer: str, seen: Sequence[ChatMessage]) -> str:
        """The explanation that replaces an answer showing signs of following removed text; '' when it shows none."""
        decision = Guardrails.check_followed(answer, [s for s, _ in self.watched], "\n".join(m.content for m in seen),
                                             [source for _, source in self.watched])
        if decision is None:
            return ""
        self.decisions.append(decision)
        return decision.detail + " The removed text is shown, marked, with the citations; ask again or read it there."

    def answer(self, text: str) -> None:
        """Personal data in the answer: flagged (the answer is already on screen)."""
        if text:
            self.decisions += self.guards.check_answer(text)

    def as_dicts(self) -> list[dict[str, Any]]:
        """Decisions for the record and the page."""
        return [d.as_dict() for d in self.decisions]


class RedactingModel:
    """A chat model whose every prompt (SQL writing and tool planning included) is masked first."""

    def __init__(self, model: ChatModel, guard: TurnGuard) -> None:
        self._model = model
        self._guard = guard

    @property
    def info(self) -> ModelInfo:
        """The wrapped model's info."""
        return self._model.info

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        """Stream from the wrapped model with personal data masked."""
        return self._model.stream(self._guard.prompt(messages), params)

    def call_tools(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]], params: GenerationParams
    ) -> ToolReply:
        """A tool-calling round of the wrapped model with personal data masked."""
        return self._model.call_tools(self._guard.prompt(messages), tools, params)
