"""Run history: storing runs, comparing two, and warning about regressions beyond noise."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from app.errors import NotFoundError
from app.evaluation.metrics import aggregate, noise_threshold
from app.evaluation.service import Evaluations
from app.evaluation.store import FINISHED, EvaluationStore

SETTINGS = {
    "model": {"backend": "embedded", "name": "qwen2.5-coder-0.5b", "digest": "abc"},
    "embedding": {"model": "all-MiniLM-L6-v2-onnx-int8"},
    "chunking": {"max_chars": 700, "overlap_chars": 150},
    "retrieval": {"k": 5},
    "settings": {"temperature": 0.0, "seed": 42, "tool_mode": "auto"},
}


def _item(item_id: str, **metrics: float) -> dict[str, Any]:
    return {
        "id": item_id,
        "kind": "docqa",
        "question": f"q {item_id}",
        "metrics": metrics,
        "detail": {},
        "error": "",
        "total_s": 1.0,
        "ttft_s": 0.5,
        "tokens_in": 100,
        "tokens_out": 10,
    }


def store_run(
    store: EvaluationStore,
    items: list[dict[str, Any]],
    settings: dict[str, Any] = SETTINGS,
    set_name: str = "mini",
    sha: str = "s" * 64,
    model: str = "embedded:qwen2.5-coder-0.5b",
) -> int:
    """Save a synthetic finished run."""
    run_id = store.start_run(set_name, f"/sets/{set_name}.jsonl", sha, model, ["retrieval", "answers"], settings, [])
    for n, item in enumerate(items):
        store.add_item(run_id, n, item)
    store.finish_run(run_id, FINISHED, aggregate(items))
    return run_id


@pytest.fixture()
def evals(tmp_path: Path) -> Evaluations:
    services = SimpleNamespace(settings=SimpleNamespace(data_dir=tmp_path))
    return Evaluations(services)


def test_aggregate_means_over_items_that_have_the_metric():
    agg = aggregate([_item("a", **{"hit@1": 1.0}), _item("b", **{"hit@1": 0.0, "mrr": 0.5}), _item("c")])
    assert agg["hit@1"] == {"mean": 0.5, "n": 2} and agg["mrr"] == {"mean": 0.5, "n": 1}
    assert agg["total_s"] == {"value": 1.0, "n": 3} and agg["tokens_in"] == {"value": 300, "n": 3}
    assert agg["items"] == 3 and agg["errors"] == 0


def test_noise_threshold_is_the_larger_of_five_points_and_one_item():
    assert noise_threshold(4) == 0.25 and noise_threshold(40) == 0.05 and noise_threshold(0) == 0.05


def test_runs_are_stored_listed_and_shown_with_items(evals: Evaluations):
    first = store_run(evals.store, [_item("a", **{"hit@1": 1.0}), _item("b", **{"hit@1": 0.0})])
    (listed,) = evals.list_runs()
    assert listed["id"] == first and listed["status"] == FINISHED and listed["aggregates"]["hit@1"]["mean"] == 0.5
    run = evals.get_run(first)
    assert [i["id"] for i in run["items"]] == ["a", "b"] and run["settings"] == SETTINGS
    assert run["previous_id"] is None and run["warnings"] == []
    assert evals.get_run("latest")["id"] == first
    with pytest.raises(NotFoundError):
        evals.get_run(999)


def test_a_drop_beyond_noise_warns_and_names_what_changed(evals: Evaluations):
    good = [_item(f"q{i}", **{"hit@1": 1.0, "correctness_f1": 0.8}) for i in range(10)]
    first = store_run(evals.store, good)
    worse = [_item(f"q{i}", **{"hit@1": 0.0 if i < 3 else 1.0, "correctness_f1": 0.78}) for i in range(10)]
    changed = {
        **SETTINGS,
        "chunking": {"max_chars": 400, "overlap_chars": 150},
        "model": {**SETTINGS["model"], "name": "smollm2-135m"},
    }
    second = store_run(evals.store, worse, settings=changed, model="embedded:smollm2-135m")

    run = evals.get_run(second)
    assert run["previous_id"] == first
    (warning,) = run["warnings"]  # hit@1 fell 0.3 (> 0.1 = one item of 10); F1 fell 0.02 (noise)
    assert warning.startswith("Hit@1 dropped 1.000 → 0.700 (-0.300")
    assert "model (name: qwen2.5-coder-0.5b → smollm2-135m)" in warning
    assert "chunking (max_chars: 700 → 400)" in warning

    result = evals.compare(first, second)
    by_name = {m["name"]: m for m in result["metrics"]}
    assert by_name["hit@1"]["delta"] == -0.3 and by_name["hit@1"]["regressed"]
    assert by_name["correctness_f1"]["delta"] == -0.02 and not by_name["correctness_f1"]["regressed"]
    assert result["settings_diff"] == {
        "chunking.max_chars": [700, 400],
        "model.name": ["qwen2.5-coder-0.5b", "smollm2-135m"],
    }
    assert [c["id"] for c in result["items"][:3]] == ["q0", "q1", "q2"]
    assert result["items"][0]["changes"] == {"hit@1": -1.0, "correctness_f1": -0.02}
    assert result["warnings"] == run["warnings"]


def test_a_one_item_wobble_is_noise_and_an_unchanged_setup_says_so(evals: Evaluations):
    store_run(evals.store, [_item(f"q{i}", **{"hit@1": 1.0}) for i in range(4)])
    second = store_run(evals.store, [_item(f"q{i}", **{"hit@1": 0.0 if i == 0 else 1.0}) for i in range(4)])
    assert evals.get_run(second)["warnings"] == []  # 1 of 4 items: within noise
    third = store_run(evals.store, [_item(f"q{i}", **{"hit@1": 0.0 if i < 3 else 1.0}) for i in range(4)])
    (warning,) = evals.get_run(third)["warnings"]
    assert "since run 2" in warning and "likely sampling noise" in warning


def test_a_changed_set_and_new_errors_are_named(evals: Evaluations):
    store_run(evals.store, [_item(f"q{i}", **{"mrr": 1.0}) for i in range(5)])
    broken = [{**_item(f"q{i}"), "error": "model crashed"} for i in range(3)] + [_item("q3", mrr=1.0)]
    second = store_run(evals.store, broken, sha="t" * 64)
    (warning,) = evals.get_run(second)["warnings"]
    assert warning.startswith("Errors rose from 0 to 3") and "the set itself (its sha256 differs)" in warning


def test_runs_of_other_sets_are_not_compared_automatically(evals: Evaluations):
    store_run(evals.store, [_item("a", **{"hit@1": 1.0})], set_name="other")
    second = store_run(evals.store, [_item("a", **{"hit@1": 0.0})])
    assert evals.get_run(second)["previous_id"] is None
    assert evals.list_runs("other")[0]["set_name"] == "other"
