"""`ingest q3_report.pdf` then `ask`: the number comes from the PDF's table through SQL, and the page is cited."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.fixtures import office_docs as od
from tests.fixtures.models import TEST_EMBEDDED_MODEL as MODEL
from tests.fixtures.paths import ROOT


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_a_number_from_a_pdf_table_is_answered_by_sql_citing_the_page(tmp_path, models_dir, closed_port,
                                                                       packaged_model_path):
    pdf = tmp_path / "q3_report.pdf"
    rows = [["Region", "Revenue"], ["EMEA", "1,410.2"], ["APAC", "1,021"], ["Americas", "2,310"]]
    pdf.write_bytes(od.table_pdf([(["Q3 report", "Sales were strong in every region but the Americas."], None),
                                  (["Q3 revenue by region (thousand euros)"], rows)], title="Q3 report"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYST_") and k != "OLLAMA_HOST"}
    env.update({"ANALYST_MODELS_DIR": str(models_dir), "ANALYST_OLLAMA_HOST": f"http://127.0.0.1:{closed_port}",
                "ANALYST_EMBEDDED_CTX": "2048", "ANALYST_MAX_TOKENS": "64", "ANALYST_TEMPERATURE": "0",
                "ANALYST_SEED": "42"})
    data = ["--data-dir", str(tmp_path / "data")]

    ingested = _run([*data, "ingest", str(pdf), "--json"], env)
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["files"][0]["status"] == "indexed"

    done = _run([*data, "--model", MODEL, "ask", "What was EMEA revenue according to the q3 report?", "--json"], env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    sql_steps = [t for t in result["tools"] if t["name"] == "run_sql"]
    assert sql_steps and sql_steps[0]["ok"] and "q3_report_p2_t1" in sql_steps[0]["sql"], result["tools"]
    (cite,) = [c for c in result["citations"] if c.get("kind") == "sql"]
    assert cite["origin"] == "from q3_report.pdf, page 2"
    assert cite["source"] == "SQL result S1 from q3_report.pdf, page 2"
    assert cite["rows"] == [[1410.2]]  # the number, read from the table by SQL (the 0.5B's prose may not repeat it)
