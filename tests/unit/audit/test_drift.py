"""Output drift in what answers say (answer embeddings per model digest, with the app's own embedder) and the
hallucination-rate flag that asks for a new evaluation run when the chat's model changed — over a real record
store and a real evaluation store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.audit.answer_quality import drift, hallucination_series, rerun_due
from app.audit.drift import AnswerSampler, answer_shift
from app.audit.monitoring import slim
from app.evaluation.store import EvaluationStore
from storage.embedder import shared_embedder
from storage.records import SqliteRecordStore
from tests.fixtures.drift_answers import OFF_TOPIC, R_ANSWERS

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
# The same questions answered by a newer build: worded differently, about the same things.
R_REWORDED = [a.replace(" [1]", "").replace(" [2]", "").replace(" [3]", "")
              + " This is how it is done in R [1]." for a in R_ANSWERS]


def _append(store: SqliteRecordStore, start: int, digest: str, answers: list[str], **extra) -> None:
    for i, answer in enumerate(answers):
        store.append("chat", {"ts": (T0 + timedelta(minutes=start + i)).isoformat(), "user": "ann",
                              "model": "qwen2.5-coder-1.5b", "model_digest": digest, "question": f"Q{i}",
                              "answer": answer, "status": "ok", "citations": [{"n": 1, "page": 3}],
                              "not_in_documents": False, "tokens_in": 100, "tokens_out": 20, **extra})


def _drift(store: SqliteRecordStore) -> tuple[list[dict], list[str]]:
    bodies = list(store.iter_matching(kind="chat"))
    sampler = AnswerSampler().add_all(bodies)
    rows, _ = drift([slim(b) for b in bodies])
    shifts = answer_shift(rows, sampler.samples, shared_embedder().embed)
    return drift([slim(b) for b in bodies], shifts)


@pytest.fixture()
def store(tmp_path) -> SqliteRecordStore:
    return SqliteRecordStore(tmp_path / "records.sqlite")


def test_a_digest_whose_answers_say_something_else_is_named_in_the_drift_warning(store):
    _append(store, 0, "a" * 64, R_ANSWERS)
    _append(store, 100, "b" * 64, OFF_TOPIC)
    rows, warnings = _drift(store)
    assert rows[0]["answer_shift"] is None  # the first digest has nothing to be compared with
    assert rows[1]["answer_shift"] < rows[1]["shift_baseline"] - 0.05
    (warning,) = warnings
    assert warning.startswith("qwen2.5-coder-1.5b: digest bbbbbbbbbbbb differs from aaaaaaaaaaaa")
    assert "what the answers say (centroid cosine" in warning
    assert "refusal rate" not in warning and "citation rate" not in warning  # those did not move


def test_answers_reworded_by_a_new_digest_are_not_drift(store):
    _append(store, 0, "a" * 64, R_ANSWERS)
    _append(store, 100, "b" * 64, R_REWORDED)
    rows, warnings = _drift(store)
    assert rows[1]["answer_shift"] >= rows[1]["shift_baseline"] - 0.05
    assert not any("what the answers say" in w for w in warnings)


def test_the_sample_is_bounded_newest_first_and_leaves_out_refusals_and_failures(store):
    _append(store, 0, "a" * 64, R_ANSWERS)
    _append(store, 50, "a" * 64, ["The documents do not say."] * 3, not_in_documents=True, citations=[])
    _append(store, 60, "a" * 64, ["half an answer"] * 2, status="error")
    sampler = AnswerSampler(per_digest=5).add_all(store.iter_matching(kind="chat"))
    assert list(sampler.samples[("qwen2.5-coder-1.5b", "a" * 64)]) == R_ANSWERS[-5:]


def test_too_few_answers_of_a_digest_are_not_compared(store):
    _append(store, 0, "a" * 64, R_ANSWERS)
    _append(store, 100, "b" * 64, OFF_TOPIC[:9])
    sampler = AnswerSampler().add_all(store.iter_matching(kind="chat"))
    rows, _ = drift([slim(b) for b in store.iter_matching(kind="chat")])
    calls: list[int] = []
    assert answer_shift(rows, sampler.samples, lambda texts: calls.append(len(texts))) == {}
    assert calls == []  # nothing embedded when there is nothing to compare


def _finished_run(evals: EvaluationStore, name: str, digest: str, support: float, traced: float | None) -> int:
    run_id = evals.start_run("docs", "docs.jsonl", "0" * 64, f"embedded:{name}", ["answers"],
                             {"model": {"backend": "embedded", "name": name, "digest": digest}}, [])
    aggregates = {"faithfulness_support": {"mean": support, "n": 8}, "items": 8, "errors": 0}
    if traced is not None:
        aggregates["numbers_traced"] = {"mean": traced, "n": 5}
    evals.finish_run(run_id, "finished", aggregates)
    return run_id


def test_hallucination_series_carries_numbers_traced_and_asks_for_a_run_when_the_digest_changed(store, tmp_path):
    evals = EvaluationStore(tmp_path / "evaluations.sqlite")
    _finished_run(evals, "qwen2.5-coder-1.5b", "a" * 64, 0.5, None)  # a run from before numbers were scored
    last = _finished_run(evals, "qwen2.5-coder-1.5b", "a" * 64, 0.75, 0.9)
    series = hallucination_series(evals.list_runs())
    assert [(r["hallucination_rate"], r["numbers_traced"]) for r in series] == [(0.5, None), (0.25, 0.9)]

    _append(store, 0, "a" * 64, R_ANSWERS[:1])
    assert rerun_due(evals.list_runs(), store.search(kind="chat", limit=1)[0]) == ""
    _append(store, 10, "b" * 64, R_ANSWERS[:1])  # the same model name, a new build of its weights
    why = rerun_due(evals.list_runs(), store.search(kind="chat", limit=1)[0])
    assert why.startswith("The chat now answers with qwen2.5-coder-1.5b (digest bbbbbbbbbbbb)")
    assert f"run {last}" in why and "aaaaaaaaaaaa" in why


def test_no_scored_run_yet_is_said_and_no_turn_means_nothing_to_say(store, tmp_path):
    evals = EvaluationStore(tmp_path / "evaluations.sqlite")
    assert rerun_due(evals.list_runs(), None) == ""
    _append(store, 0, "a" * 64, R_ANSWERS[:1])
    assert rerun_due([], store.search(kind="chat", limit=1)[0]).startswith("No evaluation run has scored answers")
