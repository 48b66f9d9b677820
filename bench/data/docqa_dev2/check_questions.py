"""Check the second dev set's document questions against their PDFs (pypdf text, whitespace collapsed).

Usage: python bench/data/docqa_dev2/check_questions.py
Per questions file: 12 answerable and 10 unanswerable items with the record fields of the held-out sets, and
the 5 answerable items listed in NUMERIC (whose answer must state a number) have a number in both answer and
evidence. For every answerable item: `evidence` (<= 200 characters) occurs on each listed physical page and on no
other page, `printed_pages` are the PDF page labels of `pages`, and no run of 7 or more consecutive words is shared
between the question and its page. For every unanswerable item: none of its key terms (below) occurs anywhere in the
manual. Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pypdf import PdfReader

HERE = Path(__file__).resolve().parent
SETS = {"R-ints.pdf": "r-ints.questions.jsonl", "asymptote.pdf": "asymptote.questions.jsonl"}
ANSWERABLE, UNANSWERABLE = 12, 10
FIELDS = {"id", "question", "answer", "pages", "printed_pages", "evidence"}
# Answerable items whose answer must state a number (for "numbers traced"): 5 per manual.
NUMERIC = {
    "rints-001", "rints-002", "rints-008", "rints-010", "rints-012",
    "asy-001", "asy-002", "asy-004", "asy-009", "asy-011",
}
# Terms whose absence from the whole manual shows that an unanswerable question is not answered there.
ABSENT = {
    "rints-u01": ["llvm"], "rints-u02": ["openmp"], "rints-u03": ["rcpp"], "rints-u04": ["webassembly", "wasm"],
    "rints-u05": ["rust"], "rints-u06": ["reticulate", "python"], "rints-u07": ["jemalloc", "tcmalloc"],
    "rints-u08": ["valgrind", "sanitizer", "asan"], "rints-u09": ["arrow", "parquet", "mmap", "memory-mapped"],
    "rints-u10": ["gpu", "cuda"],
    "asy-u01": ["powerpoint", "pptx"], "asy-u02": ["vulkan"], "asy-u03": ["jupyter", "notebook"],
    "asy-u04": ["blender"], "asy-u05": ["qr code", "qrcode"], "asy-u06": ["shapefile", "geojson"],
    "asy-u07": ["tikz"], "asy-u08": ["alt text", "screen reader", "accessibility"],
    "asy-u09": ["ray tracing", "raytracing", "pov-ray", "povray"], "asy-u10": ["inkscape"],
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
    """Case-insensitive; short alphanumeric terms must match as whole words (gap is not part of 'gaps')."""
    if re.fullmatch(r"\w+", term):
        return re.search(rf"\b{re.escape(term)}\b", text) is not None
    return term in text


def check_shape(items: list[dict], questions: str) -> list[str]:
    """Counts, fields, ids and the numeric items of one questions file."""
    problems = []
    answerable = [i for i in items if i.get("answer") is not None]
    if (len(answerable), len(items) - len(answerable)) != (ANSWERABLE, UNANSWERABLE):
        problems.append(f"{questions}: {len(answerable)} answerable + {len(items) - len(answerable)} unanswerable, "
                        f"expected {ANSWERABLE} + {UNANSWERABLE}")
    ids = [i.get("id") for i in items]
    if len(set(ids)) != len(ids):
        problems.append(f"{questions}: duplicate ids")
    for item in items:
        wanted = FIELDS if item.get("answer") is not None else FIELDS - {"printed_pages"}
        if set(item) != wanted:
            problems.append(f"{item.get('id')}: fields {sorted(item)}, expected {sorted(wanted)}")
        if item.get("answer") is None and (item.get("pages") != [] or item.get("evidence") is not None):
            problems.append(f"{item['id']}: unanswerable items have pages [] and evidence null")
        if item.get("answer") is not None and len(item.get("pages") or []) != 1:
            problems.append(f"{item['id']}: every answer is on exactly one page")
        if len(item.get("evidence") or "") > 200:
            problems.append(f"{item['id']}: evidence longer than 200 characters")
    numeric = [i for i in answerable if i["id"] in NUMERIC]
    if len(numeric) != 5:
        problems.append(f"{questions}: {len(numeric)} items whose answer states a number, expected 5")
    for item in numeric:
        if not (re.search(r"\d", item["answer"]) and re.search(r"\d", item["evidence"])):
            problems.append(f"{item['id']}: a numeric item needs a number in answer and evidence")
    return problems


def check(pdf: str, questions: str) -> list[str]:
    """The problems found in one question file."""
    reader = PdfReader(HERE / pdf)
    pages = [collapse(p.extract_text()) for p in reader.pages]
    labels = reader.page_labels
    whole = " ".join(pages).lower()
    items = [json.loads(line) for line in (HERE / questions).read_text(encoding="utf-8").splitlines() if line.strip()]
    problems = check_shape(items, questions)
    for item in items:
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
    """Check both manuals of the set and report."""
    problems = [p for pdf, qs in SETS.items() for p in check(pdf, qs)]
    print("\n".join(problems) if problems else "OK: all second dev-set document questions check out")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
