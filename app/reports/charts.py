"""Charts as PNG images for reports: a Vega-Lite spec stored with an answer, or a bar chart of a small SQL result."""

from __future__ import annotations

import json
from typing import Any

from app.reports.model import Entry, ResultTable

MAX_BARS = 30


def table_chart(table: ResultTable) -> dict[str, Any] | None:
    """A bar chart spec for a result with a label column and a numeric column (2 to MAX_BARS rows), else None."""
    if not 2 <= len(table.rows) <= MAX_BARS or len(table.columns) < 2:
        return None
    numeric = [i for i in range(1, len(table.columns))
               if all(_number(r[i]) or r[i] is None for r in table.rows if len(r) > i)
               and any(_number(r[i]) for r in table.rows if len(r) > i)]
    if not numeric:
        return None
    label, value = table.columns[0], table.columns[numeric[0]]
    # Rows without a value (NULL) have no bar; the table above still lists them.
    values = [{"label": str(r[0]), "value": r[numeric[0]]} for r in table.rows
              if len(r) > numeric[0] and _number(r[numeric[0]])]
    return {"width": 420, "height": 220,
            "data": {"values": values}, "mark": "bar",
            "encoding": {"x": {"field": "label", "type": "nominal", "title": label, "sort": None},
                         "y": {"field": "value", "type": "quantitative", "title": value}}}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def render_png(spec: dict[str, Any]) -> bytes:
    """The spec drawn as PNG by vl-convert (offline: the spec must carry its data inline)."""
    import vl_convert

    return bytes(vl_convert.vegalite_to_png(json.dumps(spec), scale=1.5))


def entry_charts(entry: Entry) -> list[tuple[str, bytes | None, str]]:
    """(title, PNG or None, note) for the answer's stored chart and each chartable result table."""
    specs: list[tuple[str, dict[str, Any]]] = []
    if entry.chart is not None:
        specs.append(("Chart of the answer", entry.chart))
    for table in entry.tables:
        spec = table_chart(table)
        if spec is not None:
            specs.append((f"Chart of result {table.label}", spec))
    charts: list[tuple[str, bytes | None, str]] = []
    for title, spec in specs:
        try:
            charts.append((title, render_png(spec), ""))
        except Exception as exc:  # noqa: BLE001 - a chart that cannot be drawn must not stop the report
            charts.append((title, None, f"This chart could not be rendered ({type(exc).__name__}: "
                                        f"{str(exc)[:200]}); its data is in the table."))
    return charts
