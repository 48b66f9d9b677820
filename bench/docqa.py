"""Document answers end to end: retrieval, gold page cited, refusals, numbers traced, seconds per question.

    python -m bench.docqa [--set dev|dev2|heldout|heldout2] [--configs baseline,all] [--model qwen2.5-coder-1.5b]
                          [--threads 1]
    python -m bench.docqa --set heldout --summary-only     # print the figures of saved runs

Sets: `dev` = bench/data/docqa (R-intro.pdf; r-intro.questions.jsonl + r-intro.extra-unanswerable.jsonl, the
rules of app/chat/answerability.py were set on it); `heldout` = bench/data/docqa_heldout (other R manuals, every
*.pdf with its *.questions.jsonl; built by someone else and never used while developing: run it, never read it).
All PDFs of a set go into one fresh library; every question is one chat turn (`assistant.ask(..., use_documents=
True)`, temperature 0, seed 7) per configuration:

- `baseline`: the checks off (doc_answerability=False, trace_numbers=False) and one chunk per page retrieved
  (SearchConfig.join_page_chunks=False) — the answers as before issue 16, except that a refusal the model writes is
  recognised (that only changes what is recorded and shown, not the model's text);
- `joined`: the checks off, the five best chunks retrieved with close chunks of a page joined (the retrieval alone);
- `answerability`: joined chunks, the answerability rule and the retry of an over-refusal on, numbers not traced;
- `all`: joined chunks and both checks on. Numbers tracing is post-processing (it never changes what the model
  writes), so `all` differs from `answerability` only in the marks; each is still run on its own when asked for;
- `all-one-chunk-per-page`: the checks on, one chunk per page (what was shipped before the chunks were joined).

Per configuration: hit@1 / hit@5 (a gold page among the first / five retrieved pages), gold page cited (answerable
questions), answerable refused, unanswerable refused, numbers in answers (total, not found in the sources, of those
left unmarked: for configurations without tracing the trace is computed afterwards, to count what a reader would
have seen unmarked), median and p90 seconds per question. Printed, never asserted; written to
bench/results/docqa-<set>-<model>.json. The machine is shared: timings are noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.container import build_services  # noqa: E402
from app.documents.refusals import is_refusal  # noqa: E402
from app.evaluation.numbers import UNTRACED_MARK, trace_numbers  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.common import RESULTS, write_results  # noqa: E402

DATA = ROOT / "bench" / "data"
SETS = {
    "dev": DATA / "docqa",
    "dev2": DATA / "docqa_dev2",
    "heldout": DATA / "docqa_heldout",
    "heldout2": DATA / "docqa_heldout2",
}
CONFIGS: dict[str, dict[str, bool]] = {  # Settings overrides, and `join_page_chunks` for the library's SearchConfig
    "baseline": {"doc_answerability": False, "trace_numbers": False, "join_page_chunks": False},
    "joined": {"doc_answerability": False, "trace_numbers": False, "join_page_chunks": True},
    "answerability": {"doc_answerability": True, "trace_numbers": False, "join_page_chunks": True},
    "all": {"doc_answerability": True, "trace_numbers": True, "join_page_chunks": True},
    "all-one-chunk-per-page": {"doc_answerability": True, "trace_numbers": True, "join_page_chunks": False},
}


def load_set(folder: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    """The set's PDFs and its questions (every .jsonl of the folder, in name order)."""
    pdfs = sorted(folder.glob("*.pdf"))
    items: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        # "r-data.questions.jsonl" asks about "R-data.pdf": gold pages count only in that document.
        pdf = next((p.name for p in pdfs if path.name.lower().startswith(p.stem.lower() + ".")), "")
        items += [{**json.loads(line), "pdf": pdf, "file": path.name}
                  for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return pdfs, items


def _gold(item: dict[str, Any]) -> set[int]:
    return {int(p) for p in item.get("pages") or []}


def _source_ok(item: dict[str, Any], source: str) -> bool:
    """A page counts only in the gold document when the item names it (sets over several PDFs)."""
    wanted = item.get("pdf")
    return not wanted or Path(str(wanted)).name == Path(source).name


def run_item(services: Any, item: dict[str, Any]) -> dict[str, Any]:
    """One question as one chat turn, scored."""
    t0 = time.monotonic()
    turn = services.assistant.ask(item["question"], use_documents=True)
    error = ""
    try:
        turn.run()
    except Exception as exc:  # noqa: BLE001 - a failed turn is a data point
        error = f"{type(exc).__name__}: {exc}"
    result = turn.result
    gold = _gold(item)
    retrieved = [p.page for p in turn.passages if _source_ok(item, p.source)]
    cited = [c.get("page") for c in result.citations
             if c.get("kind") != "sql" and _source_ok(item, c.get("source", ""))]
    refused = result.not_in_documents or is_refusal(result.answer)
    trace = turn.numbers
    if trace is None and result.answer and not refused:  # computed afterwards: what the reader saw unmarked
        cited_ids = {c.get("chunk_id") for c in result.citations}
        texts = [p.text for p in turn.kept_passages if p.chunk_id in cited_ids] or [p.text for p in turn.kept_passages]
        trace = trace_numbers(result.answer, texts, question=item["question"])
    untraced = len(trace.untraced) if trace else 0
    marked = result.answer.count(UNTRACED_MARK)
    return {
        "id": item["id"], "answerable": bool(gold), "gold": sorted(gold), "retrieved": retrieved[:5],
        "hit1": bool(gold) and bool(retrieved[:1]) and retrieved[0] in gold,
        "hit5": bool(gold & set(retrieved[:5])), "cited": cited, "gold_cited": bool(gold & set(cited)),
        "refused": refused, "retried": turn.retried,
        "answerability": turn.answerability.as_dict() if turn.answerability else None,
        "numbers": trace.total if trace else 0, "untraced": untraced, "unmarked": max(0, untraced - marked),
        "seconds": round(time.monotonic() - t0, 2), "tokens_out": result.tokens_out, "status": result.status,
        "error": error or result.error, "answer": result.answer[:400],
    }


def run_config(args: argparse.Namespace, config: str, pdfs: list[Path], items: list[dict[str, Any]]) -> list[dict]:
    """Every question in one configuration, in a fresh data dir with the set's PDFs indexed and the model warm."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-docqa-") as tmp:
        overrides: dict[str, Any] = {"data_dir": Path(tmp) / "data", "backend": "embedded",
                                     "embedded_model": args.model, "temperature": 0.0, "top_p": 1.0, "seed": 7,
                                     "max_tokens": args.max_tokens}
        switches = dict(CONFIGS[config])
        join = switches.pop("join_page_chunks")
        overrides.update(switches)
        if args.threads:
            overrides["embedded_threads"] = args.threads
        services = build_services(Settings(**overrides))
        services.documents.config = replace(services.documents.config, join_page_chunks=join)
        try:
            for pdf in pdfs:
                services.documents.ingest_file(pdf)
            services.assistant.ask("Say hello.", use_documents=False).run()  # loads the model (not measured)
            for item in items:
                row = run_item(services, item)
                rows.append(row)
                print(f"{config} {row['id']}: gold {row['gold']} retrieved {row['retrieved']} cited {row['cited']} "
                      f"refused={row['refused']} retried={row['retried']} numbers {row['numbers']}/untraced "
                      f"{row['untraced']} {row['seconds']} s", flush=True)
        finally:
            services.close()
    return rows


def rule_only(pdfs: list[Path], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """No chat model: retrieval (hit@1/hit@5) and the answerability rule's verdict on every question — the part of
    the pipeline that decides before any generation. Uses only the embedding model of the library."""
    from app.chat.answerability import assess
    from app.documents.library import DocumentLibrary

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-docqa-rule-") as tmp:
        library = DocumentLibrary(Path(tmp))
        for pdf in pdfs:
            library.ingest_file(pdf)
        for item in items:
            t0 = time.monotonic()
            passages = library.search(item["question"])
            verdict = assess(item["question"], passages)
            gold = _gold(item)
            retrieved = [p.page for p in passages if _source_ok(item, p.source)]
            rows.append({"id": item["id"], "answerable": bool(gold),
                         "hit1": bool(gold) and bool(retrieved[:1]) and retrieved[0] in gold,
                         "hit5": bool(gold & set(retrieved[:5])), "rule_refused": not verdict.answerable,
                         "reason": verdict.reason, "seconds": round(time.monotonic() - t0, 3)})
    return rows


def print_rule_only(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rule-only figures."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    summary = {"answerable": len(answerable), "unanswerable": len(unanswerable),
               "hit@1": sum(r["hit1"] for r in answerable), "hit@5": sum(r["hit5"] for r in answerable),
               "rule_refused_answerable": sum(r["rule_refused"] for r in answerable),
               "rule_refused_unanswerable": sum(r["rule_refused"] for r in unanswerable),
               "median_s": round(statistics.median(r["seconds"] for r in rows), 3)}
    print(f"== {name} (no chat model): hit@1 {summary['hit@1']}/{len(answerable)}, hit@5 {summary['hit@5']}/"
          f"{len(answerable)}; refused by the answerability rule before any generation: answerable "
          f"{summary['rule_refused_answerable']}/{len(answerable)}, unanswerable {summary['rule_refused_unanswerable']}"
          f"/{len(unanswerable)}; search + rule median {summary['median_s']} s")
    return summary


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one configuration."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    seconds = sorted(r["seconds"] for r in rows)
    return {
        "questions": len(rows), "answerable": len(answerable), "unanswerable": len(unanswerable),
        "hit@1": sum(r["hit1"] for r in answerable), "hit@5": sum(r["hit5"] for r in answerable),
        "gold_cited": sum(r["gold_cited"] for r in answerable),
        "answerable_refused": sum(r["refused"] for r in answerable),
        "unanswerable_refused": sum(r["refused"] for r in unanswerable),
        "retried": sum(r["retried"] for r in rows),
        "numbers": sum(r["numbers"] for r in rows), "untraced": sum(r["untraced"] for r in rows),
        "unmarked": sum(r["unmarked"] for r in rows),
        "median_s": round(statistics.median(seconds), 2) if seconds else None,
        "p90_s": round(seconds[int(0.9 * (len(seconds) - 1))], 2) if seconds else None,
        "errors": sum(bool(r["error"]) for r in rows),
    }


def print_table(name: str, summaries: dict[str, dict[str, Any]]) -> None:
    """One line per configuration, then the median-time ratio to the baseline."""
    print(f"\n== {name}")
    print(f"{'config':<14}{'hit@1':>7}{'hit@5':>7}{'gold cited':>12}{'ans. refused':>14}{'unans. refused':>16}"
          f"{'numbers':>9}{'untraced':>10}{'unmarked':>10}{'median s':>10}{'p90 s':>8}")
    for config, s in summaries.items():
        a, u = s["answerable"], s["unanswerable"]
        print(f"{config:<14}{s['hit@1']:>4}/{a:<2}{s['hit@5']:>4}/{a:<2}{s['gold_cited']:>8}/{a:<3}"
              f"{s['answerable_refused']:>10}/{a:<3}{s['unanswerable_refused']:>12}/{u:<3}{s['numbers']:>9}"
              f"{s['untraced']:>10}{s['unmarked']:>10}{s['median_s']:>10}{s['p90_s']:>8}")
    base = summaries.get("baseline", {}).get("median_s")
    for config, s in summaries.items():
        if base and config != "baseline" and s["median_s"]:
            print(f"median turn {config} / baseline: {s['median_s'] / base:.2f}x")


def main(argv: list[str] | None = None) -> int:
    """Index the set, run each configuration, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="qset", choices=sorted(SETS), default="dev")
    parser.add_argument("--configs", default="baseline,all", help=f"Comma-separated, of {', '.join(CONFIGS)}.")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="Embedded model key.")
    parser.add_argument("--threads", type=int, help="Generation threads (default: the app's default).")
    parser.add_argument("--max-tokens", type=int, default=256, help="Answer length cap (bounds the run time).")
    parser.add_argument("--limit", type=int, help="Only the first N answerable and N unanswerable questions of each "
                        "questions file.")
    parser.add_argument("--ids", help="Only these question ids (comma-separated), to look at a few on a dev set.")
    parser.add_argument("--summary-only", action="store_true", help="Print the saved results of this set and model.")
    parser.add_argument("--rule-only", action="store_true",
                        help="No chat model: retrieval and the answerability rule's verdicts only.")
    args = parser.parse_args(argv)
    name = f"docqa-{args.qset}-{args.model}" + (f"-limit{args.limit}" if args.limit else "")
    if args.summary_only:
        saved = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        print_table(name, saved["summary"])
        return 0
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    pdfs, items = load_set(SETS[args.qset])
    if args.rule_only:
        rows = rule_only(pdfs, items)
        summary = print_rule_only(f"docqa-rule-{args.qset}", rows)
        write_results(f"docqa-rule-{args.qset}", {"benchmark": "docqa (rule only)", "set": args.qset,
                                                   "when": datetime.now(UTC).isoformat(timespec="seconds"),
                                                   "summary": summary, "rows": rows})
        return 0
    if args.limit:  # the first N answerable and N unanswerable questions of each questions file
        files = dict.fromkeys(i["file"] for i in items)
        items = [i for f in files for answerable in (True, False)
                 for i in [i for i in items if i["file"] == f and bool(_gold(i)) == answerable][: args.limit]]
    if args.ids:
        wanted = {i.strip() for i in args.ids.split(",")}
        items = [i for i in items if i["id"] in wanted]
        name += "-some"  # never overwrites the full run's figures
    print(f"{args.qset}: {len(pdfs)} PDF(s), {len(items)} questions, configs {configs}, model {args.model}", flush=True)
    started = time.monotonic()
    rows: dict[str, list[dict[str, Any]]] = {}
    for config in configs:
        # A fresh library and model per configuration: the model's prompt cache would otherwise make every
        # configuration after the first look faster on the prompts they share.
        rows[config] = run_config(args, config, pdfs, items)
        summaries = {c: summarise(r) for c, r in rows.items()}
        print_table(name, summaries)
        # Saved after every configuration, so a run stopped part-way keeps the finished ones.
        write_results(name, {"benchmark": "docqa", "set": args.qset, "model": args.model, "configs": configs,
                             "configs_done": list(rows), "when": datetime.now(UTC).isoformat(timespec="seconds"),
                             "pdfs": [p.name for p in pdfs], "threads": args.threads, "max_tokens": args.max_tokens,
                             "items": len(items),
                             "note": "shared 2-core machine with other jobs running: timings are noisy",
                             "wall_s": round(time.monotonic() - started, 1), "summary": summaries, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
