"""The main screen end to end: one chat message with a PDF and a CSV, answered by the real embedded model.

The turn indexes the PDF, loads the CSV into DuckDB, runs SQL and searches the PDF; the page shows the
steps (collapsed once done), the answer, a page citation and the SQL result with its query.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures import pdf_factory as pf
from tests.fixtures.models import SQL_MODEL as MODEL
from tests.fixtures.paths import ENTRY, ROOT
from tests.fixtures.turns import POLICY_PAGES


@pytest.mark.slow
def test_a_message_with_a_pdf_and_a_csv_shows_every_step_and_cites_page_and_sql(
    data_dir, monkeypatch, sql_model_path
):
    monkeypatch.setenv("ANALYST_EMBEDDED_MODEL", MODEL)  # the 0.5B model declines SQL questions
    pdf = pf.text_pdf(POLICY_PAGES, title="Finance policy")
    csv = (ROOT / "tests" / "fixtures" / "tables" / "sales.csv").read_bytes()

    at = AppTest.from_file(ENTRY, default_timeout=300).run()
    chat = at.chat_input[0]
    chat.upload("policy.pdf", pdf, "application/pdf").upload("sales.csv", csv, "text/csv")
    chat.set_value("What is the total revenue, and how does the policy define revenue?").run()

    assert not at.exception
    labels = [e.label.replace("\\", "") for e in at.expander]  # labels are escaped markdown (safe_markdown)
    assert any(label == "4 step(s)" for label in labels), labels
    steps = " ".join(m.value for m in at.markdown)
    for tool in ("index_document", "load_table", "run_sql", "search_documents"):
        assert f"**{tool}**" in steps, tool
    assert any(label.startswith("[S1] SQL result") for label in labels), labels
    assert any("policy.pdf, page" in label for label in labels), labels
    assert any("SUM" in c.value.upper() for c in at.code), [c.value for c in at.code]  # the SQL is shown
    answer = at.chat_message[-1].markdown[0].value
    assert answer.strip()
