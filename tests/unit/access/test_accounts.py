"""Accounts and sign-in: argon2 hashes, one message for a wrong password and an unknown name, back-off and
lock-out, disabled accounts, sessions that expire, role changes by two admins at once, the migration of a
single-user data directory, the serve refusal, and who the proxy and OIDC modes say is signing in."""

from __future__ import annotations

import pytest

from app.access.accounts import LOCK_AFTER, WRONG, SignInError
from app.access.oidc import oidc_name
from app.access.proxy import proxy_user
from app.access.serving import anonymous_refusal, is_loopback
from app.container import build_access, build_services
from app.errors import BadInputError
from storage.records import SqliteRecordStore

PASSWORD = "correct horse battery"


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def directory(settings_factory):
    access = build_access(settings_factory(auth="password", session_hours=1))
    access.accounts.clock = Clock()
    access.accounts.add("ann", "analyst", PASSWORD, by="test")
    return access


def _records(access, kind):
    return SqliteRecordStore(access.root / "records.sqlite").query(kind=kind, limit=100)


def test_password_is_stored_as_an_argon2_hash_and_signs_in(directory):
    row = directory.store.user("ann")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    signed = directory.accounts.sign_in("ann", PASSWORD)
    assert signed.user == "ann" and directory.accounts.resume(signed.token).name == "ann"
    assert signed.token not in (directory.root / "users.sqlite").read_bytes().decode("latin-1")
    assert [r["user"] for r in _records(directory, "sign_in")] == ["ann"]


def test_wrong_password_and_unknown_user_get_the_same_message_and_are_recorded(directory):
    with pytest.raises(SignInError) as wrong:
        directory.accounts.sign_in("ann", "not it at all")
    with pytest.raises(SignInError) as unknown:
        directory.accounts.sign_in("nobody", "not it at all")
    assert str(wrong.value) == str(unknown.value) and wrong.value.message == WRONG
    reasons = sorted(r["reason"] for r in _records(directory, "sign_in_failed"))
    assert reasons == ["unknown_user", "wrong_password"]


def test_repeated_failures_back_off_then_lock_the_name_out(directory):
    clock = directory.accounts.clock
    for attempt in range(LOCK_AFTER):
        with pytest.raises(SignInError):
            directory.accounts.sign_in("ann", f"wrong {attempt}")
        clock.now += 60  # past each back-off
    with pytest.raises(SignInError, match="Too many failed sign-ins"):
        directory.accounts.sign_in("ann", PASSWORD)  # even the right password waits out the lock
    assert len(_records(directory, "locked_out")) == 1
    clock.now += 15 * 60
    assert directory.accounts.sign_in("ann", PASSWORD).user == "ann"
    assert directory.store.user("ann").failed_count == 0


def test_a_third_failure_makes_the_next_try_wait(directory):
    for attempt in range(3):
        with pytest.raises(SignInError):
            directory.accounts.sign_in("ann", f"wrong {attempt}")
    with pytest.raises(SignInError, match="Too many failed sign-ins"):
        directory.accounts.sign_in("ann", PASSWORD)
    directory.accounts.clock.now += 3
    assert directory.accounts.sign_in("ann", PASSWORD).user == "ann"


def test_disabled_account_and_expired_session(directory):
    signed = directory.accounts.sign_in("ann", PASSWORD)
    directory.accounts.clock.now += 3601
    with pytest.raises(SignInError, match="expired"):
        directory.accounts.resume(signed.token)
    assert len(_records(directory, "session_expired")) == 1
    again = directory.accounts.sign_in("ann", PASSWORD)
    directory.accounts.set_disabled("ann", True, by="admin")
    with pytest.raises(SignInError):
        directory.accounts.resume(again.token)  # the session ended with the account
    with pytest.raises(SignInError, match="disabled"):
        directory.accounts.sign_in("ann", PASSWORD)
    directory.accounts.sign_out(again.token)  # signing out an ended session is harmless


def test_two_admins_changing_one_role_at_once(directory):
    directory.accounts.set_role("ann", "viewer", by="ada", expected="analyst")
    with pytest.raises(BadInputError, match="changed by someone else"):
        directory.accounts.set_role("ann", "admin", by="max", expected="analyst")
    assert directory.store.user("ann").role == "viewer"
    (change,) = _records(directory, "role_changed")
    assert (change["user"], change["target"], change["old"], change["new"]) == ("ada", "ann", "analyst", "viewer")


def test_bad_names_and_duplicates_are_refused_with_what_to_do(directory):
    for name in ("", "../etc", "<b>x</b>", "a" * 101):
        with pytest.raises(BadInputError, match="cannot be a user name"):
            directory.accounts.add(name, "analyst", PASSWORD, by="test")
    with pytest.raises(BadInputError, match="already exists"):
        directory.accounts.add("ann", "viewer", PASSWORD, by="test")
    with pytest.raises(BadInputError, match="private-"):
        directory.workspaces.create("private-ann", by="test")


def test_single_user_data_becomes_the_first_admins_private_workspace(settings_factory):
    settings = settings_factory()
    before = build_services(settings)  # the laptop install: sign-in off, data in the root
    before.conversations.create("Kept as it was")
    before.close()
    access = build_access(settings.model_copy(update={"auth": "password"}))
    access.accounts.add("ada", "admin", PASSWORD, by="test")
    access.accounts.add("ann", "analyst", PASSWORD, by="test")
    ada = build_services(settings, access.actor("ada"))
    ann = build_services(settings, access.actor("ann"))
    assert ada.settings.data_dir == settings.data_dir
    assert [c.title for c in ada.conversations.list()] == ["Kept as it was"]
    assert ann.conversations.list() == [] and ann.settings.data_dir != settings.data_dir
    with pytest.raises(BadInputError, match="cannot be deleted"):
        access.workspaces.delete("private-ada", by="test")


def test_serving_off_loopback_without_sign_in_is_refused():
    assert anonymous_refusal("none", "0.0.0.0", False) and "ANALYST_AUTH=password" in anonymous_refusal(
        "none", "0.0.0.0", False)
    assert anonymous_refusal("none", "127.0.0.1", False) is None
    assert anonymous_refusal("none", "0.0.0.0", True) is None
    assert anonymous_refusal("password", "0.0.0.0", False) is None
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("intranet-host")


def test_proxy_header_is_believed_from_the_trusted_address_only(settings_factory):
    settings = settings_factory(auth="proxy", proxy_trusted_addresses=["10.0.0.5"])
    assert proxy_user({"X-Forwarded-User": "ann"}, "10.0.0.5", settings) == "ann"
    with pytest.raises(SignInError, match="not from the trusted proxy"):
        proxy_user({"X-Forwarded-User": "ada"}, "10.0.0.99", settings)  # forged from elsewhere
    with pytest.raises(SignInError, match="no X-Forwarded-User"):
        proxy_user({}, "10.0.0.5", settings)


def test_oidc_and_proxy_users_are_made_on_first_sign_in_with_admins_named_in_settings(directory):
    assert oidc_name({"email": "Ada@corp.example", "sub": "123"}) == "Ada@corp.example"
    assert oidc_name({"preferred_username": "bob", "sub": "123"}) == "bob"
    with pytest.raises(SignInError, match="did not say who you are"):
        oidc_name({})
    first = directory.accounts.external("Ada@corp.example", "analyst", ["ada@corp.example"], "web", "oidc")
    assert first.role == "admin"
    other = directory.accounts.external("bob@corp.example", "viewer", ["ada@corp.example"], "web", "oidc")
    assert other.role == "viewer" and directory.store.user("bob@corp.example").password_hash == ""
    with pytest.raises(SignInError):
        directory.accounts.sign_in("bob@corp.example", "")  # no password: password sign-in never works
