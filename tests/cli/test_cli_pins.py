"""`pins list|add|refresh` on a real data directory (DuckDB tables, the board file, the request records)."""

from __future__ import annotations

import json

from app.pins.store import PinStore
from storage.conversations import ConversationStore


def test_pins_refresh_lists_changes_and_exits_1_when_a_pin_is_stale(cli):
    cli.data_dir.mkdir(parents=True, exist_ok=True)
    board = PinStore(cli.data_dir / "board.sqlite")
    assert "No pins on this board yet." in cli("pins", "list").stdout
    ok = board.add("Constant?", "SELECT 2 * 21 AS answer", ["answer"], [[40]], 1)
    board.add("Gone?", "SELECT count(*) AS n FROM nowhere", ["n"], [[3]], 1)
    done = cli("pins", "refresh", "--json")
    assert done.returncode == 1, done.stderr
    first, second = json.loads(done.stdout)["pins"]
    assert (first["headline"], first["changed"], first["stale"]) == ("answer = 42", True, "")
    assert second["headline"] == "n = 3" and "nowhere" in second["stale"]
    assert cli("pins", "refresh", ok.id).returncode == 0
    listed = cli("pins", "list")
    assert "answer = 42" in listed.stdout and "STALE" in listed.stdout
    records = cli("audit", "export", "--kind", "pin_refreshed")
    assert len(records.stdout.strip().splitlines()) == 3


def test_pinning_a_conversation_without_an_sql_answer_exits_2(cli):
    cli.data_dir.mkdir(parents=True, exist_ok=True)
    store = ConversationStore(cli.data_dir / "chats.sqlite")
    conv = store.create()
    store.add_message(conv.id, "user", "Hi")
    store.add_message(conv.id, "assistant", "Hello.")
    done = cli("pins", "add", conv.id)
    assert done.returncode == 2 and "nothing to pin" in done.stderr
    assert cli("pins", "add", "nope").returncode == 2
