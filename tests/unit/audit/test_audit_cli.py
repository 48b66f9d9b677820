"""`audit verify` and `audit export` over a real record store."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

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
    assert json.loads(capsys.readouterr().out) == {"ok": True, "records": 3, "problems": [], "notes": []}

    con = sqlite3.connect(tmp_path / "data" / "records.sqlite")
    con.execute("DROP TRIGGER records_no_update")  # what someone with file access could do
    con.execute("UPDATE records SET body = replace(body, 'a1', 'forged') WHERE seq = 2")
    con.commit()
    con.close()

    assert main(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and any("content altered" in p for p in report["problems"])


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


def _turns(tmp_path) -> SqliteRecordStore:
    store = SqliteRecordStore(tmp_path / "data" / "records.sqlite")
    rows = [
        ("2025-01-01T10:00:00.000+00:00", "ann", "qwen", False),
        ("2025-01-02T10:00:00.000+00:00", "bob", "qwen", True),
        ("2025-01-03T10:00:00.000+00:00", "ann", "llama", True),
    ]
    for i, (ts, user, model, flagged) in enumerate(rows):
        store.append("chat", {"ts": ts, "user": user, "model": model, "flagged": flagged, "question": f"q{i}"})
    store.append("conversation_deleted", {"ts": "2025-01-04T00:00:00.000+00:00", "user": "ann", "title": "t"})
    return store


def _exported(capsys, tmp_path, *filters: str) -> list[str]:
    args = ["--data-dir", str(tmp_path / "data"), "audit", "export", *filters]
    assert main(args) == 0
    return [json.loads(line).get("question", json.loads(line)["kind"]) for line in capsys.readouterr().out.splitlines()]


def test_export_filters(tmp_path, capsys):
    _turns(tmp_path)
    assert _exported(capsys, tmp_path) == ["q0", "q1", "q2", "conversation_deleted"]  # every kind by default
    assert _exported(capsys, tmp_path, "--user", "ann") == ["q0", "q2", "conversation_deleted"]
    assert _exported(capsys, tmp_path, "--model", "qwen") == ["q0", "q1"]
    assert _exported(capsys, tmp_path, "--flagged") == ["q1", "q2"]
    assert _exported(capsys, tmp_path, "--since", "2025-01-02", "--until", "2025-01-02") == ["q1"]  # whole days
    assert _exported(capsys, tmp_path, "--since", "2025-01-02T11:00:00+01:00") == ["q1", "q2", "conversation_deleted"]
    assert _exported(capsys, tmp_path, "--kind", "chat", "--user", "ann") == ["q0", "q2"]


def test_export_rejects_a_bad_date(tmp_path, capsys):
    _turns(tmp_path)
    with pytest.raises(SystemExit):
        main(["--data-dir", str(tmp_path / "data"), "audit", "export", "--since", "yesterday"])
    assert "not a date" in capsys.readouterr().err


def test_csv_export_has_flag_columns(tmp_path, capsys):
    _turns(tmp_path)
    assert main(["--data-dir", str(tmp_path / "data"), "audit", "export", "--format", "csv", "--kind", "chat"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["flagged"] for r in rows] == ["False", "True", "True"]
    assert [r["not_in_documents"] for r in rows] == ["False", "False", "False"]


def test_prune_uses_days_or_the_setting_and_verify_still_passes(tmp_path, capsys, monkeypatch):
    _turns(tmp_path)  # all records are from January 2025: older than 30 days
    base = ["--data-dir", str(tmp_path / "data"), "audit"]
    assert main([*base, "prune", "--json"]) == 2  # no retention period configured
    assert "retention" in capsys.readouterr().err.lower()

    assert main([*base, "prune", "--days", "30", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pruned"] == 4 and len(report["anchor_hash"]) == 64 and report["days"] == 30
    assert main([*base, "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "records": 1, "problems": [], "notes": []}

    monkeypatch.setenv("ANALYST_AUDIT_RETENTION_DAYS", "30")
    assert main([*base, "prune"]) == 0
    assert "Nothing to prune" in capsys.readouterr().out
