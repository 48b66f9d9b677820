"""A document answer in the app: ingest a PDF, ask in the chat, see the citation to file and page."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app.container import build_services
from app.settings import load_settings
from tests.fixtures import pdf_factory as pf
from tests.fixtures.paths import ENTRY


def test_chat_answers_from_an_ingested_pdf_and_cites_its_page(data_dir, tmp_path, monkeypatch):
    pdf = pf.write(tmp_path / "handbook.pdf", pf.text_pdf([
        ["Welcome to the staff handbook.", "Offices open at eight in the morning."],
        ["Travel policy.", "Employees are reimbursed for train tickets in second class only.",
         "Taxi rides need a manager's approval."],
    ]))
    services = build_services(load_settings())
    assert services.documents.ingest_file(pdf).status == "indexed"
    services.close()
    monkeypatch.setenv("ANALYST_MAX_TOKENS", "48")

    at = AppTest.from_file(ENTRY, default_timeout=120).run()
    assert at.toggle(key="chat.use_documents").value is True  # on by default once a document is indexed
    at.chat_input[0].set_value("Which train class is reimbursed for travel?").run()

    assert not at.exception
    labels = [e.label for e in at.expander]
    assert any("handbook.pdf, page 2" in label for label in labels), labels
    assert any("step(s)" in label for label in labels), labels  # the turn's steps, collapsed
    steps = " ".join(m.value for m in at.markdown)
    assert "search_documents" in steps and "handbook.pdf" in steps


def test_an_image_attached_in_chat_can_be_added_to_the_documents(data_dir, tmp_path):
    image = pf.text_image(["Quarterly revenue grew to 4.2 million euros"])
    path = tmp_path / "slide.png"
    image.save(path)
    services = build_services(load_settings())
    conv = services.conversations.create("Slides")
    message = services.conversations.add_message(
        conv.id, "user", "What is on this slide?", meta={"attachments": [{"name": "slide.png", "path": str(path)}]}
    )
    services.close()

    at = AppTest.from_file(ENTRY, default_timeout=120).run()
    at.button(key=f"chat.keep.{message.id}.0").click().run()

    assert not at.exception
    assert any("slide.png is in your documents" in s.value for s in at.success)
    passages = build_services(load_settings()).documents.search("quarterly revenue")
    assert passages and passages[0].source == "slide.png"


def test_the_page_view_keeps_the_cited_passage_in_view_and_escaped():
    from app.ui.chat_citations import highlighted_page

    page = "x" * 3000 + "Refunds <within> 30 days." + "y" * 3000
    start = 3000
    view = highlighted_page(page, start, start + len("Refunds <within> 30 days."))
    assert "<mark>Refunds &lt;within&gt; 30 days.</mark>" in view
    text = view.split(">", 1)[1]  # after the style attribute
    assert "x" * 501 not in text and "y" * 501 not in text  # a window around the passage, not the whole page
