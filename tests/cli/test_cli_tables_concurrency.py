"""Two real processes on one tables database: readers are not locked out, a refused write names the holder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from tests.fixtures import pdf_factory as pf
from tests.fixtures.paths import ROOT

SALES = ROOT / "tests" / "fixtures" / "tables" / "sales.csv"


def _loaded(cli) -> Path:
    done = cli("tables", "load", str(SALES), "--json")
    assert done.returncode == 0, done.stderr
    return cli.data_dir / "tables.duckdb"


def test_readers_work_while_another_process_reads(cli) -> None:
    db = _loaded(cli)
    app = duckdb.connect(str(db), read_only=True)  # this test's process plays the running app
    try:
        listed = cli("tables", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [t["name"] for t in json.loads(listed.stdout)["tables"]] == ["sales"]
        ran = cli("sql", "--raw", "SELECT count(*) FROM sales", "--json")
        assert ran.returncode == 0 and json.loads(ran.stdout)["rows"] == [[6]], ran.stderr
    finally:
        app.close()


def test_a_document_ingest_never_opens_the_tables_database(cli, tmp_path: Path) -> None:
    db = _loaded(cli)
    pdf = pf.write(tmp_path / "memo.pdf", pf.text_pdf([["The travel budget for 2024 is 15,000 euros."]]))
    writer = duckdb.connect(str(db))  # another process is loading a table right now
    try:
        done = cli("ingest", str(pdf), "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["files"][0]["status"] == "indexed"
    finally:
        writer.close()


def test_a_refused_write_names_the_process_holding_the_database(cli, tmp_path: Path) -> None:
    db = _loaded(cli)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    app = duckdb.connect(str(db), read_only=True)
    try:
        refused = cli("tables", "load", str(other), "--json", ANALYST_TABLES_LOCK_WAIT_S="1")
    finally:
        app.close()
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"process {os.getpid()}" in refused.stderr and "try again" in refused.stderr
    loaded = cli("tables", "load", str(other), "--json")  # once it is free, the same command works
    assert loaded.returncode == 0, loaded.stderr


def test_a_reader_blocked_by_a_loading_process_says_so(cli) -> None:
    db = _loaded(cli)
    writer = duckdb.connect(str(db))
    try:
        blocked = cli("tables", "list", ANALYST_TABLES_LOCK_WAIT_S="1")
    finally:
        writer.close()
    assert blocked.returncode == 2 and "Traceback" not in blocked.stderr
    assert f"process {os.getpid()}" in blocked.stderr and "loading" in blocked.stderr
