"""Untrusted SQL: one read-only statement, no files, no settings, a time limit, a row cap."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from app.tables.safety import UnsafeSQLError, check_sql
from app.tables.service import TablesService
from storage.tables import TableStore

FORBIDDEN = [
    "SELECT 1; SELECT 2",
    "SELECT * FROM t; DROP TABLE t",
    "DROP TABLE t",
    "DELETE FROM t",
    "INSERT INTO t VALUES (9, 'z')",
    "UPDATE t SET a = 0",
    "CREATE TABLE u AS SELECT 1",
    "ALTER TABLE t ADD COLUMN c INT",
    "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_parquet('x.parquet')",
    "SELECT * FROM read_json('x.json')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM 'data.csv'",
    "SELECT * FROM query('SELECT 1')",
    "SELECT * FROM t WHERE a IN (SELECT 1 FROM read_csv('/etc/hosts'))",
    "COPY t TO '/tmp/out.csv'",
    "COPY t FROM '/etc/passwd'",
    "ATTACH '/tmp/other.duckdb' AS o",
    "DETACH o",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "RESET threads",
    "PRAGMA enable_profiling",
    "PRAGMA show_tables",
    "EXPORT DATABASE '/tmp/dump'",
    "IMPORT DATABASE '/tmp/dump'",
    "CALL pragma_version()",
    "EXPLAIN SELECT 1",
    "CHECKPOINT",
    "VACUUM",
    "BEGIN TRANSACTION",
    "CREATE MACRO m(x) AS x",
    "",
    "   ;  ",
]
ALLOWED = [
    "SELECT a, b FROM t ORDER BY a",
    "WITH x AS (SELECT a FROM t) SELECT sum(a) FROM x",
    "FROM t",
    "SHOW TABLES",
    "DESCRIBE t",
    "SELECT * EXCLUDE (b) FROM t",
    "SELECT * FROM range(3)",
    "SELECT table_name FROM duckdb_tables()",
    "SELECT 'read_csv(''/etc/passwd'')' AS s",  # the words inside a string are data
    "SELECT a FROM t; ",
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    # One store for the module: every test also checks that nothing was changed.
    tmp_path = tmp_path_factory.mktemp("safety")
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n1,x\n2,y\n3,z\n", encoding="utf-8")
    svc = TablesService(TableStore(tmp_path / "tables.duckdb"), timeout=1.0, max_rows=2)
    svc.load_file(csv)
    yield svc
    svc.close()


@pytest.mark.parametrize("sql", FORBIDDEN)
def test_forbidden_statements_are_refused(service: TablesService, sql: str) -> None:
    answer = service.run_sql(sql)
    assert answer.error and answer.rows == []
    # Nothing changed.
    assert service.run_sql("SELECT count(*) FROM t").rows == [[3]]


@pytest.mark.parametrize("sql", FORBIDDEN[:12] + FORBIDDEN[19:34])
def test_checker_itself_refuses(service: TablesService, sql: str) -> None:
    with pytest.raises(UnsafeSQLError):
        service.check_sql(sql)


@pytest.mark.parametrize("sql", ALLOWED)
def test_read_only_queries_pass(service: TablesService, sql: str) -> None:
    answer = service.run_sql(sql)
    assert answer.error is None, answer.error


def test_row_cap_sets_truncated(service: TablesService) -> None:
    answer = service.run_sql("SELECT * FROM t ORDER BY a")
    assert answer.rows == [[1, "x"], [2, "y"]] and answer.truncated


def test_never_ending_query_is_interrupted(service: TablesService) -> None:
    answer = service.run_sql("SELECT count(*) FROM range(1000000000000) a, range(1000) b")
    assert answer.error and "longer than" in answer.error
    assert service.run_sql("SELECT count(*) FROM t").rows == [[3]]  # the engine still works


def test_locked_connection_blocks_files_even_without_the_checker(service: TablesService) -> None:
    # Defence in depth: bypass check_sql and go straight to the engine.
    with service._eng() as eng, eng.cursor() as cur:
        with pytest.raises(duckdb.Error):
            cur.execute("SELECT * FROM read_csv('/etc/passwd')")
        with pytest.raises(duckdb.Error):
            cur.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error):
            cur.execute("DELETE FROM t")


def test_attached_database_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE orders AS SELECT range AS id FROM range(4)")
    con.close()
    svc = TablesService.open_database(path)
    try:
        assert svc.run_sql("SELECT count(*) FROM shop.orders").rows == [[4]]
        assert svc.run_sql("SELECT count(*) FROM orders").rows == [[4]]
        assert svc.run_sql("DELETE FROM orders").error
        assert svc.run_sql("DETACH shop").error
        with svc._eng() as eng, pytest.raises(UnsafeSQLError):
            check_sql(eng, "ATTACH ':memory:' AS m")
    finally:
        svc.close()
    assert duckdb.connect(str(path)).execute("SELECT count(*) FROM orders").fetchone() == (4,)
