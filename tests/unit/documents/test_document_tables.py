"""Tables inside PDFs, Word, PowerPoint and HTML files become typed DuckDB tables with their provenance;
tables that cannot be read cleanly are skipped with the reason kept, and their text stays searchable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.documents.doc_tables import source_line
from app.documents.library import DocumentLibrary
from multimodal.doc_tables import parse_number
from storage.document_tables import DocumentTableRegistry
from storage.tables import TableStore
from tests.fixtures import office_docs as od


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[TableStore]:
    tables = TableStore(tmp_path / "data" / "tables.duckdb")
    yield tables
    tables.close()


@pytest.fixture()
def lib(tmp_path: Path, store: TableStore) -> DocumentLibrary:
    return DocumentLibrary(tmp_path / "data", tables=lambda: store)


def _add(lib: DocumentLibrary, tmp_path: Path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return lib.ingest_file(path)


def _rows(store: TableStore, sql: str) -> list[tuple]:
    with store.engine() as eng, eng.cursor() as cur:
        return cur.execute(sql).fetchall()


@pytest.mark.parametrize(("cell", "number"), [("€1,234.5", 1234.5), ("1,410.2¹", 1410.2), ("14.2%", 14.2),
                                              ("(15)", -15.0), ("$980", 980.0), ("1 234", 1234.0),
                                              ("12.5†", 12.5), ("7 [2]", 7.0), ("−3", -3.0), ("Q3", None)])
def test_cells_are_parsed_to_numbers(cell: str, number: float | None) -> None:
    assert parse_number(cell) == number


def test_a_pdf_table_becomes_a_typed_table_named_after_the_page(
    lib: DocumentLibrary, store: TableStore, tmp_path: Path
) -> None:
    pdf = od.table_pdf([(["Q3 report", "Sales were strong."], None), (["Revenue by region"], od.REVENUE_ROWS)])
    result = _add(lib, tmp_path, "q3_report.pdf", pdf)
    assert result.status == "indexed" and result.warnings == ()
    assert _rows(store, "SELECT region, q2_revenue, q3_revenue, growth FROM q3_report_p2_t1 ORDER BY region") == [
        ("APAC", 980.0, 1021.0, 4.2), ("Americas", 2310.0, -15.0, -0.6), ("EMEA", 1234.5, 1410.2, 14.2)]
    registry = DocumentTableRegistry.in_data_dir(tmp_path / "data")
    (origin,) = registry.for_document(result.id)
    assert (origin.location, origin.location_kind, origin.table_index, origin.status) == (2, "page", 1, "loaded")
    assert origin.doc_sha256.startswith(result.id) and origin.bbox is not None and len(origin.bbox) == 4
    assert origin.raw[1] == ["EMEA", "€1,234.5", "1,410.2¹", "14.2%"]  # the raw text is kept
    assert source_line(registry, ["q3_report_p2_t1"]) == "from q3_report.pdf, page 2"
    # The table is still text in the document: a passage search finds it on its page.
    (hit,) = lib.search("EMEA revenue", k=1)
    assert hit.page == 2


def test_word_slide_and_html_tables_are_loaded_with_their_place(
    lib: DocumentLibrary, store: TableStore, tmp_path: Path
) -> None:
    _add(lib, tmp_path, "report.docx", od.word_report())
    _add(lib, tmp_path, "deck.pptx", od.slide_deck())
    _add(lib, tmp_path, "handbook.html", od.HTML_PAGE.encode())
    assert _rows(store, "SELECT q3_revenue FROM report_sec3_t1 WHERE region = 'EMEA'") == [(1410.2,)]
    assert _rows(store, "SELECT sum(units) FROM deck_s2_t1") == [(2150,)]
    assert _rows(store, "SELECT item FROM handbook_sec2_t1 WHERE limit_ = 150") == [("Hotel",)]
    registry = DocumentTableRegistry.in_data_dir(tmp_path / "data")
    assert source_line(registry, ["deck_s2_t1", "report_sec3_t1"]) == "from deck.pptx, slide 2; report.docx, section 3"


def test_tables_that_cannot_be_read_cleanly_are_skipped_with_the_reason(
    lib: DocumentLibrary, store: TableStore, tmp_path: Path
) -> None:
    from docx import Document

    doc = Document()
    doc.add_paragraph("Figures below.")
    merged = doc.add_table(rows=3, cols=3)
    merged.cell(0, 0).merge(merged.cell(0, 1))
    for r in (1, 2):
        for c in range(3):
            merged.cell(r, c).text = str(r * c)
    lonely = doc.add_table(rows=1, cols=2)
    lonely.cell(0, 0).text, lonely.cell(0, 1).text = "Only", "a header"
    path = tmp_path / "odd.docx"
    doc.save(str(path))
    result = lib.ingest_file(path)
    assert result.status == "indexed"
    (warning,) = result.warnings
    assert "2 table(s) in odd.docx were not loaded as data" in warning and "merged cells" in warning
    assert "fewer than 2 rows" in warning
    reasons = [(o.status, o.reason) for o in DocumentTableRegistry.in_data_dir(tmp_path / "data").for_document(
        result.id)]
    assert [s for s, _ in reasons] == ["skipped", "skipped"]
    assert store.sources() == []


def test_duplicate_and_empty_headers_get_unique_names(lib: DocumentLibrary, store: TableStore, tmp_path: Path) -> None:
    rows = [["Year", "Value", "Value", ""], ["2023", "1,000", "5%", "a"], ["2024", "1,250", "6%", "b"]]
    result = _add(lib, tmp_path, "dups.docx", od.word_report(rows))
    assert result.status == "indexed"
    names = store.names()["dups_sec3_t1"]
    assert [(n.original, n.stored) for n in names if n.kind == "column"] == [
        ("Year", "year"), ("Value", "value"), ("Value_2", "value_2"), ("column_4", "column_4")]
    assert _rows(store, "SELECT sum(value), max(value_2) FROM dups_sec3_t1") == [(2250, 6.0)]


def test_deleting_a_document_removes_its_tables(lib: DocumentLibrary, store: TableStore, tmp_path: Path) -> None:
    kept = _add(lib, tmp_path, "deck.pptx", od.slide_deck())
    gone = _add(lib, tmp_path, "report.docx", od.word_report())
    lib.delete(gone.id)
    assert [t.name for t in store.tables()] == ["deck_s2_t1"]
    assert DocumentTableRegistry.in_data_dir(tmp_path / "data").for_document(gone.id) == []
    assert lib.get(kept.id).status == "indexed"
