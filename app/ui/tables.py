"""The Tables page: load files, browse the schema, ask a question or write SQL, see the result, chart, download.

The result itself (rows and chart) is drawn by app/ui/results.py, shared with the chat."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app.container import Services
from app.errors import AssistantError
from app.tables.service import SqlAnswer, TablesService
from app.ui.common import progress_reporter, safe_markdown, show_error
from app.ui.document_tables import table_origin_line
from app.ui.results import render_alternatives, render_sql_result
from multimodal.kinds import TABLE_TYPES
from storage.tables import NameChange
from storage.tables_engine import TableInfo

KEY_LOADED = "tables.loaded_uploads"
KEY_ANSWER = "tables.answer"
KEY_SQL = "tables.sql"


def tables_page(services: Services) -> None:
    """The whole Tables page."""
    st.title("Tables")
    tables = services.tables
    load_uploads(tables)
    with st.expander("Schema", expanded=False):
        schema_panel(services)
    ask_form(services)
    sql_editor(services)
    answer = st.session_state.get(KEY_ANSWER)
    if answer is not None:
        show_answer(answer)


def load_uploads(tables: TablesService) -> None:
    """Load each uploaded file once (Streamlit reruns the script on every click), naming what it became."""
    loaded: set[str] = st.session_state.setdefault(KEY_LOADED, set())
    for upload in st.file_uploader("Load table files", type=TABLE_TYPES, accept_multiple_files=True) or []:
        if upload.file_id in loaded:
            continue
        report, clear = progress_reporter(safe_markdown(f"Loading {upload.name}…"))
        with tempfile.TemporaryDirectory() as tmp:
            # Saved under the user's own file name: anything that names the file names theirs.
            path = Path(tmp) / (Path(upload.name).name or "upload")
            path.write_bytes(upload.getbuffer())
            try:
                result = tables.load_file(path, progress=report, file_name=upload.name)
            except AssistantError as exc:
                show_error(exc)
                result = None
        clear()
        loaded.add(upload.file_id)
        if result:
            note = " (already loaded)" if result.already_loaded else ""
            st.success(safe_markdown(f"{upload.name}: {', '.join(result.tables)}{note}"))
            for warning in result.warnings:
                st.warning(safe_markdown(warning))


def schema_panel(services: Services) -> None:
    """Every table with its columns (original and stored names), a preview and statistics, and removal."""
    tables = services.tables
    infos = tables.tables()
    renames = tables.names()
    if not infos:
        st.info("No tables yet: load a CSV, Excel, Parquet, JSON or DuckDB file above.")
    for info in infos:
        st.markdown(safe_markdown(f"**{info.name}** — {info.row_count:,} rows · {info.source}"))
        if origin := table_origin_line(services, info.name):  # a table taken from a document: where from
            st.caption(":material/description: " + safe_markdown(origin))
        columns, note = schema_columns(info, renames.get(info.name))
        st.dataframe(columns, hide_index=True)
        st.caption(safe_markdown(note))
    chosen = st.selectbox("Inspect a table", [i.name for i in infos], index=None)
    if chosen:
        sample = tables.preview(chosen)
        st.dataframe(pd.DataFrame(sample.rows, columns=sample.columns), hide_index=True)
        st.dataframe(pd.DataFrame(tables.column_stats(chosen)), hide_index=True)
    sources = {f"{s.file_name} ({', '.join(s.tables)})": s.sha256 for s in tables.sources()}
    doomed = st.selectbox("Remove a loaded file and its tables", list(sources), index=None)
    if doomed and st.button("Remove", key="tables.remove"):
        services.delete_table_source(sources[doomed])  # recorded
        st.rerun()


def ask_form(services: Services) -> None:
    """The question box; its answer (and the SQL it ran) is kept for the editor and the result below."""
    # A form: Enter in the box submits, and one click on Ask sends the text typed so far. (A plain button that
    # is disabled until the box has text swallows the first click: that click only commits the text.)
    with st.form("tables.ask_form", border=False):
        question = st.text_input("Ask a question about your tables", key="tables.question",
                                 placeholder="e.g. Total revenue by region, highest first")
        asked = st.form_submit_button("Ask", type="primary", icon=":material/send:")
    if not asked:
        return
    if not question.strip():
        st.warning("Type a question first, then press Enter or **Ask**.", icon=":material/edit:")
        return
    try:
        with st.spinner("Writing and running SQL…"):
            st.session_state[KEY_ANSWER] = services.run_sql(services.tables, question, raw=False,
                                                            origin="tables page")
        # Set before the editor below is drawn in this run, so it shows the generated SQL.
        st.session_state[KEY_SQL] = st.session_state[KEY_ANSWER].sql
    except AssistantError as exc:
        show_error(exc)


def sql_editor(services: Services) -> None:
    """The SQL editor, always there: an analyst may write SQL without asking first."""
    with st.form("tables.sql_form", border=False):
        sql = st.text_area("SQL — write a read-only query, or edit the generated one (Ctrl+Enter runs it)",
                           key=KEY_SQL, height=140,
                           placeholder="SELECT region, sum(revenue) AS revenue FROM sales GROUP BY region "
                                       "ORDER BY revenue DESC")
        run = st.form_submit_button("Run SQL", icon=":material/play_arrow:")
    if not run:
        return
    if not sql.strip():
        st.warning("Write a query first, e.g. `SELECT * FROM <table> LIMIT 10` (the tables are under Schema).",
                   icon=":material/edit:")
        return
    previous = st.session_state.get(KEY_ANSWER)
    try:
        st.session_state[KEY_ANSWER] = services.run_sql(services.tables, sql, raw=True, origin="tables page",
                                                        question=previous.question if previous else "")
    except AssistantError as exc:
        show_error(exc)


def show_answer(answer: SqlAnswer) -> None:
    """The answer in words with its rows, chart and CSV download; or what went wrong."""
    if answer.error:
        show_sql_error(answer)
    else:
        st.markdown(safe_markdown(answer.answer))
        # The query is in the editor above; the shared result view adds the rows and the chart.
        render_sql_result(answer.sql, answer.columns, answer.rows, len(answer.rows), key="tables.result",
                          types=answer.types, truncated=answer.truncated, show_sql=False,
                          question=answer.question, origin="tables page")
        frame = pd.DataFrame(answer.rows, columns=answer.columns)
        st.download_button("Download CSV", frame.to_csv(index=False).encode("utf-8"), "result.csv", "text/csv")
    if answer.candidates_disagreed:
        render_alternatives(answer.alternatives, key="tables.alternatives")
    st.caption(f"{answer.attempts} attempt(s) · {answer.seconds:.1f} s")
def show_sql_error(answer: SqlAnswer) -> None:
    """The error in words, what the analyst can do about it, and DuckDB's own message for experts."""
    if answer.cannot_answer:
        st.warning(safe_markdown(answer.error or ""), icon=":material/help:")
        return
    hint = answer.error_hint
    if answer.attempts > 1:
        hint = (f"{hint}\n\n" if hint else "") + (
            f"The model's SQL still failed after {answer.attempts} attempts. Edit the SQL above and press "
            "**Run SQL**, or rephrase the question (name the table or columns you mean).")
    show_error(AssistantError(answer.error or "The query failed.", hint))
    detail = answer.error_detail
    if detail:
        with st.expander("DuckDB's message", icon=":material/code:"):
            st.code(detail, language=None, wrap_lines=True)


def schema_columns(info: TableInfo, changes: list[NameChange] | None) -> tuple[pd.DataFrame, str]:
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
