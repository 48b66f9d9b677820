"""Tables page: load files, browse the schema, ask a question, see and edit the SQL, chart, download."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app.errors import AssistantError
from app.ui import get_services, progress_reporter, show_error
from app.ui_tables import result_chart, show_sql_error

KEY_LOADED = "tables.loaded_uploads"
KEY_ANSWER = "tables.answer"
KEY_SQL = "tables.sql"
FILE_TYPES = ["csv", "tsv", "txt", "xlsx", "parquet", "json", "jsonl", "ndjson", "duckdb", "db"]

st.title("Tables")
tables = get_services().tables
loaded: set[str] = st.session_state.setdefault(KEY_LOADED, set())

for upload in st.file_uploader("Load table files", type=FILE_TYPES, accept_multiple_files=True) or []:
    if upload.file_id in loaded:
        continue  # Streamlit reruns the script on every click: load each upload once
    report, clear = progress_reporter(f"Loading {upload.name}…")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload"
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
        st.success(f"{upload.name}: {', '.join(result.tables)}{note}")
        for warning in result.warnings:
            st.warning(warning)

with st.expander("Schema", expanded=False):
    infos = tables.tables()
    if not infos:
        st.info("No tables yet: load a CSV, Excel, Parquet, JSON or DuckDB file above.")
    for info in infos:
        st.markdown(f"**{info.name}** — {info.row_count:,} rows · {info.source}")
        st.dataframe(pd.DataFrame([{"column": c.name, "type": c.type} for c in info.columns]), hide_index=True)
    chosen = st.selectbox("Inspect a table", [i.name for i in infos], index=None)
    if chosen:
        sample = tables.preview(chosen)
        st.dataframe(pd.DataFrame(sample.rows, columns=sample.columns), hide_index=True)
        st.dataframe(pd.DataFrame(tables.column_stats(chosen)), hide_index=True)
    sources = {f"{s.file_name} ({', '.join(s.tables)})": s.sha256 for s in tables.sources()}
    doomed = st.selectbox("Remove a loaded file and its tables", list(sources), index=None)
    if doomed and st.button("Remove", key="tables.remove"):
        tables.delete_source(sources[doomed])
        st.rerun()

question = st.text_input("Ask a question about your tables", key="tables.question")
if st.button("Ask", type="primary", disabled=not question.strip()):
    try:
        with st.spinner("Writing and running SQL…"):
            st.session_state[KEY_ANSWER] = tables.ask(question)
        st.session_state[KEY_SQL] = st.session_state[KEY_ANSWER].sql
    except AssistantError as exc:
        show_error(exc)

answer = st.session_state.get(KEY_ANSWER)
if answer is not None:
    sql = st.text_area("SQL (edit and run again)", key=KEY_SQL, height=140)
    if st.button("Run SQL"):
        answer = st.session_state[KEY_ANSWER] = tables.run_sql(sql, question=answer.question)
    if answer.error:
        show_sql_error(answer)
    else:
        st.markdown(answer.answer)
        frame = pd.DataFrame(answer.rows, columns=answer.columns)
        if answer.truncated:
            st.caption(f"Showing the first {len(answer.rows):,} rows; the result was cut.")
        st.dataframe(frame, hide_index=True)
        if answer.chart is not None:
            result_chart(frame, answer.chart)
        st.download_button("Download CSV", frame.to_csv(index=False).encode("utf-8"), "result.csv", "text/csv")
    st.caption(f"{answer.attempts} attempt(s) · {answer.seconds:.1f} s")
