"""One SQL result, drawn the same way on the Tables page and in the chat: the query, the rows, a chart.

Rows keep the decimals the result has (195.10 stays 195.10) through column formats, never by turning
numbers into text, so sorting and copying still work on numbers. Charts keep the result's row order:
a query that ranks (ORDER BY revenue DESC) draws ranked bars, not alphabetical ones.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Sequence
from typing import Any, Literal

import altair as alt
import pandas as pd
import streamlit as st

from app.errors import AssistantError
from app.tables.answer import ChartSpec, suggest_chart
from app.ui import common
from app.ui.common import safe_markdown, show_error
from storage.tables_engine import QueryResult

# More decimals than this is float noise or an unrounded ratio: Streamlit's own display suits those better.
MAX_DECIMALS = 6
_FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")
_DECIMAL_TYPE = re.compile(r"^(?:DECIMAL|NUMERIC)\s*\(\s*\d+\s*,\s*(\d+)\s*\)", re.I)
_DEFAULT_DECIMAL_SCALE = 3  # DuckDB's DECIMAL without a width is DECIMAL(18,3)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
# chart kind -> (altair mark, type of the x axis)
AxisType = Literal["quantitative", "ordinal", "temporal", "nominal"]
_MARKS: dict[str, tuple[str, AxisType]] = {"bar": ("mark_bar", "nominal"), "line": ("mark_line", "temporal"),
                                           "scatter": ("mark_circle", "quantitative")}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def infer_types(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """DuckDB-style type names guessed from JSON values, for results stored without their types (chat)."""
    out = []
    for i in range(len(columns)):
        values = [row[i] for row in rows if i < len(row) and row[i] is not None]
        if not values:
            out.append("VARCHAR")
        elif all(isinstance(v, bool) for v in values):
            out.append("BOOLEAN")
        elif all(_is_number(v) for v in values):
            out.append("BIGINT" if all(isinstance(v, int) for v in values) else "DOUBLE")
        elif all(isinstance(v, str) and _DATE.match(v) for v in values):
            out.append("DATE")
        elif all(isinstance(v, str) and _TIMESTAMP.match(v) for v in values):
            out.append("TIMESTAMP")
        else:
            out.append("VARCHAR")
    return out


def _decimals(value: float) -> int | None:
    """The fewest decimals (at most MAX_DECIMALS) that give `value` back; None when it needs more."""
    if value != value or value in (float("inf"), float("-inf")):
        return 0
    exponent = decimal.Decimal(repr(value)).normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent <= MAX_DECIMALS:
        return max(0, -exponent)
    # 238.42000000000002 is 238.42 after float arithmetic: accept the rounding that changes nothing visible.
    for places in range(MAX_DECIMALS + 1):
        if abs(round(value, places) - value) <= 1e-9 * max(1.0, abs(value)):
            return places
    return None


def number_formats(columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, str]:
    """printf formats for the columns that need one: DECIMAL(p,s) shows s decimals; a float column shows
    as many decimals as its most precise value, on every row. Integer and text columns need none."""
    formats: dict[str, str] = {}
    for i, (name, type_name) in enumerate(zip(columns, types, strict=True)):
        upper = type_name.upper().strip()
        scale = _DECIMAL_TYPE.match(upper)
        if scale:
            formats[name] = f"%.{int(scale.group(1))}f"
        elif upper in ("DECIMAL", "NUMERIC"):
            formats[name] = f"%.{_DEFAULT_DECIMAL_SCALE}f"
        elif upper.startswith(_FLOAT_TYPES):
            places = [_decimals(float(row[i])) for row in rows if i < len(row) and _is_number(row[i])]
            if places and None not in places:
                formats[name] = f"%.{max(p for p in places if p is not None)}f"
    return formats


def unique_labels(columns: Sequence[str]) -> list[str]:
    """Column labels made unique (`SELECT a.id, b.id` has two columns called id; a table needs distinct ones)."""
    seen: dict[str, int] = {}
    out = []
    for name in columns:
        label = str(name)
        if label in seen:
            seen[label] += 1
            label = f"{label} ({seen[label]})"
        seen.setdefault(label, 1)
        out.append(label)
    return out


def _field(name: str) -> str:
    # Altair reads dots and brackets in field names as nested access; escape them.
    return name.replace(".", "\\.").replace("[", "\\[").replace("]", "\\]")


def result_chart(frame: pd.DataFrame, chart: ChartSpec, key: str | None = None) -> None:
    """Draw the suggested chart (bar, line or scatter) in the row order of the result.

    `sort=None` keeps the data's order on a bar chart's category axis; Vega-Lite would sort it
    alphabetically otherwise and undo the query's ORDER BY."""
    mark, x_type = _MARKS[chart.kind]
    spec = getattr(alt.Chart(frame), mark)().encode(
        x=alt.X(field=_field(chart.x), type=x_type, title=chart.x, sort=None),
        y=alt.Y(field=_field(chart.y), type="quantitative", title=chart.y),
    )
    st.altair_chart(spec, width="stretch", key=key)


def render_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], total: int, key: str | None = None, *,
                types: Sequence[str] | None = None, truncated: bool = False) -> pd.DataFrame:
    """The result table with its numbers formatted, and how many rows exist in all; returns the frame shown."""
    labels = unique_labels(columns)
    kinds = list(types) if types and len(types) == len(columns) else infer_types(columns, rows)
    frame = pd.DataFrame([list(r) for r in rows], columns=labels)
    config = {name: st.column_config.NumberColumn(format=fmt)
              for name, fmt in number_formats(labels, kinds, rows).items()}
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config, key=key)
    if truncated:
        st.caption(f"Showing the first {len(rows):,} rows; the result was cut at the row limit.")
    elif total > len(rows):
        st.caption(f"First {len(rows):,} of {total:,} row(s).")
    return frame


def render_sql_result(sql: str, columns: list[str], rows: list[list], total: int, key: str, *,
                      types: Sequence[str] | None = None, truncated: bool = False, show_sql: bool = True,
                      question: str = "", origin: str = "chat") -> None:
    """An SQL result: the query, the rows (decimals kept) and, when the result has a label or date column and
    a number column, a chart in the result's row order. `types` are DuckDB's column types when known (they
    give DECIMAL columns their scale); without them the types are read from the values.

    `show_sql=False` where the query is already on screen (the Tables page's editor). With the `question` the
    query answers, a "Mark as correct" button stores the pair as a verified query."""
    if show_sql and sql:
        st.code(sql, language="sql", wrap_lines=True)
    if not columns:
        st.caption("The query returned no columns.")
        return
    kinds = list(types) if types and len(types) == len(columns) else infer_types(columns, rows)
    frame = render_rows(columns, rows, total, key=f"{key}.rows", types=kinds, truncated=truncated)
    chart = suggest_chart(QueryResult(list(frame.columns), kinds, [list(r) for r in rows]))
    if chart is not None:
        result_chart(frame, chart, key=f"{key}.chart")
    mark_correct_button(question, sql, key, origin)


def mark_correct_button(question: str, sql: str, key: str, origin: str) -> None:
    """"Mark as correct": store the question and its SQL as a verified query of the analyst's tables (the SQL is
    checked and run first; nothing is stored when it fails). Verified queries are shown to the model as examples."""
    if not question.strip() or not sql.strip():
        return
    if not st.button("Mark as correct", key=f"{key}.mark", icon=":material/verified:",
                     help="Store this question with this SQL as a verified query: the model sees verified "
                          "queries as examples for similar questions."):
        return
    services = common.get_services()  # looked up at click time (tests put their own services there)
    try:
        example = services.mark_sql_correct(services.tables, question, sql, origin=origin)
    except AssistantError as exc:
        show_error(exc)
        return
    st.success(safe_markdown(f"Stored as a verified query ({example.id}). Similar questions will use it as an "
                             "example; `python -m app sql-examples list` shows them all."), icon=":material/verified:")


def render_alternatives(alternatives: Sequence[dict[str, Any]], key: str) -> None:
    """The candidate queries when they disagreed: each one's SQL, what it gave and how many agreed with it."""
    with st.expander(f"Show alternatives ({len(alternatives)} candidate queries did not all agree)",
                     icon=":material/alt_route:"):
        for index, alt in enumerate(alternatives, 1):
            label = "chosen" if alt.get("chosen") else ("greedy" if alt.get("greedy") else "sampled")
            st.markdown(safe_markdown(f"**Candidate {index}** ({label}) · {alt.get('outcome', '')} · "
                                      f"{alt.get('agreeing', 0)} candidate(s) gave this result"))
            st.code(alt.get("sql") or "(no SQL)", language="sql", wrap_lines=True)
