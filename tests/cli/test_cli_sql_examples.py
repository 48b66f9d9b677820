"""`python -m app sql-examples add|list|delete` end to end: only SQL that is safe and runs is stored."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.records import records_of as records
from tests.fixtures.shop import build_shop

SQL = "SELECT country, count(*) AS n FROM customers GROUP BY country"


def test_add_list_delete_with_refusals_that_store_nothing(cli, tmp_path: Path) -> None:
    db = build_shop(tmp_path / "shop.duckdb", declared=False)
    added = cli("sql-examples", "add", "Customers per country", "--sql", SQL, "--database", str(db), "--json")
    assert added.returncode == 0, added.stderr
    example = json.loads(added.stdout)["added"]
    assert example["database"] == "shop" and example["sql"] == SQL

    unsafe = cli("sql-examples", "add", "Drop", "--sql", "DROP TABLE customers", "--database", str(db))
    assert unsafe.returncode != 0 and "cannot be stored" in unsafe.stderr and "Refused" in unsafe.stderr
    broken = cli("sql-examples", "add", "Nope", "--sql", "SELECT nope FROM customers", "--db", str(db))
    assert broken.returncode != 0 and "nope" in broken.stderr

    listed = json.loads(cli("sql-examples", "list", "--json").stdout)["examples"]
    assert [(e["id"], e["question"]) for e in listed] == [(example["id"], "Customers per country")]

    gone = cli("sql-examples", "delete", example["id"])
    assert gone.returncode == 0 and "Deleted" in gone.stdout
    again = cli("sql-examples", "delete", example["id"])
    assert again.returncode != 0 and "no verified query" in again.stderr

    kinds = [(r["status"]) for r in records(cli.data_dir, "sql_example_added")]
    assert kinds.count("ok") == 1 and kinds.count("error") == 2
    assert len(records(cli.data_dir, "sql_example_deleted")) == 1
