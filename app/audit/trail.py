"""The audit trail as people read it: flat rows (tables, CSV), one turn's evidence, streamed exports.

Shared by the Audit page and `python -m app audit`. Record bodies are read through `ChatRecord`
(app.audit.record), tolerantly: older records may lack `flagged`, `not_in_documents`, `guardrails`
or `evidence`. Exports write the stored records as they are.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.audit.record import ChatRecord, Json, as_record
from app.documents.refusals import MODEL_SAYS_NOT_FOUND, NOT_IN_DOCUMENTS
from multimodal.places import place_in_document

# Flat columns for CSV; the full record is in the JSONL export.
CSV_COLUMNS = (
    "id",
    "ts",
    "kind",
    "user",
    "backend",
    "model",
    "status",
    "conversation_id",
    "question",
    "answer",
    "load_s",
    "ttft_s",
    "total_s",
    "tokens_in",
    "tokens_out",
    "tools",
    "citations",
    "error",
    "flagged",
    "not_in_documents",
    "guardrails",
    "workspace",  # last: columns of exports made before sign-in keep their positions
)
_JSON_COLUMNS = ("tools", "citations", "error", "guardrails")
EXPORT_FORMATS = ("jsonl", "csv")
MIME_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


def is_flagged(record: ChatRecord | Json) -> bool:
    """The turn was marked by a guardrail (missing in older records = not flagged)."""
    rec = as_record(record)
    return rec.flagged or any(g.get("action") in ("flagged", "blocked") for g in rec.guardrails)


def is_not_in_documents(record: ChatRecord | Json) -> bool:
    """The answer said the documents hold nothing on the question (inferred from the text for older records)."""
    rec = as_record(record)
    if rec.not_in_documents is not None:
        return rec.not_in_documents
    answer = rec.answer.lstrip()
    return answer.startswith(NOT_IN_DOCUMENTS) or answer.startswith(MODEL_SAYS_NOT_FOUND)


def tool_names(record: ChatRecord | Json) -> list[str]:
    """Names of the tool steps of a turn, in order, without repeats."""
    return as_record(record).tool_names()


def excerpt(text: str | None, limit: int = 80) -> str:
    """One line, at most `limit` characters."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def csv_row(record: ChatRecord | Json) -> dict[str, Any]:
    """A record as one flat CSV row (lists and objects as JSON text)."""
    rec = as_record(record)
    row = {k: getattr(rec, k) for k in CSV_COLUMNS}
    for key in _JSON_COLUMNS:
        value = getattr(rec, key)
        row[key] = json.dumps(value, ensure_ascii=False) if value else ""
    row["flagged"] = is_flagged(rec)
    row["not_in_documents"] = is_not_in_documents(rec) if rec.kind == "chat" else ""
    return row


def table_row(record: ChatRecord | Json) -> dict[str, Any]:
    """A record as one row of the Audit page's table."""
    rec = as_record(record)
    flags = []
    if is_flagged(rec):
        kinds = sorted({k for g in rec.guardrails for k in (g.get("kinds") or [g.get("guard")]) if k})
        flags.append("flagged" + (f" ({', '.join(kinds)})" if kinds else ""))
    if rec.kind == "chat" and is_not_in_documents(rec):
        flags.append("not in documents")
    if rec.tokens_estimated:
        flags.append("tokens estimated")
    return {
        "time": rec.ts,
        "user": rec.user,
        "workspace": rec.workspace,
        "model": rec.model or "",
        "question": excerpt(_what(record, rec)),
        "status": rec.status,
        "tools": ", ".join(rec.tool_names()),
        "flags": ", ".join(flags),
        "total_s": rec.total_s,
        "id": rec.id,
    }


def _what(record: ChatRecord | Json, rec: ChatRecord) -> str:
    # Records of other kinds (sql, transcribe, deletions…) have no question of their own: show what they were
    # about, read from the stored body, so the Audit table is not a column of blanks.
    if isinstance(record, dict) and rec.kind != "chat" and not rec.question:
        for key in ("sql", "file_name", "name", "set_name", "doc_id", "changed"):
            value = record.get(key)
            if value and isinstance(value, str | list | dict):
                return value if isinstance(value, str) else ", ".join(map(str, value))
    return rec.question


@dataclass
class Evidence:
    """Everything one turn's record says about how its answer came about, ready to display."""

    id: str
    ts: str
    user: str
    model: str
    backend: str
    model_digest: str
    conversation_id: str
    status: str
    question: str
    answer: str
    error: dict[str, Any] | None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    prompt: list[dict[str, Any]] = field(default_factory=list)
    passages: list[dict[str, Any]] = field(default_factory=list)
    sql: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    guardrails: list[dict[str, Any]] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    flagged: bool = False
    not_in_documents: bool = False


def _step_input(step: Json) -> str:
    if step.get("input") is None:
        return ""
    value = step["input"]
    return excerpt(value if isinstance(value, str) else json.dumps(value), 120)


def _steps(tools: list[Json]) -> list[Json]:
    return [
        {
            "step": i + 1,
            "tool": t.get("name", ""),
            "seconds": t.get("seconds"),
            "ok": t.get("ok", "error" not in t),
            "input": _step_input(t),
            "error": t.get("error") or "",
        }
        for i, t in enumerate(tools)
    ]


def _sql_steps(tools: list[Json]) -> list[Json]:
    return [
        {
            "sql": t.get("sql") or (t.get("input") if isinstance(t.get("input"), str) else ""),
            "result_sha256": t.get("result_sha256") or "",
            "seconds": t.get("seconds"),
            "ok": t.get("ok", True),
            "error": t.get("error") or "",
        }
        for t in tools
        if t.get("name") == "run_sql" or t.get("sql")
    ]


def _passages(items: list[Json]) -> list[Json]:
    return [
        {
            "document_sha256": p.get("document_sha256") or p.get("doc_id") or "",
            "file": _name(p),
            "page / time": _where(p),
            "chunk_id": str(p.get("chunk_id") or ""),
            "score": p.get("score"),
        }
        for p in items
    ]


def _guardrails(items: list[Json]) -> list[Json]:
    return [
        {
            "guard": g.get("guard", ""),
            "where": g.get("where", ""),
            "action": g.get("action", ""),
            "kinds": ", ".join(map(str, g.get("kinds") or [])),
            "count": g.get("count"),
            "source": g.get("source") or "",
            "detail": g.get("detail") or "",
        }
        for g in items
    ]


def evidence(record: ChatRecord | Json) -> Evidence:
    """The evidence view of one chat record (missing fields become empty)."""
    rec = as_record(record)
    return Evidence(
        id=rec.id,
        ts=rec.ts,
        user=rec.user,
        model=rec.model or "",
        backend=rec.backend or "",
        model_digest=rec.model_digest or "",
        conversation_id=rec.conversation_id or "",
        status=rec.status,
        question=rec.question,
        answer=rec.answer,
        error=rec.error,
        attachments=[{"name": a.get("name", ""), "sha256": a.get("sha256", ""), "bytes": a.get("bytes")}
                     for a in rec.attachments],
        prompt=rec.prompt,
        passages=_passages(rec.evidence),
        sql=_sql_steps(rec.tools),
        steps=_steps(rec.tools),
        guardrails=_guardrails(rec.guardrails),
        citations=rec.citations,
        notices=rec.notices,
        timings={"load_s": rec.load_s, "ttft_s": rec.ttft_s, "total_s": rec.total_s},
        tokens={"in": rec.tokens_in, "out": rec.tokens_out, "estimated": rec.tokens_estimated},
        params=rec.params,
        flagged=is_flagged(rec),
        not_in_documents=is_not_in_documents(rec),
    )


def _clock(seconds: Any) -> str:
    try:
        total = int(float(seconds))
    except (TypeError, ValueError):
        return str(seconds)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _name(item: dict[str, Any]) -> str:
    return str(item.get("file") or item.get("document") or item.get("source") or item.get("table") or "")


def _where(item: dict[str, Any]) -> str:
    # Pages for PDFs, "@ 12:31" for recordings, a section or slide for other documents; older and newer records
    # name a recording's start differently.
    place = place_in_document(item, page_word="p.")
    if place:
        return place
    start = item.get("start_s", item.get("start"))
    return f"@ {_clock(start)}" if start is not None else ""


def citation_label(cite: dict[str, Any]) -> str:
    """A citation as people read it: `[1] report.pdf p. 3`, `[2] meeting.m4a @ 12:31` or
    `[3] SQL result S1 · 3 rows`."""
    number = f"[{cite['n']}] " if cite.get("n") is not None else ""
    if cite.get("kind") == "sql":
        # Built from the label, not the source ("SQL result S1"), which would read "SQL SQL result S1".
        label = f"SQL result {cite['label']}" if cite.get("label") else "SQL result"
        if cite.get("row_count") is None:
            return f"{number}{label}"
        rows = int(cite["row_count"])
        more = "+" if cite.get("truncated") else ""
        return f"{number}{label} · {rows:,}{more} row{'' if rows == 1 and not more else 's'}"
    return f"{number}{_name(cite)} {_where(cite)}".strip()


def export_chunks(records: Iterable[dict[str, Any]], fmt: str, batch: int = 200) -> Iterator[str]:
    """JSONL or CSV text of `records` in chunks of up to `batch` records (memory bounded by the batch)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, extrasaction="ignore") if fmt == "csv" else None
    if writer:
        writer.writeheader()
    pending = 0
    for record in records:
        if writer:
            writer.writerow(csv_row(record))
        else:
            buffer.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        pending += 1
        if pending >= batch:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if buffer.tell():
        yield buffer.getvalue()


def export_bytes(records: Iterable[dict[str, Any]], fmt: str) -> bytes:
    """The whole export as UTF-8 bytes, built chunk by chunk (for a download button)."""
    out = io.BytesIO()
    for chunk in export_chunks(records, fmt):
        out.write(chunk.encode("utf-8"))
    return out.getvalue()


def write_records(records: Iterable[dict[str, Any]], fmt: str, handle: Any) -> int:
    """Write records as JSONL or CSV to a text handle; returns how many were written."""
    count = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal count
        for record in records:
            count += 1
            yield record

    for chunk in export_chunks(counted(), fmt):
        handle.write(chunk)
    return count
