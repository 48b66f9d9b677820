"""Model-free scoring shared by `eval run` and the benchmarks (bench/retrieval.py, bench/sql_eval.py).

Retrieval: rank of the first gold page, hit@k, reciprocal rank. SQL: execution accuracy by result
equality (multisets, ordered when the gold query sorts, honouring tie groups, numeric tolerance 1e-6,
column names and column order ignored). Answers: token F1 against a reference, a lexical support check
of each sentence against the cited passages, context recall, and cosine similarity of two vectors.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from app.documents.refusals import MODEL_SAYS_NOT_FOUND, NOT_IN_DOCUMENTS

# Words that carry no content: ignoring them keeps "the", "is" from counting as support or overlap.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers him his how i if in into is it its itself just me more most my no nor not now of off on once only or other
    our ours out over own same she should so some such than that the their theirs them then there these they this
    those through to too under until up use used using very was we were what when where which while who whom why
    will with would you your yours also per e.g i.e etc""".split()
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.'+-]*[A-Za-z0-9_]|[A-Za-z0-9]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(\[])|\n+")
_CITATION_MARK = re.compile(r"\[\d{1,2}(?:\s*[,;]\s*\d{1,2})*\]")
SUPPORT_SHARE = 0.6  # a sentence counts as supported when this share of its content words is in the passages


# ---- retrieval ---------------------------------------------------------------------------------------


def first_gold_rank(pages: Sequence[int], gold: Iterable[int]) -> int | None:
    """1-based rank of the first retrieved page that is a gold page, or None."""
    wanted = set(gold)
    return next((rank for rank, page in enumerate(pages, 1) if page in wanted), None)


def hit_at(rank: int | None, k: int) -> float:
    """1.0 when the first gold page is within the top k."""
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None) -> float:
    """1/rank of the first gold page (0 when none was retrieved)."""
    return 1.0 / rank if rank else 0.0


# ---- SQL execution accuracy --------------------------------------------------------------------------


def _norm(value: Any) -> Any:
    """A hashable, comparable form: numbers (also numeric strings) rounded, lists/dicts recursively."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return ("n", round(float(value), 6))
    if isinstance(value, str):
        try:
            return ("n", round(float(value), 6))
        except ValueError:
            return ("s", value)
    if isinstance(value, list):
        return ("l", tuple(_norm(v) for v in value))
    if isinstance(value, dict):
        return ("d", tuple(sorted((k, _norm(v)) for k, v in value.items())))
    return ("s", str(value))


def _row(row: Sequence[Any]) -> tuple:
    # Column order may differ: compare each row as a multiset of its values.
    return tuple(sorted((_norm(v) for v in row), key=repr))


def rows_match(pred: Sequence[Sequence[Any]], item: dict[str, Any]) -> bool:
    """True when predicted rows equal the gold `result_rows` (ordered when `ordered`, tie groups honoured)."""
    gold = item["result_rows"]
    if len(pred) != len(gold):
        return False
    if not item.get("ordered"):
        return Counter(map(_row, pred)) == Counter(map(_row, gold))
    groups = item.get("tie_groups") or list(range(len(gold)))
    start = 0
    while start < len(gold):
        end = start
        while end < len(gold) and groups[end] == groups[start]:
            end += 1
        if Counter(map(_row, pred[start:end])) != Counter(map(_row, gold[start:end])):
            return False
        start = end
    return True


def answer_mentions_rows(answer: str, rows: Sequence[Sequence[Any]], limit: int = 20) -> float | None:
    """Share of the gold result's distinct values (first `limit`) that the worded answer mentions."""
    values: list[str] = []
    for row in rows:
        for value in row:
            text = _value_text(value)
            if text and text not in values:
                values.append(text)
    values = values[:limit]
    if not values:
        return None
    said = " " + " ".join(_WORD.findall(strip_citations(answer).lower().replace(",", ""))) + " "
    return sum(f" {v} " in said for v in values) / len(values)


def _value_text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, float):
        value = round(value, 2)
    return " ".join(_WORD.findall(str(value).lower().replace(",", "")))


# ---- answer quality ------------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-case word tokens (numbers and code-ish names like `help.search` kept whole)."""
    return [w.strip(".'") for w in _WORD.findall((text or "").lower()) if w.strip(".'")]


def content_words(text: str) -> list[str]:
    """Words that carry meaning: no stopwords, no single letters (digits are kept)."""
    return [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def strip_citations(answer: str) -> str:
    """The answer without its [n] citation markers (their numbers are not part of the answer)."""
    return _CITATION_MARK.sub("", answer or "")


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 over content words (citation markers ignored)."""
    pred, ref = content_words(strip_citations(prediction)), content_words(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def sentences(answer: str) -> list[str]:
    """The answer's sentences (its claims), citation markers removed, empty ones dropped."""
    text = strip_citations(answer)
    return [s.strip() for s in _SENTENCE.split(text) if s and content_words(s)]


def stem(word: str) -> str:
    """Crude plural/inflection folding so "packages" is supported by "package"; enough for a lexical check."""
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def lexical_support(answer: str, passages: Sequence[str]) -> tuple[float | None, list[str]]:
    """Share of answer sentences whose content words mostly occur in the passages; and the unsupported ones."""
    claims = sentences(answer)
    if not claims:
        return None, []
    corpus = {stem(w) for text in passages for w in content_words(text)}
    unsupported = []
    for claim in claims:
        terms = [stem(w) for w in content_words(claim)]
        if sum(t in corpus for t in terms) / len(terms) < SUPPORT_SHARE:
            unsupported.append(claim)
    return 1 - len(unsupported) / len(claims), unsupported


def context_recall(reference: str, context: Sequence[str]) -> float | None:
    """Share of the reference answer's content words found in the retrieved context."""
    terms = {stem(w) for w in content_words(reference)}
    if not terms:
        return None
    corpus = {stem(w) for text in context for w in content_words(text)}
    return len(terms & corpus) / len(terms)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return float(dot / norm) if norm else 0.0


def is_refusal(answer: str) -> bool:
    """True when the answer declines ("not in your documents" and similar)."""
    low = (answer or "").lower()
    phrases = (
        NOT_IN_DOCUMENTS.lower().rstrip("."),
        MODEL_SAYS_NOT_FOUND.lower().rstrip("."),
        "not in the documents",
        "do not contain",
        "does not contain",
        "don't contain",
        "cannot find",
        "could not find",
        "no information",
    )
    return not low.strip() or any(p in low for p in phrases)
