"""Accounts and sign-in: users and roles, password sign-in with back-off and lock-out, sessions that expire.

Every change and every sign-in (failed or not) is a request record. A wrong password and an unknown name get
the same message, so the form never tells which names exist.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from app.access.names import check_user_name
from app.access.passwords import hash_password, needs_rehash, verify_password
from app.access.roles import Role, check_role
from app.errors import AssistantError, BadInputError, NotFoundError
from storage.users import UserRow, UserStore

# Three wrong passwords in a row slow the next try down (2, 4, 8 … seconds); five lock the name for 15 minutes.
BACKOFF_AFTER = 3
LOCK_AFTER = 5
LOCK_SECONDS = 15 * 60
WRONG = "Wrong user name or password."


class RecordSink(Protocol):
    """Where access events are recorded (the root request records)."""

    def append(self, kind: str, body: dict[str, Any]) -> str: ...


class SignInError(AssistantError):
    """A sign-in or a session was refused (wrong password, locked, disabled, expired)."""


@dataclass(frozen=True)
class SignedIn:
    """A started session: the token the browser keeps and the user it names."""

    token: str
    user: str
    role: str
    expires: float


def token_hash(token: str) -> str:
    """What is stored of a session token (its SHA-256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Accounts:
    """Users, roles, password sign-in and sessions over `users.sqlite`."""

    def __init__(self, store: UserStore, records: RecordSink, session_hours: float = 12.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.records = records
        self.session_hours = session_hours
        self.clock = clock

    def _record(self, kind: str, by: str, status: str = "ok", **body: Any) -> None:
        self.records.append(kind, {"user": by, "status": status, **body})

    def user(self, name: str) -> UserRow:
        """One user, or NotFoundError."""
        row = self.store.user(name)
        if row is None:
            raise NotFoundError(f"There is no user named {name!r}.", "List them with `python -m app users list`.")
        return row

    def add(self, name: str, role: str, password: str | None, by: str) -> UserRow:
        """Create a user (a password is needed for password sign-in; OIDC and proxy users have none)."""
        name, checked = check_user_name(name), check_role(role)
        password_hash = hash_password(password) if password else ""
        if not self.store.add_user(name, checked, password_hash, _now_text()):
            raise BadInputError(f"A user named {name!r} already exists.",
                                "Pick another name, or change their role with `users set-role`.")
        self._record("user_added", by, target=name, role=checked, with_password=bool(password_hash))
        return self.user(name)

    def set_role(self, name: str, role: str, by: str, expected: str | None = None) -> UserRow:
        """Change a user's role; with `expected`, refused if someone changed it meanwhile (two admins at once)."""
        checked: Role = check_role(role)
        before = self.user(name)
        if not self.store.set_role(name, checked, expected):
            raise BadInputError(f"{name}'s role was changed by someone else meanwhile (now {self.user(name).role}).",
                                "Reload and decide again.")
        self._record("role_changed", by, target=name, old=before.role, new=checked)
        return self.user(name)

    def set_disabled(self, name: str, disabled: bool, by: str) -> UserRow:
        """Disable (sessions end at once) or enable an account; its records stay, attributed."""
        self.user(name)
        self.store.set_disabled(name, disabled)
        self._record("user_disabled", by, target=name, disabled=disabled)
        return self.user(name)

    def set_password(self, name: str, password: str, by: str) -> None:
        """Replace a user's password."""
        self.user(name)
        self.store.set_password(name, hash_password(password))
        self._record("password_changed", by, target=name)

    def sign_in(self, name: str, password: str, origin: str = "web") -> SignedIn:
        """Check a password and start a session, or raise SignInError with the reason the user may know."""
        name = (name or "").strip()
        now = self.clock()
        row = self.store.user(name) if name else None
        if row is not None and row.locked_until > now:
            wait = int(row.locked_until - now) + 1
            self._record("sign_in_failed", name, "error", reason="locked", origin=origin)
            minutes = f"{wait // 60 + 1} minute(s)" if wait > 60 else f"{wait} second(s)"
            raise SignInError("Too many failed sign-ins for this name.", f"Wait {minutes} and try again.")
        if row is None or not verify_password(row.password_hash, password):
            self._failed(name, row, origin, now)
            raise SignInError(WRONG, "Check both and try again; an admin can reset a forgotten password.")
        if row.disabled:
            self._record("sign_in_failed", name, "error", reason="disabled", origin=origin)
            raise SignInError("This account is disabled.", "Ask an admin to enable it.")
        self.store.clear_failures(name)
        if needs_rehash(row.password_hash):
            self.store.set_password(name, hash_password(password))
        return self.start_session(row, origin, "password")

    def _failed(self, name: str, row: UserRow | None, origin: str, now: float) -> None:
        if row is None:
            self._record("sign_in_failed", name[:100], "error", reason="unknown_user", origin=origin)
            return
        failures = self.store.note_failure(row.name)
        if failures >= LOCK_AFTER:
            self.store.lock(row.name, now + LOCK_SECONDS)
        elif failures >= BACKOFF_AFTER:
            self.store.lock(row.name, now + 2 ** (failures - BACKOFF_AFTER + 1))
        self._record("sign_in_failed", row.name, "error", reason="wrong_password", origin=origin, failures=failures)
        if failures >= LOCK_AFTER:
            self._record("locked_out", row.name, "error", origin=origin, seconds=LOCK_SECONDS, failures=failures)

    def start_session(self, row: UserRow, origin: str, method: str) -> SignedIn:
        """A new session for a user whose identity is established (password, OIDC or the trusted proxy)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + self.session_hours * 3600
        self.store.drop_expired(now)
        self.store.add_session(token_hash(token), row.name, expires)
        self._record("sign_in", row.name, origin=origin, method=method, role=row.role)
        return SignedIn(token, row.name, row.role, expires)

    def resume(self, token: str) -> UserRow:
        """The user of a live session, or SignInError (expired, unknown, or the account disabled)."""
        found = self.store.session(token_hash(token)) if token else None
        if found is None:
            raise SignInError("You are signed out.", "Sign in again.")
        name, expires = found
        if expires <= self.clock():
            self.store.end_session(token_hash(token))
            self._record("session_expired", name)
            raise SignInError("Your sign-in has expired.", "Sign in again.")
        row = self.store.user(name)
        if row is None or row.disabled:
            self.store.end_session(token_hash(token))
            raise SignInError("This account is disabled or was removed.", "Ask an admin.")
        return row

    def sign_out(self, token: str) -> None:
        """End a session (recorded)."""
        found = self.store.session(token_hash(token)) if token else None
        self.store.end_session(token_hash(token))
        if found:
            self._record("sign_out", found[0])

    def external(self, name: str, default_role: str, admins: list[str], origin: str, method: str) -> SignedIn:
        """Sign in a user named by the identity provider or the trusted proxy; created on first sign-in."""
        name = check_user_name(name)
        row = self.store.user(name)
        if row is None:
            role = "admin" if name.lower() in {a.lower() for a in admins} else default_role
            row = self.add(name, role, None, by=f"{method}:first-sign-in")
        if row.disabled:
            self._record("sign_in_failed", name, "error", reason="disabled", origin=origin)
            raise SignInError("This account is disabled.", "Ask an admin to enable it.")
        return self.start_session(row, origin, method)
