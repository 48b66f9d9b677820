"""The Evaluation page through AppTest: empty state, a retrieval-only run (a background job the page follows),
cancel keeping a partial run, history and a comparison of stored runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import app.ui.common
from app.evaluation.items import ItemScorer
from app.evaluation.metrics import aggregate
from app.evaluation.store import FINISHED, EvaluationStore
from app.jobs.store import Job, JobStore
from tests.fixtures import build_mini
from tests.fixtures.jobs import finished, wait_for_job
from tests.fixtures.paths import ENTRY

SETTINGS = {"model": {"backend": "embedded", "name": "qwen2.5-coder-0.5b"}, "chunking": {"max_chars": 700}}


@pytest.fixture()
def data_dir(tmp_path, monkeypatch, models_dir) -> Path:
    """A fresh data dir and the environment the app reads its settings from (no model is loaded here)."""
    data = tmp_path / "data"
    for name, value in {
        "ANALYST_DATA_DIR": str(data),
        "ANALYST_MODELS_DIR": str(models_dir),
        "ANALYST_BACKEND": "embedded",
        "ANALYST_EMBEDDED_MODEL": "qwen2.5-coder-0.5b",
        "ANALYST_OLLAMA_HOST": "http://127.0.0.1:9",  # nothing listens there: the probe fails at once
    }.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    yield data
    app.ui.common._services().close()  # stops the job consumer a run started in this process
    st.cache_resource.clear()


def _last_job(data: Path) -> Job:
    return JobStore(data / "job_status.sqlite").list(1)[0]


def _run_to_the_end(at: AppTest, data: Path) -> AppTest:
    """Click Run evaluation, wait for the background job, and draw the page again (what its refresh does)."""
    at.button(key="evaluation.run").click().run()
    assert not at.exception and not at.error
    wait_for_job(data, _last_job(data).id, finished)
    return at.run()


def _open() -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=120).run()
    return at.switch_page("../pages/evaluation.py").run()


def _frame(at: AppTest, column: str):
    """The first table on the page with this column (AppTest finds dataframes by position, not key)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def _item(item_id: str, hit: float) -> dict:
    return {
        "id": item_id,
        "kind": "docqa",
        "question": f"Question {item_id}?",
        "metrics": {"hit@1": hit, "mrr": hit},
        "detail": {"answer": "An answer."},
        "error": "",
        "total_s": 1.5,
        "ttft_s": 0.4,
        "tokens_in": 50,
        "tokens_out": 5,
    }


def _store(data: Path, hits: list[float], settings: dict) -> int:
    store = EvaluationStore(data / "evaluations.sqlite")
    items = [_item(f"q{i}", h) for i, h in enumerate(hits)]
    run_id = store.start_run(
        "mini",
        "/x/mini.jsonl",
        "a" * 64,
        f"embedded:{settings['model']['name']}",
        ["retrieval"],
        settings,
        [{"line": 7, "message": "no question"}],
    )
    for n, item in enumerate(items):
        store.add_item(run_id, n, item)
    store.finish_run(run_id, FINISHED, aggregate(items))
    return run_id


def test_empty_state_offers_the_run_form(data_dir):
    at = _open()
    assert not at.exception
    assert at.title[0].value == "Evaluation"
    assert any("No runs yet" in i.value for i in at.info)
    sets = at.selectbox(key="evaluation.set").options
    assert any("r-intro.questions.jsonl (bundled)" in s for s in sets)  # the bundled examples
    assert at.selectbox(key="evaluation.model").value == "As in Settings"
    assert at.button(key="evaluation.run").label == "Run evaluation"


def test_history_and_comparison_of_stored_runs_with_a_regression_warning(data_dir):
    _store(data_dir, [1.0, 1.0, 1.0, 1.0], SETTINGS)
    changed = {**SETTINGS, "model": {"backend": "embedded", "name": "smollm2-135m"}}
    _store(data_dir, [1.0, 0.0, 0.0, 0.0], changed)
    at = _open()
    assert not at.exception and not at.error

    assert at.selectbox(key="evaluation.shown").value == 2  # the newest run is shown
    assert at.subheader[0].value == "Run 2: mini · embedded:smollm2-135m"
    warnings = [w.value for w in at.warning]
    assert any("Hit@1 dropped 1.000 → 0.250" in w and "smollm2-135m" in w for w in warnings)
    history = _frame(at, "started")
    assert list(history["run"]) == [2, 1] and list(history["Hit@1"]) == [0.25, 1.0]
    items = _frame(at, "question")
    assert list(items["id"]) == ["q0", "q1", "q2", "q3"]

    assert (at.selectbox(key="evaluation.compare_a").value, at.selectbox(key="evaluation.compare_b").value) == (1, 2)
    compared = _frame(at, "delta")
    row = compared[compared["metric"] == "Hit@1"].iloc[0]
    assert (row["run 1"], row["run 2"], row["delta"], row["regression"]) == (1.0, 0.25, -0.75, "yes")
    assert any("smollm2-135m" in str(df.value.to_dict()) for df in at.dataframe)  # the "what changed" table

    at.selectbox(key="evaluation.compare_b").set_value(1).run()
    assert any("Pick two different runs" in i.value for i in at.info)


def test_a_retrieval_only_run_from_the_page(data_dir):
    build_mini.build(data_dir / "eval" / "mini")
    at = _open()
    assert at.selectbox(key="evaluation.set").value == "mini/mini.jsonl (data dir)"
    assert any("2 docqa, 2 sql · 1 document(s)" in c.value for c in at.caption)
    at.multiselect(key="evaluation.only").set_value(["retrieval"])
    _run_to_the_end(at, data_dir)
    assert not at.exception and not at.error
    assert _last_job(data_dir).kind == "evaluation"
    assert at.subheader[0].value == "Run 1: mini · none (retrieval only)"
    metrics = _frame(at, "metric")
    assert dict(zip(metrics["metric"], metrics["value"], strict=True))["Hit@5"] == 1.0
    assert any("Run a set twice" in i.value for i in at.info)

    _run_to_the_end(at, data_dir)  # a second run is shown once it ends, and compared with the first
    assert at.subheader[0].value == "Run 2: mini · none (retrieval only)"
    assert (at.selectbox(key="evaluation.compare_a").value, at.selectbox(key="evaluation.compare_b").value) == (1, 2)


def test_a_running_evaluation_shows_its_progress_and_cancel_keeps_the_items_done(data_dir, monkeypatch):
    real, proceed = ItemScorer.score, threading.Event()

    def slow_first_item(self: ItemScorer, item: Any) -> dict[str, Any]:
        if item.id == "hb-001":
            proceed.wait(60)  # the page is drawn while this item is scored
        return real(self, item)

    monkeypatch.setattr(ItemScorer, "score", slow_first_item)
    build_mini.build(data_dir / "eval" / "mini")
    at = _open()
    at.multiselect(key="evaluation.only").set_value(["retrieval"])
    at.button(key="evaluation.run").click().run()
    job = wait_for_job(data_dir, _last_job(data_dir).id, lambda j: j.message.startswith("1/2 hb-001"))
    at.run()  # what the page's refresh draws while the job runs (the page could also be left)
    assert any(p.text.startswith("Evaluating mini: 1/2 hb-001") for p in at.get("progress"))
    at.button(key=f"evaluation.cancel.{job.id}").click().run()
    assert not at.exception
    assert any("Cancelling" in c.value for c in at.caption)
    proceed.set()
    assert wait_for_job(data_dir, job.id, finished).state == "cancelled"

    at.run()
    assert not at.exception
    assert any("Run 1 was cancelled; the 1 item(s) done are kept (a partial run)" in i.value for i in at.info)
    assert at.subheader[0].value == "Run 1: mini · none (retrieval only)"
    assert any(c.value.startswith("cancelled") and "partial run: cancelled after 1 of 2" in c.value
               for c in at.caption)
    assert list(_frame(at, "question")["id"]) == ["hb-001"]

    _run_to_the_end(at, data_dir)  # a new run from the page ends normally
    assert at.subheader[0].value == "Run 2: mini · none (retrieval only)"
    assert not any(b.label == "Cancel" for b in at.button)  # finished: nothing left to cancel
    assert not any("was cancelled" in i.value for i in at.info)


def test_running_an_evaluation_leaves_the_users_documents_alone(data_dir):
    build_mini.build(data_dir / "eval" / "mini")
    at = _open()
    at.multiselect(key="evaluation.only").set_value(["retrieval"])
    _run_to_the_end(at, data_dir)
    assert not at.exception and at.subheader[0].value == "Run 1: mini · none (retrieval only)"
    assert (data_dir / "eval" / "library" / "documents.sqlite").exists()  # the set's PDF went to its own library

    at.switch_page("../pages/documents.py").run()
    assert not at.exception
    assert any("No documents yet" in i.value for i in at.info)
    at.switch_page("../pages/chat.py").run()
    assert any("No documents yet" in c.value for c in at.sidebar.caption)  # chat search does not see it either
    at.switch_page("../pages/evaluation.py").run()
    assert "library" not in " ".join(at.selectbox(key="evaluation.set").options)
