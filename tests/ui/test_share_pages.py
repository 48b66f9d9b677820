"""A conversation shared in a workspace, through the app as each person opens its link: members (an analyst,
a viewer) read it with no question box and no Regenerate, Edit, Delete or pin; a non-member, someone signed out
and an unknown link see a clear message and nothing of it; the owner gets the link and can unshare."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.chat.sharing import share_conversation
from app.container import build_access, build_services
from app.pins.store import PinStore
from app.settings import load_settings
from storage.records import SqliteRecordStore
from tests.fixtures.paths import ENTRY

PASSWORD = "correct horse battery"
ANSWER = "The total revenue is 238.42 euros."


@pytest.fixture()
def shared(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """Team (ann the owner, amy an analyst, vic a viewer; bob outside it) and ann's conversation, shared:
    (conversation id, workspace id, link token)."""
    monkeypatch.setenv("ANALYST_AUTH", "password")
    settings = load_settings()
    directory = build_access(settings)
    for name, role in (("ann", "analyst"), ("amy", "analyst"), ("vic", "viewer"), ("bob", "analyst")):
        directory.accounts.add(name, role, PASSWORD, by="test")
    directory.workspaces.create("Team", by="admin")
    for name in ("ann", "amy", "vic"):
        directory.workspaces.add_member("Team", name, by="admin")
    ann = build_services(settings, directory.actor("ann", "Team"))
    try:
        conv = ann.conversations.create("Revenue")
        ann.conversations.add_message(conv.id, "user", "What is the total revenue?")
        ann.conversations.add_message(conv.id, "assistant", ANSWER)
        token = share_conversation(ann.conversations, ann.records, ann.actor, conv.id)
        assert ann.actor is not None
        return conv.id, ann.actor.workspace_id, token
    finally:
        ann.close()


def _signed_in(name: str, **params: str) -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    at.text_input(key="access.name").set_value(name)
    at.text_input(key="access.password").set_value(PASSWORD)
    return at.button[0].click().run()


def _text(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [e.value for e in at.error] + [c.value for c in at.caption])


def _buttons(at: AppTest) -> set[str]:
    return {b.label for b in at.button} | {b.proto.label for b in at.get("popover")}


@pytest.mark.parametrize("member", ["amy", "vic"])
def test_a_member_opens_the_link_read_only(shared, member):
    _conv_id, workspace_id, token = shared
    at = _signed_in(member, workspace=workspace_id, shared=token)
    assert not at.exception, at.exception
    assert at.title[0].value == "Shared conversation"
    assert ANSWER in _text(at) and "started by ann" in _text(at)
    assert not at.chat_input  # no question box
    assert not {"Regenerate", "Edit", "Delete this conversation", "Pin the latest SQL answer to the Board",
                "Share", "Unshare"} & _buttons(at)
    at.button(key="shared.back").click().run()  # back to their own chat
    assert len(at.chat_input) == 1 and ANSWER not in _text(at)


def test_a_member_finds_it_in_the_sidebar(shared):
    conv_id, workspace_id, _token = shared
    at = _signed_in("amy", workspace=workspace_id)
    assert ANSWER not in _text(at)
    at.button(key=f"chat.shared.{conv_id}").click().run()
    assert at.title[0].value == "Shared conversation" and ANSWER in _text(at) and not at.chat_input


def test_a_non_member_an_unknown_link_and_someone_signed_out_see_nothing_of_it(shared):
    _conv_id, workspace_id, token = shared
    bob = _signed_in("bob", workspace=workspace_id, shared=token)
    assert not bob.exception
    assert "not a member" in _text(bob) and "does not open a shared conversation" in _text(bob)
    assert ANSWER not in _text(bob) and not bob.chat_input
    guessed = _signed_in("amy", workspace=workspace_id, shared="guessed-token")
    assert "does not open a shared conversation" in _text(guessed) and ANSWER not in _text(guessed)
    signed_out = AppTest.from_file(ENTRY, default_timeout=60)
    signed_out.query_params.update({"workspace": workspace_id, "shared": token})
    signed_out.run()
    assert signed_out.title[0].value.endswith("Sign in to Analyst Assistant")
    assert ANSWER not in _text(signed_out)


def test_the_owner_sees_the_link_and_unshares(shared, data_dir):
    conv_id, workspace_id, token = shared
    at = _signed_in("ann", workspace=workspace_id)
    assert not at.exception
    codes = " ".join(c.value for c in at.code)
    assert f"workspace={workspace_id}&shared={token}" in codes
    at.button(key="chat.unshare").click().run()
    assert not at.exception and not at.error
    assert any(b.key == "chat.share" for b in at.button)  # offered again
    records = SqliteRecordStore(data_dir / "records.sqlite")
    assert [r["conversation_id"] for r in records.query(kind="conversation_unshared")] == [conv_id]
    amy = _signed_in("amy", workspace=workspace_id, shared=token)
    assert "does not open a shared conversation" in _text(amy) and ANSWER not in _text(amy)
    at.button(key="chat.share").click().run()  # shared again: a new link
    assert "&shared=" in " ".join(c.value for c in at.code) and token not in " ".join(c.value for c in at.code)
    assert len(records.query(kind="conversation_shared")) == 2


def test_the_workspace_board_is_shared_and_read_only_for_a_viewer(shared, data_dir):
    _conv_id, workspace_id, _token = shared
    settings = load_settings()
    team = build_access(settings).workspaces.get("Team")
    PinStore(team.folder / "board.sqlite").add("Constant?", "SELECT 42 AS answer", ["answer"], [[42]], 1)
    for name, writes in (("vic", False), ("amy", True)):
        at = _signed_in(name, workspace=workspace_id)
        at.switch_page("../pages/board.py").run()
        assert not at.exception
        assert [m.value for m in at.metric] == ["answer = 42"]
        labels = {b.label for b in at.button}
        assert ({"Refresh all", "Refresh", "Unpin"} <= labels) is writes
        assert writes or not labels & {"Refresh all", "Refresh", "Unpin"}
