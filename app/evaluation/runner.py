"""Running a set against the app's own services: retrieval, SQL and answers, one item at a time.

Every item goes through the same public paths the app uses (`documents.search`,
`assistant.ask(...).run()`, `TablesService.ask`), so a score measures what users get; the set's
documents are indexed in their own library (`services.evaluation_documents`, under
<data_dir>/eval/library) and answered by an assistant that searches only that library, so running
an evaluation never adds its PDFs to the user's Documents or chat search.
Each result is stored as soon as it is known; `should_stop` is checked between items, and a run cut off (a
cancelled or interrupted job) can be resumed without running its stored items again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from app.documents.search import SearchConfig
from app.errors import BadInputError, NotFoundError
from app.evaluation.items import ItemScorer, apply_judge
from app.evaluation.loader import DOCQA, SQL, EvalItem, EvalSet
from app.evaluation.metrics import aggregate
from app.evaluation.ports import EvaluationServices
from app.evaluation.store import CANCELLED, FAILED, FINISHED, EvaluationStore
from app.llm.model_files import CATALOG
from app.llm.selector import parse_model_spec
from multimodal.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP_CHARS
from storage.embedder import MODEL_ID

Progress = Callable[[float, str], None]
KINDS = ("retrieval", "sql", "answers")


@dataclass(frozen=True)
class RunOptions:
    """What to run: model spec, metric groups, how many items."""

    model: str | None = None  # "embedded:KEY", "ollama:NAME", a bare embedded key, or None for the settings
    only: tuple[str, ...] = KINDS
    limit: int | None = None
    judge: str | None = None  # a fixed judge model for faithfulness (compare models fairly); None = no other judge
    # The run's own model also judges faithfulness (lenient: the 1.5B rated 82 of 83 labelled answers faithful, see
    # bench/faithfulness.py); off by default, the sentence-support check (app.evaluation.support) always runs.
    self_judge: bool = False


def parse_model(spec: str | None) -> dict[str, str] | None:
    """A model spec as a router override ({"backend", "embedded_model" | "ollama_model"}); None = settings.

    A run names its backend: a bare name must be an embedded key (an Ollama model is `ollama:NAME`)."""
    model = parse_model_spec(spec)
    if model is None:
        return None
    if not model.sets_backend:
        raise BadInputError(f"Unknown model {spec!r}.", f"Use embedded:KEY ({', '.join(CATALOG)}) or ollama:NAME.")
    return model.overrides()


def parse_only(text: str | None) -> tuple[str, ...]:
    """`retrieval,sql,answers` (any subset) as a tuple; raises on unknown names."""
    if not text:
        return KINDS
    chosen = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [c for c in chosen if c not in KINDS]
    if unknown or not chosen:
        raise BadInputError(
            f"Unknown --only value(s): {', '.join(unknown) or text}.",
            f"Choose from {', '.join(KINDS)}, comma-separated.",
        )
    return chosen


def select_items(eval_set: EvalSet, options: RunOptions) -> list[EvalItem]:
    """The set's items the chosen metric groups use, cut to the limit."""
    only = set(options.only)
    items = [i for i in eval_set.items
             if (i.kind == DOCQA and {"retrieval", "answers"} & only) or (i.kind == SQL and {"sql", "answers"} & only)]
    return items[: options.limit] if options.limit else items


class EvaluationRunner:
    """Runs one set with one model over the app's services and stores the result."""

    def __init__(self, services: EvaluationServices, store: EvaluationStore,
                 embed: Callable[[list[str]], Any] | None = None) -> None:
        self.services = services
        self.store = store
        self._embed = embed

    def run(
        self,
        eval_set: EvalSet,
        options: RunOptions,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
        resume: int | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> int:
        """Run the set; returns the stored run id. A missing model raises before anything is stored.

        With `resume` (the run an interrupted or cancelled job left), that run goes on: items already stored are
        kept and not run again. `on_start` hears the run id as soon as it exists (a job keeps it for a resume)."""
        report = progress or (lambda fraction, message: None)
        only = options.only
        items = select_items(eval_set, options)
        choice = parse_model(options.model)
        needs_model = any(i.kind == SQL for i in items) or ("answers" in only and items)
        model = self.services.router.get_model(report, choice) if needs_model else None
        doc_ids = self._ingest(eval_set, report) if any(i.kind == DOCQA for i in items) else None
        run_id, done = self._open_run(eval_set, options, choice, model, resume)
        if on_start is not None:
            on_start(run_id)
        judge_choice = parse_model(options.judge) if options.judge else None
        scorer = ItemScorer(self.services, only, model, choice, doc_ids, self._embed,
                            defer_judge=judge_choice is not None, self_judge=options.self_judge)
        results: list[dict[str, Any]] = []
        status, error = FINISHED, ""
        try:
            for n, item in enumerate(items):
                if item.id in done:  # stored by an earlier attempt of this run
                    results.append(done[item.id])
                    continue
                if should_stop and should_stop():
                    status, error = CANCELLED, f"partial run: cancelled after {len(results)} of {len(items)} item(s)"
                    break
                report(n / max(len(items), 1), f"{n + 1}/{len(items)} {item.id}: {item.question[:60]}")
                result = scorer.score(item)
                results.append(result)
                self.store.add_item(run_id, n, result)
            if judge_choice is not None:
                self._judge_all(run_id, results, judge_choice, report)
            report(1.0, f"{len(results)} item(s) done")
        except Exception as exc:  # a bug: keep the partial run, marked failed, and let it surface
            status, error = FAILED, f"{type(exc).__name__}: {exc}"
            raise
        except BaseException:  # Ctrl-C, or Streamlit stopping/rerunning the page: the items done are kept
            status, error = CANCELLED, "stopped before the end"
            raise
        finally:
            self.store.finish_run(run_id, status, aggregate(results), error)
        return run_id

    def _open_run(self, eval_set: EvalSet, options: RunOptions, choice: dict | None, model: Any,
                  resume: int | None) -> tuple[int, dict[str, dict[str, Any]]]:
        """The run to store items in, and the items it already holds by id: `resume` when it is a run of the same
        set (same content), model and metric groups; otherwise a new run."""
        label = f"{model.info.backend}:{model.info.name}" if model else "none (retrieval only)"
        if resume is not None:
            try:
                earlier = self.store.get_run(resume)
            except NotFoundError:
                earlier = None
            if earlier and (earlier["set_sha256"], earlier["model"], earlier["only"]) == (
                    eval_set.sha256, label, list(options.only)):
                self.store.reopen_run(resume)
                return resume, {item["id"]: item for item in earlier["items"]}
        snapshot = self._snapshot(choice, model)
        # A change of judge is a change of setting.
        snapshot["judge"] = options.judge or (label if options.self_judge else "sentence support")
        problems = [{"line": p.line, "message": p.message} for p in eval_set.problems]
        run_id = self.store.start_run(
            eval_set.name, str(eval_set.path), eval_set.sha256, label, list(options.only), snapshot, problems
        )
        return run_id, {}

    def _judge_all(self, run_id: int, results: list[dict[str, Any]], choice: dict, report: Progress) -> None:
        """Judge every answer with the fixed judge model (loaded once, after the answering model)."""
        pending = [(n, r) for n, r in enumerate(results) if r.get("detail", {}).get("judge_input")]
        if not pending:
            return
        judge = self.services.router.get_model(report, choice)
        for done, (n, result) in enumerate(pending):
            report(done / len(pending), f"Judging {done + 1}/{len(pending)}: {result['id']}")
            detail = result["detail"]
            given = detail.pop("judge_input")
            apply_judge(judge, given["passages"], given["claims"], result["metrics"], detail)
            self.store.add_item(run_id, n, result)

    # ---- setup --------------------------------------------------------------------------------------

    def _ingest(self, eval_set: EvalSet, report: Progress) -> set[str] | None:
        """Index the set's PDFs (already indexed content is skipped by sha256); their doc ids, or None for all."""
        if not eval_set.documents:
            return None
        library = self.services.evaluation_documents  # the set's own library, never the user's
        ids: set[str] = set()
        count = len(eval_set.documents)
        for index, path in enumerate(eval_set.documents, start=1):

            def emit(event: Any, index: int = index, name: str = path.name) -> None:
                if event.stage == "page" and event.pages:
                    report(
                        (index - 1 + event.page / event.pages) / count,
                        f"Indexing {name}: page {event.page}/{event.pages}",
                    )

            result = library.ingest_file(path, progress=emit, file_index=index, file_count=count)
            if result.status == "error":
                raise BadInputError(f"The set's document {path.name} could not be indexed: {result.error}")
            report(index / count, f"{path.name}: {'already indexed' if result.status == 'skipped' else 'indexed'}")
            ids.add(result.id)
        return ids

    def _snapshot(self, choice: dict | None, model: Any) -> dict[str, Any]:
        """The settings that can move a score: model, embedding, chunking, retrieval and generation."""
        s = self.services.router.with_overrides(choice)
        info = model.info if model else None
        # Building the library just to read its config would open Chroma; the defaults are what it uses then.
        config = self.services.evaluation_documents.config if self._documents_built() else SearchConfig()
        generation = {
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
            "seed": s.seed,
            "tool_mode": getattr(s, "tool_mode", ""),
            "system_prompt_sha256": hashlib.sha256(s.system_prompt.encode()).hexdigest()[:12],
        }
        if info:
            # The context the model actually ran with, as its adapter declares it (not a backend's setting).
            generation["context_window"] = info.context_window
        return {
            "model": {"backend": info.backend, "name": info.name, "digest": info.digest} if info else {},
            "embedding": {"model": MODEL_ID},
            "chunking": {"max_chars": DEFAULT_MAX_CHARS, "overlap_chars": DEFAULT_OVERLAP_CHARS},
            "retrieval": asdict(config),
            "settings": generation,
        }

    def _documents_built(self) -> bool:
        return (self.services.evaluation_library_dir / "documents.sqlite").exists()
