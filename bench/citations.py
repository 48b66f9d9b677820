"""Which page a document answer cites: matched to the answer's sentences (`citations_for`) vs the old rule
(the model's markers, else the best-ranked passage), on the R manual.

Answers are real: the gold answers of the shared R-manual set, the answers the embedded models wrote
in the recorded assistant benchmark runs (bench/results/assistant-*.json), and recorded answers to the
whole R-manual set (bench/results/answers-r-intro-*.jsonl: `python -m app ask QUESTION --docs on --json`
per question, ANALYST_MAX_TOKENS=256, ANALYST_SEED=1). Each question is searched again with the
library's defaults, so both rules see the same passages the chat would. No model runs.

A gold page is the page that answers the question; a model that answered from another passage (copying
it) is rightly cited on that other page, which counts as a miss here — see "changed" in the results.
Run: python -m bench.citations
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.chat.grounding import citations_for, cited_numbers  # noqa: E402
from app.documents.library import DocumentLibrary  # noqa: E402
from app.documents.refusals import MODEL_SAYS_NOT_FOUND  # noqa: E402
from bench.common import RESULTS, write_results  # noqa: E402

DATA = ROOT / "bench" / "data"
RUNS = ["assistant-qwen2.5-coder-0.5b-limit8", "assistant-qwen2.5-coder-1.5b", "assistant-heldout-qwen2.5-coder-1.5b"]


def rank_rule(answer: str, kept: list) -> list[int]:
    """The rule before issue 11: the model's markers, else the best-ranked passage."""
    if not kept or MODEL_SAYS_NOT_FOUND.lower().rstrip(".") in answer.lower():
        return []
    numbers = cited_numbers(answer, len(kept))
    return [kept[n - 1].page for n in numbers] if numbers else [kept[0].page]


def items() -> list[dict]:
    """(set, id, question, answer, gold pages) for every answerable question with an answer."""
    out = []
    for line in (DATA / "docqa" / "r-intro.questions.jsonl").read_text().splitlines():
        q = json.loads(line)
        if q["pages"]:
            out.append({"set": "gold answers", "id": q["id"], "question": q["question"], "answer": q["answer"],
                        "pages": q["pages"]})
    docqa = {q["id"]: q for q in map(json.loads, (DATA / "docqa" / "r-intro.questions.jsonl").read_text().splitlines())}
    for path in sorted(RESULTS.glob("answers-r-intro-*.jsonl")):
        model = path.stem.removeprefix("answers-r-intro-")
        for row in map(json.loads, path.read_text().splitlines()):
            q = docqa.get(row["id"])
            if q and q["pages"] and row.get("answer"):
                out.append({"set": f"{model} answers, R-manual set", "id": f"{path.stem}/{row['id']}",
                            "question": q["question"], "answer": row["answer"], "pages": q["pages"]})
    for run in RUNS:
        path = RESULTS / f"{run}.json"
        if not path.exists():
            continue
        questions = DATA / "assistant" / ("heldout.jsonl" if "heldout" in run else "questions.jsonl")
        gold = {q["id"]: q for q in map(json.loads, questions.read_text().splitlines())}
        report = json.loads(path.read_text())
        model = report.get("model", run)
        for mode, rows in report["rows"].items():
            for row in rows:
                q = gold.get(row["id"])
                if q and q.get("pages") and row.get("answer"):
                    out.append({"set": f"{model} answers", "id": f"{run}/{mode}/{row['id']}",
                                "question": q["question"], "answer": row["answer"], "pages": q["pages"]})
    return out


def main() -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        lib = DocumentLibrary(Path(tmp))
        lib.ingest_file(DATA / "docqa" / "R-intro.pdf")
        summary: dict[str, dict[str, int]] = {}
        changed = []
        for item in items():
            kept = lib.search(item["question"])
            before = rank_rule(item["answer"], kept)
            citations, notice = citations_for(item["answer"], kept)
            after = [c["page"] for c in citations]
            if not before and not after:
                continue  # a refusal: nothing cited either way
            s = summary.setdefault(item["set"], dict.fromkeys(
                ["answers", "gold_page_retrieved", "gold_cited_before", "gold_cited_after",
                 "notice_before", "notice_after", "pages_cited_after"], 0))
            gold = set(item["pages"])
            s["answers"] += 1
            s["gold_page_retrieved"] += any(p.page in gold for p in kept)
            s["gold_cited_before"] += bool(gold & set(before))
            s["gold_cited_after"] += bool(gold & set(after))
            s["notice_before"] += not cited_numbers(item["answer"], len(kept))
            s["notice_after"] += bool(notice)
            s["pages_cited_after"] += len(after)
            if bool(gold & set(before)) != bool(gold & set(after)):
                changed.append({"id": item["id"], "gold": item["pages"], "ranked": [p.page for p in kept],
                                "before": before, "after": after, "notice": notice, "answer": item["answer"][:200]})
    for name, s in summary.items():
        print(f"{name}: gold page cited {s['gold_cited_before']}/{s['answers']} -> {s['gold_cited_after']}/"
              f"{s['answers']} (retrieved {s['gold_page_retrieved']}); notice {s['notice_before']} -> "
              f"{s['notice_after']}")
    write_results("citations", {"benchmark": "citations", "summary": summary, "changed": changed,
                                "wall_s": round(time.monotonic() - started, 1)})


if __name__ == "__main__":
    main()
