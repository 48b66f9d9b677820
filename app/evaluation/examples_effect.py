"""Do the verified queries help? A set's SQL questions run twice with the same model — without, then with the
verified question-SQL pairs of each question's database shown to the model — and the two stored runs compared.

Both runs use the question-to-SQL techniques as Settings set them for the chat (join keys, checks, candidates), so
the pair measures what an analyst gets with and without the pairs; the runs' settings say which is which
(`sql.verified_queries`). A pair whose question is the item's own question (after case and spaces) is left out:
a question verified word for word would be answered by copying its SQL, which says nothing about the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from app.access.roles import EVALUATE
from app.documents.library import DocumentLibrary
from app.errors import BadInputError
from app.evaluation.loader import SQL, EvalSet
from app.evaluation.ports import Answerer, EvaluationServices
from app.evaluation.runner import Progress, RunOptions
from app.evaluation.service import Evaluations
from app.llm.selector import ModelRouter
from app.ports import RecordStore
from app.settings import Settings
from app.tables.service import TablesService
from storage.sql_examples import SqlExampleStore

DEFAULT_EXAMPLES = 3  # pairs shown per question when Settings show none (sql_examples = 0)
LABELS = {False: "without verified queries", True: "with verified queries"}


class ExampleServices(EvaluationServices, Protocol):
    """The evaluation's services plus the verified pairs (app.container.Services provides both)."""

    @property
    def sql_examples(self) -> SqlExampleStore:
        """Verified question-SQL pairs of this data directory."""
        ...

    def require(self, action: str, where: str) -> None:
        """Refuse (and record) an action the signed-in role may not do."""
        ...


def _same_question(first: str, second: str) -> bool:
    return " ".join(first.lower().split()) == " ".join(second.lower().split())


class _SqlSetup:
    """The services a run uses, with the SQL techniques of Settings switched on for every SQL item, verified pairs
    on or off; counts the questions that were shown at least one pair."""

    def __init__(self, services: ExampleServices, with_examples: bool) -> None:
        self._services = services
        self.with_examples = with_examples
        self.questions = 0
        self.shown = 0

    @property
    def settings(self) -> Settings:
        """The app's settings."""
        return self._services.settings

    @property
    def records(self) -> RecordStore:
        """The app's request records (each run is recorded there)."""
        return self._services.records

    @property
    def router(self) -> ModelRouter:
        """The app's model router."""
        return self._services.router

    @property
    def evaluation_library_dir(self) -> Path:
        """Where the sets' documents are indexed."""
        return self._services.evaluation_library_dir

    @property
    def evaluation_documents(self) -> DocumentLibrary:
        """The sets' own document library."""
        return self._services.evaluation_documents

    @property
    def evaluation_assistant(self) -> Answerer:
        """The assistant answering from the evaluation library."""
        return self._services.evaluation_assistant

    def _examples(self, database: str, question: str) -> list[tuple[str, str]]:
        count = self._services.settings.sql_examples or DEFAULT_EXAMPLES
        found = self._services.sql_examples.similar(database, question, count + 1)
        pairs = [(e.question, e.sql) for _, e in found if not _same_question(e.question, question)][:count]
        self.questions += 1
        self.shown += bool(pairs)
        return pairs

    def evaluation_sql_setup(self, service: TablesService) -> None:
        """Configure one SQL item's service as the chat's (read by app.evaluation.items)."""
        s = self._services.settings
        service.join_hints, service.checks, service.candidates = s.sql_join_hints, s.sql_checks, s.sql_candidates
        service.examples = self._examples if self.with_examples else None


def stored_pairs(services: ExampleServices, eval_set: EvalSet) -> dict[str, int]:
    """Verified pairs stored for each database the set's SQL questions use (by the database's name)."""
    names = sorted({item.db.stem for item in eval_set.items if item.kind == SQL and item.db is not None})
    return {name: len(services.sql_examples.list(name)) for name in names}


def compare_examples(services: ExampleServices, eval_set: EvalSet, options: RunOptions,
                     progress: Progress | None = None, should_stop: Callable[[], bool] | None = None
                     ) -> dict[str, Any]:
    """Run the set's SQL questions without, then with verified queries (same model, same items); returns
    `Evaluations.compare` of the two stored runs plus {"examples": {"questions", "shown", "stored"}}."""
    services.require(EVALUATE, "compare_examples")  # the page is not the only guard
    if not any(item.kind == SQL for item in eval_set.items):
        raise BadInputError(f"The set {eval_set.name} has no SQL questions.",
                            "Choose a set with SQL questions (items with a database) to measure verified queries.")
    report = progress or (lambda fraction, message: None)
    run_options = replace(options, only=("sql",), judge=None, self_judge=False)
    ids, setups = [], []
    for step, with_examples in enumerate((False, True)):
        setup = _SqlSetup(services, with_examples)

        def half(fraction: float, message: str, step: int = step, label: str = LABELS[with_examples]) -> None:
            report((step + fraction) / 2, f"{label}: {message}")

        run = Evaluations(setup).run(eval_set, run_options, half, should_stop)
        _note_techniques(Evaluations(services), run, setup)
        ids.append(run["id"])
        setups.append(setup)
    result = Evaluations(services).compare(ids[0], ids[1])
    result["examples"] = {"questions": setups[1].questions, "shown": setups[1].shown,
                          "stored": stored_pairs(services, eval_set)}
    return result


def _note_techniques(evals: Evaluations, run: dict[str, Any], setup: _SqlSetup) -> None:
    """Add the SQL techniques to the run's stored settings, so a comparison names what differs."""
    s = setup.settings
    settings = {**run["settings"], "sql": {"join_hints": s.sql_join_hints, "checks": s.sql_checks,
                                           "candidates": s.sql_candidates, "verified_queries": setup.with_examples}}
    evals.store.finish_run(run["id"], run["status"], run["aggregates"], run.get("error") or "", settings=settings)


def effect_text(result: dict[str, Any]) -> str:
    """The comparison in words for the CLI: the two runs' accuracy, seconds and tokens side by side."""
    a, b, examples = result["a"], result["b"], result["examples"]
    rows = [m for m in result["metrics"] if m["name"] in ("execution_accuracy", "total_s", "tokens_in", "tokens_out")]
    width = max([len(m["label"]) for m in rows] + [6])
    lines = [f"verified queries on {a['set_name']} · model {a['model']} · run {a['id']} without, run {b['id']} with",
             f"{'metric':<{width}}  {'without':>9}  {'with':>9}  {'change':>8}"]
    for m in rows:
        change = "—" if m["delta"] is None else f"{m['delta']:+.3f}"
        lines.append(f"{m['label']:<{width}}  {_figure(m['a']):>9}  {_figure(m['b']):>9}  {change:>8}")
    stored = ", ".join(f"{db}: {n}" for db, n in examples["stored"].items()) or "none"
    lines.append(f"verified pairs shown for {examples['shown']} of {examples['questions']} question(s); "
                 f"stored per database: {stored}")
    for item in result["items"]:
        change = item["changes"].get("execution_accuracy")
        lines.append(f"  {item['id']}: " + (f"accuracy {change:+.0f}" if change is not None else "changed")
                     + (f" error: {item['error_after']}" if item["error_after"] else ""))
    return "\n".join(lines)


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
