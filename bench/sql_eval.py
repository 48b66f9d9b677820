"""Text-to-SQL benchmark: execution accuracy of TablesService.ask on the dev set and the held-out set.

Usage: python -m bench.sql_eval [--set dev|heldout] [--techniques baseline,joins,checks,candidates3,examples,all]
       [--model KEY ...] [--limit N] [--threads N] [--models-dir DIR]
Sets: dev = bench/data/sql/nsql.dev.jsonl (DuckDB-NSQL); heldout = bench/data/sql_heldout/heldout.jsonl
(databases never used while developing: its questions and SQL are not printed, only figures).
Techniques (combine with +, e.g. joins+checks): baseline (today's prompt and repair), joins (join graph in
the prompt and schema selection, binder-error repair hints), checks (question-vs-result checks with one
repair, and reminders in the prompt), candidatesN (greedy + N-1 sampled, picked by agreement), examples
(verified queries: the set's other questions on the same database with their gold SQL, leave-one-out:
never the question being asked), all (joins+checks+examples+candidates3).
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
SETS = {"dev": (DATA, "nsql.dev.jsonl"), "heldout": (ROOT / "data" / "sql_heldout", "heldout.jsonl")}
ALL = "joins+checks+examples+candidates3"
sys.path.insert(0, str(ROOT.parent))

from app.evaluation.scoring import rows_match  # noqa: E402  (shared with `python -m app eval`)
from app.llm.embedded import EmbeddedChatModel  # noqa: E402
from app.llm.selector import ModelRouter, parse_model_spec  # noqa: E402
from app.settings import load_settings  # noqa: E402
from app.tables.service import TablesService  # noqa: E402
from bench.common import write_results  # noqa: E402
from storage.sql_examples import similarity  # noqa: E402


def build_model(name: str, threads: int, n_ctx: int, models_dir: Path | None):
    """An embedded model by key, or an Ollama model as `ollama:NAME`."""
    spec = parse_model_spec(name)
    if spec is not None and spec.backend == "ollama":
        return ModelRouter(load_settings(backend="ollama", ollama_model=spec.name)).get_model()
    directory = models_dir or load_settings().resolved_models_dir
    model = EmbeddedChatModel(spec.name if spec else name, directory, threads=threads, n_ctx=n_ctx)
    model.load()
    return model


def technique_options(name: str) -> dict[str, Any]:
    """TablesService options for a technique name such as `joins+checks` or `candidates3`."""
    options: dict[str, Any] = {"join_hints": False, "checks": False, "candidates": 1, "examples": False}
    for part in (ALL if name == "all" else name).split("+"):
        if part == "baseline":
            continue
        if part == "joins":
            options["join_hints"] = True
        elif part == "checks":
            options["checks"] = True
        elif part == "examples":
            options["examples"] = True
        elif part.startswith("candidates") and part[len("candidates"):].isdigit():
            options["candidates"] = int(part[len("candidates"):])
        else:
            raise SystemExit(f"unknown technique {part!r}: use baseline, joins, checks, candidatesN, examples, all")
    return options


def leave_one_out(items: list[dict[str, Any]], asked: dict[str, Any]):
    """Verified examples for one item: the other items of its database with their gold SQL, by word overlap."""
    pool = [(i["question"], i["gold_sql"]) for i in items if i["db"] == asked["db"] and i["id"] != asked["id"]]

    def source(database: str, question: str) -> list[tuple[str, str]]:
        scored = sorted(((similarity(question, q), q, sql) for q, sql in pool if q != question), reverse=True)
        return [(q, sql) for score, q, sql in scored[:3] if score >= 0.15]
    return source


def run_item(model, items: list[dict[str, Any]], item: dict[str, Any], base: Path, technique: str,
             timeout: float = 10.0, quiet: bool = False, label: str = "") -> dict[str, Any]:
    """Ask one item's question with one technique; its outcome (held-out: figures only, no SQL, rows or errors)."""
    options = technique_options(technique)
    examples = leave_one_out(items, item) if options.pop("examples") else None
    service = TablesService.open_database(base / item["db"], model=model, timeout=timeout, examples=examples,
                                          **options)
    start = time.monotonic()
    try:
        answer = service.ask(item["question"])
    finally:
        service.close()
    seconds = time.monotonic() - start
    correct = answer.error is None and rows_match(answer.rows, item)
    row = {"id": item["id"], "category": item["category"], "db": Path(item["db"]).stem, "correct": correct,
           "seconds": round(seconds, 2), "attempts": answer.attempts, "candidates": len(answer.alternatives) or 1}
    if quiet:  # held-out: nobody tunes against what it asks
        print(f"  {label} {'OK  ' if correct else 'FAIL'} {seconds:6.1f}s", flush=True)
        return row
    print(f"{item['id']} {'OK  ' if correct else 'FAIL'} {seconds:6.1f}s att={answer.attempts} "
          f"{answer.sql.replace(chr(10), ' ')[:110]}{' | ' + answer.error if answer.error else ''}", flush=True)
    return {**row, "sql": answer.sql, "error": answer.error, "rows": answer.rows[:5], "notes": answer.notes}


def evaluate(model, items: list[dict[str, Any]], base: Path = DATA, timeout: float = 10.0,
             technique: str = "baseline", quiet: bool = False) -> dict[str, Any]:
    """Run every item with one technique and collect per-item outcomes and summary figures."""
    details = [run_item(model, items, item, base, technique, timeout, quiet, f"{n}/{len(items)}")
               for n, item in enumerate(items, 1)]
    return summarise(details)


def evaluate_interleaved(model, items: list[dict[str, Any]], base: Path, techniques: list[str], quiet: bool,
                         save) -> dict[str, dict[str, Any]]:
    """Every technique on item 1, then on item 2, ...: stopped at any point, all techniques have answered the
    same questions. `save(technique, report)` is called after every item (figures so far, marked partial)."""
    details: dict[str, list[dict[str, Any]]] = {t: [] for t in techniques}
    for n, item in enumerate(items, 1):
        for technique in techniques:
            details[technique].append(run_item(model, items, item, base, technique, quiet=quiet,
                                               label=f"{n}/{len(items)} {technique}"))
            save(technique, {**summarise(details[technique]), "partial": n < len(items), "questions_done": n})
    return {t: summarise(d) for t, d in details.items()}


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
    """Parse flags, run each model and technique, print the table and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="Embedded key or ollama:NAME (repeatable).")
    parser.add_argument("--set", dest="which", choices=sorted(SETS), default="dev", help="Which question set.")
    parser.add_argument("--techniques", default="baseline",
                        help="Comma-separated: baseline, joins, checks, candidatesN, examples, all, or a+b.")
    parser.add_argument("--limit", type=int, help="Only the first N items (quick run).")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for embedded models.")
    parser.add_argument("--ctx", type=int, default=8192, help="Context window for embedded models.")
    parser.add_argument("--models-dir", type=Path, help="Where assembled GGUF files live (default: settings).")
    parser.add_argument("--data", type=Path, help="A question file other than the set's own.")
    parser.add_argument("--interleave", action="store_true",
                        help="Item by item across techniques, saving figures after each item (a run stopped early "
                             "still compares the techniques on the same questions).")
    args = parser.parse_args(argv)
    base, file_name = SETS[args.which]
    data = args.data or base / file_name
    items = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = items[: args.limit] if args.limit else items
    techniques = [t.strip() for t in args.techniques.split(",") if t.strip()]
    for technique in techniques:
        technique_options(technique)  # unknown names fail before any model loads
    for name in args.model or ["qwen2.5-coder-1.5b"]:
        model = build_model(name, args.threads, args.ctx, args.models_dir)
        suffix = f"-limit{args.limit}" if args.limit else ""
        meta = {"model": name, "threads": args.threads, "ctx": args.ctx, "dataset": data.name, "set": args.which,
                "questions": len(items)}

        def save(technique: str, report: dict[str, Any], name: str = name, meta: dict[str, Any] = meta,
                 suffix: str = suffix) -> None:
            report.update(meta, technique=technique, when=time.strftime("%Y-%m-%dT%H:%M:%S"))
            tag = "" if args.which == "dev" and technique == "baseline" else f"-{args.which}-{technique}"
            write_results(f"sql_eval-{name.replace(':', '_').replace('/', '_')}{tag}{suffix}", report)

        quiet = args.which == "heldout"
        if args.interleave:
            print(f"== {name} · {args.which} · {', '.join(techniques)} (interleaved): {len(items)} questions")
            reports = evaluate_interleaved(model, items, base, techniques, quiet, save)
        else:
            reports = {}
            for technique in techniques:
                print(f"== {name} · {args.which} · {technique}: {len(items)} questions", flush=True)
                reports[technique] = evaluate(model, items, base, technique=technique, quiet=quiet)
        table = []
        for technique, report in reports.items():
            save(technique, report)
            table.append(report)
        print_table(name, args.which, table)
    return 0


def print_table(model: str, which: str, reports: list[dict[str, Any]]) -> None:
    """technique | accuracy | correct/n | median s/question | per category, with the time ratio to the first."""
    print(f"\n{model} on the {which} set")
    print("technique | accuracy | correct/n | median s/question | x first | per category")
    first = reports[0]["median_seconds"] or 0.0
    for r in reports:
        overall = r["overall"]
        ratio = f"{r['median_seconds'] / first:.2f}" if first and r["median_seconds"] is not None else "-"
        cats = ", ".join(f"{k} {v['correct']}/{v['n']}" for k, v in r["per_category"].items())
        print(f"{r['technique']} | {overall['accuracy']} | {overall['correct']}/{overall['n']} | "
              f"{r['median_seconds']} | {ratio} | {cats}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
