"""Assistant benchmark: tool choice, answer correctness and latency of whole chat turns, router vs native.

    python -m bench.assistant [--set main|heldout] [--model qwen2.5-coder-1.5b] [--modes router,native] [--limit N]
    python -m bench.assistant --build-questions [--set heldout]   # (re)compose the set's .jsonl
    python -m bench.assistant --rescore bench/results/assistant-heldout-qwen2.5-coder-1.5b.json

Two item sets built by the same recipe (see bench/data/assistant/SOURCES.md): `main` (questions.jsonl, over
laptop.duckdb; the router rules were revised after a run on it) and `heldout` (heldout.jsonl, over who.duckdb
and nyc.duckdb, other R-intro questions; never used while changing the rules).
One fresh data dir (a temp folder) holds R-intro.pdf in the document library and the tables of the databases
the set's items name (`db`); every item then goes through `services.assistant.ask` (one conversation per item,
the follow-up pair shares one) once per tool mode, set with `services.apply_settings`.

Measured per item and mode: the tools used vs the expected set (exact match of the set, per-tool
precision/recall), correctness where it can be checked (SQL rows vs the gold rows under the rules of
bench/sql_eval.py, the gold number in the answer text, the gold page among the cited pages and among
the retrieved pages), and latency (seconds per tool step, time before the first tool, the non-tool time
before the answer starts = routing or the model's planning rounds, time to first token, total).
Figures are printed, never asserted; they go to bench/results/assistant-<model>[-limitN].json (set main) or
assistant-<set>-<model>[-limitN].json (other sets).

The items and their sets live in bench/assistant_questions.py, the checks and summaries in
bench/assistant_scoring.py; this module runs the turns and writes the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.container import build_services  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.assistant_questions import (  # noqa: E402
    DOCQA,
    QUESTIONS,
    SETS,
    SQL,
    SQLDATA,
    TOOLS,
    QuestionSet,
    build_questions,
    check_disjoint,
    jsonable,
    load_items,
    read_jsonl,
    set_databases,
)
from bench.assistant_scoring import (  # noqa: E402
    answer_has,
    line_for,
    print_summary,
    routing,
    score_item,
    single_number,
    summarise,
)
from bench.common import write_results  # noqa: E402


def run_turn(services: Any, item: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """One question through Assistant.ask, with the wall-clock time of every step."""
    clock: list[tuple[float, dict[str, Any]]] = []
    t0 = time.monotonic()
    turn = services.assistant.ask(item["question"], conversation_id=conversation_id)
    turn.on_step = lambda step: clock.append((time.monotonic(), dict(step)))
    first_token = None
    error = ""
    try:
        for _ in turn:
            if first_token is None:
                first_token = time.monotonic()
    except Exception as exc:  # noqa: BLE001  (a failed turn is a data point, not the end of the benchmark)
        error = f"{type(exc).__name__}: {exc}"
    end = time.monotonic()
    result = turn.result
    starts = [t for t, s in clock if s.get("running")]
    tool_s = sum(s.get("seconds", 0.0) for s in result.tools)
    # Time before the answer started: from ask() to the model's first token minus the time to first token.
    answer_start = (first_token - (result.ttft_s or 0.0)) if first_token else end
    pre_answer = answer_start - t0 - result.load_s
    return {"result": result, "error": error or result.error, "wall_s": end - t0,
            "first_tool_at_s": (starts[0] - t0 - result.load_s) if starts else None,
            "tool_s": tool_s, "non_tool_pre_answer_s": max(0.0, pre_answer - tool_s)}


def rerun_rows(services: Any, steps: list[dict[str, Any]]) -> list[list[list[Any]]]:
    """Full results of the turn's successful run_sql steps (steps keep only 20 rows): rerun their SQL."""
    rows = []
    for step in steps:
        if step.get("name") == SQL and step.get("ok") and step.get("sql"):
            answer = services.tables.run_sql(step["sql"])
            rows.append(jsonable(answer.rows) if not answer.error else [])
    return rows


def run_mode(services: Any, mode: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every item in one tool mode; one conversation per item (the follow-up pair shares one)."""
    services.apply_settings({"tool_mode": mode})
    conversations: dict[str, str] = {}
    rows = []
    for item in items:
        key = item["conversation"]
        if key not in conversations:
            conversations[key] = services.conversations.create(f"bench {mode} {key}").id
        run = run_turn(services, item, conversations[key])
        result = run["result"]
        executed = [s for s in result.tools if s.get("output") != "not run"]
        used = {s["name"] for s in executed if s["name"] in TOOLS}
        expected = set(item["expected_tools"])
        score = score_item(item, result, rerun_rows(services, result.tools))
        row = {
            "id": item["id"], "kind": item["kind"], "mode": mode, "tool_mode": result.tool_mode,
            "question": item["question"], "expected": sorted(expected), "used": sorted(used),
            **routing(used, expected),
            "invalid_calls": [{"name": s["name"], "input": s.get("input"), "error": s.get("error")}
                              for s in result.tools if s.get("output") == "not run"],
            **score,
            "steps": [{"name": s["name"], "input": s.get("input"), "seconds": s.get("seconds"), "ok": s.get("ok"),
                       "output": s.get("output"), **({"sql": s["sql"]} if s.get("sql") else {}),
                       **({"error": s["error"]} if s.get("error") else {})} for s in result.tools],
            "ttft_s": result.ttft_s, "total_s": result.total_s, "load_s": result.load_s,
            "first_tool_at_s": run["first_tool_at_s"], "tool_s": run["tool_s"],
            "non_tool_pre_answer_s": run["non_tool_pre_answer_s"],
            "not_in_documents": result.not_in_documents, "status": result.status, "error": run["error"],
            "tokens_out": result.tokens_out, "answer": result.answer[:600],
            "pages_cited": [c.get("page") for c in result.citations if c.get("kind") != "sql"],
        }
        rows.append(row)
        print(line_for(row), flush=True)
    return rows


def setup(tmp: Path, args: argparse.Namespace, databases: list[str]) -> Any:
    """A fresh data dir with R-intro.pdf indexed and the set's databases' tables loaded; the model warmed up."""
    overrides: dict[str, Any] = {"data_dir": tmp / "data", "backend": "embedded", "embedded_model": args.model,
                                 "temperature": 0.0, "top_p": 1.0, "seed": 7, "max_tokens": args.max_tokens}
    if args.models_dir:
        overrides["models_dir"] = args.models_dir
    if args.threads:
        overrides["embedded_threads"] = args.threads
    settings = Settings(**overrides)
    services = build_services(settings)
    t0 = time.monotonic()
    doc = services.documents.ingest_file(DOCQA / "R-intro.pdf")
    ingest_s = time.monotonic() - t0
    tables: dict[str, Any] = {}
    for name in databases:
        copy = tmp / name
        shutil.copyfile(SQLDATA / "databases" / name, copy)
        loaded = services.tables.load_file(copy)
        tables.update({t: loaded.rows.get(t) for t in loaded.tables})
    t0 = time.monotonic()
    warm = services.assistant.ask("Say hello.", use_documents=False).run()  # loads the model (not measured)
    info = {"code": _code_version(), "ingest_s": round(ingest_s, 1), "pages": doc.pages, "chunks": doc.chunks,
            "doc_status": doc.status,
            "databases": databases, "tables": tables, "warmup_s": round(time.monotonic() - t0, 1),
            "warmup_load_s": round(warm.load_s, 1), "threads": settings.embedded_threads,
            "batch_threads": settings.embedded_batch_threads, "ctx": settings.embedded_ctx,
            "max_tokens": settings.max_tokens, "models_dir": str(settings.resolved_models_dir)}
    print(f"setup: {doc.pages} pages / {doc.chunks} chunks indexed in {ingest_s:.0f} s; tables "
          f"{', '.join(tables)} ({' + '.join(databases)}); model loaded in {warm.load_s:.0f} s "
          f"({settings.embedded_threads} thread(s), max {settings.max_tokens} answer tokens)", flush=True)
    return services, info


def main(argv: list[str] | None = None) -> int:
    """Parse flags, build the data dir, run each mode, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="qset", choices=sorted(SETS), default="main",
                        help="Item set: main (questions.jsonl) or heldout (heldout.jsonl, never used to tune).")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="Embedded model key.")
    parser.add_argument("--modes", default="router,native", help="Tool modes to run, comma-separated.")
    parser.add_argument("--limit", type=int, help="Only the first N items (a follow-up pair is kept whole).")
    parser.add_argument("--max-tokens", type=int, default=256, help="Answer length cap (bounds the run time).")
    parser.add_argument("--threads", type=int, help="Generation threads (default: the app's default).")
    parser.add_argument("--models-dir", type=Path, help="Model cache (default: ANALYST_MODELS_DIR or settings).")
    parser.add_argument("--build-questions", action="store_true", help="Rewrite the set's .jsonl and exit.")
    parser.add_argument("--rescore", type=Path, help="Recompute the answer checks and summary of a results file.")
    args = parser.parse_args(argv)
    qset = SETS[args.qset]
    if args.rescore:
        return rescore(args.rescore, qset.file)
    if args.build_questions:
        items = build_questions(qset)
        for other, oset in SETS.items():  # sets never share an item
            if other != args.qset and oset.file.exists():
                check_disjoint(items, read_jsonl(oset.file))
        qset.file.parent.mkdir(parents=True, exist_ok=True)
        qset.file.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
        print(f"wrote {qset.file.relative_to(ROOT)}: {len(items)} items")
        return 0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    items = load_items(qset.file, args.limit)
    databases = set_databases(qset.file)
    print(f"== {args.model}, set {args.qset}: {len(items)} items x modes {', '.join(modes)}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-assistant-") as tmp:
        services, info = setup(Path(tmp), args, databases)
        rows: dict[str, list[dict[str, Any]]] = {}
        name = f"{qset.results_prefix}-{args.model}" + (f"-limit{args.limit}" if args.limit else "")
        try:
            for mode in modes:
                rows[mode] = run_mode(services, mode, items)
                if mode != modes[-1]:  # a run stopped part-way still leaves the finished modes' figures
                    _save(name, args, qset, modes, items, info, started, rows, quiet=True)
        finally:
            services.close()
    _save(name, args, qset, modes, items, info, started, rows)
    return 0


def rescore(path: Path, default_questions: Path = QUESTIONS) -> int:
    """Recompute the number-in-answer check, the summaries and the ratios of a saved run (no model needed).
    The items are read from the set file the run recorded (`questions`), else from --set's file."""
    report = json.loads(path.read_text(encoding="utf-8"))
    questions = ROOT / report["questions"] if report.get("questions") else default_questions
    items = {i["id"]: i for i in read_jsonl(questions)}
    for rows in report["rows"].values():
        for row in rows:
            item = items[row["id"]]
            golds = item.get("accept_rows") or ([item["result_rows"]] if "result_rows" in item else [])
            values = [v for v in (single_number(g) for g in golds) if v is not None]
            if values:
                row["number_in_answer"] = any(answer_has(row["answer"], v) for v in values)
    report["summary"] = {mode: summarise(r) for mode, r in report["rows"].items()}
    report["native_over_router"] = print_summary(report["summary"])
    report["rescored"] = datetime.now(UTC).isoformat(timespec="seconds")
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    print(f"rescored {path}")
    return 0


def _code_version() -> dict[str, Any]:
    """The commit measured, and whether the app's files differed from it (the tree changes under long runs)."""
    import subprocess

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD"), "app_changes": git("status", "--short", "app", "storage").splitlines()}


def _save(name: str, args: argparse.Namespace, qset: QuestionSet, modes: list[str], items: list[dict[str, Any]],
          info: dict[str, Any], started: float, rows: dict[str, list[dict[str, Any]]], quiet: bool = False) -> None:
    summaries = {mode: summarise(r) for mode, r in rows.items()}
    ratios = {} if quiet else print_summary(summaries)
    write_results(name, {
        "benchmark": "assistant", "when": datetime.now(UTC).isoformat(timespec="seconds"), "model": args.model,
        "modes": modes, "modes_done": list(rows), "items": len(items), "set": args.qset,
        "questions": str(qset.file.relative_to(ROOT)),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "note": "shared 2-core machine with other jobs running: latencies are noisy"},
        "setup": info, "wall_s": round(time.monotonic() - started, 1), "summary": summaries,
        "native_over_router": ratios, "rows": rows,
    })


if __name__ == "__main__":
    raise SystemExit(main())
