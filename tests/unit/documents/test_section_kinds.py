"""Word, PowerPoint, HTML, Markdown and e-mail files in the document library: real files, real indexes,
citations naming the section, slide or lines; bad files refused with a message and nothing half-indexed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.chat.grounding import citation
from app.commands import docs
from app.documents.library import DocumentLibrary
from app.documents.search import format_passages
from tests.fixtures import office_docs as od
from tests.fixtures import pdf_factory as pf


@pytest.fixture()
def lib(tmp_path: Path) -> DocumentLibrary:
    return DocumentLibrary(tmp_path / "data")


def _add(lib: DocumentLibrary, tmp_path: Path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return lib.ingest_file(path)


def test_word_passages_cite_heading_and_paragraph(lib: DocumentLibrary, tmp_path: Path) -> None:
    result = _add(lib, tmp_path, "report.docx", od.word_report())
    assert (result.status, result.kind) == ("indexed", "docx")
    (hit,) = lib.search("Lisbon office record month", k=1)
    assert hit.source == "report.docx" and hit.locator == "3.2 Revenue ¶1"
    # The heading path travels with the passage, so a question naming the section finds it.
    assert hit.text.startswith("3 Results › 3.2 Revenue — ")
    assert format_passages([hit]).startswith("[1] report.docx › 3.2 Revenue ¶1:")
    cite = citation(1, hit)
    assert cite["kind"] == "docx"
    page = lib.page_text(hit.doc_id, hit.page)
    assert "Lisbon office" in page[hit.char_start:hit.char_end]


def test_slides_are_cited_by_number_with_notes_and_tables(lib: DocumentLibrary, tmp_path: Path) -> None:
    result = _add(lib, tmp_path, "deck.pptx", od.slide_deck())
    assert (result.status, result.pages) == ("indexed", 3)
    (hit,) = lib.search("warehouse fire", k=1)
    assert (hit.page, hit.locator) == (2, "slide 2")
    assert "Sales by region" in hit.text and "North | 1,200" in hit.text
    assert format_passages([hit]).startswith("[1] deck.pptx, slide 2:")


def test_html_scripts_and_iframes_are_dropped_never_run(lib: DocumentLibrary, tmp_path: Path) -> None:
    result = _add(lib, tmp_path, "handbook.html", od.HTML_PAGE.encode())
    assert (result.status, result.kind) == ("indexed", "html")
    assert lib.get(result.id).title == "Team handbook"
    (hit,) = lib.search("meals refunded per day", k=1)
    assert hit.locator == "Expenses ¶1" and "<with receipts>" in hit.text
    everything = " ".join(lib.page_text(result.id, n) for n in range(1, result.pages + 1))
    assert "INJECTED" not in everything and "alert" not in everything and "iframe text" not in everything


def test_markdown_cites_heading_and_line_range(lib: DocumentLibrary, tmp_path: Path) -> None:
    result = _add(lib, tmp_path, "notes.md", od.MARKDOWN_NOTES.encode("utf-16"))  # encoding sniffed (BOM)
    assert (result.status, result.kind) == ("indexed", "text")
    (hit,) = lib.search("proxy port", k=1)
    assert hit.locator == "Setup (lines 7–12)"
    assert format_passages([hit]).startswith("[1] notes.md › Setup (lines 7–12):")
    lines = od.MARKDOWN_NOTES.split("\n")
    assert lines[11] == "The proxy port is 8443."  # line 12 of the file


def test_email_body_and_attachments_become_documents(lib: DocumentLibrary, tmp_path: Path) -> None:
    pdf = pf.text_pdf([["Attached minutes: the offsite is in Porto."]])
    result = _add(lib, tmp_path, "mail.eml", od.email_message(("minutes.pdf", pdf)))
    assert (result.status, result.kind) == ("indexed", "email")
    (hit,) = lib.search("travel budget 2025", k=1)
    assert hit.source == "mail.eml" and hit.locator == "Budget for 2025 ¶1"
    names = {d.name: d.kind for d in lib.list_documents()}
    assert names == {"mail.eml": "email", "mail.eml › minutes.pdf": "pdf"}
    (attached,) = lib.search("offsite Porto", k=1)
    assert attached.source == "mail.eml › minutes.pdf" and attached.page == 1


def test_many_attachments_are_capped_with_a_message(lib: DocumentLibrary, tmp_path: Path) -> None:
    result = _add(lib, tmp_path, "big.eml", od.email_message(extra_attachments=23))
    assert result.status == "indexed"
    assert any("3 more attachment(s)" in w for w in result.warnings)
    assert len(lib.list_documents()) == 1 + 20


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("secret.docx", od.encrypted_office(), "secret.docx is password-protected"),
        ("fake.docx", od.zip_of({"photo.jpg": b"\xff\xd8\xff", "readme.txt": b"hi"}),
         "fake.docx is a zip archive of something else, not a Word document"),
        ("broken.pptx", od.word_report()[:3000], "broken.pptx is damaged"),
    ],
)
def test_bad_office_files_say_what_is_wrong_and_leave_nothing(
    lib: DocumentLibrary, tmp_path: Path, name: str, data: bytes, says: str
) -> None:
    result = _add(lib, tmp_path, name, data)
    assert result.status == "error" and result.error.startswith(says), result.error
    assert lib.list_documents() == [] and not list((tmp_path / "data" / "documents").iterdir())


def test_content_decides_the_kind_not_the_name(lib: DocumentLibrary, tmp_path: Path) -> None:
    result = _add(lib, tmp_path, "slides.pptx", od.word_report())
    assert (result.status, result.kind) == ("indexed", "docx")


def test_macro_enabled_word_is_read_and_its_macros_are_not(lib: DocumentLibrary, tmp_path: Path) -> None:
    result = _add(lib, tmp_path, "report.docm", od.macro_enabled(od.word_report()))
    assert (result.status, result.kind) == ("indexed", "docx")
    (hit,) = lib.search("hiring frozen", k=1)
    assert hit.locator == "4 Outlook ¶1"
    assert "AutoOpen" not in " ".join(lib.page_text(result.id, n) for n in range(1, result.pages + 1))


def test_reembedding_keeps_section_locators(lib: DocumentLibrary, tmp_path: Path) -> None:
    result = _add(lib, tmp_path, "notes.md", od.MARKDOWN_NOTES.encode())
    doc = lib.get(result.id)
    again = lib._reembed(doc, lambda *a, **k: None, 0.0)
    assert again.status == "indexed"
    (hit,) = lib.search("proxy port", k=1)
    assert hit.locator == "Setup (lines 7–12)" and hit.text.startswith("Notes › Setup — ")


def test_cli_ingests_a_folder_of_office_web_text_and_mail_files(lib: DocumentLibrary, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    for name, data in (("report.docx", od.word_report()), ("deck.pptx", od.slide_deck()),
                       ("handbook.html", od.HTML_PAGE.encode()), ("notes.md", od.MARKDOWN_NOTES.encode()),
                       ("mail.eml", od.email_message())):
        (folder / name).write_bytes(data)
    services = SimpleNamespace(documents=lib)
    parser = argparse.ArgumentParser()
    docs.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ingest", str(folder), "--json"])
    assert args.handler(args, services) == 0
    files = {Path(f["path"]).name: (f["kind"], f["status"]) for f in json.loads(capsys.readouterr().out)["files"]}
    assert files == {"report.docx": ("docx", "indexed"), "deck.pptx": ("pptx", "indexed"),
                     "handbook.html": ("html", "indexed"), "notes.md": ("text", "indexed"),
                     "mail.eml": ("email", "indexed")}
    args = parser.parse_args(["search", "warehouse fire", "--k", "1"])
    assert args.handler(args, services) == 0
    assert capsys.readouterr().out.startswith("1. deck.pptx slide 2 (")
