"""DuckDB's binder and parser errors, explained in words by the SQL service (real DuckDB, real files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import app.cli as cli
from app.tables.errors import explain_sql_error
from app.tables.service import TablesService
from storage.tables import TableStore
from tests.fixtures import paths
from tests.fixtures.fakes import ScriptedModel

FIXTURES = paths.FIXTURES / "tables"


@pytest.fixture()
def service(tmp_path: Path):
    """sales (from the fixture) and a regions table built here; both have a `region` column."""
    regions = tmp_path / "regions.csv"
    regions.write_text("Region,Manager\nNorth,Ann\nSouth,Bo\nEast,Cy\n", encoding="utf-8")
    svc = TablesService(TableStore(tmp_path / "tables.duckdb"), model=ScriptedModel([]))
    svc.load_file(FIXTURES / "sales.csv")
    svc.load_file(regions)
    yield svc
    svc.close()


def test_ambiguous_column_says_which_tables_and_how_to_write_it(service: TablesService) -> None:
    answer = service.run_sql("SELECT region FROM sales JOIN regions ON sales.region = regions.region")
    assert answer.error is not None and "Binder" not in answer.error
    assert "`region` is in more than one table" in answer.error
    assert "`sales`" in answer.error and "`regions`" in answer.error
    assert "table.column" in answer.error_hint and "sales.region" in answer.error_hint
    # DuckDB's own words stay available for experts.
    assert "Ambiguous reference to column name" in answer.error_detail


def test_a_column_of_another_table_points_at_that_table(service: TablesService) -> None:
    answer = service.run_sql("SELECT manager FROM sales")
    assert answer.error == "No table in the query has a column `manager`."
    assert "`regions`" in answer.error_hint and "JOIN" in answer.error_hint
    assert "Referenced column" in answer.error_detail


def test_a_misspelt_column_suggests_the_real_one(service: TablesService) -> None:
    qualified = service.run_sql("SELECT sales.revenu FROM sales")
    assert qualified.error == "Table `sales` has no column `revenu`."
    assert "`revenue`" in qualified.error_hint
    assert 'does not have a column named "revenu"' in qualified.error_detail

    bare = service.run_sql("SELECT revnue FROM sales")
    assert "`revnue`" in bare.error and "`revenue`" in bare.error_hint


def test_missing_table_grouping_syntax_and_types_are_explained(service: TablesService) -> None:
    table = service.run_sql("SELECT * FROM sale")
    assert table.error == "There is no table `sale`." and "`sales`" in table.error_hint
    grouped = service.run_sql("SELECT region, count(*) FROM sales")
    assert "`region`" in grouped.error and "GROUP BY" in grouped.error_hint
    syntax = service.run_sql("SELEC region FROM sales")
    assert "syntax error near `SELEC`" in syntax.error and "Parser Error" in syntax.error_detail
    text_sum = service.run_sql("SELECT sum(region) FROM sales")
    assert "text column" in text_sum.error and "CAST" in text_sum.error_hint


def test_refusals_keep_their_own_message_and_hint(service: TablesService) -> None:
    answer = service.run_sql("SELECT 1; SELECT 2")
    assert answer.error.startswith("Only one SQL statement") and answer.error_hint == "Remove the extra statements."
    assert answer.error_detail == ""  # not DuckDB's error: nothing more to show


def test_an_error_nothing_explains_keeps_duckdbs_line_without_its_category() -> None:
    explained = explain_sql_error("Out of Range Error: Overflow in multiplication of INT32 (2147483647 * 2)!")
    assert explained.message == "The query failed: Overflow in multiplication of INT32 (2147483647 * 2)!"
    assert explained.hint and explained.detail.startswith("Out of Range Error")


def test_a_question_whose_repairs_run_out_shows_the_explanation(service: TablesService) -> None:
    service._model = ScriptedModel(["SELECT region FROM sales JOIN regions ON sales.region = regions.region"] * 3)
    answer = service.ask("Revenue by region and manager?")
    assert answer.attempts == 3
    assert "`region` is in more than one table" in answer.error
    assert "Ambiguous reference" in answer.error_detail
    # The model was repaired with DuckDB's own message, which is more precise for it.
    assert "Ambiguous reference" in service._model.sent[1][-1].content


def test_cli_prints_the_explanation_and_keeps_duckdbs_text_in_json(capsys, tmp_path: Path) -> None:
    def run(*argv: str) -> tuple[int, str]:
        code = cli.main(["--data-dir", str(tmp_path / "data"), *argv])
        return code, capsys.readouterr().out

    assert run("tables", "load", str(FIXTURES / "sales.csv"))[0] == 0
    code, out = run("sql", "--raw", "SELECT sales.revenu FROM sales")
    assert code == 1 and "error: Table `sales` has no column `revenu`." in out and "`revenue`" in out
    code, out = run("sql", "--raw", "SELECT sales.revenu FROM sales", "--json")
    payload = json.loads(out)
    assert payload["error"] == "Table `sales` has no column `revenu`."
    assert "`revenue`" in payload["error_hint"] and "Binder Error" in payload["error_detail"]
