"""How result numbers are formatted and which types a stored result has (real DuckDB results)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.tables.service import TablesService
from app.ui.results import infer_types, number_formats, unique_labels
from storage.tables import TableStore

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tables"


@pytest.fixture()
def service(tmp_path: Path):
    svc = TablesService(TableStore(tmp_path / "tables.duckdb"))
    svc.load_file(FIXTURES / "sales.csv")
    yield svc
    svc.close()


def _formats(service: TablesService, sql: str) -> dict[str, str]:
    answer = service.run_sql(sql)
    assert answer.error is None, answer.error
    return number_formats(answer.columns, answer.types, answer.rows)


def test_a_rounded_float_column_shows_its_decimals_on_every_row(service: TablesService) -> None:
    # 19.50 and 100.00 come back as the floats 19.5 and 100.0; every row must still show 2 decimals.
    sql = "SELECT product, round(sum(revenue), 2) AS revenue FROM sales GROUP BY product ORDER BY revenue"
    answer = service.run_sql(sql)
    assert any(isinstance(v, float) and v == round(v, 1) for _, v in answer.rows if v is not None)
    assert _formats(service, sql) == {"revenue": "%.2f"}


def test_decimal_columns_keep_their_scale(service: TablesService) -> None:
    sql = "SELECT region, CAST(sum(revenue) AS DECIMAL(12,3)) AS revenue, count(*) AS orders FROM sales GROUP BY 1"
    assert _formats(service, sql) == {"revenue": "%.3f"}  # the integer count needs no format


def test_float_noise_from_arithmetic_does_not_add_decimals(service: TablesService) -> None:
    # 0.1 + 0.2 is 0.30000000000000004 in floating point: shown as the 1 decimal it really has.
    answer = service.run_sql("SELECT 0.1::DOUBLE + 0.2::DOUBLE AS x, 1.0::DOUBLE / 3 AS third")
    assert repr(answer.rows[0][0]) != "0.3"
    formats = number_formats(answer.columns, answer.types, answer.rows)
    assert formats["x"] == "%.1f"
    # An unrounded ratio has no "decimals it has": Streamlit's own number display is kept for it.
    assert "third" not in formats


def test_types_are_read_from_values_when_a_result_was_stored_without_them(service: TablesService) -> None:
    answer = service.run_sql("SELECT order_date, region, units, revenue FROM sales ORDER BY order_id")
    assert infer_types(answer.columns, answer.rows) == ["DATE", "VARCHAR", "BIGINT", "DOUBLE"]
    assert number_formats(answer.columns, infer_types(answer.columns, answer.rows), answer.rows) == \
        {"revenue": "%.2f"}


def test_duplicate_column_names_get_distinct_labels(service: TablesService) -> None:
    answer = service.run_sql("SELECT s.region, r.region FROM sales s JOIN sales r USING (order_id) LIMIT 1")
    assert unique_labels(answer.columns) == ["region", "region (2)"]
