"""Candidate queries checked by execution: greedy plus sampled ones, picked by agreement of their results.

A small model's sampled queries that return the same rows as each other are more often right than the single
greedy one; queries that fail or return nothing are discarded. Ties go to the greedy query.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.errors import AssistantError
from storage.tables_engine import QueryResult

SAMPLE_TEMPERATURE = 0.7
SAMPLE_TOP_P = 0.95


@dataclass
class Candidate:
    """One generated query and what running it gave (a result, or the error)."""

    sql: str
    result: QueryResult | None = None
    error: str | None = None
    failure: AssistantError | None = None  # the exception behind `error`, explained for the person when chosen
    attempts: int = 1
    greedy: bool = False
    cannot_answer: str | None = None  # the model's reason when it said the data cannot answer
    notes: list[str] = field(default_factory=list)  # checks that fired, repairs made

    @property
    def usable(self) -> bool:
        """True when the query ran and returned at least one row."""
        return self.result is not None and self.error is None and bool(self.result.rows)

    def outcome(self) -> str:
        """A short description of what the query gave."""
        if self.cannot_answer is not None:
            return f"said the data cannot answer: {self.cannot_answer}"
        if self.error or self.result is None:
            return f"failed: {self.error or 'no SQL'}"
        rows = len(self.result.rows)
        return "no rows" if not rows else f"{rows} row{'s' if rows != 1 else ''}"


def _norm(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return round(float(value), 6)
    if isinstance(value, str):
        try:
            return round(float(value), 6)
        except ValueError:
            return value
    return repr(value)


def result_key(result: QueryResult) -> tuple:
    """The result as a comparable multiset of rows (column names, column order and row order ignored)."""
    rows = [tuple(sorted((_norm(v) for v in row), key=repr)) for row in result.rows]
    return tuple(sorted(Counter(rows).items(), key=repr))


def agree(first: Candidate, second: Candidate) -> bool:
    """True when both candidates ran, returned rows, and returned the same rows."""
    if not (first.usable and second.usable):
        return False
    assert first.result is not None and second.result is not None
    return result_key(first.result) == result_key(second.result)


def pick(candidates: Sequence[Candidate]) -> tuple[Candidate, dict[int, int]]:
    """The candidate whose result most others share (ties: the greedy one, then the earliest), and the votes
    per candidate index. Without any usable candidate, the first (greedy) one."""
    usable = [i for i, c in enumerate(candidates) if c.usable]
    if not usable:
        return candidates[0], {}
    keys = {}
    for i in usable:
        result = candidates[i].result
        assert result is not None
        keys[i] = result_key(result)
    counts = Counter(keys.values())
    votes = {i: counts[keys[i]] for i in usable}
    best = max(usable, key=lambda i: (votes[i], candidates[i].greedy, -i))
    return candidates[best], votes


def alternatives(candidates: Sequence[Candidate], chosen: Candidate, votes: dict[int, int]) -> list[dict[str, Any]]:
    """What the UI's "Show alternatives" lists: every candidate's SQL, outcome and agreement."""
    return [{"sql": c.sql, "outcome": c.outcome(), "agreeing": votes.get(i, 0), "chosen": c is chosen,
             "greedy": c.greedy} for i, c in enumerate(candidates)]
