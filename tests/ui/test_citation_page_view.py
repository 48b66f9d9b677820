"""A PDF citation in the chat opens its page as an image with the passage highlighted; a page that cannot
be drawn says why and shows the extracted text instead (AppTest, a real PDF ingested into a real library)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from app.container import build_services
from app.settings import load_settings
from storage.conversations import OK
from tests.fixtures import pdf_factory
from tests.fixtures.paths import ENTRY

PAGES = [["Travel policy", "Taxi rides need a manager's approval."],
         ["Refunds", "Refunds are paid within 30 days of the request.", "Gift cards are never refunded."]]


def conversation_citing_page_two(tmp_path: Path) -> tuple[str, Path]:
    """A stored answer citing page 2 of an ingested handbook, as the chat saves it; the stored copy's path."""
    pdf = pdf_factory.write(tmp_path / "handbook.pdf", pdf_factory.text_pdf(PAGES))
    services = build_services(load_settings())
    try:
        assert services.documents.ingest_file(pdf).status == "indexed"
        passage = services.documents.search("How fast are refunds paid?")[0]
        assert passage.page == 2
        conv = services.conversations.create("Refunds")
        services.conversations.add_message(conv.id, "user", "How fast are refunds paid?", OK, {})
        cite = {"n": 1, "source": "handbook.pdf", "page": 2, "quote": passage.text, "doc_id": passage.doc_id,
                "chunk_id": passage.chunk_id, "char_start": passage.char_start, "char_end": passage.char_end}
        message = services.conversations.add_message(conv.id, "assistant", "Within 30 days.", OK,
                                                     {"citations": [cite]})
        return f"chat.page.{message.id}.0", services.documents.file_path(passage.doc_id)
    finally:
        services.close()


def test_a_pdf_citation_shows_its_page_drawn_and_the_text_on_request(data_dir, tmp_path):
    toggle, _ = conversation_citing_page_two(tmp_path)
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    at.toggle(key=toggle).set_value(True).run()

    assert not at.exception
    images = at.get("image")
    assert len(images) == 1
    assert not any("cannot be drawn" in c.value or "not highlighted" in c.value for c in at.caption)
    at.toggle(key=toggle.replace("chat.page.", "chat.pagetext.")).set_value(True).run()
    assert any("<mark>" in h.proto.body for h in at.get("html"))


def test_a_page_whose_file_is_gone_says_so_and_shows_the_extracted_text(data_dir, tmp_path):
    toggle, stored = conversation_citing_page_two(tmp_path)
    stored.unlink()
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    at.toggle(key=toggle).set_value(True).run()

    assert not at.exception
    assert len(at.get("image")) == 0
    assert any("missing" in c.value and "extracted text is shown" in c.value for c in at.caption)
    marked = [h.proto.body.split("<mark>", 1)[-1] for h in at.get("html") if "<mark>" in h.proto.body]
    assert marked and "Refunds are paid within 30 days" in marked[0]
