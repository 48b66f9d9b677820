"""Text-to-SQL benchmark: execution accuracy of TablesService.ask on the DuckDB-NSQL dev items.

Usage: python -m bench.sql_eval [--model KEY ...] [--limit N] [--threads N] [--models-dir DIR]
A model is an embedded key (qwen2.5-coder-1.5b, ...) or `ollama:NAME`. Scoring follows
bench/data/sql/SOURCES.md: multiset comparison (ordered when the gold query sorts, honouring
tie groups), numeric tolerance 1e-6, column names ignored. Prints figures and writes JSON
to bench/results/. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "sql"
sys.path.insert(0, str(ROOT.parent))

from app.evaluation.scoring import rows_match  # noqa: E402  (shared with `python -m app eval`)
from app.llm.embedded import EmbeddedChatModel  # noqa: E402
from app.llm.selector import ModelRouter, parse_model_spec  # noqa: E402
from app.settings import load_settings  # noqa: E402
from app.tables.service import TablesService  # noqa: E402
from bench.common import write_results  # noqa: E402


def build_model(name: str, threads: int, n_ctx: int, models_dir: Path | None):
    """An embedded model by key, or an Ollama model as `ollama:NAME`."""
    spec = parse_model_spec(name)
    if spec is not None and spec.backend == "ollama":
        return ModelRouter(load_settings(backend="ollama", ollama_model=spec.name)).get_model()
    directory = models_dir or load_settings().resolved_models_dir
    model = EmbeddedChatModel(spec.name if spec else name, directory, threads=threads, n_ctx=n_ctx)
    model.load()
    return model


def evaluate(model, items: list[dict[str, Any]], timeout: float = 10.0) -> dict[str, Any]:
    """Run every item and collect per-item outcomes and summary figures."""
    details = []
    for item in items:
        service = TablesService.open_database(DATA / item["db"], model=model, timeout=timeout)
        start = time.monotonic()
        try:
            answer = service.ask(item["question"])
        finally:
            service.close()
        seconds = time.monotonic() - start
        correct = answer.error is None and rows_match(answer.rows, item)
        details.append({"id": item["id"], "category": item["category"], "db": Path(item["db"]).stem,
                        "correct": correct, "seconds": round(seconds, 2), "attempts": answer.attempts,
                        "sql": answer.sql, "error": answer.error, "rows": answer.rows[:5]})
        print(f"{item['id']} {'OK  ' if correct else 'FAIL'} {seconds:6.1f}s att={answer.attempts} "
              f"{answer.sql.replace(chr(10), ' ')[:110]}{' | ' + answer.error if answer.error else ''}", flush=True)
    return summarise(details)


def summarise(details: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy overall, per category and per database, and median seconds per question."""
    def acc(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"n": len(rows), "correct": sum(r["correct"] for r in rows),
                "accuracy": round(sum(r["correct"] for r in rows) / len(rows), 3) if rows else None}

    by_cat, by_db = defaultdict(list), defaultdict(list)
    for row in details:
        by_cat[row["category"]].append(row)
        by_db[row["db"]].append(row)
    return {"overall": acc(details), "per_category": {k: acc(v) for k, v in sorted(by_cat.items())},
            "per_database": {k: acc(v) for k, v in sorted(by_db.items())},
            "median_seconds": round(statistics.median(r["seconds"] for r in details), 2) if details else None,
            "items": details}


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run each model, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="Embedded key or ollama:NAME (repeatable).")
    parser.add_argument("--limit", type=int, help="Only the first N items (quick run).")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for embedded models.")
    parser.add_argument("--ctx", type=int, default=8192, help="Context window for embedded models.")
    parser.add_argument("--models-dir", type=Path, help="Where assembled GGUF files live (default: settings).")
    parser.add_argument("--data", type=Path, default=DATA / "nsql.dev.jsonl")
    args = parser.parse_args(argv)
    items = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = items[: args.limit] if args.limit else items
    for name in args.model or ["qwen2.5-coder-1.5b"]:
        print(f"== {name}: {len(items)} questions", flush=True)
        model = build_model(name, args.threads, args.ctx, args.models_dir)
        report = evaluate(model, items)
        report.update({"model": name, "threads": args.threads, "ctx": args.ctx, "dataset": args.data.name,
                       "questions": len(items), "when": time.strftime("%Y-%m-%dT%H:%M:%S")})
        overall = report["overall"]
        print(f"{name}: execution accuracy {overall['accuracy']} ({overall['correct']}/{overall['n']}), "
              f"median {report['median_seconds']} s/question")
        for cat, fig in report["per_category"].items():
            print(f"  {cat:8s} {fig['accuracy']} ({fig['correct']}/{fig['n']})")
        suffix = f"-limit{args.limit}" if args.limit else ""
        write_results(f"sql_eval-{name.replace(':', '_').replace('/', '_')}{suffix}", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
