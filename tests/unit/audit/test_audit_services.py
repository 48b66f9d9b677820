"""Audit helpers (rows, evidence, streamed exports) and the container's recorded deletions and retention."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from app.audit.trail import (
    CSV_COLUMNS,
    citation_label,
    csv_row,
    evidence,
    export_bytes,
    export_chunks,
    is_flagged,
    is_not_in_documents,
    table_row,
)
from app.container import build_services
from storage.records import SqliteRecordStore

TURN = {
    "id": "r1",
    "ts": "2025-05-01T09:30:00.000+00:00",
    "kind": "chat",
    "user": "ann",
    "model": "qwen",
    "backend": "ollama",
    "status": "ok",
    "question": "What   does the\ncontract say? " + "x" * 200,
    "answer": "It says [1].",
    "attachments": [{"name": "meeting.m4a", "sha256": "a" * 64, "bytes": 10}],
    "prompt": [{"role": "user", "content": "hi", "images": []}],
    "tools": [
        {"name": "search_documents", "input": "contract", "seconds": 0.2, "ok": True},
        {"name": "run_sql", "input": "total", "seconds": 0.4, "ok": False, "error": "no table",
         "sql": "SELECT 1", "result_sha256": "b" * 64},
        {"name": "search_documents", "input": "again", "seconds": 0.1, "ok": True},
    ],
    "evidence": [
        {"doc_id": "d" * 64, "source": "contract.pdf", "page": 4, "chunk_id": "d-4-0", "score": 0.9},
        {"doc_id": "f" * 64, "source": "meeting.m4a", "page": None, "chunk_id": "f-0-2", "kind": "audio",
         "timestamp": "12:31"},
    ],
    "citations": [{"n": 1, "source": "contract.pdf", "page": 4}, {"n": 2, "source": "meeting.m4a", "start": 751.0}],
    "guardrails": [{"guard": "pii", "where": "answer", "action": "redacted", "kinds": ["email"], "count": 2}],
    "tokens_in": 10,
    "tokens_out": 5,
    "tokens_estimated": True,
    "total_s": 1.5,
}  # fmt: skip


def test_table_row_is_one_readable_line():
    row = table_row(TURN)
    assert row["question"].startswith("What does the contract say? xxx") and row["question"].endswith("…")
    assert len(row["question"]) == 80
    assert row["tools"] == "search_documents, run_sql"
    assert row["flags"] == "tokens estimated"  # a redaction is not a flag
    assert table_row({**TURN, "flagged": True})["flags"].startswith("flagged (email)")
    assert "not in documents" in table_row({"kind": "chat", "answer": "The documents do not say."})["flags"]


def test_flags_are_tolerant_of_older_records():
    assert not is_flagged({}) and not is_not_in_documents({})
    assert is_flagged({"guardrails": [{"action": "blocked"}]})
    assert is_not_in_documents({"answer": "I could not find this in your documents."})
    assert not is_not_in_documents({"answer": "I could not find this in your documents.", "not_in_documents": False})


def test_evidence_view_of_a_turn():
    ev = evidence(TURN)
    assert ev.attachments == [{"name": "meeting.m4a", "sha256": "a" * 64, "bytes": 10}]
    assert [p["page / time"] for p in ev.passages] == ["p. 4", "@ 12:31"]
    assert ev.passages[0]["document_sha256"] == "d" * 64 and ev.passages[1]["chunk_id"] == "f-0-2"
    assert ev.sql == [{"sql": "SELECT 1", "result_sha256": "b" * 64, "seconds": 0.4, "ok": False, "error": "no table"}]
    assert [(s["step"], s["tool"], s["ok"]) for s in ev.steps] == [
        (1, "search_documents", True), (2, "run_sql", False), (3, "search_documents", True)
    ]  # fmt: skip
    assert ev.guardrails[0]["kinds"] == "email" and ev.tokens == {"in": 10, "out": 5, "estimated": True}
    assert [citation_label(c) for c in ev.citations] == ["[1] contract.pdf p. 4", "[2] meeting.m4a @ 12:31"]
    # SQL results as the turn cites them (toolbox.SqlEvidence.citation): named once, with their size.
    sql = {"n": 3, "kind": "sql", "label": "S1", "source": "SQL result S1", "row_count": 3, "truncated": False}
    assert citation_label(sql) == "[3] SQL result S1 · 3 rows"
    assert citation_label({**sql, "row_count": 1}) == "[3] SQL result S1 · 1 row"
    assert citation_label({**sql, "row_count": 500, "truncated": True}) == "[3] SQL result S1 · 500+ rows"
    assert citation_label({"n": 4, "kind": "sql"}) == "[4] SQL result"  # an older record without the fields
    empty = evidence({"kind": "chat"})
    assert empty.passages == [] and empty.steps == [] and empty.error is None and not empty.flagged


def test_exports_stream_in_batches():
    records = [{**TURN, "id": f"r{i}"} for i in range(450)]
    chunks = list(export_chunks(iter(records), "jsonl", batch=200))
    assert len(chunks) == 3 and sum(c.count("\n") for c in chunks) == 450
    assert json.loads(chunks[0].splitlines()[0])["id"] == "r0"
    rows = list(csv.DictReader(io.StringIO(export_bytes(records, "csv").decode("utf-8"))))
    assert len(rows) == 450 and tuple(rows[0]) == CSV_COLUMNS
    assert json.loads(rows[0]["tools"])[1]["sql"] == "SELECT 1" and rows[0]["flagged"] == "False"
    assert csv_row({"kind": "retention"})["not_in_documents"] == ""
    assert list(export_chunks([], "csv")) == ["id,ts,kind,user,backend,model,status,conversation_id,question,answer,"
                                             "load_s,ttft_s,total_s,tokens_in,tokens_out,tools,citations,error,"
                                             "flagged,not_in_documents,guardrails,workspace\r\n"]  # fmt: skip


def test_delete_conversation_is_recorded(settings_factory):
    services = build_services(settings_factory(user="ann"))
    conv = services.conversations.create("Budget")
    services.conversations.add_message(conv.id, "user", "q")
    services.conversations.add_message(conv.id, "assistant", "a")
    services.delete_conversation(conv.id)
    assert services.conversations.list() == []
    (record,) = services.records.query(kind="conversation_deleted")
    assert {k: record[k] for k in ("user", "conversation_id", "title", "messages")} == {
        "user": "ann", "conversation_id": conv.id, "title": "Budget", "messages": 2
    }  # fmt: skip
    services.delete_conversation(conv.id)  # already gone (another tab): nothing more happens
    assert services.records.count() == 1


def test_retention_runs_when_services_start(settings_factory):
    settings = settings_factory(audit_retention_days=30)
    store = SqliteRecordStore(settings.data_dir / "records.sqlite")
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat(timespec="milliseconds")
    store.append("chat", {"ts": old, "question": "old"})
    store.append("chat", {"question": "new"})
    services = build_services(settings)
    assert [r.get("question", r["kind"]) for r in services.records.query()] == ["retention", "new"]
    assert services.records.verify() == []
    assert services.apply_retention()["pruned"] == 0
    assert build_services(settings_factory()).apply_retention() is None  # 0 days keeps everything


def test_retention_from_pages_runs_at_most_every_interval_and_on_a_settings_change(settings_factory):
    settings = settings_factory(audit_retention_days=30)
    services = build_services(settings)  # ran at start-up
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat(timespec="milliseconds")
    services.records.append("chat", {"ts": old, "question": "old"})
    assert services.apply_retention(every_s=3600) is None  # too soon
    assert services.records.count() == 1
    services.apply_settings({"audit_retention_days": 35})
    kept = [r.get("question", r["kind"]) for r in services.records.query()]
    assert "retention" in kept and "old" not in kept  # (the settings change may be a record of its own)


def test_records_of_other_kinds_show_what_they_were_about_in_the_audit_table():
    from app.audit.trail import table_row

    sql = {"id": "r1", "ts": "2026-12-07T07:00:00", "kind": "sql", "user": "ana", "status": "ok",
           "sql": "SELECT region FROM sales", "question": ""}
    transcribed = {"id": "r2", "ts": "2026-12-07T07:01:00", "kind": "transcribe", "user": "ana", "status": "ok",
                   "file_name": "meeting.m4a"}
    assert table_row(sql)["question"] == "SELECT region FROM sales"
    assert table_row(transcribed)["question"] == "meeting.m4a"
