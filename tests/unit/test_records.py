"""The append-only, hash-chained request record store on a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from storage.records import GENESIS, SqliteRecordStore, chain_hash


@pytest.fixture()
def store(tmp_path) -> SqliteRecordStore:
    return SqliteRecordStore(tmp_path / "records.sqlite")


def _body(i: int, **extra) -> dict:
    return {"user": "ann", "backend": "embedded", "model": "m", "status": "ok", "question": f"q{i}", **extra}


def _raw(path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    con.row_factory = sqlite3.Row
    return con


def test_append_returns_id_and_stores_body_with_id_ts_kind(store):
    record_id = store.append("chat", _body(1, answer="Paris", nested={"a": [1, 2]}))
    record = store.get(record_id)
    assert record["id"] == record_id
    assert record["kind"] == "chat"
    assert record["answer"] == "Paris"
    assert record["nested"] == {"a": [1, 2]}
    assert record["ts"].endswith("+00:00")
    assert store.count() == 1
    assert store.get("no-such-id") is None


def test_chain_starts_at_genesis_and_links(store, tmp_path):
    first = store.append("chat", _body(1))
    second = store.append("chat", _body(2))
    rows = _raw(tmp_path / "records.sqlite").execute("SELECT * FROM records ORDER BY seq").fetchall()
    assert [r["id"] for r in rows] == [first, second]
    assert rows[0]["prev_hash"] == GENESIS
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    assert rows[1]["hash"] == chain_hash(rows[0]["hash"], json.loads(rows[1]["body"]))
    assert store.verify() == []


def test_query_is_newest_first_and_filters(store):
    store.append("chat", _body(1, user="ann", status="ok", conversation_id="c1"))
    store.append("chat", _body(2, user="bob", status="error", conversation_id="c1"))
    store.append("ingest", _body(3, user="ann", status="ok"))
    store.append("chat", _body(4, user="ann", status="stopped", backend="ollama"))

    assert [r["question"] for r in store.query()] == ["q4", "q3", "q2", "q1"]
    assert [r["question"] for r in store.query(limit=2)] == ["q4", "q3"]
    assert [r["question"] for r in store.query(kind="chat", user="ann")] == ["q4", "q1"]
    assert [r["question"] for r in store.query(status="error")] == ["q2"]
    assert [r["question"] for r in store.query(backend="ollama")] == ["q4"]
    assert [r["question"] for r in store.query(conversation_id="c1")] == ["q2", "q1"]
    assert [r["question"] for r in store.query(user=None)] == ["q4", "q3", "q2", "q1"]  # None = no filter
    with pytest.raises(ValueError, match="answer"):
        store.query(answer="x")


def test_query_by_time_range(store):
    store.append("chat", _body(1, ts="2024-01-01T00:00:00.000+00:00"))
    store.append("chat", _body(2, ts="2024-06-01T00:00:00.000+00:00"))
    store.append("chat", _body(3, ts="2025-01-01T00:00:00.000+00:00"))
    got = store.query(since="2024-03-01", until="2025-01-01")
    assert [r["question"] for r in got] == ["q2"]


def test_filter_values_are_parameters_not_sql(store):
    store.append("chat", _body(1))
    assert store.query(user="x' OR '1'='1") == []
    assert store.count() == 1


def test_update_and_delete_are_refused_by_triggers(store, tmp_path):
    store.append("chat", _body(1))
    con = _raw(tmp_path / "records.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE records SET body = '{}'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM records")
    assert store.count() == 1
    assert store.verify() == []


def test_reopening_keeps_records_and_chain(tmp_path):
    path = tmp_path / "records.sqlite"
    SqliteRecordStore(path).append("chat", _body(1))
    again = SqliteRecordStore(path)
    again.append("chat", _body(2))
    assert again.count() == 2
    assert again.verify() == []


def _drop_triggers(path) -> sqlite3.Connection:
    con = _raw(path)
    con.execute("DROP TRIGGER records_no_update")
    con.execute("DROP TRIGGER records_no_delete")
    return con


def test_verify_detects_an_edited_body(store, tmp_path):
    ids = [store.append("chat", _body(i, answer="right")) for i in range(3)]
    con = _drop_triggers(tmp_path / "records.sqlite")
    row = con.execute("SELECT body FROM records WHERE id = ?", (ids[1],)).fetchone()
    body = json.loads(row["body"])
    body["answer"] = "wrong"
    con.execute("UPDATE records SET body = ? WHERE id = ?", (json.dumps(body), ids[1]))

    problems = store.verify()
    assert len(problems) == 1
    assert ids[1] in problems[0] and "altered" in problems[0]


def test_verify_detects_a_deleted_record(store, tmp_path):
    ids = [store.append("chat", _body(i)) for i in range(3)]
    con = _drop_triggers(tmp_path / "records.sqlite")
    con.execute("DELETE FROM records WHERE id = ?", (ids[1],))

    problems = store.verify()
    assert len(problems) == 1
    assert ids[2] in problems[0] and "missing" in problems[0]


def test_verify_detects_a_rewritten_hash(store, tmp_path):
    ids = [store.append("chat", _body(i)) for i in range(2)]
    con = _drop_triggers(tmp_path / "records.sqlite")
    con.execute("UPDATE records SET hash = ? WHERE id = ?", ("1" * 64, ids[0]))
    problems = store.verify()
    assert any(ids[0] in p for p in problems)
    assert any(ids[1] in p for p in problems)  # the next link no longer matches


def test_concurrent_appends_from_threads_keep_the_chain_valid(store):
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(25):
                store.append("chat", _body(i, worker=n))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 150
    assert store.verify() == []


def test_two_store_objects_on_one_file_share_one_chain(tmp_path):
    # The app and the CLI write to the same file from different processes.
    a = SqliteRecordStore(tmp_path / "records.sqlite")
    b = SqliteRecordStore(tmp_path / "records.sqlite")
    for i in range(5):
        (a if i % 2 else b).append("chat", _body(i))
    assert a.count() == b.count() == 5
    assert a.verify() == []
