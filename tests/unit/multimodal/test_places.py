"""A citation names its place the same way in exports, reports and the audit trail."""

from app.audit.trail import citation_label
from multimodal.places import place_in_document


def test_a_section_of_a_word_file_is_named_by_its_heading_not_its_section_number():
    cite = {"n": 2, "source": "report.docx", "page": 5, "locator": "3.2 Revenue ¶4"}
    assert place_in_document(cite) == "3.2 Revenue ¶4"
    assert "3.2 Revenue ¶4" in citation_label(cite)
    assert "p. 5" not in citation_label(cite)


def test_pdf_pages_recordings_and_slides_keep_their_usual_names():
    assert place_in_document({"page": 3}) == "page 3"
    assert place_in_document({"page": 3}, page_word="p.") == "p. 3"
    assert place_in_document({"timestamp": "12:31", "page": None}) == "@ 12:31"
    assert place_in_document({"slide": 7}) == "slide 7"
    assert place_in_document({}) == ""
