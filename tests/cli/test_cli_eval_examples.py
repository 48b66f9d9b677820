"""`python -m app eval run SET --compare-examples`: the set's SQL questions without and with the verified queries,
in a subprocess with the real embedded 0.5B model, a real DuckDB database and a pair added with `sql-examples add`."""

from __future__ import annotations

import json

import pytest

from tests.fixtures import build_mini

RIGHT = "SELECT region, sum(units) AS units FROM sales GROUP BY region ORDER BY units DESC"


@pytest.mark.slow
def test_compare_examples_prints_both_runs_side_by_side(cli, tmp_path):
    mini = build_mini.build(tmp_path / "mini")
    db = mini.parent / "databases" / "shop.duckdb"
    added = cli("sql-examples", "add", "Units sold per region, most units first.", "--sql", RIGHT, "--database",
                str(db))
    assert added.returncode == 0, added.stderr

    done = cli("eval", "run", str(mini), "--compare-examples", "--model", "embedded:qwen2.5-coder-0.5b")
    assert done.returncode == 0, done.stderr
    assert "without verified queries: " in done.stderr and "with verified queries: " in done.stderr  # progress
    lines = done.stdout.splitlines()
    assert lines[0].startswith("verified queries on mini · model embedded:qwen2.5-coder-0.5b · run 1 without, "
                               "run 2 with")
    assert any(line.startswith("SQL execution accuracy") for line in lines)
    assert any(line.startswith("Seconds per question (median)") for line in lines)
    assert "verified pairs shown for 1 of 2 question(s); stored per database: shop: 1" in done.stdout

    listed = cli("eval", "list", "--json")
    runs = json.loads(listed.stdout)["runs"]
    assert [r["aggregates"]["items"] for r in runs] == [2, 2]  # both kept, SQL questions only


def test_compare_examples_refuses_background_and_sets_without_sql(cli, tmp_path):
    mini = build_mini.build(tmp_path / "mini")
    both = cli("eval", "run", str(mini), "--compare-examples", "--background")
    assert both.returncode == 2 and "cannot be queued with --background" in both.stderr
    docs_only = tmp_path / "docs.jsonl"
    docs_only.write_text('{"id": "q1", "question": "How often are passwords changed?", "answer": "Every 90 days."}\n')
    none = cli("eval", "run", str(docs_only), "--compare-examples")
    assert none.returncode == 2 and "has no SQL questions" in none.stderr
    assert "Traceback" not in none.stderr
