"""Word/HTML citations open the cited section highlighted (escaped); the Documents page lists a document's
tables with a preview; the Tables page says where a table came from (AppTest, real library and DuckDB)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from app.chat.grounding import citation
from app.container import build_services
from app.settings import load_settings
from storage.conversations import OK
from tests.fixtures import office_docs as od
from tests.fixtures.paths import ENTRY, ROOT


def _conversation_citing(tmp_path: Path, name: str, data: bytes, question: str) -> str:
    """Ingest a file, store an answer citing the best passage as the chat does; the citation's toggle key."""
    path = tmp_path / name
    path.write_bytes(data)
    services = build_services(load_settings())
    try:
        assert services.documents.ingest_file(path).status == "indexed"
        passage = services.documents.search(question)[0]
        conv = services.conversations.create(question)
        services.conversations.add_message(conv.id, "user", question, OK, {})
        message = services.conversations.add_message(conv.id, "assistant", "See the source.", OK,
                                                     {"citations": [citation(1, passage)]})
        return f"chat.page.{message.id}.0"
    finally:
        services.close()


def test_a_word_citation_names_the_section_and_opens_it_highlighted(data_dir, tmp_path):
    toggle = _conversation_citing(tmp_path, "report.docx", od.word_report(), "Which office had a record month?")
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception
    assert any("report.docx › 3.2 Revenue ¶1" in e.label for e in at.expander)
    at.toggle(key=toggle).set_value(True).run()
    assert any("<mark>" in h.proto.body and "Lisbon office" in h.proto.body for h in at.get("html"))


def test_an_html_citation_shows_the_page_text_escaped(data_dir, tmp_path):
    toggle = _conversation_citing(tmp_path, "handbook.html", od.HTML_PAGE.encode(), "How much are meals refunded?")
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    at.toggle(key=toggle).set_value(True).run()
    bodies = [h.proto.body for h in at.get("html")]
    assert any("&lt;with receipts&gt;" in b for b in bodies) and not any("<with receipts>" in b for b in bodies)


def test_documents_and_tables_pages_show_a_pdf_table_and_its_origin(data_dir, tmp_path):
    pdf = tmp_path / "q3_report.pdf"
    pdf.write_bytes(od.table_pdf([(["Q3 report"], None), (["Revenue by region"], od.REVENUE_ROWS)]))
    services = build_services(load_settings())
    try:
        assert services.documents.ingest_file(pdf).status == "indexed"
    finally:
        services.close()
    at = AppTest.from_file(str(ROOT / "pages" / "documents.py"), default_timeout=60).run()
    assert not at.exception
    assert any(e.label.startswith("Tables in this document: 1 loaded as data") for e in at.expander)
    assert any("q3_report_p2_t1" in m.value for m in at.markdown)
    assert any("EMEA" in df.value.iloc[:, 0].tolist() for df in at.dataframe)
    tables = AppTest.from_file(str(ROOT / "pages" / "tables.py"), default_timeout=60).run()
    assert not tables.exception
    assert any("Taken from q3_report.pdf, page 2 (table 1)." in c.value for c in tables.caption)
