"""Faithfulness checks against labels: the sentence-support check (app.evaluation.support) vs the model judge.

    python -m bench.faithfulness --build                      # (re)write bench/data/faithfulness/labelled.jsonl
    python -m bench.faithfulness [--judge qwen2.5-coder-1.5b] [--threads 1] [--no-judge]

The labelled set and how it was made: bench/data/faithfulness/SOURCES.md. Reported for each method: accuracy
against the labels, recall and precision on the unsupported answers (finding the unfaithful ones is the point),
and the share rated faithful. The judge is the embedded model judging with the evaluation's own prompt
(app.evaluation.judge); an answer counts as faithful for it when every sentence is supported (score 1.0), and an
unparseable reply counts as faithful (what the Evaluation page showed: no flag). Results:
bench/results/faithfulness.json. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.evaluation.scoring import sentences  # noqa: E402
from app.evaluation.support import support_check  # noqa: E402
from bench.common import RESULTS, write_results  # noqa: E402

DATA = ROOT / "bench" / "data"
LABELLED = DATA / "faithfulness" / "labelled.jsonl"
RECORDED = RESULTS / "answers-r-intro-qwen2.5-coder-0.5b.jsonl"
# Recorded 0.5B answers, labelled by reading each against the manual's page (refusals and one-word answers left out;
# answers copied from a passage that does not answer the question are still *supported*: faithful, not correct).
RECORDED_LABELS = {
    "rintro-001": "supported", "rintro-002": "unsupported", "rintro-006": "supported", "rintro-008": "unsupported",
    "rintro-009": "supported", "rintro-013": "supported", "rintro-014": "unsupported", "rintro-015": "unsupported",
    "rintro-016": "supported", "rintro-017": "supported", "rintro-020": "supported", "rintro-021": "unsupported",
    "rintro-023": "supported", "rintro-024": "unsupported", "rintro-028": "unsupported", "rintro-031": "unsupported",
    "rintro-036": "supported", "rintro-038": "supported", "rintro-039": "unsupported", "rintro-040": "supported",
    "rintro-u01": "unsupported", "rintro-u03": "unsupported", "rintro-u04": "unsupported", "rintro-u05": "unsupported",
}
# Gold answers with a number changed (the figure a small model would invent).
NUMBER_CHANGES = {"rintro-002": ("25", "35"), "rintro-014": ("44.5", "54.5"), "rintro-018": ("20", "50"),
                  "rintro-024": ("100", "250"), "rintro-028": ("0.00694", "0.0694"), "rintro-034": ("43.663", "47.663"),
                  "rintro-036": ("512", "256"), "rintro-037": ("0.83", "0.38"), "rintro-039": ("10,000", "1,000")}
# Gold answers put against the sources of another question (an answer from somewhere else: a swapped fact).
SWAPS = [("rintro-001", "rintro-040"), ("rintro-003", "rintro-030"), ("rintro-006", "rintro-033"),
         ("rintro-010", "rintro-020"), ("rintro-013", "rintro-026"), ("rintro-016", "rintro-035"),
         ("rintro-019", "rintro-038"), ("rintro-023", "rintro-011"), ("rintro-029", "rintro-005"),
         ("rintro-032", "rintro-012")]


def _sources(lib: Any, item: dict[str, Any]) -> list[str]:
    """What the chat would have cited: the top three passages for the question, and the gold page's passage."""
    passages = lib.search(item["question"])
    texts = [p.text for p in passages[:3]]
    for p in passages:
        if p.page in (item.get("pages") or []) and p.text not in texts:
            texts.append(p.text)
    if item.get("evidence") and not any(" ".join(item["evidence"].split()) in " ".join(t.split()) for t in texts):
        texts.append(item["evidence"])  # the gold page missed by retrieval: its quoted evidence stands in
    return texts


def build() -> None:
    """Write the labelled set from the R-manual questions, their gold answers and the recorded 0.5B answers."""
    from app.documents.library import DocumentLibrary

    questions = {q["id"]: q for q in map(json.loads, (DATA / "docqa" / "r-intro.questions.jsonl").read_text()
                                         .splitlines())}
    recorded = {r["id"]: r["answer"] for r in map(json.loads, RECORDED.read_text().splitlines())}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        lib = DocumentLibrary(Path(tmp))
        lib.ingest_file(DATA / "docqa" / "R-intro.pdf")
        sources = {qid: _sources(lib, q) for qid, q in questions.items()}
    for qid, q in questions.items():
        if q["answer"]:
            rows.append({"id": f"gold/{qid}", "origin": "gold answer", "question": q["question"],
                         "answer": q["answer"], "sources": sources[qid], "label": "supported"})
    for qid, (old, new) in NUMBER_CHANGES.items():
        q = questions[qid]
        assert old in q["answer"], qid
        rows.append({"id": f"number/{qid}", "origin": f"gold answer, number {old} -> {new}", "question": q["question"],
                     "answer": q["answer"].replace(old, new, 1), "sources": sources[qid], "label": "unsupported"})
    for answer_id, source_id in SWAPS:
        rows.append({"id": f"swap/{answer_id}", "origin": f"gold answer of {answer_id} on the sources of {source_id}",
                     "question": questions[answer_id]["question"], "answer": questions[answer_id]["answer"],
                     "sources": sources[source_id], "label": "unsupported"})
    for qid, label in RECORDED_LABELS.items():
        rows.append({"id": f"recorded/{qid}", "origin": "recorded answer, qwen2.5-coder-0.5b",
                     "question": questions[qid]["question"], "answer": recorded[qid], "sources": sources[qid],
                     "label": label})
    random.Random(16).shuffle(rows)
    LABELLED.parent.mkdir(parents=True, exist_ok=True)
    LABELLED.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {LABELLED.relative_to(ROOT)}: {len(rows)} answers "
          f"({sum(r['label'] == 'unsupported' for r in rows)} unsupported)")


def agreement(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Accuracy, and recall/precision on the unsupported answers, of one method's verdicts (True = faithful)."""
    judged = [r for r in rows if r.get(key) is not None]
    bad = [r for r in judged if r["label"] == "unsupported"]
    flagged = [r for r in judged if not r[key]]
    caught = [r for r in bad if not r[key]]
    return {"judged": len(judged), "accuracy": round(sum((r["label"] == "supported") == r[key] for r in judged)
                                                     / max(1, len(judged)), 3),
            "unsupported_recall": round(len(caught) / max(1, len(bad)), 3),
            "unsupported_precision": round(len(caught) / len(flagged), 3) if flagged else None,
            "rated_faithful": round(sum(bool(r[key]) for r in judged) / max(1, len(judged)), 3)}


def _judge(rows: list[dict[str, Any]], model_key: str, threads: int | None) -> float:
    from app.container import build_services
    from app.evaluation.judge import judge_faithfulness
    from app.settings import Settings

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, Any] = {"data_dir": Path(tmp), "backend": "embedded", "embedded_model": model_key}
        if threads:
            overrides["embedded_threads"] = threads
        services = build_services(Settings(**overrides))
        try:
            model = services.router.get_model(None, None)
            for row in rows:
                verdict, reply = judge_faithfulness(model, row["sources"], sentences(row["answer"]))
                row["judge"] = True if verdict.score is None else verdict.score >= 1.0
                row["judge_reply"] = reply[:200]
        finally:
            services.close()
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    """Build the set, or score both methods on it and print the agreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="Rewrite the labelled set and exit.")
    parser.add_argument("--judge", default="qwen2.5-coder-1.5b", help="Embedded model that judges.")
    parser.add_argument("--no-judge", action="store_true", help="Only the support check (no model).")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    if args.build:
        build()
        return 0
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    started = time.monotonic()
    for row in rows:
        verdict = support_check(row["answer"], row["sources"], question=row["question"])
        row["support"] = verdict.faithful
        row["support_unsupported"] = verdict.unsupported
    support_s = time.monotonic() - started
    report: dict[str, Any] = {"benchmark": "faithfulness", "items": len(rows),
                              "unsupported": sum(r["label"] == "unsupported" for r in rows),
                              "support_check": agreement(rows, "support"), "support_s": round(support_s, 3)}
    if not args.no_judge:
        report["judge_s"] = round(_judge(rows, args.judge, args.threads), 1)
        report["judge_model"] = args.judge
        report["model_judge"] = agreement(rows, "judge")
    by_origin: dict[str, dict[str, int]] = {}
    for row in rows:
        origin = row["id"].split("/")[0]
        cell = by_origin.setdefault(origin, {"n": 0, "support_right": 0, "judge_right": 0})
        cell["n"] += 1
        cell["support_right"] += (row["label"] == "supported") == bool(row["support"])
        cell["judge_right"] += (row["label"] == "supported") == bool(row.get("judge"))
    report["by_origin"] = by_origin
    for name in ("support_check", "model_judge"):
        if name in report:
            print(f"{name}: {report[name]}")
    print(f"by origin: {by_origin}")
    report["rows"] = rows
    write_results("faithfulness", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
