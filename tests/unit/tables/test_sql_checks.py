"""Checks of the question against the SQL and its result, and the one repair a failed check triggers."""

from __future__ import annotations

from pathlib import Path

from app.tables.checks import check_result, grouping_phrase, prompt_hints
from app.tables.service import TablesService
from storage.tables_engine import ColumnInfo, QueryResult, TableInfo
from tests.fixtures.fakes import ScriptedModel

TRACKS = TableInfo("tracks", (ColumnInfo("name", "VARCHAR"), ColumnInfo("milliseconds", "INTEGER"),
                              ColumnInfo("bytes", "INTEGER")), 10)


def result(columns: list[str], types: list[str], rows: list[list]) -> QueryResult:
    return QueryResult(columns, types, rows)


def kinds(question: str, sql: str, res: QueryResult, tables: tuple[TableInfo, ...] = ()) -> list[str]:
    return [v.check for v in check_result(question, sql, res, tables)]


def test_a_limit_that_cuts_the_groups_of_a_per_question_is_flagged() -> None:
    one_row = result(["country", "n"], ["VARCHAR", "BIGINT"], [["France", 2]])
    question = "How many customers are there per country?"
    assert kinds(question, "SELECT country, count(*) n FROM c GROUP BY country LIMIT 1", one_row) == ["limit"]
    assert kinds(question, "SELECT country, count(*) n FROM c GROUP BY country", one_row) == []
    # "for each year, which X had the highest": one row per year, not one row
    assert kinds("For each year, which product sold the most?", "SELECT ... ORDER BY 2 DESC LIMIT 1",
                 one_row) == ["limit"]
    # "top 5 customers by revenue" asks for the LIMIT
    assert grouping_phrase("Top 5 customers by revenue") is None
    assert grouping_phrase("Revenue by region") == "Revenue by region"
    assert grouping_phrase("Products made by maker B") is None


def test_requested_rounding_is_checked_in_the_values() -> None:
    question = "Average price per maker, rounded to 2 decimals"
    unrounded = result(["maker", "avg"], ["VARCHAR", "DOUBLE"], [["A", 10.123456], ["B", 3.5]])
    rounded = result(["maker", "avg"], ["VARCHAR", "DOUBLE"], [["A", 10.12], ["B", 3.5]])
    assert kinds(question, "SELECT maker, avg(price) FROM p GROUP BY maker", unrounded) == ["rounding"]
    assert kinds(question, "SELECT maker, round(avg(price), 2) FROM p GROUP BY maker", rounded) == []


def test_requested_order_is_checked_in_the_rows() -> None:
    rows = [["A", 1], ["B", 5], ["C", 3]]
    unsorted = result(["name", "total"], ["VARCHAR", "BIGINT"], rows)
    assert kinds("Total per name, highest first", "SELECT ...", unsorted) == ["order"]
    ranked = result(["name", "total"], ["VARCHAR", "BIGINT"], sorted(rows, key=lambda r: -r[1]))
    assert kinds("Total per name, highest first", "SELECT ...", ranked) == []
    months = result(["month", "n"], ["VARCHAR", "BIGINT"], [["April", 3], ["February", 1], ["January", 2]])
    assert kinds("Orders per month in calendar order", "SELECT ...", months) == ["order"]
    in_order = result(["month", "n"], ["VARCHAR", "BIGINT"], [["January", 2], ["February", 1], ["April", 3]])
    assert kinds("Orders per month in calendar order", "SELECT ...", in_order) == []
    names = result(["name"], ["VARCHAR"], [["Bob"], ["Ann"]])
    assert kinds("List the names alphabetically", "SELECT name FROM c", names) == ["order"]


def test_units_of_the_question_and_the_column_must_match() -> None:
    res = result(["name"], ["VARCHAR"], [["Song"]])
    question = "Which tracks are longer than 10 minutes?"
    assert kinds(question, "SELECT name FROM tracks WHERE milliseconds > 10", res, (TRACKS,)) == ["units"]
    assert kinds(question, "SELECT name FROM tracks WHERE milliseconds > 10 * 60000", res, (TRACKS,)) == []
    hints = prompt_hints(question, [TRACKS])
    assert any("milliseconds" in h and "60000" in h for h in hints)
    assert any("bytes" in h for h in prompt_hints("Tracks larger than 5 MB", [TRACKS]))


def test_a_failed_check_triggers_one_repair_with_the_reason(shop: Path) -> None:
    model = ScriptedModel([
        "```sql\nSELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY n DESC LIMIT 1\n```",
        "```sql\nSELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY n DESC\n```"])
    service = TablesService.open_database(shop, model=model, checks=True)
    try:
        answer = service.ask("How many customers are there per country?")
    finally:
        service.close()
    assert answer.error is None and answer.attempts == 2
    assert sorted(answer.rows) == [["France", 2], ["Spain", 1]]
    assert "LIMIT 1" in model.sent[1][-1].content and "cuts the groups" in model.sent[1][-1].content
    assert "one row per group" in model.sent[0][-1].content  # the reminder was in the first prompt too


def test_checks_off_keeps_todays_behaviour(shop: Path) -> None:
    model = ScriptedModel(["```sql\nSELECT country, count(*) AS n FROM customers GROUP BY country LIMIT 1\n```"])
    service = TablesService.open_database(shop, model=model)
    try:
        answer = service.ask("How many customers are there per country?")
    finally:
        service.close()
    assert answer.attempts == 1 and len(answer.rows) == 1


def test_a_value_already_in_the_columns_unit_counts_as_converted() -> None:
    res = result(["name"], ["VARCHAR"], [["Song"]])
    assert kinds("Tracks longer than 10 minutes", "SELECT name FROM tracks WHERE milliseconds > 600000", res,
                 (TRACKS,)) == []
    assert kinds("Tracks larger than 5 MB", "SELECT name FROM tracks WHERE bytes > 5242880", res, (TRACKS,)) == []
    assert kinds("Tracks larger than 5 MB", "SELECT name FROM tracks WHERE bytes > 5", res, (TRACKS,)) == ["units"]
