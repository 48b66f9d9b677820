"""Export a conversation as an HTML or PDF report with its manifest; the export itself is recorded."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from app.errors import BadInputError
from app.reports.html import render_html
from app.reports.model import build_report
from app.reports.pdf import render_pdf
from app.reports.proof import chain_rows, embed_in_html, embed_in_pdf, manifest
from storage.conversations import ConversationStore
from storage.records import SqliteRecordStore

FORMATS = ("html", "pdf")


def export_report(conversations: ConversationStore, records: SqliteRecordStore, conversation_id: str, fmt: str,
                  author: str, origin: str = "cli", answers: Sequence[int] | None = None) -> bytes:
    """The report file's bytes (of the ticked `answers`, numbered from 1; None: all); a `report_exported` record
    names the conversation, the format, the answers and the file's hash."""
    if fmt not in FORMATS:
        raise BadInputError(f"Unknown report format {fmt!r}.", "Use html or pdf.")
    report = build_report(conversations, records, conversation_id, author, answers)
    ids = report.record_ids()
    chain = chain_rows(records, ids)
    numbers = [e.number for e in report.entries]
    proof = {**manifest(records, conversation_id, ids), "exported_at": report.exported_at, "author": author,
             "answers": numbers}
    if fmt == "html":
        data = embed_in_html(render_html(report, chain), proof).encode("utf-8")
    else:
        data = embed_in_pdf(render_pdf(report, chain), proof)
    body: dict[str, Any] = {"user": author, "status": "ok", "origin": origin, "conversation_id": conversation_id,
                            "format": fmt, "answers": len(report.entries), "cited_records": ids,
                            "answer_numbers": numbers, "all_answers": answers is None,
                            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    records.append("report_exported", body)
    return data
