"""Widgets of the Tables page: the schema with original names, and what to do when SQL fails.

The result itself (rows and chart) is drawn by app/ui/results.py, shared with the chat."""

from __future__ import annotations

import pandas as pd
import streamlit as st


def show_sql_error(answer) -> None:
    """The error in words, what the analyst can do about it, and DuckDB's own message for experts."""
    if answer.cannot_answer:
        st.warning(answer.error, icon=":material/help:")
        return
    hint = getattr(answer, "error_hint", "")
    if answer.attempts > 1:
        hint = (f"{hint}\n\n" if hint else "") + (
            f"The model's SQL still failed after {answer.attempts} attempts. Edit the SQL above and press "
            "**Run SQL**, or rephrase the question (name the table or columns you mean).")
    st.error(f"**{answer.error}**" + (f"\n\n{hint}" if hint else ""), icon=":material/error:")
    detail = getattr(answer, "error_detail", "")
    if detail:
        with st.expander("DuckDB's message", icon=":material/code:"):
            st.code(detail, language=None, wrap_lines=True)


def schema_columns(info, changes) -> tuple[pd.DataFrame, str]:
    """A table's columns for the Schema view: the name in the file beside the snake_case name it was stored
    under (the one SQL uses), and its type; plus a sentence on what was renamed.

    `changes` is None for a table loaded before the original names were recorded."""
    if changes is None:
        frame = pd.DataFrame([{"column": c.name, "type": c.type} for c in info.columns])
        return frame, "The names in the file were not recorded for this table (it was loaded by an earlier version)."
    original = {ch.stored: ch.original for ch in changes if ch.kind == "column"}
    frame = pd.DataFrame([{"name in the file": original.get(c.name, c.name), "column (use in SQL)": c.name,
                           "type": c.type} for c in info.columns])
    renamed = sum(original.get(c.name, c.name) != c.name for c in info.columns)
    table = next((ch for ch in changes if ch.kind == "table"), None)
    parts = []
    if table is not None and table.original != table.stored:
        parts.append(f"Table `{table.original}` is stored as `{table.stored}`.")
    if renamed:
        parts.append(f"{renamed} of {len(info.columns)} column name(s) were changed to snake_case, so SQL can use "
                     "them without quotes.")
    return frame, " ".join(parts) or "Names are as in the file."
