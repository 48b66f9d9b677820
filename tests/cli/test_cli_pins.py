"""`pins list|add|refresh` on a real data directory (DuckDB tables, the board file, the request records)."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_a_viewer_reads_the_workspace_board_and_cannot_change_it(cli):
    for name, role in (("ann", "analyst"), ("vic", "viewer")):
        added = cli("users", "add", name, "--role", role, "--password-stdin", stdin="correct horse battery")
        assert added.returncode == 0, added.stderr
    assert cli("workspaces", "create", "Team").returncode == 0
    for name in ("ann", "vic"):
        assert cli("workspaces", "add-member", "Team", name).returncode == 0
    folder = next(w["folder"] for w in json.loads(cli("workspaces", "list", "--json").stdout)["workspaces"]
                  if w["name"] == "Team")
    PinStore(Path(folder) / "board.sqlite").add("Constant?", "SELECT 42 AS answer", ["answer"], [[42]], 1)
    as_vic = ("--user", "vic", "--workspace", "Team")
    assert "answer = 42" in cli(*as_vic, "pins", "list").stdout  # the workspace's board, read
    assert "No pins" in cli("--user", "ann", "pins", "list").stdout  # ann's private board is another one
    for action in (("pins", "refresh"), ("pins", "add", "nope")):
        refused = cli(*as_vic, *action)
        assert refused.returncode == 2 and "Your role (viewer) may not" in refused.stderr, refused.stderr
    assert cli("--user", "ann", "--workspace", "Team", "pins", "refresh").returncode == 0
    denied = cli("audit", "export", "--kind", "permission_denied")
    assert denied.stdout.count("pins ") == 2
