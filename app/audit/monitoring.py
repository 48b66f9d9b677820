"""Monitoring figures over request records: latency percentiles per step, speed, tokens and rates.

Pure functions over record bodies (no Streamlit, no storage), so the page, the CLI and tests
share them. Definitions, as shown on the Monitoring page:

- A *turn* is a record of kind "chat". Rates are shares of all turns in the group.
- Latency and tokens come from turns that finished (status "ok"); errors, stops and blocks
  would mix fast failures into the figures.
- Steps: `total` (the whole turn, model loading and tools included), `ttft` (from the request
  to the model until its first token), `load` (picking and loading the model), and per tool
  the seconds of its steps summed over the turn: `retrieval` (search_documents), `sql`
  (run_sql), `transcription` (read_transcript), `vision` (describe_image, OCR included).
  A tool's percentiles cover only the turns that used it.
- Generation time = total - load - tool seconds - ttft: the time the model spent writing the
  answer after its first token. Tokens/s = tokens_out / generation time (turns with at
  least 2 output tokens and a generation time of at least 10 ms).
- Percentiles are numpy's linear interpolation between the closest ranks; with few turns
  p95 and p99 are close to the maximum, so `n` is always reported next to them.
- Guardrail rejection rate = turns with status "blocked"; flagged rate = turns a guardrail
  flagged (older records without the field count as not flagged); not-in-documents rate =
  share of the turns that searched the documents whose answer said the documents hold nothing.
- Error rate = turns with status "error": failed turns, including a turn whose answer the page
  could not draw (it is recorded as failed, not as stopped).
- Display errors are records of kind "ui_error": a part of a page that could not be drawn
  (`report_render_error`). They are not turns; their rate is per turn of the same period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from app.audit.record import ChatRecord, Json, as_record
from app.audit.trail import is_flagged, is_not_in_documents

TOOL_STEPS = {
    "retrieval": "search_documents",
    "sql": "run_sql",
    "transcription": "read_transcript",
    "vision": "describe_image",
}
STEPS = ("total", "ttft", "load", "generation", *TOOL_STEPS)
STEP_LABELS = {
    "total": "Total",
    "ttft": "Time to first token",
    "load": "Model load",
    "generation": "Generation",
    "retrieval": "Retrieval",
    "sql": "SQL",
    "transcription": "Transcription",
    "vision": "OCR / vision",
}
QUANTILES = (50, 95, 99)
BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
_MIN_GENERATION_S = 0.01
_MAX_FILLED_BUCKETS = 2000
_KEEP = (
    "ts", "kind", "user", "model", "backend", "status", "answer", "load_s", "ttft_s", "total_s", "tokens_in",
    "tokens_out", "flagged", "not_in_documents", "guardrails", "model_digest", "numbers_total", "numbers_untraced",
)  # fmt: skip
Records = Iterable[ChatRecord | Json]


def slim(record: ChatRecord | Json) -> Json:
    """Only what monitoring reads (no prompts or passages), so a long period fits in memory."""
    rec = as_record(record)
    out = {k: getattr(rec, k) for k in _KEEP}
    out["answer"] = rec.answer[:80]  # enough to recognise "not in your documents" in older records
    out["answer_chars"] = len(rec.answer)  # for drift: the answer's length survives the cut
    out["citations"] = [{"kind": c.get("kind")} for c in rec.citations]  # whether (and what) the answer cites
    out["tools"] = [{"name": t.get("name"), "seconds": t.get("seconds")} for t in rec.tools]
    return out


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number >= 0 else None


def step_seconds(record: ChatRecord | Json) -> dict[str, float]:
    """Seconds per step of one turn (only the steps it has)."""
    rec = as_record(record)
    out: dict[str, float] = {}
    for step, value in (("total", rec.total_s), ("ttft", rec.ttft_s), ("load", rec.load_s)):
        number = _num(value)
        if number is not None:
            out[step] = number
    for step, name in TOOL_STEPS.items():
        seconds = [_num(t.get("seconds")) or 0.0 for t in rec.tools if t.get("name") == name]
        if seconds:
            out[step] = sum(seconds)
    tool_total = sum(_num(t.get("seconds")) or 0.0 for t in rec.tools)
    if "total" in out and "ttft" in out:
        generation = out["total"] - out.get("load", 0.0) - tool_total - out["ttft"]
        if generation >= 0:
            out["generation"] = generation
    return out


def tokens_per_second(record: ChatRecord | Json) -> float | None:
    """Output tokens per second of generation time (see the module docstring), or None when not measurable."""
    rec = as_record(record)
    tokens = _num(rec.tokens_out)
    generation = step_seconds(rec).get("generation")
    if not tokens or tokens < 2 or generation is None or generation < _MIN_GENERATION_S:
        return None
    return tokens / generation


def percentiles(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """{"n", "p50", "p95", "p99", "mean", "max"} of the values (None figures when there are none)."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return {"n": 0, **{f"p{q}": None for q in QUANTILES}, "mean": None, "max": None}
    figures = np.percentile(data, QUANTILES)
    return {
        "n": int(data.size),
        **{f"p{q}": float(v) for q, v in zip(QUANTILES, figures, strict=True)},
        "mean": float(data.mean()),
        "max": float(data.max()),
    }


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _turns(records: Records) -> list[ChatRecord]:
    return [rec for rec in map(as_record, records) if rec.kind == "chat"]


def _summary(group: str, turns: list[ChatRecord]) -> dict[str, Any]:
    status: defaultdict[str, int] = defaultdict(int)
    for r in turns:
        status[r.status or "ok"] += 1
    done = [r for r in turns if (r.status or "ok") == "ok"]
    searched = [r for r in turns if "retrieval" in step_seconds(r) or is_not_in_documents(r)]
    steps = [step_seconds(r) for r in done]
    n = len(turns)
    return {
        "group": group,
        "turns": n,
        "ok": status["ok"],
        "errors": status["error"],
        "stopped": status["stopped"],
        "blocked": status["blocked"],
        "flagged": sum(is_flagged(r) for r in turns),
        "document_turns": len(searched),
        "not_in_documents": sum(is_not_in_documents(r) for r in searched),
        "rates": {
            "error": _rate(status["error"], n),
            "stopped": _rate(status["stopped"], n),
            "blocked": _rate(status["blocked"], n),
            "flagged": _rate(sum(is_flagged(r) for r in turns), n),
            "not_in_documents": _rate(sum(is_not_in_documents(r) for r in searched), len(searched)),
        },
        "latency": {step: percentiles(s[step] for s in steps if step in s) for step in STEPS},
        "tokens_per_s": percentiles(tokens_per_second(r) for r in done),
        "tokens_in": percentiles(_num(r.tokens_in) for r in done),
        "tokens_out": percentiles(_num(r.tokens_out) for r in done),
    }


def display_errors(records: Iterable[dict[str, Any]], turns: int, latest: int = 5) -> dict[str, Any]:
    """Rendering errors (records of kind "ui_error"): {"count", "rate" (per turn, None without turns),
    "latest": the newest `latest` as {"ts", "where", "error", "user", "conversation_id"}}."""
    errors = sorted((r for r in records if r.get("kind") == "ui_error"), key=lambda r: str(r.get("ts") or ""),
                    reverse=True)
    return {
        "count": len(errors),
        "rate": _rate(len(errors), turns),
        "latest": [{k: r.get(k) for k in ("ts", "where", "error", "user", "conversation_id")}
                   for r in errors[:latest]],
    }


def summarise(records: Records, group_by: str | None = "model") -> list[dict[str, Any]]:
    """One summary per group (by a record field such as "model", "backend" or "user"; None = all turns),
    busiest group first. Each: counts, `rates`, `latency[step]` percentiles, `tokens_per_s`, `tokens_in/out`."""
    groups: dict[str, list[ChatRecord]] = defaultdict(list)
    for record in _turns(records):
        key = "All turns" if group_by is None else str(getattr(record, group_by, None) or "(unknown)")
        groups[key].append(record)
    summaries = [_summary(key, turns) for key, turns in groups.items()]
    return sorted(summaries, key=lambda s: (-s["turns"], s["group"]))


def parse_ts(value: Any) -> datetime | None:
    """A record's timestamp as an aware UTC datetime (None when missing or unreadable)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _bucket_start(moment: datetime, bucket: str) -> datetime:
    if bucket == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def timeseries(records: Records, bucket: str = "hour") -> list[dict[str, Any]]:
    """Per hour or day (UTC), oldest first, gaps filled with zero turns: turns, error/flag/block rates and
    p50/p95 of total time and TTFT (finished turns only)."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}")
    buckets: dict[datetime, list[ChatRecord]] = defaultdict(list)
    for record in _turns(records):
        moment = parse_ts(record.ts)
        if moment is not None:
            buckets[_bucket_start(moment, bucket)].append(record)
    if not buckets:
        return []
    starts = sorted(buckets)
    step = BUCKETS[bucket]
    if (starts[-1] - starts[0]) / step < _MAX_FILLED_BUCKETS:
        current, filled = starts[0], []
        while current <= starts[-1]:
            filled.append(current)
            current += step
        starts = filled
    rows = []
    for start in starts:
        turns = buckets.get(start, [])
        summary = _summary("", turns)
        rows.append(
            {
                "start": start,
                "turns": summary["turns"],
                "errors": summary["errors"],
                "error_rate": summary["rates"]["error"],
                "flagged_rate": summary["rates"]["flagged"],
                "blocked_rate": summary["rates"]["blocked"],
                "total_p50": summary["latency"]["total"]["p50"],
                "total_p95": summary["latency"]["total"]["p95"],
                "ttft_p50": summary["latency"]["ttft"]["p50"],
                "ttft_p95": summary["latency"]["ttft"]["p95"],
            }
        )
    return rows
