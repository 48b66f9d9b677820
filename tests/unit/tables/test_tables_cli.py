"""`python -m app sql ...` and `tables ...` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

import app.cli as cli

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tables"


def run(capsys, tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["--data-dir", str(tmp_path / "data"), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_raw_sql_over_a_database_file(capsys, tmp_path: Path) -> None:
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE orders AS SELECT range AS id, range * 2.5 AS amount FROM range(5)")
    con.close()
    code, out, _ = run(capsys, tmp_path, "sql", "--raw", "SELECT sum(amount) AS total FROM shop.orders",
                       "--db", str(db), "--json")
    payload = json.loads(out)
    assert code == 0 and set(payload) == {"sql", "columns", "rows", "truncated", "error", "attempts"}
    assert payload["rows"] == [[25.0]] and payload["columns"] == ["total"] and payload["error"] is None

    code, out, _ = run(capsys, tmp_path, "sql", "--raw", "COPY orders TO 'x.csv'", "--db", str(db), "--json")
    assert code == 1 and "Refused" in json.loads(out)["error"]


def test_load_list_and_errors(capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, tmp_path, "tables", "load", str(FIXTURES / "sales.csv"), "--json")
    assert code == 0 and json.loads(out)["loaded"][0]["tables"] == ["sales"]
    code, out, _ = run(capsys, tmp_path, "tables", "list", "--json")
    tables = json.loads(out)["tables"]
    assert code == 0 and tables[0]["name"] == "sales" and tables[0]["rows"] == 6
    code, out, _ = run(capsys, tmp_path, "sql", "--raw", "SELECT count(*) FROM sales", "--json")
    assert json.loads(out)["rows"] == [[6]]
    code, _, err = run(capsys, tmp_path, "sql", "--raw", "SELECT 1", "--db", str(tmp_path / "missing.duckdb"))
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1
