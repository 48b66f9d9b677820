"""The append-only, hash-chained request record store on a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from storage.record_chain import content_hash, keyed_hash
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
    columns = [rows[1][c] for c in ("id", "ts", "kind", "user", "backend", "model", "status", "conversation_id")]
    assert rows[1]["content_hash"] == content_hash(rows[1]["body"])
    assert rows[1]["hash"] == keyed_hash(store.keys, rows[0]["hash"], columns, rows[1]["content_hash"])
    assert rows[1]["hash"] != chain_hash(rows[0]["hash"], json.loads(rows[1]["body"]))  # keyed, not plain sha256
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


def _content(problems: list[str]) -> list[str]:
    """The problems besides the dropped triggers (which every test below also causes, and which are reported)."""
    assert any("trigger records_no_update is missing" in p for p in problems)
    return [p for p in problems if "trigger" not in p and "head anchor" not in p]


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

    problems = _content(store.verify())
    assert len(problems) == 1
    assert ids[1] in problems[0] and "altered" in problems[0]


def test_verify_detects_a_deleted_record(store, tmp_path):
    ids = [store.append("chat", _body(i)) for i in range(3)]
    con = _drop_triggers(tmp_path / "records.sqlite")
    con.execute("DELETE FROM records WHERE id = ?", (ids[1],))

    problems = _content(store.verify())
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


# --- search, distinct -------------------------------------------------------------------------------------------


def _turn(i: int, **extra) -> dict:
    body = _body(i, ts=f"2025-01-{i + 1:02d}T10:00:00.000+00:00", answer=f"answer {i}", tools=[], flagged=False)
    body.update(extra)
    return body


@pytest.fixture()
def turns(store) -> SqliteRecordStore:
    store.append("chat", _turn(0, user="ann", model="qwen", tools=[{"name": "search_documents", "seconds": 0.1}]))
    store.append("chat", _turn(1, user="bob", model="llama", flagged=True, status="blocked"))
    store.append("chat", _turn(2, user="ann", model="llama", tools=[{"name": "run_sql"}], question="100% sales_x"))
    old = _turn(3, user="ann", model="qwen")
    del old["flagged"], old["tools"]  # an older record without these fields
    store.append("chat", old)
    store.append("ingest", _turn(4, user="ann"))
    return store


def _q(records) -> list[str]:
    return [r["question"] for r in records]


def test_search_filters_in_sql(turns):
    assert _q(turns.search()) == ["q3", "100% sales_x", "q1", "q0"]  # chat only by default, newest first
    assert _q(turns.search(kind=None)) == ["q4", "q3", "100% sales_x", "q1", "q0"]
    assert _q(turns.search(user="ann")) == ["q3", "100% sales_x", "q0"]
    assert _q(turns.search(model="llama", user="bob")) == ["q1"]
    assert _q(turns.search(tool="run_sql")) == ["100% sales_x"]
    assert _q(turns.search(tool="search_documents")) == ["q0"]
    assert _q(turns.search(flagged=True)) == ["q1"]
    assert _q(turns.search(flagged=False)) == ["q3", "100% sales_x", "q0"]  # missing counts as not flagged
    assert _q(turns.search(status="blocked")) == ["q1"]
    assert _q(turns.search(since="2025-01-02", until="2025-01-04")) == ["100% sales_x", "q1"]
    assert _q(turns.search(text="ANSWER 1")) == ["q1"]
    assert _q(turns.search(text="0% s")) == ["100% sales_x"]
    assert _q(turns.search(text="%")) == ["100% sales_x"]  # wildcards are literal
    assert _q(turns.search(text="s_x")) == ["100% sales_x"]
    assert turns.search(text="q_") == []
    assert _q(turns.search(limit=2, offset=1)) == ["100% sales_x", "q1"]
    assert turns.count_matching(user="ann") == 3
    assert _q(turns.iter_matching(batch=1, user="ann")) == ["q0", "100% sales_x", "q3"]  # oldest first
    assert turns.search(user="x' OR '1'='1") == []


def test_distinct_gives_filter_choices(turns):
    assert turns.distinct("user") == ["ann", "bob"]
    assert turns.distinct("model") == ["llama", "qwen"]
    assert turns.distinct("tool") == ["run_sql", "search_documents"]
    assert turns.distinct("kind", kind=None) == ["chat", "ingest"]
    with pytest.raises(ValueError):
        turns.distinct("body")


def test_an_existing_database_opens_with_the_new_indexes(tmp_path):
    path = tmp_path / "records.sqlite"
    con = _raw(path)
    con.executescript(  # the schema as it was before search and retention
        "CREATE TABLE records (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, ts TEXT NOT NULL,"
        " kind TEXT NOT NULL, user TEXT, backend TEXT, model TEXT, status TEXT, conversation_id TEXT,"
        " body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
        "CREATE TRIGGER records_no_update BEFORE UPDATE ON records"
        " BEGIN SELECT RAISE(ABORT, 'request records are append-only'); END;"
        "CREATE TRIGGER records_no_delete BEFORE DELETE ON records"
        " BEGIN SELECT RAISE(ABORT, 'request records are append-only'); END;"
    )
    body = {"id": "a", "ts": "2020-01-01T00:00:00.000+00:00", "kind": "chat", "question": "old"}
    con.execute(
        "INSERT INTO records (id, ts, kind, body, prev_hash, hash) VALUES ('a', ?, 'chat', ?, ?, ?)",
        (body["ts"], json.dumps(body), GENESIS, chain_hash(GENESIS, body)),
    )
    store = SqliteRecordStore(path)
    assert _q(store.search(flagged=False)) == ["old"]
    assert store.verify() == []
    assert store.prune(30)["pruned"] == 1
    assert store.verify() == []


# --- retention --------------------------------------------------------------------------------------------------

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def _aged(store, days_ago: list[int]) -> list[str]:
    return [
        store.append("chat", _body(i, ts=(NOW - timedelta(days=d)).isoformat(timespec="milliseconds")))
        for i, d in enumerate(days_ago)
    ]


def test_prune_deletes_old_records_keeps_an_anchor_and_records_itself(store, tmp_path):
    ids = _aged(store, [100, 90, 40, 10, 1])
    hashes = {r["id"]: r["hash"] for r in _raw(tmp_path / "records.sqlite").execute("SELECT id, hash FROM records")}

    result = store.prune(30, now=NOW)

    assert result["pruned"] == 3 and result["anchor_hash"] == hashes[ids[2]]
    assert [r["id"] for r in store.query(limit=10)][1:] == [ids[4], ids[3]]
    (retention,) = store.query(kind="retention")
    assert retention["pruned"] == 3 and retention["anchor_hash"] == hashes[ids[2]]
    assert retention["before"] == (NOW - timedelta(days=30)).isoformat(timespec="milliseconds")
    assert store.verify() == []
    # The trigger is back: ordinary deletes are still refused.
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        _raw(tmp_path / "records.sqlite").execute("DELETE FROM records")
    # Appending continues the chain, and a second prune moves the anchor.
    store.append("chat", _body(9))
    assert store.prune(5, now=NOW)["pruned"] == 1
    assert store.anchor()["pruned_total"] == 4
    assert store.verify() == []


def test_prune_with_nothing_old_changes_nothing(store):
    _aged(store, [3, 2])
    assert store.prune(30, now=NOW)["pruned"] == 0
    assert store.count() == 2 and store.anchor() is None and store.verify() == []
    with pytest.raises(ValueError):
        store.prune(0)


def test_prune_of_every_record_keeps_the_chain(store):
    _aged(store, [50, 40])
    assert store.prune(30, now=NOW)["pruned"] == 2
    assert [r["kind"] for r in store.query()] == ["retention"]
    store.append("chat", _body(3))
    assert store.verify() == []


def test_a_record_with_an_older_timestamp_after_a_newer_one_is_kept(store):
    ids = _aged(store, [100, 5, 100])
    assert store.prune(30, now=NOW)["pruned"] == 1  # only a prefix of the chain goes
    assert {r["id"] for r in store.query(kind="chat")} == {ids[1], ids[2]}
    assert store.verify() == []


def test_after_prune_edits_and_deletions_are_still_detected(store, tmp_path):
    ids = _aged(store, [100, 10, 5, 1])
    store.prune(30, now=NOW)
    con = _drop_triggers(tmp_path / "records.sqlite")
    body = json.loads(con.execute("SELECT body FROM records WHERE id = ?", (ids[2],)).fetchone()["body"])
    body["answer"] = "forged"
    con.execute("UPDATE records SET body = ? WHERE id = ?", (json.dumps(body), ids[2]))
    problems = _content(store.verify())
    assert len(problems) == 1 and ids[2] in problems[0] and "altered" in problems[0]

    con.execute("UPDATE records SET body = ? WHERE id = ?", (json.dumps({**body, "answer": None}), ids[2]))
    con.execute("DELETE FROM records WHERE id = ?", (ids[2],))
    assert any(ids[3] in p and "missing" in p for p in store.verify())


def test_deleting_the_oldest_remaining_record_and_moving_the_anchor_is_detected(store, tmp_path):
    ids = _aged(store, [100, 10, 5])
    store.prune(30, now=NOW)
    con = _drop_triggers(tmp_path / "records.sqlite")
    # Hide the oldest remaining record: delete it and point the anchor at the next record's prev_hash.
    nxt = con.execute("SELECT prev_hash FROM records WHERE id = ?", (ids[2],)).fetchone()["prev_hash"]
    con.execute("DELETE FROM records WHERE id = ?", (ids[1],))
    con.execute("UPDATE chain_anchor SET hash = ?", (nxt,))
    problems = _content(store.verify())
    assert len(problems) == 1 and "anchor" in problems[0] and "moved" in problems[0]


def test_removing_the_anchor_is_detected(store, tmp_path):
    _aged(store, [100, 10])
    store.prune(30, now=NOW)
    _raw(tmp_path / "records.sqlite").execute("DELETE FROM chain_anchor")
    problems = store.verify()
    assert any("missing" in p for p in problems) and any("anchor missing" in p for p in problems)
