"""Report downloads (HTML, PDF) of a conversation, or of the answers an analyst ticks; each file is built only
when its button is clicked, verifiable with `python -m app audit verify-report FILE`, and recorded."""

from __future__ import annotations

import functools

import streamlit as st

from app.container import Services
from app.reports.export import export_report
from app.reports.model import answer_list
from app.ui.common import safe_markdown


def report_buttons(services: Services, conversation_id: str, key: str = "chat") -> None:
    """Which answers go in (default: all), then the HTML and PDF downloads."""
    answers = answer_list(services.conversations, conversation_id)
    if not answers:
        st.caption("Reports (HTML, PDF) can be made once the conversation has an answer.")
        return
    labels = {n: f"{n}. {q[:60] + '…' if len(q) > 60 else q or '(no question)'}" for n, q in answers}
    picked = st.multiselect("Answers in the report", list(labels), default=list(labels),
                            format_func=lambda n: safe_markdown(labels.get(n, str(n))),
                            key=f"{key}.report.answers.{conversation_id}",
                            help="Untick the answers to leave out; the report keeps their numbers.")
    if not picked:
        st.caption("Tick at least one answer to make a report.")
        return
    chosen = None if len(picked) == len(answers) else sorted(picked)
    for fmt, mime in (("html", "text/html"), ("pdf", "application/pdf")):
        st.download_button(
            f"Report ({fmt.upper()})", functools.partial(export_report, services.conversations, services.records,
                                                         conversation_id, fmt, services.settings.user, "ui", chosen),
            file_name=f"report-{conversation_id[:8]}.{fmt}",
            mime=mime, icon=":material/summarize:", key=f"{key}.report.{fmt}",
            help="With citations, SQL, models, documents and the request records, so anyone with access can check "
                 "it: `python -m app audit verify-report FILE`.",
        )
