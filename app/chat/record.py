"""The request record of a turn, built in this one place (the type is app.audit.record.ChatRecord).

The record type lives in the audit wing, below the chat, so the audit trail, monitoring and the
pages read records through the same class the chat writes them with.
"""

from __future__ import annotations

from typing import Any

from app.audit.privacy import RecordPrivacy
from app.audit.record import ChatRecord
from app.chat.answerability import Answerability
from app.chat.attachments import file_ref, image_ref
from app.chat.grounding import evidence
from app.chat.state import TurnState
from app.chat.workspace import Workspace
from app.evaluation.numbers import NumberTrace
from app.settings import Settings
from storage.keys import RecordKeys

__all__ = ["ChatRecord", "chat_record"]


def chat_record(turn: TurnState, settings: Settings, workspace: Workspace, numbers: NumberTrace | None = None,
                answerability: Answerability | None = None, retried: bool = False) -> ChatRecord:
    """The turn as its request record: inputs, model and parameters, prompt, evidence, answer, timings; personal
    data in every text masked as type + keyed fingerprint ("[EMAIL:3f2a9c1b]"), sealed too when the setting asks."""
    privacy = RecordPrivacy(RecordKeys.load(settings.keys_dir), settings.record_personal_data)
    record = _record(turn, settings, workspace)
    if numbers is not None:
        record.numbers_total, record.numbers_untraced = numbers.total, len(numbers.untraced)
    record.answerability = answerability.as_dict() if answerability else None
    record.retried = retried
    return ChatRecord.from_body(privacy.mask_record("chat", record.body()))


def _record(turn: TurnState, settings: Settings, workspace: Workspace) -> ChatRecord:
    r = turn.result
    info = turn.model_info
    return ChatRecord(
        user=settings.user,
        conversation_id=r.conversation_id,
        message_id=turn.answer_message_id or None,
        backend=r.backend or (info.backend if info else None),
        model=r.model or (info.name if info else None),
        model_digest=info.digest if info else None,
        vision=r.vision,
        params={"temperature": settings.temperature, "top_p": settings.top_p, "max_tokens": settings.max_tokens,
                "seed": settings.seed, "context_window": info.context_window if info else None},
        question=turn.question,
        attachments=[a.ref() for a in turn.attachments]
        + [file_ref(n, d) for n, d in turn.files if not any(a.name == n for a in turn.attachments)],
        prompt=[{"role": m.role, "content": m.content, "images": [image_ref(i) for i in m.images]}
                for m in turn.prompt],
        answer=r.answer,
        status=r.status,
        error={"message": r.error, "hint": r.error_hint} if r.error else None,
        load_s=round(r.load_s, 4),
        ttft_s=None if r.ttft_s is None else round(r.ttft_s, 4),
        total_s=round(r.total_s, 4),
        tokens_in=r.tokens_in,
        tokens_out=r.tokens_out,
        tokens_estimated=r.tokens_estimated,
        notices=r.notices,
        citations=r.citations,
        tools=r.tools,
        evidence=_with_document_hashes(evidence(turn.passages), workspace),
        guardrails=r.guardrails,
        flagged=bool(r.guardrails),
        not_in_documents=r.not_in_documents,
        unreadable=r.unreadable,
        tool_mode=r.tool_mode,
        sql=[{"label": e.label, "sql": e.sql, "row_count": e.row_count, "result_sha256": e.result_sha256}
             for e in turn.sql],
    )


def _with_document_hashes(items: list[dict[str, Any]], workspace: Workspace) -> list[dict[str, Any]]:
    """Evidence names each passage's document by its sha256 too: ids are local, hashes prove the bytes."""
    if not items or not workspace.has_documents_service:
        return items
    hashes = {doc_id: workspace.document_sha256(doc_id) for doc_id in {e["doc_id"] for e in items}}
    return [{**e, "document_sha256": hashes[e["doc_id"]]} for e in items]
