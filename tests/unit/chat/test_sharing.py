"""Sharing a conversation read-only inside its workspace, through the services each role gets: the owner shares
and unshares (recorded), members (analyst, viewer) read it by its link and cannot change it, a non-member and
someone signed out get nothing of it, and a chats file from before owners existed still opens."""

from __future__ import annotations

import sqlite3

import pytest

from app.access.roles import PermissionDenied
from app.chat.sharing import open_shared, share_conversation, share_link, unshare_conversation
from app.container import Services, build_services
from app.errors import AssistantError, BadInputError, NotFoundError
from storage.conversations import ConversationStore, NotOwnerError, Scope
from storage.records import SqliteRecordStore
from tests.fixtures.people import team_of

ANSWER = "The total revenue is 238.42."


@pytest.fixture()
def team(settings_factory):
    """Team (shared): ann (analyst, the owner), amy (analyst), vic (viewer); bob (analyst) is not a member."""
    yield from team_of(settings_factory(auth="password"),
                       {"ann": "analyst", "amy": "analyst", "vic": "viewer", "bob": "analyst"},
                       ("ann", "amy", "vic"), default_workspace="Team")


def _answered(services: Services) -> str:
    conv = services.conversations.create("Revenue")
    services.conversations.add_message(conv.id, "user", "What is the total revenue?")
    services.conversations.add_message(conv.id, "assistant", ANSWER)
    return conv.id


def _records(settings, kind: str) -> list[dict]:
    return SqliteRecordStore(settings.data_dir / "records.sqlite").query(kind=kind, limit=50)


def test_owner_shares_members_read_it_and_cannot_change_it(team):
    settings, _directory, services = team
    ann, amy, vic = services("ann"), services("amy"), services("vic")
    conv_id = _answered(ann)
    assert amy.conversations.list() == [] and amy.conversations.shared_by_others() == []  # not shared yet

    token = share_conversation(ann.conversations, ann.records, ann.actor, conv_id)
    assert share_conversation(ann.conversations, ann.records, ann.actor, conv_id) == token  # one link
    for member in (amy, vic):
        assert [(c.id, t) for c, t in member.conversations.shared_by_others()] == [(conv_id, token)]
        opened = open_shared(member.conversations, member.actor, token)
        assert opened.owner == "ann"
        assert [m.content for m in member.conversations.messages(opened.id)][-1] == ANSWER
        assert member.conversations.list() == []  # it is not theirs: never in their own list
        for change in (lambda s: s.conversations.add_message(conv_id, "user", "More?"),
                       lambda s: s.conversations.rename(conv_id, "Mine now"),
                       lambda s: s.conversations.set_scope(conv_id, Scope(tables=["sales"])),
                       lambda s: s.conversations.delete_from(conv_id, s.conversations.messages(conv_id)[0].id),
                       lambda s: unshare_conversation(s.conversations, s.records, s.actor, conv_id)):
            with pytest.raises(NotOwnerError, match="ann"):
                change(member)
    with pytest.raises(NotOwnerError):
        amy.delete_conversation(conv_id)
    with pytest.raises(PermissionDenied):
        vic.delete_conversation(conv_id)  # a viewer deletes nothing at all
    answer_id = ann.conversations.messages(conv_id)[-1].id
    with pytest.raises(NotOwnerError):
        amy.conversations.update_message(answer_id, "Edited by amy")
    assert [m.content for m in ann.conversations.messages(conv_id)] == ["What is the total revenue?", ANSWER]
    assert ann.conversations.get(conv_id).title == "Revenue"

    shared = _records(settings, "conversation_shared")
    assert {(r["user"], r["status"]) for r in shared} == {("ann", "ok")}
    assert all(r["conversation_id"] == conv_id and token not in str(r) for r in shared)  # the link is not stored
    unshare_conversation(ann.conversations, ann.records, ann.actor, conv_id)
    with pytest.raises(NotFoundError, match="does not open a shared conversation"):
        open_shared(amy.conversations, amy.actor, token)
    assert amy.conversations.shared_by_others() == []
    unshared = _records(settings, "conversation_unshared")
    assert sorted((r["user"], r["status"]) for r in unshared) == [
        ("amy", "error"), ("ann", "ok"), ("vic", "error")]
    ann.conversations.add_message(conv_id, "user", "And by region?")  # the owner goes on as before
    # Sharing records are the app's own kinds: the audit trail still verifies (reports cite its records).
    assert SqliteRecordStore(settings.data_dir / "records.sqlite").verify() == []


def test_non_member_signed_out_and_unknown_links_see_nothing(team):
    _settings, directory, services = team
    ann = services("ann")
    conv_id = _answered(ann)
    token = share_conversation(ann.conversations, ann.records, ann.actor, conv_id)
    bob = services("bob", None)  # his private workspace: the token does not open anything there
    with pytest.raises(NotFoundError):
        open_shared(bob.conversations, bob.actor, token)
    with pytest.raises(PermissionDenied, match="not a member"):
        services("bob", "Team")
    with pytest.raises(BadInputError, match="sign-in"):
        open_shared(ann.conversations, None, token)
    amy = services("amy")
    for bad in ("", "nope", token[:-1], "x' OR '1'='1", "a" * 500):
        with pytest.raises(NotFoundError):
            open_shared(amy.conversations, amy.actor, bad)
    link = share_link("http://host:8501/?old=1", ann.actor.workspace_id, token)
    assert link == f"http://host:8501/?workspace={ann.actor.workspace_id}&shared={token}"


def test_sharing_needs_a_shared_workspace_and_sign_in(team, settings_factory, tmp_path):
    _settings, _directory, services = team
    private = services("ann", None)
    conv_id = _answered(private)
    with pytest.raises(BadInputError, match="private workspace"):
        share_conversation(private.conversations, private.records, private.actor, conv_id)
    laptop = build_services(settings_factory(data_dir=tmp_path / "laptop"))
    try:
        other = _answered(laptop)
        with pytest.raises(BadInputError, match="needs sign-in"):
            share_conversation(laptop.conversations, laptop.records, None, other)
        assert laptop.conversations.share_token(other) is None
    finally:
        laptop.close()


def test_a_chats_file_from_before_owners_opens_and_stays_open_to_all(tmp_path):
    path = tmp_path / "chats.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE conversations (id TEXT PRIMARY KEY, title TEXT NOT NULL, created_at TEXT NOT NULL,
                                    updated_at TEXT NOT NULL);
        INSERT INTO conversations VALUES ('old1', 'Before sign-in', '2026-01-01', '2026-01-01');
    """)
    con.commit()
    con.close()
    store = ConversationStore(path, user="ann")
    assert [(c.id, c.owner) for c in store.list()] == [("old1", "")]
    store.add_message("old1", "user", "Still mine to continue?")
    assert ConversationStore(path, user="amy").may_change(store.get("old1"))  # unowned: as before
    assert [c.id for c in ConversationStore(path).list()] == ["old1"]


def test_errors_say_what_to_do(team):
    _settings, _directory, services = team
    ann, amy = services("ann"), services("amy")
    conv_id = _answered(ann)
    with pytest.raises(AssistantError) as caught:
        amy.conversations.rename(conv_id, "x")
    assert "ann" in caught.value.message and caught.value.hint
