"""Request records appended by many threads at once (they are written in groups): each once, in one valid chain,
and a record that cannot be written fails alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage.records import SqliteRecordStore
from tests.fixtures.threads import at_once


def test_twenty_writers_through_two_store_objects_each_get_their_record_once(tmp_path: Path) -> None:
    stores = [SqliteRecordStore(tmp_path / "records.sqlite"), SqliteRecordStore(tmp_path / "records.sqlite")]
    ids: dict[tuple[int, int], str] = {}

    def analyst(n: int) -> None:
        for turn in range(5):
            ids[(n, turn)] = stores[n % 2].append("chat", {"user": f"u{n}", "status": "ok", "question": f"{n}-{turn}"})

    assert at_once(20, analyst) == []
    records = {r["id"]: r for r in stores[0].iter_all()}
    assert len(records) == 100 and set(records) == set(ids.values())
    assert all(records[record_id]["question"] == f"{n}-{t}" for (n, t), record_id in ids.items())
    report = stores[1].verify_report()
    assert report["ok"] and report["records"] == 100


def test_a_record_that_cannot_be_written_fails_alone_among_simultaneous_ones(tmp_path: Path) -> None:
    store = SqliteRecordStore(tmp_path / "records.sqlite")
    taken = store.append("chat", {"question": "first"})
    written: dict[int, str] = {}

    def analyst(n: int) -> None:
        # Analyst 7 re-sends a record id that is already in the trail: the store refuses it (ids are unique).
        body = {"question": f"q{n}", **({"id": taken} if n == 7 else {})}
        written[n] = store.append("chat", body)

    errors = at_once(12, analyst)
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.IntegrityError)
    assert sorted(written) == [n for n in range(12) if n != 7]
    questions = sorted(r["question"] for r in store.iter_all())
    assert questions == sorted(["first", *(f"q{n}" for n in range(12) if n != 7)])
    assert store.verify_report()["ok"]
