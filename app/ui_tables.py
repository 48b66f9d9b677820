"""Widgets of the Tables page: the result chart and what to do when SQL fails."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

# chart kind -> (altair mark, type of the x axis)
_MARKS = {"bar": ("mark_bar", "nominal"), "line": ("mark_line", "temporal"), "scatter": ("mark_circle", "quantitative")}


def _field(name: str) -> str:
    # Altair reads dots and brackets in field names as nested access; escape them.
    return name.replace(".", "\\.").replace("[", "\\[").replace("]", "\\]")


def result_chart(frame: pd.DataFrame, chart) -> None:
    """Draw the chart the SQL service suggested for this result (bar, line or scatter)."""
    mark, x_type = _MARKS[chart.kind]
    spec = getattr(alt.Chart(frame), mark)().encode(
        x=alt.X(field=_field(chart.x), type=x_type, title=chart.x),
        y=alt.Y(field=_field(chart.y), type="quantitative", title=chart.y),
    )
    st.altair_chart(spec, width="stretch")


def show_sql_error(answer) -> None:
    """The error, plus what the analyst can do about it."""
    if answer.cannot_answer:
        st.warning(answer.error, icon=":material/help:")
        return
    hint = ""
    if answer.attempts > 1:
        hint = (f"\n\nThe model's SQL still failed after {answer.attempts} attempts. Edit the SQL above and press "
                "**Run SQL**, or rephrase the question (name the table or columns you mean).")
    st.error(f"{answer.error}{hint}", icon=":material/error:")
