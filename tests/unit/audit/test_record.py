"""The typed chat request record: what the chat writes reads back the same, older bodies read with defaults."""

from __future__ import annotations

from app.audit.record import ChatRecord, as_record
from app.audit.trail import is_not_in_documents

WRITTEN_KEYS = {
    "user", "workspace", "conversation_id", "message_id", "backend", "model", "model_digest", "vision", "params",
    "question",
    "attachments", "prompt", "answer", "status", "error", "load_s", "ttft_s", "total_s", "tokens_in", "tokens_out",
    "tokens_estimated", "notices", "citations", "tools", "evidence", "guardrails", "flagged", "not_in_documents",
    "unreadable", "tool_mode", "sql", "numbers_total", "numbers_untraced", "answerability", "retried",
}  # fmt: skip


def test_the_written_body_has_the_stored_fields_and_reads_back_the_same():
    record = ChatRecord(user="ann", question="Total?", answer="42 [S1].", status="ok", total_s=1.5, tokens_in=10,
                        tools=[{"name": "run_sql", "ok": True}], not_in_documents=False)
    body = record.body()
    assert set(body) == WRITTEN_KEYS  # id, ts and kind are the store's
    stored = {**body, "id": "r1", "ts": "2025-05-01T09:30:00+00:00", "kind": "chat"}
    again = ChatRecord.from_body(stored)
    assert again.body() == body and again.id == "r1" and again.tool_names() == ["run_sql"]
    assert as_record(again) is again


def test_an_older_or_other_record_reads_with_defaults():
    old = ChatRecord.from_body({"id": "r0", "kind": "chat", "answer": "The documents do not say.", "tools": None,
                                "notices": ["x", 3], "evidence": ["not a dict", {"doc_id": "d"}], "params": "bad"})
    assert old.tools == [] and old.notices == ["x", "3"] and old.evidence == [{"doc_id": "d"}] and old.params == {}
    assert old.not_in_documents is None and is_not_in_documents(old)
    retention = ChatRecord.from_body({"id": "r9", "kind": "retention", "user": "ann", "pruned": 4})
    assert retention.kind == "retention" and retention.user == "ann" and retention.question == ""
