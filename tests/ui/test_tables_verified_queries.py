"""The Tables page's "Mark as correct" button and "Show alternatives" expander, under AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.tables.service import TablesService
from storage.sql_examples import SqlExampleStore
from storage.tables import TableStore
from tests.fixtures import paths
from tests.fixtures.fakes import ScriptedModel
from tests.fixtures.records import records_of
from tests.fixtures.ui_services import serve_with

PAGE = paths.ROOT / "pages" / "tables.py"
BY_REGION = "SELECT region, sum(revenue) AS revenue FROM sales GROUP BY region ORDER BY revenue DESC"
FIRST_ROW = "SELECT region, revenue FROM sales LIMIT 1"


def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replies: list[str], candidates: int = 1):
    service = TablesService(TableStore(tmp_path / "tables.duckdb"), model=ScriptedModel(replies))
    service.load_file(paths.FIXTURES / "tables" / "sales.csv")
    services = serve_with(monkeypatch, tmp_path / "data", tables=service)
    services.settings = services.settings.model_copy(update={"sql_candidates": candidates, "sql_checks": False})
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    at.text_input(key="tables.question").input("Total revenue by region?")
    next(b for b in at.button if b.label == "Ask").click().run()
    assert not at.exception
    return at, service, tmp_path / "data"


def test_mark_as_correct_stores_the_question_and_sql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at, service, data_dir = page(tmp_path, monkeypatch, [f"```sql\n{BY_REGION}\n```"])
    try:
        at.button(key="tables.result.mark").click().run()
        assert not at.exception
        assert any("Stored as a verified query" in s.value for s in at.success)
        (stored,) = SqlExampleStore(data_dir / "sql_examples.sqlite").list()
        assert (stored.question, stored.sql) == ("Total revenue by region?", BY_REGION)
        (record,) = records_of(data_dir, "sql_example_added")
        assert record["status"] == "ok" and record["origin"] == "tables page"
    finally:
        service.close()


def test_alternatives_show_when_candidates_disagree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at, service, _ = page(tmp_path, monkeypatch, [f"```sql\n{BY_REGION}\n```", f"```sql\n{FIRST_ROW}\n```"],
                          candidates=2)
    try:
        expander = next(e for e in at.expander if "Show alternatives" in e.label)
        shown = [c.value for c in expander.code]
        assert BY_REGION in shown and FIRST_ROW in shown
    finally:
        service.close()
