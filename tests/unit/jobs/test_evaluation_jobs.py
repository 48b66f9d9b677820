"""Evaluation runs as background jobs on real services (the mini set, retrieval only: no chat model needed):
progress item by item, cancel between items keeps a partial run, retry and a restart go on with the same run
without scoring an item twice, and bad input is refused before anything is queued."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.container import Services, build_services
from app.errors import BadInputError
from app.evaluation.items import ItemScorer
from app.evaluation.runner import EvaluationRunner
from app.evaluation.service import Evaluations, RunOptions, load_set
from tests.fixtures import build_mini
from tests.fixtures.jobs import finished, wait_for_job

RETRIEVAL = RunOptions(only=("retrieval",))


@pytest.fixture()
def services(settings_factory) -> Iterator[Services]:
    svc = build_services(settings_factory())
    yield svc
    svc.close()


@pytest.fixture()
def mini(tmp_path: Path) -> Path:
    return build_mini.build(tmp_path / "mini")


@pytest.fixture()
def scored(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the items really scored, in order (the real scorer runs)."""
    seen: list[str] = []
    real = ItemScorer.score

    def score(self: ItemScorer, item: Any) -> dict[str, Any]:
        seen.append(item.id)
        return real(self, item)

    monkeypatch.setattr(ItemScorer, "score", score)
    return seen


def test_an_evaluation_job_runs_item_by_item_and_stores_the_run(services: Services, mini: Path,
                                                                  scored: list[str]) -> None:
    job = services.jobs.submit_evaluation(mini, None, RETRIEVAL)
    assert (job.kind, job.payload["name"], job.payload["options"]["only"]) == ("evaluation", "mini", ["retrieval"])
    services.jobs.start_consumer()
    done = wait_for_job(services.jobs.store, job.id, finished)
    assert done.state == "done", done
    run = Evaluations(services).get_run(done.result["run_id"])
    assert done.message == f"run {run['id']}: 2 item(s) scored" and done.progress == 1.0
    assert (run["status"], [i["id"] for i in run["items"]]) == ("finished", ["hb-001", "hb-002"])
    assert scored == ["hb-001", "hb-002"]
    (record,) = services.records.query(kind="evaluation_run")
    assert record["run_id"] == run["id"] and record["status"] == "finished" and record["user"] == "tester"


def test_cancel_stops_between_items_keeps_a_partial_run_and_retry_goes_on_with_it(
        services: Services, mini: Path, scored: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    job = services.jobs.submit_evaluation(mini, None, RETRIEVAL)
    real = ItemScorer.score

    def score_then_cancel(self: ItemScorer, item: Any) -> dict[str, Any]:
        result = real(self, item)
        if item.id == "hb-001" and not services.jobs.get(job.id).attempts > 1:
            services.jobs.cancel(job.id)  # the user clicks Cancel while the first item is scored
        return result

    monkeypatch.setattr(ItemScorer, "score", score_then_cancel)
    services.jobs.start_consumer()
    cancelled = wait_for_job(services.jobs.store, job.id, finished)
    run_id = cancelled.result["run_id"]
    assert cancelled.state == "cancelled" and f"run {run_id} keeps them (partial)" in cancelled.message
    partial = Evaluations(services).get_run(run_id)
    assert partial["status"] == "cancelled" and [i["id"] for i in partial["items"]] == ["hb-001"]
    assert partial["error"] == "partial run: cancelled after 1 of 2 item(s)"

    services.jobs.retry(job.id)
    again = wait_for_job(services.jobs.store, job.id, finished)
    assert (again.state, again.attempts, again.result["run_id"]) == ("done", 2, run_id)
    whole = Evaluations(services).get_run(run_id)
    assert whole["status"] == "finished" and [i["id"] for i in whole["items"]] == ["hb-001", "hb-002"]
    assert whole["error"] == "" and whole["finished_at"]
    assert whole["aggregates"]["items"] == 2
    assert len(Evaluations(services).list_runs()) == 1  # the same run went on: no second run, no item twice
    assert [r["status"] for r in services.records.query(kind="evaluation_run")] == ["finished", "cancelled"]


def test_a_run_cut_off_by_a_restart_is_resumed_without_scoring_its_items_again(
        services: Services, mini: Path, scored: list[str]) -> None:
    # What a killed app leaves: a run with its first item stored, and the job running on a dead process.
    evals = Evaluations(services)
    stops = iter([False, True])
    run_id = EvaluationRunner(services, evals.store).run(load_set(mini), RETRIEVAL,
                                                         should_stop=lambda: next(stops))
    assert [i["id"] for i in evals.get_run(run_id)["items"]] == ["hb-001"]
    job = services.jobs.submit_evaluation(mini, None, RETRIEVAL)
    services.jobs.huey.flush()
    services.jobs.store._update("UPDATE jobs SET state = 'running', worker = ?, result = ? WHERE id = ?",
                                (f"{socket.gethostname()}:999999", f'{{"run_id": {run_id}}}', job.id))
    scored.clear()
    assert services.jobs.recover() == [job.id]
    services.jobs.start_consumer()
    done = wait_for_job(services.jobs.store, job.id, finished)
    assert done.state == "done" and done.result["run_id"] == run_id
    assert scored == ["hb-002"]  # only the item the cut-off run had not stored
    run = evals.get_run(run_id)
    assert run["status"] == "finished" and [i["id"] for i in run["items"]] == ["hb-001", "hb-002"]


def test_a_changed_set_starts_a_new_run_instead_of_mixing_two_versions(services: Services, mini: Path) -> None:
    evals = Evaluations(services)
    first = EvaluationRunner(services, evals.store).run(load_set(mini), RETRIEVAL, should_stop=lambda: True)
    mini.write_text(mini.read_text().replace("How often", "How frequently"))
    again = EvaluationRunner(services, evals.store).run(load_set(mini), RETRIEVAL, resume=first)
    assert again != first and evals.get_run(first)["status"] == "cancelled"


def test_bad_input_is_refused_before_anything_is_queued(services: Services, mini: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="Unknown model"):
        services.jobs.submit_evaluation(mini, None, RunOptions(model="gpt-17"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"id": "x", "question": "How?", "db": "none.duckdb", "gold_sql": "SELECT 1"}\n')
    with pytest.raises(BadInputError, match="no items for retrieval") as caught:
        services.jobs.submit_evaluation(empty, None, RETRIEVAL)
    assert "Choose other metric groups" in caught.value.hint
    with pytest.raises(Exception, match="gone.jsonl"):
        services.jobs.submit_evaluation(tmp_path / "gone.jsonl", None, RETRIEVAL)
    assert services.jobs.list() == []
