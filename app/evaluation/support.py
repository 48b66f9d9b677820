"""Faithfulness from support, not from a model's opinion: is every sentence of an answer backed by one source?

A sentence is supported when most of its content words (SUPPORT_SHARE, stemmed, stopwords and citation markers
left out) occur in one single source — a cited passage or the rows of a SQL result — and every number it states
is found in the sources (app.evaluation.numbers). One source, not all of them pooled: an answer that mixes a
function from one passage with a default from another ("a swapped fact") is not supported by either. The answer
is faithful when every sentence is; the score is the share of supported sentences. A refusal states nothing and
is not scored.

On the labelled set (bench/data/faithfulness/labelled.jsonl, see its SOURCES.md) this check is compared with the
small model judging itself (app.evaluation.judge), which rated every answer faithful.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.documents.refusals import is_refusal
from app.evaluation.numbers import trace_numbers
from app.evaluation.scoring import content_words, sentences, stem

SUPPORT_SHARE = 0.6  # share of a sentence's content words one source must contain


@dataclass
class SupportVerdict:
    """The check's verdict on one answer."""

    score: float | None  # share of supported sentences; None for a refusal or an empty answer
    unsupported: list[str] = field(default_factory=list)  # sentences no single source supports
    untraced_numbers: list[str] = field(default_factory=list)

    @property
    def faithful(self) -> bool | None:
        """True when every sentence is supported (None when there was nothing to judge)."""
        return None if self.score is None else not self.unsupported


def _terms(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}


def sql_source(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A SQL result as one source text (column names and cells)."""
    return " ".join([*map(str, columns), *(str(v) for row in rows for v in row if v is not None)])


def _untraced(claim: str, sources: Sequence[str], cells: list[Any], question: str) -> list[str]:
    """Numbers of the claim found in no single one of the sources nor in the SQL cells."""
    found = trace_numbers(claim, [], cells, question=question).untraced
    for source in sources:
        if not found:
            break
        missing = trace_numbers(claim, [source], cells, question=question).untraced
        found = [n for n in found if n in missing]
    return found


def support_check(answer: str, sources: Sequence[str], cells: Iterable[Any] = (), question: str = "") -> SupportVerdict:
    """Judge `answer` against its sources (passage texts, SQL results as text) and SQL cells (for numbers)."""
    if not (answer or "").strip() or is_refusal(answer):
        return SupportVerdict(None)
    claims = sentences(answer)
    if not claims:
        return SupportVerdict(None)
    cells = list(cells)
    source_terms = [_terms(s) for s in sources]
    asked = _terms(question)
    unsupported, untraced = [], []
    for claim in claims:
        terms = _terms(claim)
        best = max((len(terms & words) / len(terms) for words in source_terms), default=0.0) if terms else 1.0
        # A number counts only where it is about the same thing: in a source sharing a word with the sentence or
        # the question ("35" is on many pages as a page or line number; an answer "35." is not traced by that).
        about = {t for t in terms | asked if not t[:1].isdigit()}
        topical = [s for s, words in zip(sources, source_terms, strict=True) if words & about]
        numbers = _untraced(claim, topical, cells, question)
        untraced += numbers
        if best < SUPPORT_SHARE or numbers:
            unsupported.append(claim)
    return SupportVerdict(1 - len(unsupported) / len(claims), unsupported, untraced)
