"""The kinds of documents read as sections are sniffed from their bytes; the readers keep structure, and the
table typing and caps hold (real files built with python-docx/python-pptx, real pdfplumber)."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal import doc_tables, kinds
from multimodal.chunking import Section, chunk_section, section_locator
from multimodal.doc_tables import pdf_tables, typed_table
from multimodal.sectioned import RawTable
from multimodal.web_text import TextDocumentError, read_email, sections_of_html, sections_of_text
from tests.fixtures import office_docs as od


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "document", "attached"),
    [
        ("report.docx", od.word_report(), "docx", "docx"),
        ("report.bin", od.word_report(), "docx", "docx"),  # the content decides, not the name
        ("deck.pptx", od.slide_deck(), "pptx", "pptx"),
        ("page.htm", od.HTML_PAGE.encode(), "html", "html"),
        ("page.txt", od.HTML_PAGE.encode(), "text", "text"),  # named as text: read as the text it is
        ("notes.md", od.MARKDOWN_NOTES.encode(), "text", "text"),
        ("mail.eml", od.email_message(), "email", "email"),
        ("mail.dat", od.email_message(), "email", "email"),
        ("fake.docx", od.zip_of({"a.txt": b"x"}), "docx", "unknown"),  # the Word reader explains
        ("secret.pptx", od.encrypted_office(), "pptx", "unknown"),
        ("sales.txt", b"region,revenue\nNorth,10\nSouth,7\n", "unknown", "table"),  # a delimited .txt is a table
    ],
)
def test_kinds_are_sniffed_from_the_bytes(tmp_path: Path, name: str, data: bytes, document: str,
                                          attached: str) -> None:
    path = _file(tmp_path, name, data)
    assert kinds.document_kind(path) == document
    assert kinds.file_kind(path) == attached


def test_locators_name_paragraph_slide_and_lines() -> None:
    text = "First para.\n\nSecond para.\n\nThird para."
    section = Section(4, text, "3 Results › 3.2 Revenue", "section")
    assert section_locator(section, text.index("Third"), len(text)) == "3.2 Revenue ¶3"
    assert section_locator(Section(7, "x", "Sales", "slide"), 0, 1) == "slide 7"
    lines = Section(2, "a\nb\nc", "Setup", "lines", first_line=12)
    assert section_locator(lines, 2, 5) == "Setup (lines 13–14)"
    (chunk,) = chunk_section(section)
    assert chunk.indexed_text.startswith("3 Results › 3.2 Revenue — First para.")


def test_text_headings_setext_fences_and_long_runs() -> None:
    doc = sections_of_text("Title\n=====\nintro\n```\n# code, not a heading\n```\n" + "log line\n" * 450)
    assert [s.heading for s in doc.sections] == ["Title"] * 3
    assert [s.first_line for s in doc.sections] == [3, 203, 403]


def test_html_lists_nested_tables_and_merged_cells() -> None:
    doc = sections_of_html("<h2>A</h2><ul><li>one <p>inner</p></li></ul>"
                           "<table><tr><th colspan=2>wide</th></tr><tr><td>1</td><td>2</td></tr></table>")
    assert doc.sections[0].text.startswith("• one inner")
    assert doc.tables[0].problem == "merged cells"


def test_email_without_headers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TextDocumentError, match="not an e-mail"):
        read_email(_file(tmp_path, "x.eml", b"\x00\x01 just bytes"))


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([["Only a header"]], "fewer than 2 rows"),
        ([["1", "2"], ["3", "4"]], "no header row"),
        ([["a", "b", "c"], ["1", "2"]], "rows of different lengths"),
        ([["", "", "x"], ["1", "2", "3"]], "header row is mostly empty"),
    ],
)
def test_unclean_tables_are_refused_with_a_reason(rows: list[list[str]], reason: str) -> None:
    typed, why = typed_table(RawTable(1, 1, rows))
    assert typed is None and reason in why


def test_a_dash_is_null_and_text_columns_stay_text() -> None:
    typed, _ = typed_table(RawTable(1, 1, [["Name", "Value", "Code"], ["a", "–", "007"], ["b", "1,000", "n/a"]]))
    assert typed is not None
    assert typed.types == ["VARCHAR", "BIGINT", "BIGINT"]
    assert typed.rows == [["a", None, 7], ["b", 1000, None]]


def test_a_pdf_with_many_tables_is_bounded_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [["Item", "Count"], ["x", "1"], ["y", "2"]]
    pdf = _file(tmp_path, "many.pdf", od.table_pdf([([f"Page {n}"], rows) for n in range(1, 7)]))
    monkeypatch.setattr(doc_tables, "MAX_TABLES_PER_DOCUMENT", 4)
    pages: list[tuple[int, int]] = []
    found, notes = pdf_tables(pdf, progress=lambda page, total: pages.append((page, total)))
    assert [t.location for t in found] == [1, 2, 3, 4]
    assert notes == ["More than 4 tables: the rest stay searchable as text."]
    assert pages[:2] == [(1, 6), (2, 6)]
    monkeypatch.setattr(doc_tables, "MAX_TABLE_PAGES", 2)
    found, notes = pdf_tables(pdf)
    assert len(found) == 2 and notes == ["Only the first 2 of 6 pages were searched for tables."]
