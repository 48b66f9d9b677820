"""Loading names: errors name the user's file (never a temporary copy), and the file's own table and column
names are kept beside the snake_case names they are stored under (real DuckDB, real files)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import duckdb
import pytest
from openpyxl import Workbook

import app.cli as cli
from app.errors import BadInputError
from storage.tables import NameChange, TableStore

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tables"


def _damaged_files(tmp_path: Path) -> dict[str, bytes]:
    """One broken file of every kind the loader recognises, as bytes."""
    not_a_workbook = tmp_path / "not_a_workbook.zip"
    with zipfile.ZipFile(not_a_workbook, "w") as zf:
        zf.writestr("xl/workbook.xml", "this is not a workbook")
    plain_zip = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain_zip, "w") as zf:
        zf.writestr("notes.txt", "hello")
    return {
        "Q3 sales.parquet": b"PAR1" + b"not parquet at all" * 8,
        "Q3 sales.json": b'[{"region": "North", "revenue": ',
        "Q3 sales.duckdb": b"\x00" * 8 + b"DUCK" + b"\x00" * 200,
        "Q3 sales.xlsx": not_a_workbook.read_bytes(),
        "Q3 sales archive.zip": plain_zip.read_bytes(),
        "Q3 sales.xls": b"\xd0\xcf\x11\xe0" + b"\x00" * 100,
        "Q3 sales.csv": b"",
        "Q3 sales.bin": b"abc\x00\x00def" * 10,
    }


def test_every_load_error_names_the_users_file_not_the_temporary_copy(store: TableStore, tmp_path: Path) -> None:
    upload_dir = tmp_path / "uploads"
    upload_dir.mkdir()
    temporary = upload_dir / "upload"  # how a page or the chat stores the bytes it was given
    for name, data in _damaged_files(tmp_path).items():
        temporary.write_bytes(data)
        with pytest.raises(BadInputError) as caught:
            store.load_file(temporary, file_name=name)
        message = f"{caught.value.message} {caught.value.hint}"
        assert name in caught.value.message, message
        assert "upload" not in message and str(upload_dir) not in message, message
        assert caught.value.hint, f"{name}: no advice on what to do"
    assert store.tables() == [] and store.sources() == []  # nothing half-loaded stays behind


def test_a_workbook_stored_without_its_extension_loads(store: TableStore, tmp_path: Path) -> None:
    # Uploads and chat attachments are stored under names without .xlsx; the bytes say it is a workbook.
    wb = Workbook()
    wb.active.title = "Q3"
    wb.active.append(["Region Name", "Total Revenue ($)"])
    wb.active.append(["North", 195.10])
    book = tmp_path / "book.xlsx"
    wb.save(book)
    stored = tmp_path / "0123abcd"
    stored.write_bytes(book.read_bytes())
    result = store.load_file(stored, file_name="Q3 Sales.xlsx")
    assert result.tables == ["q3_sales"] and result.rows == {"q3_sales": 1}


def test_original_names_are_kept_beside_the_stored_ones(store: TableStore) -> None:
    store.load_file(FIXTURES / "sales.csv", file_name="Sales Report.csv")
    header = (FIXTURES / "sales.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    changes = store.names()["sales_report"]
    assert changes[0] == NameChange("table", "Sales Report", "sales_report")
    columns = [c for c in changes if c.kind == "column"]
    assert [c.original for c in columns] == header  # in the file's order
    stored = [c.name for c in next(t for t in store.tables() if t.name == "sales_report").columns]
    assert [c.stored for c in columns] == stored
    assert NameChange("column", "Order Date", "order_date") in columns


def test_deleting_a_file_forgets_its_names(store: TableStore, tmp_path: Path) -> None:
    result = store.load_file(FIXTURES / "sales.csv")
    other = tmp_path / "Regions.csv"
    other.write_text("Region,Manager Name\nNorth,Ann\n", encoding="utf-8")
    store.load_file(other)
    store.delete_source(result.sha256)
    assert set(store.names()) == {"regions"}


def test_a_database_from_before_names_were_recorded_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA app_meta")
    con.execute("CREATE TABLE app_meta._sources (sha256 VARCHAR PRIMARY KEY, file_name VARCHAR, kind VARCHAR, "
                "size_bytes BIGINT, loaded_at TIMESTAMP)")
    con.execute("CREATE TABLE app_meta._tables (table_name VARCHAR PRIMARY KEY, sha256 VARCHAR, origin VARCHAR, "
                "row_count BIGINT)")
    con.execute("CREATE TABLE old_sales AS SELECT 1 AS units")
    con.execute("INSERT INTO app_meta._sources VALUES ('abc', 'Old Sales.csv', 'csv', 10, now())")
    con.execute("INSERT INTO app_meta._tables VALUES ('old_sales', 'abc', NULL, 1)")
    con.close()

    store = TableStore(path)
    try:
        assert [t.name for t in store.tables()] == ["old_sales"]
        assert store.names() == {}  # not recorded then; the page says so
        store.load_file(FIXTURES / "sales.csv")
        assert set(store.names()) == {"sales"}
    finally:
        store.close()


def test_cli_load_of_a_damaged_file_says_what_is_wrong_without_a_traceback(capsys, tmp_path: Path) -> None:
    broken = tmp_path / "Q3 sales.parquet"
    broken.write_bytes(b"PAR1" + b"not parquet at all" * 8)
    code = cli.main(["--data-dir", str(tmp_path / "data"), "tables", "load", str(broken)])
    err = capsys.readouterr().err
    assert code == 2 and "Q3 sales.parquet cannot be read as Parquet" in err and "Traceback" not in err
