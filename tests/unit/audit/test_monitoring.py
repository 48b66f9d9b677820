"""Monitoring figures over synthetic request records, checked against numpy."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from app.audit.monitoring import (
    display_errors,
    percentiles,
    slim,
    step_seconds,
    summarise,
    timeseries,
    tokens_per_second,
)

T0 = datetime(2025, 5, 1, 9, 30, tzinfo=UTC)


def _turn(i: int, model: str = "qwen", **extra) -> dict:
    record = {
        "id": f"r{i}",
        "ts": (T0 + timedelta(minutes=7 * i)).isoformat(timespec="milliseconds"),
        "kind": "chat",
        "user": "ann",
        "model": model,
        "status": "ok",
        "answer": "Paris.",
        "load_s": 0.0,
        "ttft_s": 0.2 + i / 100,
        "total_s": 1.0 + i / 10,
        "tokens_in": 100 + i,
        "tokens_out": 20 + i,
        "tools": [],
        "guardrails": [],
        "flagged": False,
        "not_in_documents": False,
    }
    record.update(extra)
    return record


def test_percentiles_match_numpy_on_random_latencies():
    rng = random.Random(7)
    records = [_turn(i, total_s=rng.uniform(0.5, 30.0), ttft_s=rng.uniform(0.05, 2.0)) for i in range(57)]
    (summary,) = summarise(records)
    totals = [r["total_s"] for r in records]
    ttfts = [r["ttft_s"] for r in records]
    expected = np.percentile(totals, [50, 95, 99])
    got = summary["latency"]["total"]
    assert got["n"] == 57
    assert [got["p50"], got["p95"], got["p99"]] == pytest.approx(list(expected))
    assert summary["latency"]["ttft"]["p95"] == pytest.approx(np.percentile(ttfts, 95))
    assert summary["tokens_out"]["p50"] == pytest.approx(np.percentile([r["tokens_out"] for r in records], 50))


def test_small_samples_are_reported_with_their_size():
    assert percentiles([]) == {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    one = percentiles([2.5])
    assert one["n"] == 1 and one["p50"] == one["p99"] == 2.5
    two = percentiles([1.0, 3.0])
    assert two["p50"] == 2.0 and two["p99"] == pytest.approx(np.percentile([1.0, 3.0], 99))


def test_tool_steps_and_generation_time():
    record = _turn(
        0,
        load_s=0.5,
        ttft_s=0.4,
        total_s=3.0,
        tokens_out=42,
        tools=[
            {"name": "search_documents", "seconds": 0.3},
            {"name": "search_documents", "seconds": 0.2},
            {"name": "run_sql", "seconds": 0.4},
            {"name": "describe_image", "seconds": 0.1},
        ],
    )
    steps = step_seconds(record)
    assert steps["retrieval"] == pytest.approx(0.5)  # summed over the turn
    assert steps["sql"] == pytest.approx(0.4) and steps["vision"] == pytest.approx(0.1)
    assert "transcription" not in steps
    assert steps["generation"] == pytest.approx(3.0 - 0.5 - 1.0 - 0.4)
    assert tokens_per_second(record) == pytest.approx(42 / 1.1)
    assert tokens_per_second(_turn(1, ttft_s=None)) is None
    assert tokens_per_second(_turn(1, tokens_out=1)) is None
    (summary,) = summarise([record, _turn(1)])
    assert summary["latency"]["retrieval"]["n"] == 1  # only the turns that used the tool
    assert summary["latency"]["total"]["n"] == 2


def test_rates_and_groups():
    records = [
        _turn(0),
        _turn(1, status="error", total_s=0.1, ttft_s=None),
        _turn(2, status="blocked", flagged=True),
        _turn(3, flagged=True),
        _turn(4, tools=[{"name": "search_documents", "seconds": 0.1}], not_in_documents=True),
        _turn(5, tools=[{"name": "search_documents", "seconds": 0.1}]),
        _turn(6, model="llama", status="stopped"),
        {"kind": "retention", "pruned": 3},  # not a turn
        {"kind": "conversation_deleted", "conversation_id": "c"},
    ]
    qwen, llama = summarise(records)
    assert (qwen["group"], qwen["turns"], llama["group"], llama["turns"]) == ("qwen", 6, "llama", 1)
    assert qwen["rates"]["error"] == pytest.approx(1 / 6)
    assert qwen["rates"]["blocked"] == pytest.approx(1 / 6)
    assert qwen["rates"]["flagged"] == pytest.approx(2 / 6)
    assert qwen["document_turns"] == 2 and qwen["rates"]["not_in_documents"] == pytest.approx(1 / 2)
    assert qwen["latency"]["total"]["n"] == 4  # finished turns only
    assert llama["rates"]["stopped"] == 1.0 and llama["latency"]["total"]["n"] == 0
    (everything,) = summarise(records, group_by=None)
    assert everything["group"] == "All turns" and everything["turns"] == 7
    assert summarise([]) == []


def test_old_records_without_new_fields_are_tolerated():
    old = {
        "kind": "chat",
        "ts": "2024-01-01T00:00:00.000+00:00",
        "model": "m",
        "status": "ok",
        "total_s": 2.0,
        "answer": "I could not find this in your documents.",
        "tools": None,
    }
    older = {"kind": "chat", "ts": "not a time", "answer": "The documents do not say.", "ttft_s": "bad"}
    (summary,) = summarise([old, {**older, "model": "m"}])
    assert summary["flagged"] == 0 and summary["rates"]["flagged"] == 0.0
    assert summary["not_in_documents"] == 2 and summary["rates"]["not_in_documents"] == 1.0
    assert summary["latency"]["total"]["n"] == 1 and summary["latency"]["ttft"]["n"] == 0
    assert summary["tokens_per_s"]["n"] == 0
    assert len(timeseries([old, older])) == 1  # the unreadable timestamp is skipped
    assert slim({**old, "prompt": [{"content": "x" * 10_000}]}).get("prompt") is None


def test_timeseries_buckets_and_fills_gaps():
    records = [_turn(0), _turn(1, status="error"), _turn(40, flagged=True)]  # 09:30, 09:37, 14:10
    rows = timeseries(records, bucket="hour")
    assert [r["start"].hour for r in rows] == [9, 10, 11, 12, 13, 14]
    assert [r["turns"] for r in rows] == [2, 0, 0, 0, 0, 1]
    assert rows[0]["error_rate"] == 0.5 and rows[1]["error_rate"] is None and rows[-1]["flagged_rate"] == 1.0
    assert rows[0]["total_p50"] == pytest.approx(1.0)  # only the finished turn
    daily = timeseries(records, bucket="day")
    assert len(daily) == 1 and daily[0]["turns"] == 3 and daily[0]["start"] == datetime(2025, 5, 1, tzinfo=UTC)
    assert daily[0]["total_p95"] == pytest.approx(np.percentile([1.0, 5.0], 95))
    with pytest.raises(ValueError):
        timeseries(records, bucket="week")
    assert timeseries([]) == []


def test_display_errors_are_counted_per_turn_with_the_latest_first():
    def ui_error(i: int, where: str) -> dict:
        return {"kind": "ui_error", "ts": (T0 + timedelta(minutes=i)).isoformat(), "user": "ann", "status": "error",
                "where": where, "error": f"KeyError: 'k{i}'", "conversation_id": "c1"}

    records = [_turn(0), _turn(1, status="error"), ui_error(1, "chat citation"), ui_error(3, "chat message"),
               ui_error(2, "page Chat")]
    (summary,) = summarise(records, group_by=None)
    assert summary["turns"] == 2 and summary["errors"] == 1  # display errors are not turns …
    assert summary["rates"]["error"] == pytest.approx(1 / 2)  # … and the failed turn counts as an error
    figures = display_errors(records, turns=summary["turns"], latest=2)
    assert figures["count"] == 3 and figures["rate"] == pytest.approx(3 / 2)
    assert [e["where"] for e in figures["latest"]] == ["chat message", "page Chat"]
    assert figures["latest"][0]["error"] == "KeyError: 'k3'" and figures["latest"][0]["conversation_id"] == "c1"
    assert display_errors([_turn(0)], turns=0) == {"count": 0, "rate": None, "latest": []}
