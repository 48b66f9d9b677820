"""`python -m app ask --file policy.pdf --file sales.csv --json` end to end, with the real embedded model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.fixtures import pdf_factory as pf
from tests.fixtures.models import SQL_MODEL as MODEL  # the 0.5B test model declines every SQL question
from tests.fixtures.paths import FIXTURES, ROOT
from tests.fixtures.turns import POLICY_PAGES

QUESTION = "What is the total revenue, and how does the policy define revenue?"


@pytest.mark.slow
def test_ask_with_a_pdf_and_a_csv_uses_every_tool_and_cites_both(tmp_path, models_dir, closed_port, sql_model_path):
    pdf = pf.write(tmp_path / "policy.pdf", pf.text_pdf(POLICY_PAGES, title="Finance policy"))
    csv = FIXTURES / "tables" / "sales.csv"
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYST_") and k != "OLLAMA_HOST"}
    env.update(
        {
            "ANALYST_MODELS_DIR": str(models_dir),
            "ANALYST_OLLAMA_HOST": f"http://127.0.0.1:{closed_port}",
            "ANALYST_EMBEDDED_CTX": "2048",
            "ANALYST_MAX_TOKENS": "32",
            "ANALYST_TEMPERATURE": "0",
            "ANALYST_SEED": "42",
        }
    )

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "--data-dir",
            str(data_dir),
            "--model",
            MODEL,
            "ask",
            QUESTION,
            "--file",
            str(pdf),
            "--file",
            str(csv),
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["model"], result["backend"]) == ("ok", MODEL, "embedded")
    assert result["tool_mode"] == "router" and result["answer"].strip()

    tools = result["tools"]
    for step in tools:
        assert {"name", "input", "seconds", "ok"} <= set(step), step
        assert isinstance(step["seconds"], (int, float)) and step["seconds"] >= 0
    by_name = {step["name"]: step for step in tools}
    assert [s["name"] for s in tools] == ["index_document", "load_table", "run_sql", "search_documents"], tools
    assert by_name["index_document"]["input"] == "policy.pdf" and by_name["index_document"]["ok"]
    assert by_name["load_table"]["input"] == "sales.csv" and by_name["load_table"]["tables"] == ["sales"]
    assert by_name["run_sql"]["ok"], json.dumps(by_name["run_sql"])
    assert "revenue" in by_name["run_sql"]["sql"].lower()
    assert by_name["search_documents"]["ok"] and by_name["search_documents"]["passages"]

    pages = [c for c in result["citations"] if "page" in c]
    sqls = [c for c in result["citations"] if c.get("kind") == "sql"]
    assert pages and all(c["source"] == "policy.pdf" for c in pages), result["citations"]
    assert len(sqls) == 1 and sqls[0]["sql"] == by_name["run_sql"]["sql"]
    assert len(sqls[0]["result_sha256"]) == 64 and sqls[0]["rows"]

    # The same turn is in the request records, with its tools and the SQL's result hash.
    from storage.records import SqliteRecordStore

    store = SqliteRecordStore(data_dir / "records.sqlite")
    (record,) = store.query(kind="chat")
    (added,) = store.query(kind="ingest")  # the attached PDF is recorded as added to the library
    assert (added["name"], added["outcome"]) == ("policy.pdf", "indexed")
    assert [t["name"] for t in record["tools"]] == [s["name"] for s in tools]
    assert record["sql"][0]["result_sha256"] == sqls[0]["result_sha256"]
    assert record["tool_mode"] == "router"
