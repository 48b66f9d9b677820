"""Sign-in through AppTest: the form before any page, the same message for a wrong password and an unknown name,
the pages each role is offered, sign-out, and the laptop mode (auth=none) unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.container import build_access
from app.settings import load_settings
from storage.records import SqliteRecordStore
from tests.fixtures.paths import ENTRY

PASSWORD = "correct horse battery"


@pytest.fixture()
def password_mode(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """auth=password with an admin, an analyst and a viewer (each with the same password)."""
    monkeypatch.setenv("ANALYST_AUTH", "password")
    directory = build_access(load_settings())
    for name, role in (("ada", "admin"), ("ann", "analyst"), ("vic", "viewer"), ("aud", "auditor")):
        directory.accounts.add(name, role, PASSWORD, by="test")
    return data_dir


def _sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="access.name").set_value(name)
    at.text_input(key="access.password").set_value(password)
    return at.button[0].click().run()


def _errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def test_sign_in_form_comes_before_any_page_and_does_not_tell_which_names_exist(password_mode):
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value.endswith("Sign in to Analyst Assistant")
    assert not at.chat_input  # no page ran
    wrong = _errors(_sign_in(at, "ann", "not the password"))
    unknown = _errors(_sign_in(at, "nobody", "not the password"))
    assert "Wrong user name or password." in wrong and "Wrong user name or password." in unknown
    assert not at.chat_input


def test_right_password_opens_the_chat_with_user_role_workspace_and_sign_out(password_mode):
    at = _sign_in(AppTest.from_file(ENTRY, default_timeout=60).run(), "ann", PASSWORD)
    assert not at.exception and not at.error
    assert len(at.chat_input) == 1
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "ann" in sidebar and "analyst" in sidebar
    assert at.selectbox(key="access.switch").value == "private-ann"
    at.button(key="access.signout").click().run()
    assert not at.chat_input
    assert at.title[0].value.endswith("Sign in to Analyst Assistant")


@pytest.mark.parametrize(("name", "shown", "hidden"), [
    ("vic", "../pages/chat.py", "../pages/documents.py"),
    ("aud", "../pages/audit.py", "../pages/settings.py"),
    ("ann", "../pages/tables.py", "../pages/access.py"),
    ("vic", "../pages/board.py", "../pages/tables.py"),  # viewers read the workspace's board
    ("aud", "../pages/monitoring.py", "../pages/board.py"),
])
def test_each_role_is_offered_its_pages_only(password_mode, name, shown, hidden):
    at = _sign_in(AppTest.from_file(ENTRY, default_timeout=60).run(), name, PASSWORD)
    assert not at.exception
    at.switch_page(shown).run()
    assert not at.exception
    # A page the role may not use is not registered with the navigation: it cannot be opened.
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(hidden)


def test_admin_page_adds_a_user(password_mode):
    at = _sign_in(AppTest.from_file(ENTRY, default_timeout=60).run(), "ada", PASSWORD)
    at.switch_page("../pages/access.py").run()
    assert not at.exception
    assert at.title[0].value.endswith("Users & workspaces")
    form_inputs = [t for t in at.text_input if t.label == "Name"]
    form_inputs[0].set_value("newbie")
    [t for t in at.text_input if t.label.startswith("Password")][0].set_value("a long enough password")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not at.exception
    names = [r.name for r in build_access(load_settings()).store.users()]
    assert "newbie" in names


def test_audit_page_shows_an_analyst_their_own_records_and_an_auditor_everyones(password_mode):
    for name in ("ann", "vic"):  # each leaves sign-in records
        _sign_in(AppTest.from_file(ENTRY, default_timeout=60).run(), name, PASSWORD)
    ann = _sign_in(AppTest.from_file(ENTRY, default_timeout=60).run(), "ann", PASSWORD)
    ann.switch_page("../pages/audit.py").run()
    assert not ann.exception
    ann.selectbox(key="audit.kind").set_value("sign_in").run()
    assert set(ann.dataframe[0].value["user"]) == {"ann"}
    assert not [b for b in ann.button if b.label == "Verify chain"]
    aud = _sign_in(AppTest.from_file(ENTRY, default_timeout=60).run(), "aud", PASSWORD)
    aud.switch_page("../pages/audit.py").run()
    aud.selectbox(key="audit.kind").set_value("sign_in").run()
    assert {"ann", "vic", "aud"} <= set(aud.dataframe[0].value["user"])
    assert [b for b in aud.button if b.label == "Verify chain"]
    assert aud.selectbox(key="audit.workspace") is not None


def test_oidc_mode_offers_the_company_sign_in_before_any_page(data_dir, monkeypatch):
    monkeypatch.setenv("ANALYST_AUTH", "oidc")
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value.endswith("Sign in to Analyst Assistant")
    assert [b.label for b in at.button] == ["Sign in with your company account"]
    assert not at.chat_input


def test_serving_anonymously_on_purpose_is_shown_and_recorded(data_dir, monkeypatch):
    monkeypatch.setenv("ANALYST_ALLOW_ANONYMOUS", "true")  # what `serve --address 0.0.0.0 --allow-anonymous` sets
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception and len(at.chat_input) == 1  # sign-in off: the laptop app as it was
    assert any("without sign-in" in w.value for w in at.sidebar.warning)
    records = SqliteRecordStore(data_dir / "records.sqlite").query(kind="anonymous_serving")
    assert len(records) == 1


def test_laptop_mode_is_unchanged(data_dir):
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception and len(at.chat_input) == 1
    assert not [b for b in at.sidebar.button if b.label == "Sign out"]
    assert not any("without sign-in" in w.value for w in at.sidebar.warning)
    assert not (data_dir / "users.sqlite").exists()


def test_a_workspace_named_in_the_url_is_entered_by_its_members_only(password_mode):
    bob = build_access(load_settings())
    bob.accounts.add("bob", "analyst", PASSWORD, by="test")
    bob.workspaces.private(bob.store.user("bob"))
    at = _sign_in(AppTest.from_file(ENTRY, default_timeout=60).run(), "ann", PASSWORD)
    at.query_params["workspace"] = "private-bob"
    at.run()
    assert not at.exception
    assert "You are not a member of a workspace named 'private-bob'." in _errors(at)
    assert at.selectbox(key="access.switch").value == "private-ann" and len(at.chat_input) == 1
    refused = SqliteRecordStore(password_mode / "records.sqlite").query(kind="access_refused")
    assert [(r["user"], r["workspace"]) for r in refused] == [("ann", "private-bob")]
