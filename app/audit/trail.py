"""The audit trail as people read it: flat rows (tables, CSV), one turn's evidence, streamed exports.

Shared by the Audit page and `python -m app audit`. Record bodies are read tolerantly: older
records may lack `flagged`, `not_in_documents`, `guardrails` or `evidence`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.documents.refusals import MODEL_SAYS_NOT_FOUND, NOT_IN_DOCUMENTS

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
)
_JSON_COLUMNS = ("tools", "citations", "error", "guardrails")
EXPORT_FORMATS = ("jsonl", "csv")
MIME_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


def is_flagged(record: dict[str, Any]) -> bool:
    """The turn was marked by a guardrail (missing in older records = not flagged)."""
    return bool(record.get("flagged")) or any(
        g.get("action") in ("flagged", "blocked") for g in record.get("guardrails") or [] if isinstance(g, dict)
    )


def is_not_in_documents(record: dict[str, Any]) -> bool:
    """The answer said the documents hold nothing on the question (inferred from the text for older records)."""
    if record.get("not_in_documents") is not None:
        return bool(record["not_in_documents"])
    answer = (record.get("answer") or "").lstrip()
    return answer.startswith(NOT_IN_DOCUMENTS) or answer.startswith(MODEL_SAYS_NOT_FOUND)


def tool_names(record: dict[str, Any]) -> list[str]:
    """Names of the tool steps of a turn, in order, without repeats."""
    names: list[str] = []
    for step in record.get("tools") or []:
        name = step.get("name") if isinstance(step, dict) else None
        if name and name not in names:
            names.append(name)
    return names


def excerpt(text: str | None, limit: int = 80) -> str:
    """One line, at most `limit` characters."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def csv_row(record: dict[str, Any]) -> dict[str, Any]:
    """A record as one flat CSV row (lists and objects as JSON text)."""
    row = {k: record.get(k) for k in CSV_COLUMNS}
    for key in _JSON_COLUMNS:
        row[key] = json.dumps(record.get(key), ensure_ascii=False) if record.get(key) else ""
    row["flagged"] = is_flagged(record)
    row["not_in_documents"] = is_not_in_documents(record) if record.get("kind", "chat") == "chat" else ""
    return row


def table_row(record: dict[str, Any]) -> dict[str, Any]:
    """A record as one row of the Audit page's table."""
    flags = []
    if is_flagged(record):
        kinds = sorted({k for g in record.get("guardrails") or [] for k in (g.get("kinds") or [g.get("guard")]) if k})
        flags.append("flagged" + (f" ({', '.join(kinds)})" if kinds else ""))
    if record.get("kind", "chat") == "chat" and is_not_in_documents(record):
        flags.append("not in documents")
    if record.get("tokens_estimated"):
        flags.append("tokens estimated")
    return {
        "time": record.get("ts", ""),
        "user": record.get("user") or "",
        "model": record.get("model") or "",
        "question": excerpt(record.get("question")),
        "status": record.get("status") or "",
        "tools": ", ".join(tool_names(record)),
        "flags": ", ".join(flags),
        "total_s": record.get("total_s"),
        "id": record.get("id", ""),
    }


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


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value or [] if isinstance(v, dict)]


def evidence(record: dict[str, Any]) -> Evidence:
    """The evidence view of one chat record (missing fields become empty)."""
    tools = _dicts(record.get("tools"))
    steps = [
        {
            "step": i + 1,
            "tool": t.get("name", ""),
            "seconds": t.get("seconds"),
            "ok": t.get("ok", "error" not in t),
            "input": excerpt(t["input"] if isinstance(t.get("input"), str) else json.dumps(t.get("input")), 120)
            if t.get("input") is not None
            else "",
            "error": t.get("error") or "",
        }
        for i, t in enumerate(tools)
    ]
    sql = [
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
    passages = []
    for p in _dicts(record.get("evidence")):
        passages.append(
            {
                "document_sha256": p.get("document_sha256") or p.get("doc_id") or "",
                "file": _name(p),
                "page / time": _where(p),
                "chunk_id": str(p.get("chunk_id") or ""),
                "score": p.get("score"),
            }
        )
    guardrails = [
        {
            "guard": g.get("guard", ""),
            "where": g.get("where", ""),
            "action": g.get("action", ""),
            "kinds": ", ".join(map(str, g.get("kinds") or [])),
            "count": g.get("count"),
            "source": g.get("source") or "",
            "detail": g.get("detail") or "",
        }
        for g in _dicts(record.get("guardrails"))
    ]
    return Evidence(
        id=record.get("id", ""),
        ts=record.get("ts", ""),
        user=record.get("user") or "",
        model=record.get("model") or "",
        backend=record.get("backend") or "",
        model_digest=record.get("model_digest") or "",
        conversation_id=record.get("conversation_id") or "",
        status=record.get("status") or "",
        question=record.get("question") or "",
        answer=record.get("answer") or "",
        error=record.get("error") if isinstance(record.get("error"), dict) else None,
        attachments=[
            {"name": a.get("name", ""), "sha256": a.get("sha256", ""), "bytes": a.get("bytes")}
            for a in _dicts(record.get("attachments"))
        ],
        prompt=_dicts(record.get("prompt")),
        passages=passages,
        sql=sql,
        steps=steps,
        guardrails=guardrails,
        citations=_dicts(record.get("citations")),
        notices=[str(n) for n in record.get("notices") or []],
        timings={k: record.get(k) for k in ("load_s", "ttft_s", "total_s")},
        tokens={
            "in": record.get("tokens_in"),
            "out": record.get("tokens_out"),
            "estimated": bool(record.get("tokens_estimated")),
        },
        params=record.get("params") if isinstance(record.get("params"), dict) else {},
        flagged=is_flagged(record),
        not_in_documents=is_not_in_documents(record),
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
    # Pages for PDFs, "@ 12:31" for recordings; older and newer records name the start differently.
    if item.get("page") is not None:
        return f"p. {item['page']}"
    if item.get("timestamp"):
        return f"@ {item['timestamp']}"
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
