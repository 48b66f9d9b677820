"""Turn a query result into a short sentence (numbers only from the result) and a chart suggestion."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.ports import ChatMessage, ChatModel, GenerationParams
from storage.tables_engine import NUMERIC_PREFIXES, QueryResult

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
TEMPORAL = ("DATE", "TIMESTAMP", "TIME")


@dataclass(frozen=True)
class ChartSpec:
    """Which chart fits a result: kind is 'bar', 'line' or 'scatter'."""

    kind: str
    x: str
    y: str


def _is_number_type(type_name: str) -> bool:
    return type_name.upper().startswith(NUMERIC_PREFIXES)


def suggest_chart(result: QueryResult) -> ChartSpec | None:
    """A bar (category + number), line (date + number) or scatter (two numbers) chart, or None."""
    if len(result.rows) < 2 or len(result.columns) < 2:
        return None
    numeric = [c for c, t in zip(result.columns, result.types, strict=True) if _is_number_type(t)]
    temporal = [c for c, t in zip(result.columns, result.types, strict=True) if t.upper().startswith(TEMPORAL)]
    other = [c for c in result.columns if c not in numeric and c not in temporal]
    if temporal and numeric:
        return ChartSpec("line", temporal[0], numeric[0])
    if other and numeric and len(result.rows) <= 50:
        return ChartSpec("bar", other[0], numeric[0])
    if len(numeric) >= 2:
        return ChartSpec("scatter", numeric[0], numeric[1])
    return None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{int(value):,}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "empty" if value is None else str(value)


def describe_result(result: QueryResult) -> str:
    """A sentence built only from the result's own values."""
    rows, cols = result.rows, result.columns
    if not rows:
        return "The query returned no rows."
    if len(rows) == 1 and len(cols) == 1:
        return f"The answer is {_fmt(rows[0][0])} ({cols[0]})."
    if len(rows) == 1:
        return "Result: " + ", ".join(f"{c} = {_fmt(v)}" for c, v in zip(cols, rows[0], strict=True)) + "."
    more = " (more rows exist; the result was cut)" if result.truncated else ""
    shown = [", ".join(f"{c} = {_fmt(v)}" for c, v in zip(cols, row, strict=True)) for row in rows[:3]]
    rest = f"; and {len(rows) - 3:,} more" if len(rows) > 3 else ""
    return f"{len(rows):,} rows{more}, in the query's order: " + "; ".join(shown) + rest + "."


def numbers_supported(sentence: str, result: QueryResult, question: str = "") -> bool:
    """True when every number in the sentence appears in the result (rounded), its row count or the question."""
    allowed: list[float] = [float(len(result.rows))]
    for row in result.rows:
        for value in row:
            allowed.extend(_numbers_in(value))
    allowed.extend(_numbers_in(question))
    for token in NUMBER.findall(sentence):
        number = float(token.replace(",", ""))
        if not any(_close(number, a) for a in allowed):
            return False
    return True


def _numbers_in(value: Any) -> list[float]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    return [float(t.replace(",", "")) for t in NUMBER.findall(str(value))]


def _close(number: float, actual: float) -> bool:
    # The model may round: accept the value at 0-2 decimals, or in thousands/millions as written.
    if any(abs(number - round(actual, d)) < 1e-9 for d in (0, 1, 2)) or abs(number - actual) < 1e-6:
        return True
    return any(abs(number - round(actual / s, 1)) < 1e-9 for s in (1e3, 1e6, 1e9) if abs(actual) >= s)


def phrase_answer(model: ChatModel, question: str, result: QueryResult) -> str:
    """Let the model phrase one sentence; fall back to the built sentence if it adds any number."""
    fallback = describe_result(result)
    if not result.rows or len(result.rows) > 20:
        return fallback
    table = "\n".join([" | ".join(result.columns)] + [" | ".join(_fmt(v) for v in r) for r in result.rows])
    messages = [ChatMessage("system", "Answer the question in one short sentence using only the numbers in the "
                                      "result table. Do not compute new numbers."),
                ChatMessage("user", f"Question: {question}\nResult:\n{table}")]
    text = "".join(c.text for c in model.stream(messages, GenerationParams(temperature=0.0, max_tokens=80, seed=0)))
    text = text.strip().split("\n")[0]
    return text if text and numbers_supported(text, result, question) else fallback
