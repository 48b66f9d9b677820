"""Check the held-out document questions against their PDFs (pypdf text, whitespace collapsed).

Usage: python bench/data/docqa_heldout/check_questions.py
For every answerable item: `evidence` occurs on each listed physical page and on no other page, `printed_pages`
are the PDF page labels of `pages`, and no run of 7 or more consecutive words is shared between the question and
its page. For every unanswerable item: none of its key terms (below) occurs anywhere in the manual.
Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pypdf import PdfReader

HERE = Path(__file__).resolve().parent
SETS = {"R-data.pdf": "r-data.questions.jsonl", "R-lang.pdf": "r-lang.questions.jsonl"}
# Terms whose absence from the whole manual shows that an unanswerable question is not answered there.
ABSENT = {
    "rdata-u01": ["parquet"], "rdata-u02": ["json"], "rdata-u03": ["5432", "port"],
    "rdata-u04": ["google"], "rdata-u05": ["matlab", ".mat "], "rdata-u06": ["fread", "data.table"],
    "rdata-u07": ["kafka"], "rdata-u08": ["saverds", "xz"], "rdata-u09": ["scrap", "rvest"],
    "rdata-u10": ["1048576", "1,048,576", "maximum number of rows"],
    "rlang-u01": ["r6"], "rlang-u02": ["setrefclass", "reference class"], "rlang-u03": ["jit", "cmpfun"],
    "rlang-u04": ["maximum length", "2^31", "2147483647"], "rlang-u05": ["mclapply", "parallel"],
    "rlang-u06": ["garbage", "gc("], "rlang-u07": ["trycatch"], "rlang-u08": ["{{", "tidy"],
    "rlang-u09": ["rprof", "profil"], "rlang-u10": ["reticulate", "python"],
}


def collapse(text: str) -> str:
    """Whitespace runs become one space."""
    return re.sub(r"\s+", " ", text).strip()


def shared_run(question: str, page: str, n: int = 7) -> str | None:
    """A run of n consecutive words found in both texts, if any."""
    words = re.findall(r"\w+", question.lower())
    page_text = " ".join(re.findall(r"\w+", page.lower()))
    for i in range(len(words) - n + 1):
        run = " ".join(words[i:i + n])
        if f" {run} " in f" {page_text} ":
            return run
    return None


def term_present(term: str, text: str) -> bool:
    """Case-insensitive; short alphanumeric terms must match as whole words (r6 is not part of 'r6x')."""
    if re.fullmatch(r"\w+", term):
        return re.search(rf"\b{re.escape(term)}\b", text) is not None
    return term in text


def check(pdf: str, questions: str) -> list[str]:
    """The problems found in one question file."""
    reader = PdfReader(HERE / pdf)
    pages = [collapse(p.extract_text()) for p in reader.pages]
    labels = reader.page_labels
    whole = " ".join(pages).lower()
    problems = []
    for line in (HERE / questions).read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["answer"] is None:
            found = [t for t in ABSENT[item["id"]] if term_present(t, whole)]
            problems += [f"{item['id']}: key term {t!r} occurs in {pdf}" for t in found]
            continue
        evidence = collapse(item["evidence"])
        on = [i + 1 for i, text in enumerate(pages) if evidence in text]
        if on != item["pages"]:
            problems.append(f"{item['id']}: evidence on pages {on}, listed {item['pages']}")
        if item["printed_pages"] != [labels[p - 1] for p in item["pages"]]:
            problems.append(f"{item['id']}: printed pages {item['printed_pages']} are not the labels")
        for p in item["pages"]:
            run = shared_run(item["question"], pages[p - 1])
            if run:
                problems.append(f"{item['id']}: question shares '{run}' with page {p}")
    return problems


def main() -> int:
    """Check both sets and report."""
    problems = [p for pdf, qs in SETS.items() for p in check(pdf, qs)]
    print("\n".join(problems) if problems else "all held-out document questions check out")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
