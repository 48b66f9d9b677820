"""Answerability before answering: do the retrieved passages hold what the question asks about?

A rule over the question and the passages, no model call (it costs well under a millisecond):

- *A named thing is missing*: the question names something specific — a product or package (`Excel`,
  `PostgreSQL`, `ggplot2`, and lower-case ones by their shape or place: `read_csv`, "which dplyr verb",
  "... with testthat?"), an acronym (`JSON`), a call (`tryCatch`, `rnorm()`) — that no retrieved passage
  mentions, and the passages cover little of the rest of the question. Nothing in them can answer it; a small
  model would answer from general knowledge instead (it did for 3 of 5 such questions on the R manual).
- *Nothing is close*: the best passage is only loosely similar to the question (cosine below
  `MIN_SIMILARITY`) and shares few of its words (`MIN_COVERAGE`).

Otherwise the question counts as answerable, and a refusal the model writes anyway is retried once with the
passage that covers the question best put first (over-refusal was 6 of 12 answerable questions on held-out
manuals). Thresholds were set on the R-manual dev set (bench/docqa.py) and checked on held-out manuals.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from app.chat.grounding import PassageLike, passage_terms, question_terms
from app.documents.refusals import is_refusal, marker_only

MIN_SIMILARITY = 0.45  # cosine of the best passage; answerable R-manual questions mostly score 0.5 and up
MIN_COVERAGE = 0.4  # share of the question's content words found in the best-covering passage
NAMED_COVERAGE = 0.6  # with a named thing missing, the rest of the question must be covered this well
# After a second refusal, answer with the best passage's closest sentence only when that passage clearly matches.
EXTRACT_COVERAGE = 0.6
EXTRACT_SIMILARITY = 0.55
# ... and when the sentence shown holds at least this share of the question's content words itself. A passage can
# match on the document's topic words ("fleet", "policy", "drivers") while its closest sentence shares only "van"
# with "how should drivers clean the van's interior?" (seen in the browser); the sentences extracted on the dev
# sets share 0.33 and more.
EXTRACT_SENTENCE_SHARE = 0.3

# Name-like words: CamelCase or inner capitals (PostgreSQL, tryCatch), acronyms (JSON, SQL), capitalised words
# after the first (Excel, Shiny), words with digits (ggplot2, R6), calls (rnorm()) and `quoted code`.
_NAMED = re.compile(r"`([^`\n]{2,40})`|\b([A-Za-z][\w.]*)\(\)|\b([A-Za-z]*[A-Z][\w.]*|[A-Za-z]+\d\w*)\b")
_PLAIN_CAPITAL = re.compile(r"[A-Z][a-z]+")
# Lower-case names (`dplyr`, `testthat`, `numpy` escaped the patterns above): a lower-case word counts as a name when
# it looks like code (`read_csv`, `data.table`) or stands where names stand — before a word such as "package" or
# "verb" ("which dplyr verb"), after "install", "import" or in `library(...)`, or as a sentence's last word after
# "with", "using" or "via" ("... with testthat?"). Ordinary words in those places ("the datasets package") are
# names too; the passages then mention them, so they cost nothing.
_CODE_LIKE = re.compile(r"\b[a-z][a-z0-9]*(?:[_.][a-z0-9]+)+\b")
_BEFORE_KIND = re.compile(r"\b([a-z][a-z0-9]{2,})\s+(?:package|library|verb|module|extension|plugin|framework)s?\b"
                          r"(?!\()")
_AFTER_CUE = re.compile(r"(?:\b(?:install|import|installing|importing)\s+|\b(?:library|require)\(\s*[\"']?)"
                        r"([a-z][a-z0-9]{2,})\b")
_LAST_AFTER_TOOL = re.compile(r"\b(?:with|using|via)\s+([a-z][a-z0-9]{2,})(?=\s*[?!.](?:\s|$)|\s*$)")
_NOT_NAMES = frozenset("""a about after all an and another any are as at be both but by can each either every few
for from has have how in into is it its many more most much my new no not of on one or other our own same several
some such that the their them these they this those to too two under very was what when where which who why will
with within without would you your base main standard recommended following given default built data r e.g i.e
etc""".split())
_BRACKETED = re.compile(r"\[[^\]\n]{0,60}\]")


@dataclass
class Answerability:
    """The verdict on a question and its passages: answerable or not, why, and the passage to answer from."""

    answerable: bool
    reason: str = ""
    best: int = 0  # index of the passage that covers the question best
    missing: list[str] = field(default_factory=list)  # named things the passages never mention
    coverage: float = 0.0
    similarity: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """For the request record and the benchmark."""
        return {"answerable": self.answerable, "reason": self.reason, "missing": self.missing,
                "coverage": round(self.coverage, 3), "similarity": round(self.similarity, 3)}


def named_terms(question: str) -> list[str]:
    """Specific names the question asks about (not the capital that starts a sentence, not plain numbers)."""
    names: list[str] = []
    question = _BRACKETED.sub(" ", question)  # masked personal data ("[CARD:3f2a]") and markers are not names
    for match in _NAMED.finditer(question):
        word = next(g for g in match.groups() if g)
        sentence_start = match.start() == 0 or question[:match.start()].rstrip()[-1:] in ".?!:"
        if match.group(3) and sentence_start and _PLAIN_CAPITAL.fullmatch(word):
            continue  # "How", "Which": capitalised because they start the sentence
        if len(word) >= 2 and word not in names and word.upper() not in ("I", "R", "OK"):
            names.append(word)
    names += [n for n in lower_case_names(question) if n not in names and not any(n in name for name in names)]
    return names


def lower_case_names(question: str) -> list[str]:
    """Lower-case names by their shape or their place in the question (see `_CODE_LIKE` and the cues below it)."""
    found = [m.group(0) for m in _CODE_LIKE.finditer(question)]
    for pattern in (_BEFORE_KIND, _AFTER_CUE, _LAST_AFTER_TOOL):
        found += [m.group(1) for m in pattern.finditer(question)]
    return [w for w in dict.fromkeys(found) if w not in _NOT_NAMES]


def _mentions(text: str, name: str) -> bool:
    """The passage text mentions the name (case-insensitive; 'Australian' also matches 'Australia')."""
    low = name.lower()
    stem = low[:-2] if len(low) >= 6 else low
    return stem in text


def assess(question: str, passages: Sequence[PassageLike]) -> Answerability:
    """Whether the passages can answer the question (see the module docstring)."""
    if not passages:
        return Answerability(False, "no passage matched the question")
    terms = question_terms(question)
    words = [passage_terms(p.text) for p in passages]
    covers = [sum(t in w for t in terms) / max(1, len(terms)) for w in words]
    best = max(range(len(passages)), key=lambda i: (covers[i], -i))
    similarity = max((float(getattr(p, "similarity", 0.0) or 0.0) for p in passages), default=0.0)
    texts = " ".join(" ".join(p.text.split()) for p in passages).lower()
    missing = [n for n in named_terms(question) if not _mentions(texts, n)]
    verdict = Answerability(True, "", best, missing, covers[best], similarity)
    if missing and covers[best] < NAMED_COVERAGE:
        verdict.answerable = False
        verdict.reason = "the passages found never mention " + ", ".join(f"`{n}`" for n in missing[:3])
    elif 0 < similarity < MIN_SIMILARITY and covers[best] < MIN_COVERAGE:
        verdict.answerable = False
        verdict.reason = "no passage found is close to the question"
    return verdict


RETRY_INSTRUCTION = (
    "The first passage below was selected because it matches the question. Answer the question from it in one or "
    "two sentences, using its own words, and cite it as [1]. Only if it truly says nothing about the question, "
    'reply exactly: "{not_found}"'
)


_P = TypeVar("_P", bound=PassageLike)


def reordered(passages: Sequence[_P], best: int) -> list[_P]:
    """The passages with the best-covering one first (the retry cites it as [1])."""
    items = list(passages)
    return [items[best], *items[:best], *items[best + 1:]] if 0 <= best < len(items) else items


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`])")


def extract_answer(question: str, passage: PassageLike, n: int, min_share: float = 0.0) -> str:
    """The passage's sentence that shares most with the question, cited as [n]; '' when that sentence holds less
    than `min_share` of the question's content words. A bare marker ("[2]": the model pointed at the passage but
    wrote nothing) takes the sentence whatever its share; after two refusals the sentence must itself match
    (EXTRACT_SENTENCE_SHARE)."""
    terms = set(question_terms(question))
    sentences = [" ".join(s.split()) for s in _SENTENCE.split(passage.text) if len(s.split()) >= 4]
    if not sentences:
        return "" if min_share else f"{' '.join(passage.text.split())[:300]} [{n}]"
    best = max(sentences, key=lambda s: len(terms & passage_terms(s)))
    if min_share and len(terms & passage_terms(best)) < min_share * len(terms):
        return ""
    return f"According to the passage: {best} [{n}]"


def could_be_refusal(start: str) -> bool:
    """The beginning of an answer may turn out to be a refusal or a bare marker: hold it back until it is known."""
    return is_refusal(start) or marker_only(start) or not _MARKERLESS.sub("", start).strip()


_MARKERLESS = re.compile(r"\[\d{1,2}(?:\s*[,;]\s*\d{1,2})*\]?|\[")


class HeldBack:
    """Streams the model's text, except an answer that opens like a refusal (or is only "[2]"): that one is held
    back whole (`held`) so it can be replaced — by a retry or the app's own reply — before anyone sees it."""

    PEEK_CHARS = 80  # refusals say so within their first words; longer openings are streamed as they come

    def __init__(self, texts: Iterator[str]) -> None:
        self.texts = texts
        self.held: str | None = None

    def __iter__(self) -> Iterator[str]:
        buffer: list[str] = []
        streaming = False
        for text in self.texts:
            if streaming:
                yield text
                continue
            buffer.append(text)
            start = "".join(buffer)
            if len(start) >= self.PEEK_CHARS and not could_be_refusal(start):
                streaming = True
                yield start
        if not streaming:
            self.held = "".join(buffer)
