"""Loading table files into the persistent DuckDB store (real DuckDB, real files)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from openpyxl import Workbook

from app.errors import BadInputError, NotFoundError
from multimodal.kinds import sniff_table, table_kind
from multimodal.tables import clean_name, unique_names
from storage.tables import TableStore

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tables"


def _rows(store: TableStore, sql: str) -> list[list]:
    with store.engine() as eng:
        return eng.run(sql).rows


def test_csv_loads_with_clean_names_types_and_nulls(store: TableStore) -> None:
    result = store.load_file(FIXTURES / "sales.csv")
    assert result.tables == ["sales"] and result.rows == {"sales": 6}
    table = store.tables()[0]
    names = [c.name for c in table.columns]
    assert names == ["order_id", "region", "order_date", "product", "units", "revenue"]
    types = {c.name: c.type for c in table.columns}
    assert types["order_date"] == "DATE" and types["units"] == "BIGINT" and types["revenue"].startswith("DOUBLE")
    assert table.source == "sales.csv"
    assert _rows(store, "SELECT units, revenue FROM sales WHERE order_id = 5") == [[None, None]]
    assert _rows(store, "SELECT region, sum(revenue) FROM sales GROUP BY 1 ORDER BY 1")[0] == ["East", 149.95]


def test_same_file_twice_loads_once(store: TableStore, tmp_path: Path) -> None:
    first = store.load_file(FIXTURES / "sales.csv")
    copy = tmp_path / "renamed.txt"
    shutil.copy(FIXTURES / "sales.csv", copy)
    second = store.load_file(copy)
    assert second.already_loaded and second.tables == first.tables and second.sha256 == first.sha256
    assert [t.name for t in store.tables()] == ["sales"]


def test_non_utf8_semicolon_csv_is_transcoded(store: TableStore) -> None:
    result = store.load_file(FIXTURES / "umsatz_cp1252.csv")
    assert any("UTF-8" in w for w in result.warnings)
    rows = _rows(store, "SELECT stadt, umsatz, notiz FROM umsatz_cp1252 ORDER BY umsatz NULLS LAST")
    assert rows == [["München", 800, "äußerst"], ["Köln", 1200, "grün"], ["Düsseldorf", None, "ok"]]


def test_malformed_csv_loads_what_it_can_with_a_warning(store: TableStore) -> None:
    result = store.load_file(FIXTURES / "broken_quotes.csv")
    assert result.tables == ["broken_quotes"] and result.rows["broken_quotes"] >= 1
    assert result.warnings and "malformed" in result.warnings[0]


def test_ragged_rows_duplicate_blank_and_keyword_headers(store: TableStore, tmp_path: Path) -> None:
    path = tmp_path / "select.csv"
    path.write_text("Name,Name,,order,2020\na,b,c,1,5\nd,e\nf,g,h,2,6,extra\n", encoding="utf-8")
    result = store.load_file(path)
    assert result.tables == ["select_"]  # the file is named like an SQL keyword
    names = [c.name for c in store.tables()[0].columns]
    assert names[:5] == ["name", "name_1", "column2", "order_", "column_2020"]
    assert len(names) == len(set(names))
    assert _rows(store, "SELECT count(*) FROM select_") == [[3]]
    assert _rows(store, "SELECT sum(order_) FROM select_") == [[3]]


def test_excel_every_sheet_and_empty_sheet(store: TableStore, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "Q1 Sales"
    ws.append(["Region", "Amount", None])
    ws.append(["North", 10.5, "x"])
    ws.append(["South", 20, None])
    wb.create_sheet("Empty")
    costs = wb.create_sheet("Costs")
    costs.append(["Item", "Cost", "Cost"])
    costs.append(["rent", 1000, 5])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    result = store.load_file(path)
    assert result.kind == "excel"
    assert result.tables == ["book_q1_sales", "book_costs"]
    assert any("Empty" in w for w in result.warnings)
    assert _rows(store, "SELECT sum(amount) FROM book_q1_sales") == [[30.5]]
    assert [c.name for c in store.tables()[0].columns] == ["item", "cost", "cost_1"]


def test_workbook_with_only_empty_sheets_is_refused(store: TableStore, tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    Workbook().save(path)
    with pytest.raises(BadInputError, match="empty"):
        store.load_file(path)
    assert store.tables() == [] and store.sources() == []


def test_parquet_json_and_duckdb_sniffed_from_bytes(store: TableStore, tmp_path: Path) -> None:
    con = duckdb.connect()
    parquet = tmp_path / "data.bin"  # the extension says nothing: the bytes decide
    con.execute(f"COPY (SELECT range AS n FROM range(5)) TO '{parquet}' (FORMAT parquet)")
    jsonf = tmp_path / "people.dat"
    jsonf.write_text(json.dumps([{"name": "a", "age": 3}, {"name": "b", "age": 4}]), encoding="utf-8")
    dbfile = tmp_path / "other.duckdb"
    src = duckdb.connect(str(dbfile))
    src.execute("CREATE TABLE items AS SELECT 1 AS id, 'x' AS label")
    src.execute("CREATE SCHEMA s; CREATE TABLE s.items AS SELECT 2 AS id")
    src.close()
    assert sniff_table(parquet).kind == "parquet" and sniff_table(jsonf).kind == "json" \
        and sniff_table(dbfile).kind == "duckdb"
    assert store.load_file(parquet).tables == ["data"]
    assert store.load_file(jsonf).tables == ["people"]
    assert store.load_file(dbfile).tables == ["items", "items_2"]
    assert _rows(store, "SELECT sum(n) FROM data") == [[10]]
    assert _rows(store, "SELECT sum(age) FROM people") == [[7]]


def test_delete_source_removes_only_its_tables(store: TableStore, tmp_path: Path) -> None:
    sales = store.load_file(FIXTURES / "sales.csv")
    store.load_file(FIXTURES / "umsatz_cp1252.csv")
    assert store.delete_source(sales.sha256) == ["sales"]
    assert [t.name for t in store.tables()] == ["umsatz_cp1252"]
    with pytest.raises(NotFoundError):
        store.delete_source(sales.sha256)
    # Loading it again after deletion works.
    assert not store.load_file(FIXTURES / "sales.csv").already_loaded


def test_tables_persist_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "tables.duckdb"
    first = TableStore(path)
    first.load_file(FIXTURES / "sales.csv")
    first.close()
    second = TableStore(path)
    assert [t.name for t in second.tables()] == ["sales"]
    second.close()


def test_unsupported_and_empty_files(store: TableStore, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    binary = tmp_path / "blob.csv"
    binary.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(BadInputError, match="empty"):
        store.load_file(empty)
    with pytest.raises(BadInputError):
        store.load_file(binary)
    with pytest.raises(BadInputError):
        store.load_file(tmp_path / "missing.csv")


def test_large_csv_streams_with_progress(store: TableStore, tmp_path: Path) -> None:
    # Not 2 GB in a unit test: a file big enough that loading takes several progress steps.
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id,category,amount\n")
        for i in range(100_000):
            fh.write(f"{i},c{i % 7},{i * 0.5}\n")
    seen: list[float] = []
    result = store.load_file(path, progress=lambda f, _m: seen.append(f))
    assert result.rows == {"big": 100_000}
    assert seen and seen[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in seen)


def test_clean_names() -> None:
    assert clean_name("Total Revenue ($)", "c") == "total_revenue"
    assert clean_name("camelCase", "c") == "camel_case"
    assert clean_name("", "column_3") == "column_3"
    assert clean_name("from", "c") == "from_"
    assert unique_names(["a", "A", None, "a"]) == ["a", "a_2", "column_3", "a_3"]


def test_table_kind_for_ingest_dispatch(tmp_path: Path) -> None:
    pdf = tmp_path / "doc.csv"
    pdf.write_bytes(b"%PDF-1.7\n1 0 obj\n")
    prose = tmp_path / "notes.txt"
    prose.write_text("Meeting notes\nWe talked about the budget.\n", encoding="utf-8")
    assert table_kind(pdf) is None and table_kind(prose) is None
    assert table_kind(FIXTURES / "sales.csv") == "csv" and table_kind(FIXTURES / "umsatz_cp1252.csv") == "csv"
