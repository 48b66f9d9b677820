"""The Audit page: filter the request records, open one turn's evidence, verify the chain, export."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from app.access.roles import SEE_ALL_RECORDS
from app.audit.trail import MIME_TYPES, Evidence, citation_label, evidence, export_bytes, table_row
from app.container import Services
from app.errors import AssistantError
from app.ui.common import safe_markdown, show_error

KEY_PAGE = "audit.page"
KEY_OPEN = "audit.open"
KEY_TABLE = "audit.table"
KEY_VERIFY = "audit.verify"
PAGE_SIZE = 50
STATUSES = ["ok", "error", "stopped", "blocked"]
EMPTY = "No turns recorded yet — ask something on the Chat page."
_TABLE_COLUMNS = {
    "time": st.column_config.TextColumn("Time (UTC)", width="small"),
    "user": st.column_config.TextColumn("User", width="small"),
    "model": st.column_config.TextColumn("Model", width="small"),
    "question": st.column_config.TextColumn("Question", width="large"),
    "status": st.column_config.TextColumn("Status", width="small"),
    "tools": st.column_config.TextColumn("Tools"),
    "flags": st.column_config.TextColumn("Flags"),
    "total_s": st.column_config.NumberColumn("Total", format="%.2f s", width="small"),
    "id": None,  # hidden; used to open the turn
}


def _when(ts: str) -> str:
    return ts[:19].replace("T", " ") if ts else ""


@st.cache_data(ttl=60, show_spinner=False)
def _choices(_store: Any, path: str, count: int, reader: str = "") -> dict[str, list[str]]:
    # Listing tool names reads every body: cached per store, record count (a new record refreshes it) and reader
    # (someone who sees only their own records must never get the choices cached for an auditor).
    return {
        "user": _store.distinct("user"),
        "model": _store.distinct("model"),
        "tool": _store.distinct("tool"),
        "kind": _store.distinct("kind", kind=None) or ["chat"],
        "workspace": _store.distinct("workspace", kind=None),
    }


def _reader(services: Services) -> str:
    actor = services.actor
    return "" if actor is None else f"{actor.user}:{actor.role}"


def filters(services: Services) -> dict[str, Any]:
    """The filter widgets; returns keyword arguments for `records.search`."""
    store = services.records
    choices = _choices(store, str(store.path), store.count(), _reader(services))
    with st.container(border=True):
        col1, col2, col3, col4 = st.columns([2, 1, 1, 1])
        days = col1.date_input(
            "Dates (UTC)", value=[], format="YYYY-MM-DD", key="audit.dates", help="Leave empty for every date."
        )
        user = col2.selectbox("User", choices["user"], index=None, placeholder="All users", key="audit.user")
        model = col3.selectbox("Model", choices["model"], index=None, placeholder="All models", key="audit.model")
        tool = col4.selectbox("Tool", choices["tool"], index=None, placeholder="Any tool", key="audit.tool")
        col1, col2, col3, col4 = st.columns([2, 1, 1, 1])
        text = col1.text_input("Search question and answer", key="audit.text", placeholder="Words to find")
        status = col2.selectbox("Status", STATUSES, index=None, placeholder="Any status", key="audit.status")
        kinds = choices["kind"]
        kind = col3.selectbox(
            "Record kind",
            kinds,
            index=kinds.index("chat") if "chat" in kinds else 0,
            key="audit.kind",
            help="Chat turns, or the records of deleted conversations and retention runs.",
        )
        col4.markdown("&nbsp;")
        flagged = col4.toggle("Flagged only", key="audit.flagged", help="Turns a guardrail flagged or blocked.")
        workspace = None
        if services.actor is not None:  # sign-in on: records say which workspace they were made in
            workspace = st.selectbox("Workspace", choices["workspace"], index=None, placeholder="All workspaces",
                                     key="audit.workspace")
    picked = tuple(days or ())
    return {
        "since": picked[0].isoformat() if picked else None,
        "until": (picked[1] + timedelta(days=1)).isoformat() if len(picked) > 1 else None,
        "user": user,
        "model": model,
        "tool": tool,
        "flagged": True if flagged else None,
        "status": status,
        "kind": kind,
        "text": text.strip() or None,
        "workspace": workspace,
    }


def _open_selected_row(ids: list[str]) -> None:
    # The table's row selection drives the "Open a turn" box, which is the one source of truth.
    rows = st.session_state[KEY_TABLE].selection.rows
    if rows and rows[0] < len(ids):
        st.session_state[KEY_OPEN] = ids[rows[0]]


def turns_table(services: Services, chosen: dict[str, Any]) -> dict[str, Any] | None:
    """The filtered records, a page at a time; returns the record opened (or None)."""
    store = services.records
    total = store.count_matching(**chosen)
    if total == 0:
        if store.count_matching(kind="chat") == 0 and chosen["kind"] == "chat":
            st.info(EMPTY, icon=":material/forum:")
        else:
            st.info("No records match these filters.", icon=":material/filter_alt_off:")
        return None
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    page = 1
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key=KEY_PAGE))
    records = store.search(**chosen, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    first = (page - 1) * PAGE_SIZE + 1
    st.caption(f"{total:,} record(s) match · showing {first:,}–{first + len(records) - 1:,}, newest first")
    rows = [table_row(r) for r in records]
    for row in rows:
        row["time"] = _when(row["time"])
    ids = [r["id"] for r in rows]
    st.dataframe(
        pd.DataFrame(rows, columns=list(_TABLE_COLUMNS)),
        column_config=_TABLE_COLUMNS,
        hide_index=True,
        width="stretch",
        on_select=lambda: _open_selected_row(ids),
        selection_mode="single-row",
        key=KEY_TABLE,
    )
    by_id = {r["id"]: r for r in records}
    if st.session_state.get(KEY_OPEN) not in by_id:
        st.session_state.pop(KEY_OPEN, None)  # filtered out or on another page
    opened = st.selectbox(
        "Open a turn",
        ids,
        index=None,
        format_func=lambda i: (
            f"{_when(by_id[i].get('ts', ''))} · {table_row(by_id[i])['question'] or by_id[i]['kind']}"
        ),
        placeholder="Select a row in the table, or pick a turn here",
        key=KEY_OPEN,
    )
    return by_id.get(opened) if opened else None


def _frame(rows: list[dict[str, Any]], empty: str) -> None:
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.caption(empty)


def show_evidence(record: dict[str, Any]) -> None:
    """Everything the record says about one turn: inputs, retrieval, tools, guardrails, answer, cost."""
    if record.get("kind", "chat") != "chat":
        st.subheader(f"{record.get('kind', 'record').replace('_', ' ').capitalize()} · {_when(record.get('ts', ''))}")
        st.json(record)
        return
    ev: Evidence = evidence(record)
    _evidence_header(ev)
    _evidence_figures(ev)
    _evidence_inputs(ev)
    _evidence_outputs(ev)
    with st.expander("Generation parameters and the full record"):
        if ev.params:
            st.json(ev.params, expanded=False)
        st.json(record, expanded=False)


def _evidence_header(ev: Evidence) -> None:
    """Who, which model, the status, and what went wrong or was flagged."""
    st.subheader(f"Turn of {_when(ev.ts)} UTC")
    st.caption(safe_markdown(
        " · ".join(
            p
            for p in (
                f"User **{ev.user or '—'}**",
                f"Model **{ev.model or '—'}** ({ev.backend or '—'})",
                f"digest `{ev.model_digest[:19]}`" if ev.model_digest else "",
                f"Status **{ev.status or '—'}**",
                f"Conversation `{ev.conversation_id[:8]}`" if ev.conversation_id else "",
                f"Record `{ev.id}`",
            )
            if p
        )
    ))
    if ev.error:
        show_error(AssistantError(str(ev.error.get("message", "Error")), str(ev.error.get("hint") or "")))
    if ev.flagged:
        st.warning("A guardrail flagged this turn — see the decisions below.", icon=":material/flag:")
    if ev.not_in_documents:
        st.info("The answer said the documents do not cover this question.", icon=":material/search_off:")
    for notice in ev.notices:
        st.caption(":material/info: " + safe_markdown(str(notice)))


def _evidence_figures(ev: Evidence) -> None:
    """Timings, token counts and the number of tool steps."""
    cols = st.columns(6)
    cols[0].metric("Total", _secs(ev.timings.get("total_s")))
    cols[1].metric("First token", _secs(ev.timings.get("ttft_s")))
    cols[2].metric("Model load", _secs(ev.timings.get("load_s")))
    cols[3].metric("Tokens in", _int(ev.tokens.get("in")))
    cols[4].metric("Tokens out", _int(ev.tokens.get("out")))
    cols[5].metric("Tool steps", len(ev.steps))
    if ev.tokens.get("estimated"):
        st.caption("Token counts are estimated: the backend did not report them.")


def _evidence_inputs(ev: Evidence) -> None:
    """The question, its attachments and the prompt the model was sent."""
    st.markdown("**Question**")
    st.code(ev.question or "(empty)", language=None, wrap_lines=True)
    st.markdown("**Attachments**")
    _frame(ev.attachments, "No attachments.")
    with st.expander(f"Prompt sent to the model ({len(ev.prompt)} message(s))"):
        if not ev.prompt:
            st.caption("The prompt was not recorded (the turn ended before it was built).")
        for message in ev.prompt:
            images = message.get("images") or []
            note = f" · {len(images)} image(s)" if images else ""
            st.markdown(safe_markdown(f"**{message.get('role', '?')}**{note}"))
            content = message.get("content")
            st.code(content if isinstance(content, str) else json.dumps(content, indent=2), language=None,
                    wrap_lines=True)  # fmt: skip


def _evidence_outputs(ev: Evidence) -> None:
    """What the turn used and produced: passages, SQL, tool steps, guardrail decisions, the answer, citations."""
    st.markdown("**Retrieved passages**")
    _frame(ev.passages, "No passages: the documents were not searched.")
    if ev.sql:
        st.markdown("**SQL**")
        for step in ev.sql:
            st.code(step["sql"] or "(not recorded)", language="sql", wrap_lines=True)
            st.caption(safe_markdown(
                f"Result sha256 `{step['result_sha256'] or '—'}` · {_secs(step['seconds'])}"
                + (f" · :red[{step['error']}]" if step["error"] else "")
            ))
    st.markdown("**Tool steps**")
    _frame(ev.steps, "No tool steps.")
    st.markdown("**Guardrail decisions**")
    _frame(ev.guardrails, "No guardrail decisions.")
    st.markdown("**Answer**")
    with st.container(border=True):
        st.markdown(safe_markdown(ev.answer) if ev.answer else "_(no answer)_")
    if ev.citations:
        st.markdown("**Citations:** " + safe_markdown(" · ".join(citation_label(c) for c in ev.citations)))


def _secs(value: Any) -> str:
    return "—" if value is None else f"{float(value):.2f} s"


def _int(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def verify_panel(services: Services) -> None:
    """Walk the hash chain and show OK or the problems (after the "Verify chain" button)."""
    store = services.records
    with st.spinner("Checking every record…"):
        problems = store.verify()
    count = store.count()
    anchor = store.anchor()
    pruned = f" ({anchor['pruned_total']:,} older record(s) removed by retention)" if anchor else ""
    if not problems:
        st.success(f"Hash chain intact: {count:,} record(s), none edited or deleted{pruned}.",
                   icon=":material/verified:")  # fmt: skip
    else:
        st.error(safe_markdown(
            f"**The records were tampered with:** {len(problems)} problem(s) in {count:,} record(s).\n\n"
            + "\n".join(f"- {p}" for p in problems[:50])
            + ("\n- …" if len(problems) > 50 else "")),
            icon=":material/gpp_bad:",
        )


def _export(services: Services, chosen: dict[str, Any], fmt: str) -> Callable[[], bytes]:
    """The export of the filtered selection in `fmt`, built only when called (on the click)."""

    def build() -> bytes:
        return export_bytes(services.records.iter_matching(**chosen), fmt)

    return build


def downloads(services: Services, chosen: dict[str, Any]) -> None:
    """JSONL and CSV downloads of the filtered selection, built when clicked."""
    stamp = date.today().isoformat()
    cols = st.columns(2)
    for col, fmt, label in ((cols[0], "jsonl", "Download JSONL (full records)"), (cols[1], "csv", "Download CSV")):
        col.download_button(
            label,
            data=_export(services, chosen, fmt),
            file_name=f"audit-{stamp}.{fmt}",
            mime=MIME_TYPES[fmt],
            icon=":material/download:",
            on_click="ignore",
            key=f"audit.download.{fmt}",
        )


def audit_page(services: Services) -> None:
    """The whole Audit page."""
    services.apply_retention(every_s=3600)  # a server may run for weeks: prune at most hourly
    st.title("Audit")
    st.caption(
        "Every answer leaves a request record: who asked, which model answered, the prompt, the passages and tools "
        "it used, guardrail decisions, and the answer. Records are append-only and hash-chained."
    )
    may_verify = services.actor is None or services.actor.may(SEE_ALL_RECORDS)  # the chain spans everyone's
    if not may_verify:
        st.caption("You see your own records; auditors and admins see everyone's and verify the chain.")
    elif st.button(
        "Verify chain",
        icon=":material/verified:",
        key=KEY_VERIFY,
        help="Recompute every record's hash: any edit or deletion outside retention is reported.",
    ):
        verify_panel(services)
    chosen = filters(services)
    record = turns_table(services, chosen)
    if services.records.count_matching(**chosen):
        with st.expander("Export this selection"):
            st.caption("The JSONL file holds the full records; the CSV one column per field (lists as JSON).")
            downloads(services, chosen)
    if record is not None:
        st.divider()
        show_evidence(record)
