"""The Tables page under streamlit's AppTest, with a real TablesService and a scripted model."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.tables.service import TablesService
from storage.tables import TableStore
from tests.fixtures import paths
from tests.fixtures.fakes import ScriptedModel
from tests.fixtures.ui_services import serve_with

PAGE = paths.ROOT / "pages" / "tables.py"
FIXTURES = paths.FIXTURES / "tables"


@pytest.fixture()
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    model = ScriptedModel(["```sql\nSELECT region, sum(revenue) AS revenue FROM sales GROUP BY region "
                           "ORDER BY revenue DESC\n```", "East leads with 149.95."])
    svc = TablesService(TableStore(tmp_path / "tables.duckdb"), model=model)
    svc.load_file(FIXTURES / "sales.csv")
    serve_with(monkeypatch, tmp_path / "data", tables=svc)
    yield svc
    svc.close()


def test_page_renders_schema_and_answers_a_question(service: TablesService) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    assert not at.exception
    assert any("sales" in m.value for m in at.markdown)
    # Typed and clicked in one go, as in a browser: the form sends the text with the click.
    at.text_input(key="tables.question").input("Total revenue by region?")
    next(b for b in at.button if b.label == "Ask").click().run()
    assert not at.exception
    assert at.text_area(key="tables.sql").value.startswith("SELECT region")
    assert any("149.95" in m.value for m in at.markdown)
    assert at.dataframe and len(at.dataframe[-1].value) == 3


def test_edited_sql_is_checked_before_it_runs(service: TablesService) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    # Typed and clicked in one go, as in a browser: the form sends the text with the click.
    at.text_input(key="tables.question").input("Total revenue by region?")
    next(b for b in at.button if b.label == "Ask").click().run()
    at.text_area(key="tables.sql").input("DROP TABLE sales")
    next(b for b in at.button if b.label == "Run SQL").click()
    at.run()
    assert not at.exception
    assert any("Refused" in e.value for e in at.error)
    assert service.run_sql("SELECT count(*) FROM sales").rows == [[6]]
