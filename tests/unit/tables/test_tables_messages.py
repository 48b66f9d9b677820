"""Messages that tell the truth: folders, non-DuckDB files, PIVOT, deep nesting, misnamed files, workbook bombs,
Unicode names and temp folders left by a killed load (real DuckDB, real files)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.errors import BadInputError
from app.tables.service import TablesService
from storage.tables import TableStore

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tables"


def test_a_folder_given_to_load_says_it_is_a_folder(store: TableStore, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(BadInputError) as caught:
        store.load_file(folder)
    assert "is a folder" in caught.value.message and "does not exist" not in caught.value.message
    assert "ingest" in caught.value.hint or "each file" in caught.value.hint


@pytest.mark.parametrize("kind", ["sqlite", "text"])
def test_db_option_on_a_file_that_is_not_duckdb(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "data.db"
    if kind == "sqlite":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
    else:
        path.write_text("just some notes\n", encoding="utf-8")
    with pytest.raises(BadInputError) as caught:
        TablesService.open_database(path)
    text = caught.value.one_line()
    assert "is not a DuckDB database" in text and "INSTALL" not in text and "sqlite_scanner" not in text
    if kind == "sqlite":
        assert "SQLite" in text


def test_pivot_gets_a_true_message_and_the_listed_form_runs(store: TableStore) -> None:
    store.load_file(FIXTURES / "sales.csv")
    svc = TablesService(store)
    refused = svc.run_sql("PIVOT sales ON region USING sum(units)")
    assert refused.error and "PIVOT" in refused.error and "MULTI" not in refused.error
    assert "change data" not in refused.error and "IN (" in refused.error + refused.error_hint
    listed = svc.run_sql("PIVOT sales ON region IN ('North', 'South') USING sum(units)")
    assert listed.error is None and listed.columns[-2:] == ["North", "South"]


def test_deep_nesting_advises_nothing_the_sandbox_refuses(store: TableStore) -> None:
    svc = TablesService(store)
    answer = svc.run_sql("SELECT " + "(" * 1100 + "1" + ")" * 1100)
    assert answer.error and "nested" in answer.error.lower()
    assert "SET" not in answer.error + answer.error_hint


def test_a_text_file_named_like_an_image_is_refused(store: TableStore, tmp_path: Path) -> None:
    fake = tmp_path / "chart.png"
    fake.write_text("hello, this is not a picture\n", encoding="utf-8")
    with pytest.raises(BadInputError) as caught:
        store.load_file(fake)
    assert "chart.png" in caught.value.message and "image" in caught.value.message
    assert store.tables() == []


def _xlsx_bomb(path: Path, rows: int) -> None:
    """A workbook whose sheet repeats one tiny row: megabytes on disk, millions of rows inside."""
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
        '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
        'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet '
        'name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
                     b'main"><sheetData><row><c t="inlineStr"><is><t>n</t></is></c></row>')
            block = b"<row><c><v>1</v></c></row>" * 10_000
            for _ in range(rows // 10_000):
                fh.write(block)
            fh.write(b"</sheetData></worksheet>")


def test_a_workbook_expanding_to_millions_of_rows_is_refused_before_it_is_read(store: TableStore,
                                                                              tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    _xlsx_bomb(bomb, 10_000_000)
    assert bomb.stat().st_size < 2_000_000  # under a megabyte on disk, 260 MB of sheet XML inside
    with pytest.raises(BadInputError) as caught:
        store.load_file(bomb)
    assert "bomb.xlsx would expand" in caught.value.message and "CSV" in caught.value.hint
    assert store.tables() == [] and store.sources() == []


def test_a_sheet_over_the_row_limit_stops_at_the_limit(tmp_path: Path) -> None:
    sheet = tmp_path / "long.xlsx"
    _xlsx_bomb(sheet, 20_000)  # small enough to read; more rows than this store allows
    store = TableStore(tmp_path / "data" / "tables.duckdb", max_rows=5_000)
    try:
        with pytest.raises(BadInputError) as caught:
            store.load_file(sheet)
        assert "5,000 rows" in caught.value.message and "long.xlsx" in caught.value.message
        assert "max_table_rows" in caught.value.hint
        assert store.tables() == [] and store.sources() == []
        assert not any((tmp_path / "data" / "tmp").glob("*/*"))  # the sheet dump went with the failed load
    finally:
        store.close()


def test_a_csv_over_the_row_limit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("id\n" + "\n".join(str(i) for i in range(3000)) + "\n", encoding="utf-8")
    store = TableStore(tmp_path / "data" / "tables.duckdb", max_rows=1000)
    try:
        with pytest.raises(BadInputError, match="1,000 rows"):
            store.load_file(path)
        assert store.tables() == []
    finally:
        store.close()


def test_a_unicode_file_name_keeps_its_letters(store: TableStore, tmp_path: Path) -> None:
    path = tmp_path / "ünï 表格.csv"
    path.write_text("Größe,Menge\n1,2\n", encoding="utf-8")
    result = store.load_file(path)
    assert result.tables == ["ünï_表格"]
    assert [c.name for c in store.tables()[0].columns] == ["größe", "menge"]
    svc = TablesService(store)
    assert svc.run_sql("SELECT größe FROM ünï_表格").rows == [[1]]


def test_a_temp_folder_orphaned_by_a_killed_load_is_cleaned(tmp_path: Path) -> None:
    data = tmp_path / "data"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = data / "tmp" / f"load-{int(dead.stdout)}-x1"
    orphan.mkdir(parents=True)
    (orphan / "utf8.csv").write_text("a\n1\n", encoding="utf-8")
    legacy = data / "tmp" / "tmpab12cd"  # the name loads used before folders carried their process id
    legacy.mkdir()
    old = 1_000_000_000
    os.utime(legacy, (old, old))
    live = data / "tmp" / f"load-{os.getpid()}-x2"  # a load running in this process right now
    live.mkdir()
    store = TableStore(data / "tables.duckdb")
    try:
        store.load_file(FIXTURES / "sales.csv")
        assert not orphan.exists() and not legacy.exists() and live.exists()
    finally:
        store.close()


def test_the_lock_holder_is_named_on_one_line_even_when_its_command_line_has_newlines(tmp_path):
    import subprocess
    import sys

    from storage.table_files import in_use_error

    holder = subprocess.Popen([sys.executable, "-c", "import time\ntime.sleep(30)"])
    try:
        error = in_use_error(tmp_path / "tables.duckdb", OSError(f"Could not set lock on file: PID {holder.pid}"),
                             read_only=False)
    finally:
        holder.kill()
        holder.wait()
    assert f"process {holder.pid}" in error.message and "time.sleep(30)" in error.message
    assert "\n" not in error.one_line()
