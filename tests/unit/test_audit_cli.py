"""`audit verify` and `audit export` over a real record store."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

from app.cli import main
from storage.records import SqliteRecordStore


def _store(tmp_path, n=3) -> SqliteRecordStore:
    store = SqliteRecordStore(tmp_path / "data" / "records.sqlite")
    for i in range(n):
        store.append("chat", {"question": f"q{i}", "answer": f"a{i}", "status": "ok", "tools": [{"name": "x"}]})
    return store


def test_verify_passes_then_detects_an_edited_record(tmp_path, capsys):
    _store(tmp_path)
    args = ["--data-dir", str(tmp_path / "data"), "audit", "verify", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "records": 3, "problems": []}

    con = sqlite3.connect(tmp_path / "data" / "records.sqlite")
    con.execute("DROP TRIGGER records_no_update")  # what someone with file access could do
    con.execute("UPDATE records SET body = replace(body, 'a1', 'forged') WHERE seq = 2")
    con.commit()
    con.close()

    assert main(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and "content altered" in report["problems"][0]


def test_export_jsonl_and_csv(tmp_path, capsys):
    _store(tmp_path, n=1200)  # more than one read batch
    base = ["--data-dir", str(tmp_path / "data"), "audit", "export"]
    assert main([*base, "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1200 and json.loads(lines[0])["question"] == "q0"

    out = tmp_path / "audit.csv"
    assert main([*base, "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 1200 and rows[-1]["answer"] == "a1199" and json.loads(rows[0]["tools"]) == [{"name": "x"}]
