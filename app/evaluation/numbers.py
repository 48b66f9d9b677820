"""Numbers traced: every number an answer states must appear in a SQL result cell or a cited passage.

A small model invents figures with confidence; this check finds each number in the answer and looks for it
in the sources, allowing for how an answer legitimately rewrites a number: thousands separators
("10,000" = "10000"), rounding ("43.66" from 43.663, "1.2 million" from 1,234,567), percentages ("25%" from
0.25 or 25), simple scale words (thousand, million, billion, k, M, bn) and numbers a source spells out ("2" from
"two spare keys", "24" from "twenty-four"). Not traced (they are not claims):
citation markers ([1]), list numbering at the start of a line, numbers the question itself contains (years
it asks about), page numbers ("page 12"), and digits inside names (`log10`, `ggplot2`, `x1`).
A number that is not found is marked in the answer text, so the reader sees which figure to distrust.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

UNTRACED_MARK = " (not found in the sources)"

# A number not glued to letters or other digits: "1,234.5", "-3", "43.663", "25 %", "1.2 million", "4.2.2".
_NUMBER = re.compile(
    r"(?<![\w.])(?<!\d,)(?P<num>[-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-−]?\d+(?:\.\d+)*)"
    r"(?P<pct>\s?%|\s?percent\b)?(?:\s?(?P<scale>thousand|million|billion|bn|[kKMB])\b)?(?![\w])"
)
_MARKER = re.compile(r"\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\]|\[S\d+\]")
_LIST_NUMBER = re.compile(r"(?m)^\s*\d{1,2}[.)]\s")
_PAGE_REF = re.compile(r"\b(?:pages?|pp?\.|p\.|section|chapter|figure|fig\.|table)\s*$", re.IGNORECASE)
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
          "seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_SPELLED_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
# "two", "twenty-four", "three hundred", "one thousand", "ninety nine million". A lone "one" is left alone: it is
# far more often a pronoun ("one of the options") than a count.
_SPELLED = re.compile(
    rf"\b(?:(?P<tens>{'|'.join(_TENS)})(?:[- ](?P<unit>{'|'.join(_UNITS[1:10])}))?"
    rf"|(?P<small>{'|'.join(_UNITS[2:][::-1])}|zero)|(?P<one>one)(?=\s+(?:hundred|thousand|million|billion)\b))"
    r"(?:\s+(?P<hundred>hundred))?(?:\s+(?P<scale>thousand|million|billion))?\b",
    re.IGNORECASE)
_SCALES = {"thousand": 1e3, "k": 1e3, "K": 1e3, "million": 1e6, "M": 1e6, "billion": 1e9, "bn": 1e9, "B": 1e9}


@dataclass
class NumberTrace:
    """What the check found: every number it traced, the ones it did not, and the answer with those marked."""

    total: int = 0
    untraced: list[str] = field(default_factory=list)
    answer: str = ""

    @property
    def all_traced(self) -> bool:
        """True when every number in the answer was found in the sources."""
        return not self.untraced

    def notice(self) -> str:
        """What to tell the reader about untraced numbers ('' when there are none)."""
        if not self.untraced:
            return ""
        listed = ", ".join(self.untraced[:5])
        return (f"{len(self.untraced)} number(s) in this answer ({listed}) appear in none of its sources (the SQL "
                "results and cited passages); they are marked and may have been invented by the model.")


def _spelled_value(match: re.Match[str]) -> int:
    found = {k: (v or "").lower() for k, v in match.groupdict().items()}
    if found["tens"]:
        value = 20 + 10 * _TENS.index(found["tens"]) + (_UNITS.index(found["unit"]) if found["unit"] else 0)
    else:
        value = 1 if found["one"] else _UNITS.index(found["small"])
    if found["hundred"]:
        value *= 100
    return value * _SPELLED_SCALES.get(found["scale"], 1)


def spelled_as_digits(text: str) -> str:
    """The text with spelled-out numbers written in digits ("twenty-four" -> "24"), so both forms meet."""
    return _SPELLED.sub(lambda m: str(_spelled_value(m)), text)


def _value(text: str) -> float | None:
    cleaned = text.replace(",", "").replace("−", "-")
    if cleaned.count(".") > 1:
        return None  # a version or section number ("4.2.2"): compared as written, not as a value
    try:
        return float(cleaned)
    except ValueError:
        return None


def source_numbers(texts: Iterable[str], cells: Iterable[Any] = ()) -> tuple[set[str], list[float]]:
    """(numbers as written, numeric values) found in source texts and in SQL result cells."""
    written: set[str] = set()
    values: list[float] = []
    for text in texts:
        for match in _NUMBER.finditer(_MARKER.sub(" ", spelled_as_digits(text or ""))):
            number = match.group("num")
            written.add(number.replace(",", ""))
            value = _value(number)
            if value is not None:
                values.append(value * _SCALES.get(match.group("scale") or "", 1.0))
    for cell in cells:
        if isinstance(cell, bool) or cell is None:
            continue
        if isinstance(cell, (int, float)) and math.isfinite(cell):
            values.append(float(cell))
            written.add(str(cell))
        else:
            more_written, more_values = source_numbers([str(cell)])
            written |= more_written
            values.extend(more_values)
    return written, values


def _decimals(number: str) -> int:
    return len(number.split(".")[1]) if "." in number else 0


def _close(answer_value: float, source: float, decimals: int) -> bool:
    """The source value, rounded to the decimals the answer wrote, is the answer's value."""
    return abs(answer_value - source) <= 0.5 * 10 ** -decimals + 1e-9 * max(1.0, abs(source))


def _traced(match: re.Match[str], written: set[str], values: list[float]) -> bool:
    number = match.group("num").replace(",", "").replace("−", "-")
    if number in written or number.lstrip("-") in written:
        return True
    value = _value(number)
    if value is None:
        return False
    decimals = _decimals(number)
    scale = _SCALES.get(match.group("scale") or "", 1.0)
    for source in values:
        if _close(value, source / scale, decimals) or _close(abs(value), abs(source) / scale, decimals):
            return True
        if match.group("pct") and _close(value, source * 100, decimals):
            return True  # "25%" from a share of 0.25
    return False


def _ignored_spans(answer: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _MARKER.finditer(answer)]
    spans += [m.span() for m in _LIST_NUMBER.finditer(answer)]
    return spans


def trace_numbers(answer: str, sources: Iterable[str], cells: Iterable[Any] = (), question: str = "") -> NumberTrace:
    """Trace every number of `answer` to the sources; untraced ones are marked in the returned answer text."""
    written, values = source_numbers(sources, cells)
    asked, _ = source_numbers([question])
    ignored = _ignored_spans(answer)
    trace = NumberTrace()
    out: list[str] = []
    last = 0
    for match in _NUMBER.finditer(answer):
        start, end = match.span()
        if any(a <= start < b for a, b in ignored) or _PAGE_REF.search(answer[max(0, start - 12):start]):
            continue
        if match.group("num").replace(",", "") in asked:
            continue  # the question's own numbers ("in 2023", "top 5") are not claims
        trace.total += 1
        if _traced(match, written, values):
            continue
        trace.untraced.append(match.group(0).strip())
        out.append(answer[last:end] + UNTRACED_MARK)
        last = end
    out.append(answer[last:])
    trace.answer = "".join(out)
    return trace
