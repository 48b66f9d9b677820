"""The Tables page as a new user meets it (Streamlit AppTest, a real TablesService on real DuckDB files).

One click or Enter asks; the SQL editor is there from the start; DuckDB's errors are explained; charts keep
the query's order; numbers keep their decimals; load errors name the file; renamed names are shown.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import duckdb
import pytest
from openpyxl import Workbook
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from app.tables.service import TablesService
from storage.tables import TableStore
from tests.fixtures import paths
from tests.fixtures.fakes import ScriptedModel
from tests.fixtures.ui_services import serve_with

PAGE = paths.ROOT / "pages" / "tables.py"
FIXTURES = paths.FIXTURES / "tables"
RANKED_SQL = ("SELECT region, round(sum(revenue), 2) AS revenue FROM sales GROUP BY region "
              "ORDER BY revenue ASC")  # ascending: South, North, East is not the alphabetical order


def _serve(monkeypatch: pytest.MonkeyPatch, svc: TablesService, data_dir: Path) -> None:
    serve_with(monkeypatch, data_dir, tables=svc)


@pytest.fixture()
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    model = ScriptedModel([f"```sql\n{RANKED_SQL}\n```"] * 3)
    svc = TablesService(TableStore(tmp_path / "tables.duckdb"), model=model)
    svc.load_file(FIXTURES / "sales.csv")
    _serve(monkeypatch, svc, tmp_path / "data")
    yield svc
    svc.close()


def _page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception
    return at


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _run_sql(at: AppTest, sql: str) -> AppTest:
    at.text_area(key="tables.sql").input(sql)
    _button(at, "Run SQL").click().run()
    assert not at.exception
    return at


def _chart(at: AppTest) -> tuple[dict, list[dict]]:
    """The drawn chart's Vega-Lite spec and its data rows, in the order they were sent to the browser."""
    (chart,) = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    frame = dataframe_util.convert_arrow_bytes_to_pandas_df(chart.proto.datasets[0].data.data)
    return spec, frame.to_dict("records")


def _column_formats(at: AppTest, frame_index: int = -1) -> dict[str, str]:
    config = json.loads(at.dataframe[frame_index].proto.columns or "{}")
    return {name: c.get("type_config", {}).get("format") for name, c in config.items()}


def test_one_click_on_ask_sends_what_was_typed(service: TablesService) -> None:
    at = _page()
    # Typed and clicked without anything in between: a browser user cannot click a disabled button, so
    # AppTest refuses the click if Ask is only enabled after the text is committed.
    at.text_input(key="tables.question").input("Revenue by region, lowest first?")
    _button(at, "Ask").click().run()
    assert not at.exception
    assert at.text_area(key="tables.sql").value == RANKED_SQL
    assert at.dataframe and list(at.dataframe[-1].value["region"]) == [
        row[0] for row in service.run_sql(RANKED_SQL).rows]


def test_enter_in_the_question_box_submits(service: TablesService) -> None:
    at = _page()
    box = at.text_input(key="tables.question")
    form = next(block for block in at.main.children.values() if block.type == "form" and
                block.proto.form.form_id == box.form_id)
    assert form.proto.form.enter_to_submit  # Enter in a form's text box presses its submit button


def test_asking_with_an_empty_box_says_what_to_do(service: TablesService) -> None:
    at = _page()
    _button(at, "Ask").click().run()
    assert not at.exception
    assert any("Type a question" in w.value for w in at.warning)


def test_the_sql_editor_is_there_before_any_question(service: TablesService) -> None:
    at = _page()
    assert at.text_area(key="tables.sql").value == ""
    _run_sql(at, "SELECT region, units FROM sales WHERE units IS NOT NULL ORDER BY order_id")
    expected = service.run_sql("SELECT region, units FROM sales WHERE units IS NOT NULL ORDER BY order_id")
    assert at.dataframe[-1].value.values.tolist() == expected.rows
    assert not at.error


def test_running_an_empty_editor_says_what_to_do(service: TablesService) -> None:
    at = _page()
    _button(at, "Run SQL").click().run()
    assert not at.exception and any("Write a query first" in w.value for w in at.warning)


def test_an_ambiguous_column_is_explained_and_duckdbs_text_is_a_detail(service: TablesService,
                                                                        tmp_path: Path) -> None:
    regions = tmp_path / "regions.csv"
    regions.write_text("Region,Manager\nNorth,Ann\nSouth,Bo\n", encoding="utf-8")
    service.load_file(regions)
    at = _run_sql(_page(), "SELECT region, manager FROM sales JOIN regions ON sales.region = regions.region")
    (error,) = at.error
    assert "`region` is in more than one table" in error.value and "table.column" in error.value
    assert "Binder Error" not in error.value and "Ambiguous reference" not in error.value
    detail = next(e for e in at.expander if e.label == "DuckDB's message")
    assert any("Ambiguous reference to column name" in c.value for c in detail.code)


def test_the_chart_keeps_the_querys_row_order(service: TablesService) -> None:
    at = _run_sql(_page(), RANKED_SQL)
    spec, data = _chart(at)
    ranked = [row[0] for row in service.run_sql(RANKED_SQL).rows]
    assert ranked != sorted(ranked)  # the test would prove nothing if ranked were alphabetical
    assert spec["encoding"]["x"]["field"] == "region"
    # sort: null is Vega-Lite's "keep the data order"; leaving it out sorts the axis alphabetically.
    assert "sort" in spec["encoding"]["x"] and spec["encoding"]["x"]["sort"] is None
    assert [row["region"] for row in data] == ranked


def test_numbers_keep_the_decimals_of_the_result(service: TablesService) -> None:
    at = _run_sql(_page(), RANKED_SQL)
    assert _column_formats(at)["revenue"] == "%.2f"  # 19.5 shows as 19.50, like the other rows
    assert at.dataframe[-1].value["revenue"].dtype.kind == "f"  # numbers stay numbers (no text mangling)

    at = _run_sql(at, "SELECT region, CAST(sum(revenue) AS DECIMAL(10,3)) AS revenue FROM sales GROUP BY 1")
    assert _column_formats(at)["revenue"] == "%.3f"


def test_an_upload_that_cannot_load_names_the_file(service: TablesService) -> None:
    at = _page()
    at.file_uploader[0].upload("Q3 sales.parquet", b"PAR1" + b"not parquet" * 10, "application/octet-stream")
    at.run()
    assert not at.exception
    (error,) = at.error
    assert "Q3 sales.parquet" in error.value and "upload" not in error.value.replace("Q3 sales", "")


def test_an_uploaded_workbook_loads_and_its_renamed_names_are_shown(service: TablesService) -> None:
    wb = Workbook()
    wb.active.append(["Region Name", "Total Revenue ($)"])
    wb.active.append(["North", 195.10])
    buffer = io.BytesIO()
    wb.save(buffer)
    at = _page()
    at.file_uploader[0].upload("Q3 Sales.xlsx", buffer.getvalue(),
                               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    at.run()
    assert not at.exception and not at.error
    assert any("Q3 Sales.xlsx: q3_sales" in s.value for s in at.success)
    mapping = next(df.value for df in at.dataframe if "name in the file" in df.value.columns
                   and "Total Revenue ($)" in df.value["name in the file"].tolist())
    pairs = dict(zip(mapping["name in the file"], mapping["column (use in SQL)"], strict=True))
    assert pairs == {"Region Name": "region_name", "Total Revenue ($)": "total_revenue"}
    notes = " ".join(c.value for c in at.caption)
    assert "Table `Q3 Sales` is stored as `q3_sales`" in notes and "2 of 2 column name(s)" in notes


def test_a_database_from_before_names_were_recorded_opens_on_the_page(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA app_meta")
    con.execute("CREATE TABLE app_meta._sources (sha256 VARCHAR PRIMARY KEY, file_name VARCHAR, kind VARCHAR, "
                "size_bytes BIGINT, loaded_at TIMESTAMP)")
    con.execute("CREATE TABLE app_meta._tables (table_name VARCHAR PRIMARY KEY, sha256 VARCHAR, origin VARCHAR, "
                "row_count BIGINT)")
    con.execute("CREATE TABLE old_sales AS SELECT 'North' AS region, 3 AS units")
    con.execute("INSERT INTO app_meta._sources VALUES ('abc', 'Old Sales.csv', 'csv', 10, now())")
    con.execute("INSERT INTO app_meta._tables VALUES ('old_sales', 'abc', NULL, 1)")
    con.close()
    svc = TablesService(TableStore(path))
    _serve(monkeypatch, svc, tmp_path / "data")
    try:
        at = _page()
        assert any("old_sales" in m.value for m in at.markdown)
        assert any("were not recorded" in c.value for c in at.caption)
    finally:
        svc.close()
