"""Answer-quality figures for Monitoring: tokens per successful task, rejections by filter and severity, numbers
traced, output drift per model digest — from request records as the chat writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.audit.answer_quality import drift, hallucination_series, numbers_traced, rejections, tokens_per_success
from app.audit.monitoring import slim

T0 = datetime(2025, 5, 1, 9, 30, tzinfo=UTC)
CITED = [{"n": 1, "source": "manual.pdf", "page": 3}]


def _turn(i: int, **extra) -> dict:
    return {"id": f"r{i}", "ts": (T0 + timedelta(minutes=i)).isoformat(), "kind": "chat", "model": "qwen",
            "model_digest": "a" * 64, "status": "ok", "answer": "Use median() [1].", "tokens_in": 100,
            "tokens_out": 20, "citations": CITED, "guardrails": [], "not_in_documents": False, **extra}


def test_tokens_count_only_turns_that_answered_with_support():
    records = [_turn(1), _turn(2, tokens_in=300),
               _turn(3, answer="I could not find this in your documents.", citations=[], not_in_documents=True),
               _turn(4, status="error", citations=[]), _turn(5, citations=[])]  # an answer citing nothing
    figures = tokens_per_success(records)
    assert (figures["n"], figures["turns"], figures["median"]) == (2, 5, 220)
    assert figures["spent_per_success"] == (120 + 320 + 3 * 120) / 2  # what every success cost, failures included


def test_rejections_by_filter_and_severity_most_severe_first():
    records = [_turn(1, guardrails=[{"guard": "pii", "action": "redacted"}, {"guard": "pii", "action": "redacted"}]),
               _turn(2, status="blocked", guardrails=[{"guard": "injection", "action": "blocked"}]),
               _turn(3, guardrails=[{"guard": "injection", "action": "flagged"}]), _turn(4)]
    assert rejections(records) == [
        {"filter": "injection", "severity": "blocked", "turns": 1, "rate": 0.25},
        {"filter": "pii", "severity": "redacted", "turns": 1, "rate": 0.25},
        {"filter": "injection", "severity": "flagged", "turns": 1, "rate": 0.25},
    ]


def test_numbers_traced_rate_over_checked_answers_only():
    records = [_turn(1, numbers_total=4, numbers_untraced=1), _turn(2, numbers_total=2, numbers_untraced=0),
               _turn(3), _turn(4, numbers_total=0, numbers_untraced=0)]  # not checked / no number: not counted
    figures = numbers_traced([slim(r) for r in records])  # the page reads slimmed rows
    assert (figures["answers"], figures["numbers"], figures["untraced"]) == (2, 6, 1)
    assert figures["traced_rate"] == 5 / 6 and figures["answers_with_untraced"] == 0.5


def test_drift_names_what_moved_between_two_digests():
    old = [_turn(i) for i in range(10)]
    new = [_turn(20 + i, model_digest="b" * 64, answer="The documents do not say.", citations=[],
                 not_in_documents=True) for i in range(6)]
    new += [_turn(30 + i, model_digest="b" * 64, answer="Use median() for the middle value of x [1].")
            for i in range(6)]
    rows, warnings = drift([slim(r) for r in old + new])
    assert [(r["digest"][:1], r["turns"]) for r in rows] == [("a", 10), ("b", 12)]
    assert rows[1]["refusal_rate"] == 0.5 and rows[1]["citation_rate"] == 0.5
    (warning,) = warnings
    assert warning.startswith("qwen: digest bbbbbbbbbbbb differs from aaaaaaaaaaaa")
    assert "refusal rate 0% → 50%" in warning and "citation rate 100% → 50%" in warning
    assert "answer length" in warning  # 17 -> 30.5 characters (median), +79%


def test_no_drift_warning_from_too_few_turns_or_one_digest():
    assert drift([_turn(i) for i in range(30)])[1] == []
    few = [_turn(i) for i in range(10)] + [_turn(50, model_digest="b" * 64, answer="x", citations=[])]
    assert drift(few)[1] == []


def test_hallucination_rate_per_finished_evaluation_run_oldest_first():
    runs = [{"id": 3, "status": "finished", "finished_at": "2025-05-03T10:00:00", "model": "embedded:qwen-1.5b",
             "set_name": "docs", "settings": {"model": {"digest": "b" * 64}},
             "aggregates": {"faithfulness_support": {"mean": 0.75, "n": 8}}},
            {"id": 2, "status": "cancelled", "aggregates": {"faithfulness_support": {"mean": 0.1, "n": 1}}},
            {"id": 1, "status": "finished", "finished_at": "2025-05-01T10:00:00", "model": "embedded:qwen-0.5b",
             "set_name": "docs", "settings": {}, "aggregates": {"faithfulness_support": {"mean": 0.5, "n": 8}}},
            {"id": 4, "status": "finished", "finished_at": "2025-05-04T10:00:00", "aggregates": {"hit@5": {}}}]
    series = hallucination_series(runs)
    assert [(r["model"], r["hallucination_rate"], r["digest"]) for r in series] == [
        ("embedded:qwen-0.5b", 0.5, ""), ("embedded:qwen-1.5b", 0.25, "bbbbbbbbbbbb")]
