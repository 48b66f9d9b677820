"""Finding 7 (issue 17): every CLI command that runs SQL (hand-written or model-written) or deletes data leaves
a request record of its kind. The records are read straight from records.sqlite, as an auditor would."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.pdf_factory import text_pdf, write
from tests.fixtures.records import records_of as records


def _load_sales(cli, tmp_path: Path) -> str:
    table = tmp_path / "sales.csv"
    table.write_text("region,revenue\nEast,10\nWest,20\nNorth,5\n")
    loaded = cli("tables", "load", str(table), "--json")
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout)["loaded"][0]["sha256"]


def test_raw_sql_runs_are_recorded_ok_or_failed(cli, tmp_path):
    _load_sales(cli, tmp_path)
    assert cli("sql", "--raw", "SELECT region, revenue FROM sales ORDER BY revenue DESC").returncode == 0
    assert cli("sql", "--raw", "SELECT nope FROM sales").returncode == 1

    ok, failed = records(cli.data_dir, "sql")
    assert ok["sql"] == "SELECT region, revenue FROM sales ORDER BY revenue DESC"
    assert ok["status"] == "ok" and ok["model_written"] is False and ok["origin"] == "cli"
    assert ok["row_count"] == 3 and ok["columns"] == ["region", "revenue"]
    assert ok["result_sha256"] and ok["user"]
    assert failed["status"] == "error" and failed["error"]
    assert failed["sql"] == "SELECT nope FROM sales"


def test_model_written_sql_is_recorded_with_its_question_and_model(cli, tmp_path, sql_model_path):
    _load_sales(cli, tmp_path)
    result = cli("sql", "What is the total revenue?")
    assert result.returncode in (0, 1), result.stderr

    (record,) = records(cli.data_dir, "sql")
    assert record["model_written"] is True
    assert record["question"] == "What is the total revenue?"
    assert record["sql"] or record["status"] == "error"
    assert record["model"]
    assert record["attempts"] >= 1


def test_deleting_a_table_or_a_document_is_recorded(cli, tmp_path):
    sha = _load_sales(cli, tmp_path)
    assert cli("tables", "delete", sha).returncode == 0
    (table,) = records(cli.data_dir, "table_deleted")
    assert table["sha256"] == sha and table["tables"] == ["sales"] and table["file_name"] == "sales.csv"

    pdf = write(tmp_path / "handbook.pdf", text_pdf([["Refunds", "Refunds are paid within 30 days."]]))
    ingested = cli("ingest", str(pdf), "--json")
    assert ingested.returncode == 0, ingested.stderr
    doc_id = json.loads(cli("docs", "list", "--json").stdout)["documents"][0]["id"]
    assert cli("docs", "delete", doc_id).returncode == 0
    (doc,) = records(cli.data_dir, "document_deleted")
    assert doc["doc_id"] == doc_id and doc["name"] == "handbook.pdf"
