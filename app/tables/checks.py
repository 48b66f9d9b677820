"""Checks of the question against the SQL and its result: groups not cut by a stray LIMIT, rounding, order, units.

Deterministic and cheap (regular expressions over the question and the SQL text, a pass over the result rows).
Small models drop "for each year", "rounded to 2 decimals", "highest first" and "in minutes"; a violated check
gives the repair prompt the reason. `prompt_hints` says the same things before the first try.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage.tables_engine import NUMERIC_PREFIXES, QueryResult, TableInfo

GROUPING = re.compile(r"\b(?:per|for (?:each|every)|in each|each|every|by each|broken down by|grouped by)\s+"
                      r"(?!one\b|other\b|of\b|time\b)([a-z_]+)", re.I)
BY_GROUP = re.compile(r"\b([a-z]+)\s+by\s+(?!the\b|a\b|an\b|its\b|their\b)[a-z_]+", re.I)
NOT_GROUPING_VERBS = frozenset("""sorted ordered order sort rank ranked made bought sold owned written created placed
handled served followed divided multiplied increased decreased filtered reported issued operated run managed
taken given paid booked rented directed produced released published played sung""".split())
RANKING = re.compile(r"\b(?:top|first|last|most|least|highest|lowest|largest|smallest|best|worst|maximum|"
                     r"minimum|max|min)\b", re.I)
TRAILING_LIMIT = re.compile(r"\bLIMIT\s+(\d+)(?:\s+OFFSET\s+\d+)?\s*;?\s*$", re.I)
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "zero": 0, "no": 0}
ROUNDING = re.compile(r"\b(?:round(?:ed)?|to)\s+(?:to\s+)?(\d|one|two|three|four|zero|no)\s+decimal", re.I)
DESCENDING = re.compile(r"\b(?:highest|largest|biggest|most|greatest|longest|best|top|newest|latest|most recent)"
                        r"\s+(?:\w+\s+)?first\b|\bdescending\b|\bfrom (?:highest|largest|most)\b", re.I)
ASCENDING = re.compile(r"\b(?:lowest|smallest|fewest|least|shortest|cheapest|oldest|earliest)\s+(?:\w+\s+)?"
                       r"first\b|\bascending\b|\bfrom (?:lowest|smallest|least)\b", re.I)
CALENDAR = re.compile(r"\b(?:calendar|chronological(?:ly)?|date|time)\s+order\b|\bchronologically\b", re.I)
ALPHABETICAL = re.compile(r"\balphabetical(?:ly)?\b|\bA\s*(?:-|to)\s*Z\b", re.I)
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
TIME_UNITS = re.compile(r"\b(minutes?|mins?|seconds?|secs?|hours?|hrs?)\b", re.I)
SIZE_UNITS = re.compile(r"\b(megabytes?|mb|kilobytes?|kb|gigabytes?|gb)\b", re.I)
MS_COLUMN = re.compile(r"(?:^|_)(?:ms|millis|milliseconds?)$|milliseconds", re.I)
BYTES_COLUMN = re.compile(r"(?:^|_)bytes?$", re.I)


@dataclass(frozen=True)
class Violation:
    """One way the SQL or its result does not do what the question asks, and how to fix it."""

    check: str  # "limit", "rounding", "order", "units"
    reason: str


def grouping_phrase(question: str) -> str | None:
    """The "per country" / "for each year" / "revenue by region" phrase of a question asking for every group."""
    match = GROUPING.search(question)
    if match:
        return match.group(0)
    if RANKING.search(question):
        return None  # "top 5 customers by revenue": the LIMIT is what was asked
    for by in BY_GROUP.finditer(question):
        if by.group(1).lower() not in NOT_GROUPING_VERBS:
            return by.group(0)
    return None


def _requested_decimals(question: str) -> int | None:
    match = ROUNDING.search(question)
    if not match:
        return None
    word = match.group(1).lower()
    return int(word) if word.isdigit() else NUMBER_WORDS.get(word)


def prompt_hints(question: str, tables: Sequence[TableInfo]) -> list[str]:
    """Reminders for the first prompt, from what the question asks (empty when it asks nothing special)."""
    hints = []
    group = GROUPING.search(question)  # not "X by Y": "tracks by AC/DC" names an artist, not a grouping
    if group:
        hints.append(f'The question asks "{group.group(0)}": return one row per group, with no LIMIT that cuts groups. '
                     "For the top row within each group use QUALIFY row_number() OVER (PARTITION BY <group> "
                     "ORDER BY <measure> DESC) = 1.")
    decimals = _requested_decimals(question)
    if decimals is not None:
        hints.append(f"Round the computed numbers with round(<expression>, {decimals}).")
    if DESCENDING.search(question):
        hints.append("Sort with ORDER BY <measure> DESC (highest first).")
    elif ASCENDING.search(question):
        hints.append("Sort with ORDER BY <measure> ASC (lowest first).")
    if CALENDAR.search(question):
        hints.append("Sort in calendar order by the date or the month number (month(<date>)), never by a month "
                     "name as text.")
    if ALPHABETICAL.search(question):
        hints.append("Sort alphabetically with ORDER BY <name column> ASC.")
    hints.extend(unit_hints(question, tables))
    return hints


def unit_hints(question: str, tables: Sequence[TableInfo]) -> list[str]:
    """Say how to convert when the question's unit differs from a column's (milliseconds, bytes)."""
    hints = []
    time_unit = TIME_UNITS.search(question)
    size_unit = SIZE_UNITS.search(question)
    for table in tables:
        for column in table.columns:
            if time_unit and MS_COLUMN.search(column.name):
                hints.append(f"{table.name}.{column.name} is in milliseconds and the question uses "
                             f"{time_unit.group(1).lower()}: 1 second = 1000 ms, 1 minute = 60000 ms, "
                             "1 hour = 3600000 ms; convert before comparing or showing.")
            if size_unit and BYTES_COLUMN.search(column.name):
                hints.append(f"{table.name}.{column.name} is in bytes and the question uses "
                             f"{size_unit.group(1)}: 1 KB = 1024 bytes, 1 MB = 1024*1024 bytes, "
                             "1 GB = 1024*1024*1024 bytes; convert before comparing or showing.")
    return list(dict.fromkeys(hints))


def check_result(question: str, sql: str, result: QueryResult, tables: Sequence[TableInfo] = ()) -> list[Violation]:
    """Every way the SQL and its result fail what the question asks (empty when none)."""
    found = [_check_limit(question, sql, result), _check_rounding(question, result),
             _check_order(question, result), _check_units(question, sql, tables)]
    return [v for v in found if v is not None]


def _check_limit(question: str, sql: str, result: QueryResult) -> Violation | None:
    group = grouping_phrase(question)
    limit = TRAILING_LIMIT.search(sql.strip())
    if not group or not limit or len(result.rows) < int(limit.group(1)):
        return None  # no group asked, no LIMIT, or the LIMIT cut nothing
    return Violation("limit", f'The question asks "{group}" (every group) but the query ends with '
                              f"LIMIT {limit.group(1)}, which cuts the groups. Remove that LIMIT; to keep the top "
                              "row of each group use QUALIFY row_number() OVER (PARTITION BY <group> ORDER BY "
                              "<measure> DESC) = 1.")


def _numeric_columns(result: QueryResult) -> list[int]:
    return [i for i, t in enumerate(result.types) if t.upper().startswith(NUMERIC_PREFIXES)]


def _check_rounding(question: str, result: QueryResult) -> Violation | None:
    decimals = _requested_decimals(question)
    if decimals is None:
        return None
    for i in _numeric_columns(result):
        for row in result.rows:
            value = row[i]
            if isinstance(value, float) and abs(round(value, decimals) - value) > 1e-9 * max(1.0, abs(value)):
                return Violation("rounding", f"The question asks for {decimals} decimals but column "
                                             f"`{result.columns[i]}` has {value!r}. Wrap the expression in "
                                             f"round(..., {decimals}).")
    return None


def _sorted(values: list[Any], descending: bool) -> bool:
    pairs = zip(values, values[1:], strict=False)
    return all(a >= b for a, b in pairs) if descending else all(a <= b for a, b in pairs)


def _column_values(result: QueryResult, index: int) -> list[Any]:
    return [row[index] for row in result.rows if row[index] is not None]


def _check_order(question: str, result: QueryResult) -> Violation | None:
    if len(result.rows) < 2:
        return None
    descending, ascending = bool(DESCENDING.search(question)), bool(ASCENDING.search(question))
    if descending or ascending:
        numeric = [_column_values(result, i) for i in _numeric_columns(result)]
        if numeric and not any(_sorted(values, descending) for values in numeric):
            way = "highest first (ORDER BY <measure> DESC)" if descending else "lowest first (ORDER BY <measure> ASC)"
            return Violation("order", f"The question asks for {way}, but no number column of the result is "
                                      "in that order.")
    if CALENDAR.search(question):
        return _check_calendar(result)
    if ALPHABETICAL.search(question):
        text = [i for i in range(len(result.columns)) if i not in _numeric_columns(result)]
        if text and not any(_sorted([str(v) for v in _column_values(result, i)], False) for i in text):
            return Violation("order", "The question asks for alphabetical order; add ORDER BY <name column> ASC.")
    return None


def _check_calendar(result: QueryResult) -> Violation | None:
    for i in range(len(result.columns)):
        values = _column_values(result, i)
        names = [str(v).strip().lower() for v in values]
        if names and all(n in MONTHS or n[:3] in [m[:3] for m in MONTHS] for n in names):
            if not _sorted([[m[:3] for m in MONTHS].index(n[:3]) for n in names], False):
                return Violation("order", "The question asks for calendar order but the months are sorted as text; "
                                          "ORDER BY the month number (month(<date>)) instead of its name.")
            return None
    for i in range(len(result.columns)):
        values = _column_values(result, i)
        same_kind = all(isinstance(v, str) for v in values) or all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if values and same_kind and _sorted(values, False):
            return None
    return Violation("order", "The question asks for calendar order; ORDER BY the date (or year, month number).")


def _check_units(question: str, sql: str, tables: Sequence[TableInfo]) -> Violation | None:
    time_unit = TIME_UNITS.search(question)
    size_unit = SIZE_UNITS.search(question)
    for table in tables:
        for column in table.columns:
            if not re.search(rf"\b{re.escape(column.name)}\b", sql, re.I):
                continue
            # A factor (60000, 1024) or a value already in the column's unit (600000 ms, 5242880 bytes).
            converted = re.search(r"\b\d{4,}\b|\*\s*60\b|\b1e\d", sql)
            if time_unit and MS_COLUMN.search(column.name) and not converted:
                return Violation("units", f"`{column.name}` is in milliseconds but the question uses "
                                          f"{time_unit.group(1).lower()}; convert (1 minute = 60000 ms, "
                                          "1 second = 1000 ms).")
            if size_unit and BYTES_COLUMN.search(column.name) and not converted:
                return Violation("units", f"`{column.name}` is in bytes but the question uses {size_unit.group(1)}; "
                                          "convert (1 MB = 1024*1024 bytes).")
    return None
