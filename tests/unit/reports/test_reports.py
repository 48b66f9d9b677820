"""Reports from a real conversation: HTML and PDF content, escaping, and verification against the audit trail."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.errors import BadInputError
from app.reports.charts import table_chart
from app.reports.export import export_report
from app.reports.model import ResultTable
from app.reports.proof import verify_report_file
from tests.fixtures.turns import TOTAL_SQL
from tests.unit.reports.conftest import Answered

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _export(env: Answered, fmt: str, path: Path) -> Path:
    path.write_bytes(export_report(env.conversations, env.records, env.conversation_id, fmt, "ana"))
    return path


def _record_id(env: Answered) -> str:
    (record,) = env.records.query(kind="chat", conversation_id=env.conversation_id)
    return str(record["id"])


def test_html_report_holds_answer_numbers_sql_citations_and_records_and_verifies(answered, tmp_path):
    path = _export(answered, "html", tmp_path / "r.html")
    page = path.read_text(encoding="utf-8")
    assert "238.42" in page and "Author: ana" in page
    assert "SELECT ROUND(SUM(revenue), 2) AS total_revenue FROM sales" in page
    assert "policy.pdf, page 2" in page and "net of refunds and discounts" in page
    assert _record_id(answered) in page and 'id="aa-manifest"' in page
    assert "http://" not in page.replace("http://www.w3.org", "")  # self-contained: no external resources
    assert "data:image/png;base64," not in page or "<figure>" in page
    (exported,) = answered.records.query(kind="report_exported")
    assert exported["format"] == "html" and exported["cited_records"] == [_record_id(answered)]
    verdict = verify_report_file(path, answered.records)
    assert verdict.ok, verdict.problems
    assert verdict.records == 1


def test_pdf_report_reads_back_with_numbers_sql_and_citations_and_verifies(answered, tmp_path):
    path = _export(answered, "pdf", tmp_path / "r.pdf")
    text = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(path.read_bytes())).pages)
    flat = " ".join(text.split())
    assert "238.42" in flat
    assert " ".join(TOTAL_SQL.split()) in flat
    assert "policy.pdf, page 2" in flat and _record_id(answered) in flat
    verdict = verify_report_file(path, answered.records)
    assert verdict.ok, verdict.problems


def test_an_edited_html_report_no_longer_verifies(answered, tmp_path):
    path = _export(answered, "html", tmp_path / "r.html")
    path.write_text(path.read_text(encoding="utf-8").replace("The total is 238.42", "The total is 999.99"),
                    encoding="utf-8")
    verdict = verify_report_file(path, answered.records)
    assert not verdict.ok
    assert any("text was changed after export" in p for p in verdict.problems)


def test_a_record_altered_after_the_report_is_named(answered, tmp_path):
    path = _export(answered, "pdf", tmp_path / "r.pdf")
    record_id = _record_id(answered)
    con = sqlite3.connect(answered.records.path)
    con.execute("DROP TRIGGER records_no_update")
    con.execute("UPDATE records SET body = replace(body, '238.42', '999.99') WHERE id = ?", (record_id,))
    con.commit()
    con.close()
    verdict = verify_report_file(path, answered.records)
    assert not verdict.ok
    assert any(record_id in p for p in verdict.problems)


def test_hostile_text_in_an_answer_stays_text(answered, tmp_path):
    conv = answered.conversations.create()
    answered.conversations.add_message(conv.id, "user", "<img src=x onerror=alert(1)>")
    answered.conversations.add_message(conv.id, "assistant", "<script>alert('x')</script> & </script>")
    page = export_report(answered.conversations, answered.records, conv.id, "html", "ana").decode("utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "No request record names this answer" in page  # said, not hidden
    assert page.count("<script") == 1  # only the manifest block


def test_a_conversation_without_answers_is_a_clear_error(answered):
    conv = answered.conversations.create()
    with pytest.raises(BadInputError, match="no answers yet"):
        export_report(answered.conversations, answered.records, conv.id, "pdf", "ana")


def test_the_report_builds_after_the_answers_table_was_deleted(answered, tmp_path):
    (source,) = answered.tables._store.sources()  # noqa: SLF001 - the file the table came from
    assert answered.tables.delete_source(source.sha256) == ["sales"]
    assert answered.tables.tables() == []
    path = _export(answered, "html", tmp_path / "r.html")
    assert "238.42" in path.read_text(encoding="utf-8")  # the rows kept with the answer
    assert verify_report_file(path, answered.records).ok


def test_a_chart_that_cannot_be_rendered_is_said_and_the_rest_is_there(answered):
    conv = answered.conversations.create()
    answered.conversations.add_message(conv.id, "user", "Revenue by region?")
    rows = [["North", 120.5], ["South", 80.25]]
    answered.conversations.add_message(conv.id, "assistant", "North leads [S1].", meta={
        "chart": {"mark": {"type": "no-such-mark"}, "encoding": 7},
        "citations": [{"n": 1, "kind": "sql", "label": "S1", "sql": "SELECT region, revenue FROM r",
                       "columns": ["region", "revenue"], "rows": rows, "row_count": 2}]})
    page = export_report(answered.conversations, answered.records, conv.id, "html", "ana").decode("utf-8")
    assert "Chart of the answer: This chart could not be rendered" in page
    assert '<img alt="Chart of result S1" src="data:image/png;base64,' in page  # the result's own chart is drawn
    assert "North leads [S1]." in page and "<td>80.25</td>" in page


def test_a_very_long_conversation_is_cut_with_a_note(answered, monkeypatch):
    monkeypatch.setattr("app.reports.model.MAX_ANSWERS", 3)
    conv = answered.conversations.create()
    for n in range(5):
        answered.conversations.add_message(conv.id, "user", f"Question {n}?")
        answered.conversations.add_message(conv.id, "assistant", f"Answer {n}.")
    data = export_report(answered.conversations, answered.records, conv.id, "pdf", "ana")
    flat = " ".join("\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages).split())
    assert "Answer 2." in flat and "Answer 3." not in flat
    assert "has 5 answers; the report shows the first 3" in flat


def test_without_a_unicode_font_the_pdf_uses_core_fonts_and_says_so(answered, monkeypatch, tmp_path):
    monkeypatch.setattr("app.reports.pdf.UNICODE_FONTS", (tmp_path / "none.ttf",))
    conv = answered.conversations.create()
    answered.conversations.add_message(conv.id, "user", "Résumé of 東京?")
    answered.conversations.add_message(conv.id, "assistant", "Tokyo (東京) has 14 million people.")
    data = export_report(answered.conversations, answered.records, conv.id, "pdf", "ana")
    flat = " ".join("\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages).split())
    assert "Résumé of ??" in flat and "Tokyo (??) has 14 million people." in flat
    assert "no Unicode font was found" in flat


def test_a_result_with_empty_values_is_still_charted():
    spec = table_chart(ResultTable("S1", "SELECT 1", ["iso3", "pm25"], [["AFG", 120.0], ["BEN", None], ["DZA", 22]], 3))
    assert spec is not None and [v["label"] for v in spec["data"]["values"]] == ["AFG", "DZA"]
    assert table_chart(ResultTable("S1", "SELECT 1", ["iso3", "pm25"], [["AFG", None], ["BEN", None]], 2)) is None
