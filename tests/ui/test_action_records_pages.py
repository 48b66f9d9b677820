"""Finding 7 (issue 17) on the pages: running SQL on the Tables page (hand-written or model-written), removing a
loaded file there, deleting a document and changing settings each leave a request record of their kind.
Records are read straight from records.sqlite."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.documents.library import DocumentLibrary
from app.tables.service import TablesService
from storage.tables import TableStore
from tests.fixtures import paths
from tests.fixtures.fakes import ScriptedModel
from tests.fixtures.pdf_factory import text_pdf, write
from tests.fixtures.records import records_of as records
from tests.fixtures.ui_services import serve_with

SQL = "SELECT region, sum(revenue) AS revenue FROM sales GROUP BY region ORDER BY revenue DESC"




def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


@pytest.fixture()
def tables_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    svc = TablesService(TableStore(tmp_path / "tables.duckdb"), model=ScriptedModel([f"```sql\n{SQL}\n```"] * 3))
    svc.load_file(paths.FIXTURES / "tables" / "sales.csv")
    serve_with(monkeypatch, tmp_path / "data", tables=svc)
    yield tmp_path / "data"
    svc.close()


def test_sql_on_the_tables_page_is_recorded(tables_page):
    at = AppTest.from_file(str(paths.ROOT / "pages" / "tables.py"), default_timeout=60).run()
    at.text_input(key="tables.question").input("Total revenue by region?")
    _button(at, "Ask").click().run()
    assert not at.exception
    at.text_area(key="tables.sql").input("SELECT count(*) AS n FROM sales")
    _button(at, "Run SQL").click().run()
    assert not at.exception

    asked, ran = records(tables_page, "sql")
    assert asked["model_written"] is True and asked["question"] == "Total revenue by region?"
    assert asked["sql"] == SQL and asked["origin"] == "tables page" and asked["status"] == "ok"
    assert ran["model_written"] is False and ran["sql"] == "SELECT count(*) AS n FROM sales"
    assert ran["row_count"] == 1


def test_removing_a_loaded_file_on_the_tables_page_is_recorded(tables_page):
    at = AppTest.from_file(str(paths.ROOT / "pages" / "tables.py"), default_timeout=60).run()
    doomed = next(s for s in at.selectbox if s.label == "Remove a loaded file and its tables")
    doomed.set_value(doomed.options[0]).run()
    at.button(key="tables.remove").click().run()
    assert not at.exception
    (record,) = records(tables_page, "table_deleted")
    assert record["tables"] == ["sales"] and record["file_name"] == "sales.csv"


def test_deleting_a_document_on_the_documents_page_is_recorded(tmp_path, monkeypatch):
    lib = DocumentLibrary(tmp_path / "library")
    pdf = write(tmp_path / "handbook.pdf", text_pdf([["Refunds", "Refunds are paid within 30 days."]]))
    doc_id = lib.ingest_file(pdf).id
    serve_with(monkeypatch, tmp_path / "data", documents=lib)
    at = AppTest.from_file(str(paths.ROOT / "pages" / "documents.py"), default_timeout=60).run()
    _button(at, "Delete").click().run()
    assert not at.exception
    assert lib.list_documents() == []
    (record,) = records(tmp_path / "data", "document_deleted")
    assert record["doc_id"] == doc_id and record["name"] == "handbook.pdf"


def test_a_settings_change_is_recorded_field_by_field(data_dir):
    at = AppTest.from_file(paths.ENTRY, default_timeout=60)
    at.switch_page("../pages/settings.py").run()
    at.text_input(key="settings.user").set_value("analyst-7")
    _button(at, "Save settings").click().run()
    assert not at.exception
    (record,) = records(data_dir, "settings_changed")
    assert record["changed"]["user"]["new"] == "analyst-7"
    assert record["changed"]["user"]["old"] != "analyst-7"
    assert list(record["changed"]) == ["user"]
