"""Conversations and messages on a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest

from app.errors import BadInputError, NotFoundError
from storage.conversations import (
    ERROR,
    INTERRUPTED,
    OK,
    STOPPED,
    STREAMING,
    ConversationStore,
)
from tests.fixtures.threads import at_once


@pytest.fixture()
def store(tmp_path) -> ConversationStore:
    return ConversationStore(tmp_path / "chats.sqlite")


def test_create_list_get(store):
    first = store.create()
    second = store.create("Quarterly sales")
    assert first.title == "New conversation"
    assert store.get(second.id).title == "Quarterly sales"
    assert {c.id for c in store.list()} == {first.id, second.id}
    assert store.list()[0].id == second.id  # most recently created first


def test_list_puts_the_last_active_conversation_first(store):
    old = store.create("old")
    store.create("new")
    store.add_message(old.id, "user", "hello again")
    assert store.list()[0].id == old.id


def test_rename_normalises_and_refuses_empty(store):
    conv = store.create()
    store.rename(conv.id, "  Revenue   by\nregion  ")
    assert store.get(conv.id).title == "Revenue by region"
    store.rename(conv.id, "x" * 500)
    assert len(store.get(conv.id).title) == 120
    with pytest.raises(BadInputError):
        store.rename(conv.id, "   ")
    with pytest.raises(NotFoundError):
        store.rename("missing", "title")


def test_delete_removes_conversation_and_messages(store, tmp_path):
    keep = store.create("keep")
    gone = store.create("gone")
    store.add_message(gone.id, "user", "bye")
    store.add_message(keep.id, "user", "stay")
    store.delete(gone.id)
    assert [c.id for c in store.list()] == [keep.id]
    with pytest.raises(NotFoundError):
        store.get(gone.id)
    assert store.messages(gone.id) == []
    orphans = sqlite3.connect(tmp_path / "chats.sqlite").execute(
        "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (gone.id,)
    ).fetchone()[0]
    assert orphans == 0
    assert [m.content for m in store.messages(keep.id)] == ["stay"]


def test_adding_to_a_deleted_conversation_is_a_clear_error(store):
    conv = store.create()
    store.delete(conv.id)
    with pytest.raises(NotFoundError, match="no longer exists"):
        store.add_message(conv.id, "user", "late message from another tab")


def test_messages_keep_order_status_and_meta(store):
    conv = store.create()
    store.add_message(conv.id, "user", "one")
    answer = store.add_message(conv.id, "assistant", "", STREAMING, {"model": "m"})
    store.add_message(conv.id, "user", "three")
    store.update_message(answer.id, "two", OK, {"model": "m", "tokens_out": 1})
    messages = store.messages(conv.id)
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", "one", OK),
        ("assistant", "two", OK),
        ("user", "three", OK),
    ]
    assert messages[1].meta == {"model": "m", "tokens_out": 1}


def test_update_without_status_keeps_status_and_meta(store):
    conv = store.create()
    msg = store.add_message(conv.id, "assistant", "", STREAMING, {"model": "m"})
    store.update_message(msg.id, "partial")
    (got,) = store.messages(conv.id)
    assert (got.content, got.status, got.meta) == ("partial", STREAMING, {"model": "m"})
    store.update_message(msg.id, "partial", STOPPED)
    assert store.messages(conv.id)[0].status == STOPPED


def test_own_streaming_placeholder_reads_as_streaming(store):
    conv = store.create()
    store.add_message(conv.id, "assistant", "half", STREAMING)
    assert store.messages(conv.id)[0].status == STREAMING


def test_placeholder_from_another_process_reads_as_interrupted(store, tmp_path):
    # What a killed app leaves behind: a streaming row owned by a process that no longer runs.
    conv = store.create()
    store.add_message(conv.id, "user", "question")
    con = sqlite3.connect(tmp_path / "chats.sqlite", isolation_level=None)
    con.execute(
        "INSERT INTO messages (id, conversation_id, seq, role, content, status, meta, created_at, owner)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (uuid.uuid4().hex, conv.id, 2, "assistant", "partial ans", STREAMING, json.dumps({}), "2024", "dead-process"),
    )
    messages = store.messages(conv.id)
    assert [(m.content, m.status) for m in messages] == [("question", OK), ("partial ans", INTERRUPTED)]


def test_history_survives_reopening(tmp_path):
    path = tmp_path / "chats.sqlite"
    first = ConversationStore(path)
    conv = first.create("persisted")
    first.add_message(conv.id, "user", "q")
    first.add_message(conv.id, "assistant", "a", ERROR, {"error": "boom"})
    reopened = ConversationStore(path)
    assert reopened.get(conv.id).title == "persisted"
    assert [(m.content, m.status, m.meta) for m in reopened.messages(conv.id)] == [
        ("q", OK, {}),
        ("a", ERROR, {"error": "boom"}),
    ]


def test_second_tab_on_the_same_file_sees_the_same_history(tmp_path):
    tab1 = ConversationStore(tmp_path / "chats.sqlite")
    tab2 = ConversationStore(tmp_path / "chats.sqlite")
    conv = tab1.create()
    tab1.add_message(conv.id, "user", "from tab 1")
    tab2.add_message(conv.id, "user", "from tab 2")
    answer = tab1.add_message(conv.id, "assistant", "", STREAMING)
    tab1.update_message(answer.id, "streamed so far")
    for tab in (tab1, tab2):
        assert [m.content for m in tab.messages(conv.id)] == ["from tab 1", "from tab 2", "streamed so far"]
    tab2.rename(conv.id, "renamed in tab 2")
    assert tab1.get(conv.id).title == "renamed in tab 2"


def test_title_from_question(store):
    assert store.title_from("  What is   the capital?  ") == "What is the capital?"
    long = store.title_from("word " * 40)
    assert long.endswith("…") and len(long) == 58
    assert store.title_from("   ") == "New conversation"


def test_a_conversation_keeps_its_chosen_documents_and_tables(store, tmp_path):
    from storage.conversations import Scope

    conv, other = store.create(), store.create()
    assert store.scope(conv.id) == Scope() and store.scope(conv.id).is_all
    store.set_scope(conv.id, Scope(documents=["d1", "d2", "d1"], tables=["sales"]))
    assert ConversationStore(tmp_path / "chats.sqlite").scope(conv.id) == Scope(["d1", "d2"], ["sales"])  # reopened
    assert store.scope(other.id) == Scope()
    store.set_scope(conv.id, Scope(tables=["budget"]))
    assert store.scope(conv.id) == Scope([], ["budget"])
    store.delete(conv.id)
    assert store.scope(conv.id) == Scope()
    rows = sqlite3.connect(tmp_path / "chats.sqlite").execute("SELECT COUNT(*) FROM conversation_scope").fetchone()
    assert rows[0] == 0  # deleted with its conversation
    with pytest.raises(NotFoundError):
        store.set_scope("missing", Scope(tables=["sales"]))


def test_a_database_from_before_scopes_gains_them_and_keeps_its_conversations(tmp_path):
    from storage.conversations import Scope

    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE conversations (id TEXT PRIMARY KEY, title TEXT NOT NULL, created_at TEXT NOT NULL,
                                    updated_at TEXT NOT NULL);
        CREATE TABLE messages (id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL REFERENCES conversations(id)
            ON DELETE CASCADE, seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, status TEXT NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '');
        INSERT INTO conversations VALUES ('c1', 'Old one', '2025-01-01T00:00:00', '2025-01-01T00:00:00');
    """)
    con.commit()
    con.close()

    store = ConversationStore(path)
    assert store.get("c1").title == "Old one" and store.scope("c1") == Scope()
    store.set_scope("c1", Scope(documents=["d9"]))
    assert store.scope("c1") == Scope(["d9"], [])


def test_a_damaged_scope_reads_as_everything(store, tmp_path):
    from storage.conversations import Scope

    conv = store.create()
    store.set_scope(conv.id, Scope(tables=["sales"]))
    con = sqlite3.connect(tmp_path / "chats.sqlite")
    con.execute("UPDATE conversation_scope SET tables = 'not json', documents = '{\"a\": 1}'")
    con.commit()
    con.close()
    assert store.scope(conv.id) == Scope()


def test_twenty_users_saving_at_once_through_two_store_objects_lose_no_message(tmp_path):
    # Two store objects on one file (two signed-in users' stores) share the process's write queue.
    stores = [ConversationStore(tmp_path / "chats.sqlite"), ConversationStore(tmp_path / "chats.sqlite")]
    shared = stores[0].create("everyone's")
    own = {n: stores[n % 2].create(f"analyst {n}").id for n in range(20)}

    def analyst(n: int) -> None:
        store = stores[n % 2]
        for turn in range(5):
            store.add_message(shared.id, "user", f"{n}-{turn}")
            answer = store.add_message(own[n], "assistant", "", STREAMING)
            store.update_message(answer.id, f"answer {n}-{turn}", OK)
            store.rename(own[n], f"analyst {n}, turn {turn}")

    assert not at_once(20, analyst)
    messages = stores[1].messages(shared.id)
    assert sorted(m.content for m in messages) == sorted(f"{n}-{t}" for n in range(20) for t in range(5))
    for n, conversation_id in own.items():
        assert [(m.content, m.status) for m in stores[0].messages(conversation_id)] == [
            (f"answer {n}-{t}", OK) for t in range(5)]
        assert stores[1].get(conversation_id).title == f"analyst {n}, turn 4"
