"""`audit verify` against every kind of tampering someone with access to the data directory could try.

The records are written the way the app writes them (the container's store, keyed from the test's keys dir);
the tampering is done with plain sqlite3 or file operations, the check through the CLI's entry point.
"""

from __future__ import annotations

import gc
import hashlib
import json
import sqlite3

import pytest

from app.cli import main
from app.container import build_services
from app.settings import load_settings
from storage.records import canonical_json


def _write(data_dir, n=3, **extra) -> None:
    services = build_services(load_settings(data_dir=data_dir))
    try:
        for i in range(n):
            services.records.append("chat", {"user": "ann", "backend": "embedded", "model": "qwen", "status": "ok",
                                             "question": f"q{i}", "answer": f"a{i}", **extra})
    finally:
        services.close()
    del services
    gc.collect()  # the store's connections close: the tampering below is seen like another process's


def _verify(data_dir, capsys) -> tuple[int, dict]:
    code = main(["--data-dir", str(data_dir), "audit", "verify", "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out)


def _sql(data_dir, *statements: str, args=()) -> None:
    con = sqlite3.connect(data_dir / "records.sqlite", isolation_level=None)
    con.execute("DROP TRIGGER IF EXISTS records_no_update")
    con.execute("DROP TRIGGER IF EXISTS records_no_delete")
    for statement in statements:
        con.execute(statement, args)
    # Put the triggers back, so only the change itself is to be found.
    con.execute("CREATE TRIGGER records_no_update BEFORE UPDATE ON records "
                "BEGIN SELECT RAISE(ABORT, 'request records are append-only'); END")
    con.execute("CREATE TRIGGER records_no_delete BEFORE DELETE ON records "
                "BEGIN SELECT RAISE(ABORT, 'request records are append-only'); END")
    con.close()


@pytest.fixture()
def data_dir(tmp_path):
    path = tmp_path / "data"
    _write(path)
    return path


def test_an_untouched_trail_verifies(data_dir, capsys):
    code, report = _verify(data_dir, capsys)
    assert code == 0, report
    assert report["ok"] is True and report["records"] == 3 and report["problems"] == []


def test_deleting_the_newest_record_is_detected(data_dir, capsys):
    _sql(data_dir, "DELETE FROM records WHERE seq = (SELECT MAX(seq) FROM records)")
    code, report = _verify(data_dir, capsys)
    assert code == 1
    assert any("missing" in p for p in report["problems"]), report


def test_deleting_every_record_is_detected(data_dir, capsys):
    _sql(data_dir, "DELETE FROM records")
    code, report = _verify(data_dir, capsys)
    assert code == 1 and report["problems"]


@pytest.mark.parametrize("how", ["empty", "deleted"])
def test_an_emptied_or_deleted_file_is_detected(data_dir, capsys, how):
    path = data_dir / "records.sqlite"
    for extra in (data_dir / "records.sqlite-wal", data_dir / "records.sqlite-shm"):
        extra.unlink(missing_ok=True)
    if how == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    code, report = _verify(data_dir, capsys)
    assert code == 1 and report["problems"]


@pytest.mark.parametrize(("column", "value"), [("user", "mallory"), ("model", "other"), ("status", "error"),
                                               ("ts", "2020-01-01T00:00:00.000+00:00")])
def test_editing_an_indexed_column_is_detected(data_dir, capsys, column, value):
    _sql(data_dir, f"UPDATE records SET {column} = ? WHERE seq = 2", args=(value,))
    code, report = _verify(data_dir, capsys)
    assert code == 1, report
    assert report["problems"]


def test_a_rewritten_record_with_a_recomputed_unkeyed_chain_is_detected(data_dir, capsys):
    """Someone rewrites a body and recomputes every hash after it the way anyone could: sha256, no key."""
    con = sqlite3.connect(data_dir / "records.sqlite", isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute("DROP TRIGGER records_no_update")
    rows = con.execute("SELECT * FROM records ORDER BY seq").fetchall()
    prev = rows[0]["prev_hash"]
    for row in rows:
        body = json.loads(row["body"])
        if row["seq"] == 2:
            body["user"] = "mallory"
        text = canonical_json(body)
        digest = hashlib.sha256((prev + text).encode()).hexdigest()
        columns = [c for c in row.keys() if c == "content_hash"]
        sets = ", ".join(["user = ?", "body = ?", "prev_hash = ?", "hash = ?", *(f"{c} = ?" for c in columns)])
        values = [body.get("user"), text, prev, digest, *(hashlib.sha256(text.encode()).hexdigest() for _ in columns)]
        con.execute(f"UPDATE records SET {sets} WHERE seq = ?", (*values, row["seq"]))
        prev = digest
    con.close()
    code, report = _verify(data_dir, capsys)
    assert code == 1 and report["problems"]


def test_dropped_triggers_are_reported(data_dir, capsys):
    con = sqlite3.connect(data_dir / "records.sqlite", isolation_level=None)
    con.execute("DROP TRIGGER records_no_delete")
    con.close()
    code, report = _verify(data_dir, capsys)
    assert code == 1
    assert any("records_no_delete" in p for p in report["problems"]), report


def test_a_file_that_is_not_sqlite_is_a_finding_not_a_traceback(data_dir, capsys):
    for extra in (data_dir / "records.sqlite-wal", data_dir / "records.sqlite-shm"):
        extra.unlink(missing_ok=True)
    (data_dir / "records.sqlite").write_bytes(b"this is not a database at all\n" * 200)
    code, report = _verify(data_dir, capsys)
    assert code == 1
    assert any("not a readable SQLite database" in p for p in report["problems"]), report


def test_a_malformed_body_is_a_finding(data_dir, capsys):
    _sql(data_dir, "DROP INDEX records_flagged", "UPDATE records SET body = '{not json' WHERE seq = 2")
    code, report = _verify(data_dir, capsys)
    assert code == 1
    assert any("not readable JSON" in p for p in report["problems"]), report
    # Readers do not fall over either.
    assert main(["--data-dir", str(data_dir), "audit", "export"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_a_record_of_unknown_kind_is_a_finding(tmp_path, capsys):
    data_dir = tmp_path / "data"
    _write(data_dir, n=1)
    services = build_services(load_settings(data_dir=data_dir))
    services.records.append("mystery", {"user": "ann"})
    services.close()
    code, report = _verify(data_dir, capsys)
    assert code == 1
    assert any("unknown kind 'mystery'" in p for p in report["problems"]), report


def test_anchor_prints_the_head(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "audit", "anchor", "--json"]) == 0
    head = json.loads(capsys.readouterr().out)
    assert head["records"] == 3 and len(head["last_hash"]) == 64 and head["ts"]
    assert main(["--data-dir", str(data_dir), "audit", "anchor"]) == 0
    assert head["last_hash"] in capsys.readouterr().out


def test_retention_keeps_the_trail_verifiable_and_a_cut_after_it_is_still_found(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "audit", "prune", "--days", "0.0000001"]) == 0
    capsys.readouterr()
    code, report = _verify(data_dir, capsys)
    assert code == 0, report
    assert report["records"] == 1  # the retention record
    _sql(data_dir, "DELETE FROM records")
    code, report = _verify(data_dir, capsys)
    assert code == 1 and report["problems"]


def test_a_cut_tail_stays_detected_after_the_app_writes_again(data_dir, capsys):
    _sql(data_dir, "DELETE FROM records WHERE seq = (SELECT MAX(seq) FROM records)")
    _write(data_dir, n=2)  # the app goes on writing: the new head must not hide the cut
    code, report = _verify(data_dir, capsys)
    assert code == 1
    assert any("records were cut" in p for p in report["problems"]), report


def test_an_anchor_left_behind_by_a_crash_is_a_note_not_a_finding(tmp_path, capsys):
    data_dir = tmp_path / "data"
    _write(data_dir, n=2)
    settings = load_settings(data_dir=data_dir)
    anchor = next((settings.keys_dir / "anchors").glob("*.json"))
    saved = anchor.read_bytes()
    _write(data_dir, n=1)
    anchor.write_bytes(saved)  # as if the app stopped between committing the record and rewriting the anchor
    code, report = _verify(data_dir, capsys)
    assert code == 0, report
    assert any("1 record(s) after the head anchor" in n for n in report["notes"])
    _write(data_dir, n=1)  # the next write brings the anchor up to date, without a break
    code, report = _verify(data_dir, capsys)
    assert code == 0 and report["records"] == 4 and report["notes"] == []
