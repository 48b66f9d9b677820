"""Evaluation service: run a set with a model, keep the history, compare runs, warn about regressions.

The CLI (`python -m app eval ...`) and the Evaluation page both go through `Evaluations`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.evaluation.loader import EvalSet, load_set
from app.evaluation.metrics import item_changes, metric_deltas, regression_warnings, settings_diff
from app.evaluation.ports import EvaluationServices
from app.evaluation.runner import EvaluationRunner, Progress, RunOptions, parse_model, parse_only
from app.evaluation.store import EvaluationStore

__all__ = ["Evaluations", "EvalSet", "RunOptions", "load_set", "parse_model", "parse_only"]

STORE_FILE = "evaluations.sqlite"
SETS_DIR = "eval"  # <data_dir>/eval/*.jsonl: sets the user keeps (the page saves uploads there)
LIBRARY_DIR = "library"  # <data_dir>/eval/library: the sets' documents, indexed apart from the user's library
_BUNDLED = Path(__file__).resolve().parents[2] / "bench" / "data"
_BUNDLED_SETS = ("docqa", "sql")  # other bench/data folders hold benchmark inputs that are not question sets


class Evaluations:
    """Runs, history and comparisons for one data directory."""

    def __init__(self, services: EvaluationServices) -> None:
        self.services = services
        self.store = EvaluationStore(services.settings.data_dir / STORE_FILE)

    @property
    def sets_dir(self) -> Path:
        """Where the user's own sets live."""
        return self.services.settings.data_dir / SETS_DIR

    def available_sets(self) -> list[Path]:
        """Sets in the data dir, then the examples bundled with the app (bench/data)."""
        own = sorted(p for p in self.sets_dir.glob("*/*.jsonl") if p.parent.name != LIBRARY_DIR)
        own += sorted(self.sets_dir.glob("*.jsonl"))
        bundled = [p for folder in _BUNDLED_SETS for p in sorted((_BUNDLED / folder).glob("*.jsonl"))]
        return own + bundled

    def save_upload(self, name: str, data: bytes) -> Path:
        """Keep an uploaded set under <data_dir>/eval/ so it appears in the list (and its history groups)."""
        self.sets_dir.mkdir(parents=True, exist_ok=True)
        path = self.sets_dir / (Path(name).name or "uploaded.jsonl")
        path.write_bytes(data)
        return path

    def run(
        self,
        eval_set: EvalSet,
        options: RunOptions,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
        resume: int | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Run and store; returns the stored run (with items) plus `warnings` against the previous run. `resume`
        and `on_start` are for a background job: go on with the run it started, and hear a new run's id."""
        run_id = EvaluationRunner(self.services, self.store).run(eval_set, options, progress, should_stop,
                                                                 resume=resume, on_start=on_start)
        run = self.get_run(run_id)
        self._record(run)
        return run

    def _record(self, run: dict[str, Any]) -> None:
        # A run queries a model and runs SQL for its table items outside the chat, so it is recorded as
        # one request record (the items' own answers stay in the evaluation store).
        self.services.records.append("evaluation_run", {
            "user": self.services.settings.user,
            "status": run.get("status", ""),
            "run_id": run.get("id"),
            "set_name": run.get("set_name"),
            "set_sha256": run.get("set_sha256"),
            "model": run.get("model"),
            "items": len(run.get("items") or []),
            "aggregates": run.get("aggregates") or {},
        })

    def list_runs(self, set_name: str | None = None) -> list[dict[str, Any]]:
        """Stored runs, newest first."""
        return self.store.list_runs(set_name)

    def get_run(self, run_id: int | str) -> dict[str, Any]:
        """One stored run with items and its regression warnings against the previous run of its set."""
        run = self.store.get_run(run_id)
        previous = self.store.previous_run(run)
        run["previous_id"] = previous["id"] if previous else None
        run["warnings"] = regression_warnings(previous, run) if previous else []
        return run

    def compare(self, run_a: int | str, run_b: int | str) -> dict[str, Any]:
        """Per-metric deltas, per-item changes, settings that differ and regression warnings (b against a)."""
        a, b = self.store.get_run(run_a), self.store.get_run(run_b)
        return {
            "a": {k: v for k, v in a.items() if k != "items"},
            "b": {k: v for k, v in b.items() if k != "items"},
            "same_set": a["set_name"] == b["set_name"],
            "set_changed": a["set_sha256"] != b["set_sha256"],
            "metrics": [
                {
                    "name": d.name,
                    "label": d.label,
                    "a": d.before,
                    "b": d.after,
                    "delta": d.delta,
                    "n": d.n,
                    "regressed": d.regressed,
                }
                for d in metric_deltas(a["aggregates"], b["aggregates"])
            ],
            "items": item_changes(a["items"], b["items"]),
            "settings_diff": {k: list(v) for k, v in settings_diff(a["settings"], b["settings"]).items()},
            "warnings": regression_warnings(a, b),
        }
