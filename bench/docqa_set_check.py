"""The checks every document-question set runs on itself (`bench/data/docqa_*/check_questions.py`).

Against the PDFs' pypdf text (whitespace collapsed): for every answerable item, `evidence` occurs on each listed
physical page and on no other page, `printed_pages` are the PDF page labels of `pages`, and no run of 7 or more
consecutive words is shared between the question and its page; for every unanswerable item, none of its key terms
occurs anywhere in the manual. With `numeric` given, also the shape of each file: 12 answerable + 10 unanswerable
items with the record fields, one page per answer, evidence <= 200 characters, and the 5 listed items whose answer
must state a number have a number in both answer and evidence. Each set's script holds only its files and terms.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pypdf import PdfReader

ANSWERABLE, UNANSWERABLE = 12, 10
FIELDS = {"id", "question", "answer", "pages", "printed_pages", "evidence"}


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


def check_shape(items: list[dict], questions: str, numeric: set[str]) -> list[str]:
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
    numbered = [i for i in answerable if i["id"] in numeric]
    if len(numbered) != 5:
        problems.append(f"{questions}: {len(numbered)} items whose answer states a number, expected 5")
    for item in numbered:
        if not (re.search(r"\d", item["answer"]) and re.search(r"\d", item["evidence"])):
            problems.append(f"{item['id']}: a numeric item needs a number in answer and evidence")
    return problems


def check_file(folder: Path, pdf: str, questions: str, absent: dict[str, list[str]],
               numeric: set[str] | None) -> list[str]:
    """The problems found in one questions file against its PDF."""
    reader = PdfReader(folder / pdf)
    pages = [collapse(p.extract_text()) for p in reader.pages]
    labels = reader.page_labels
    whole = " ".join(pages).lower()
    lines = (folder / questions).read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    problems = check_shape(items, questions, numeric) if numeric is not None else []
    for item in items:
        if item["answer"] is None:
            found = [t for t in absent[item["id"]] if term_present(t, whole)]
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


def run_checks(folder: Path, sets: dict[str, str], absent: dict[str, list[str]], numeric: set[str] | None,
               ok_message: str) -> int:
    """Check every (PDF, questions file) pair of a set, print one line per problem (or `ok_message`), 1 if any."""
    problems = [p for pdf, qs in sets.items() for p in check_file(folder, pdf, qs, absent, numeric)]
    print("\n".join(problems) if problems else ok_message)
    return 1 if problems else 0
