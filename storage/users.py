"""Accounts, sign-in sessions and workspaces in `<root data_dir>/users.sqlite`.

Plain storage: no hashing and no rules here (app/access/ decides who may do what). Session tokens are kept
as their SHA-256 only, so a copy of this file signs nobody in.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from storage.sqlite import ThreadConnections

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    disabled INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    failed_count INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('private', 'shared')),
    owner TEXT NOT NULL,
    folder TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    workspace TEXT NOT NULL,
    user TEXT NOT NULL,
    PRIMARY KEY (workspace, user)
);
"""


@dataclass(frozen=True)
class UserRow:
    """One account as stored."""

    name: str
    role: str
    password_hash: str
    disabled: bool
    created: str
    failed_count: int
    locked_until: float


@dataclass(frozen=True)
class WorkspaceRow:
    """One workspace: a data folder with an owner (private) or members (shared)."""

    id: str
    name: str
    kind: str
    owner: str
    folder: Path


def _user(row: sqlite3.Row) -> UserRow:
    return UserRow(row["name"], row["role"], row["password_hash"], bool(row["disabled"]), row["created"],
                   int(row["failed_count"]), float(row["locked_until"]))


def _workspace(row: sqlite3.Row) -> WorkspaceRow:
    return WorkspaceRow(row["id"], row["name"], row["kind"], row["owner"], Path(row["folder"]))


class UserStore:
    """Users, sessions, workspaces and memberships; every write is one statement or one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._connections = ThreadConnections(self.path, "synchronous=NORMAL")
        self._connections.get().executescript(SCHEMA)

    def _con(self) -> sqlite3.Connection:
        return self._connections.get()

    # Users
    def add_user(self, name: str, role: str, password_hash: str, created: str) -> bool:
        """Add a user; False when the name is taken (the other one is kept)."""
        cur = self._con().execute(
            "INSERT OR IGNORE INTO users (name, role, password_hash, created) VALUES (?, ?, ?, ?)",
            (name, role, password_hash, created))
        return cur.rowcount == 1

    def user(self, name: str) -> UserRow | None:
        """One user by name, or None."""
        row = self._con().execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return _user(row) if row else None

    def users(self) -> list[UserRow]:
        """Every user, by name."""
        return [_user(r) for r in self._con().execute("SELECT * FROM users ORDER BY name")]

    def set_role(self, name: str, role: str, expected: str | None = None) -> bool:
        """Change a role; with `expected`, only if the role is still that (two admins editing at once)."""
        if expected is None:
            cur = self._con().execute("UPDATE users SET role = ? WHERE name = ?", (role, name))
        else:
            cur = self._con().execute("UPDATE users SET role = ? WHERE name = ? AND role = ?", (role, name, expected))
        return cur.rowcount == 1

    def set_disabled(self, name: str, disabled: bool) -> bool:
        """Disable or enable an account (its sessions end when disabled)."""
        con = self._con()
        cur = con.execute("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name))
        if disabled:
            con.execute("DELETE FROM sessions WHERE user = ?", (name,))
        return cur.rowcount == 1

    def set_password(self, name: str, password_hash: str) -> bool:
        """Store a new password hash."""
        cur = self._con().execute("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name))
        return cur.rowcount == 1

    def note_failure(self, name: str) -> int:
        """Count a failed sign-in; returns the failures in a row so far."""
        con = self._con()
        con.execute("UPDATE users SET failed_count = failed_count + 1 WHERE name = ?", (name,))
        row = con.execute("SELECT failed_count FROM users WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def lock(self, name: str, until: float) -> None:
        """Refuse sign-ins for this name until `until` (epoch seconds)."""
        self._con().execute("UPDATE users SET locked_until = MAX(locked_until, ?) WHERE name = ?", (until, name))

    def clear_failures(self, name: str) -> None:
        """A successful sign-in: the failure count and lock-out start over."""
        self._con().execute("UPDATE users SET failed_count = 0, locked_until = 0 WHERE name = ?", (name,))

    # Sessions
    def add_session(self, token_hash: str, user: str, expires: float) -> None:
        """Keep a session (by its token's hash) until `expires` (epoch seconds)."""
        self._con().execute("INSERT INTO sessions (token_hash, user, expires) VALUES (?, ?, ?)",
                            (token_hash, user, expires))

    def session(self, token_hash: str) -> tuple[str, float] | None:
        """(user, expires) of a session, or None."""
        row = self._con().execute("SELECT user, expires FROM sessions WHERE token_hash = ?", (token_hash,)).fetchone()
        return (row["user"], float(row["expires"])) if row else None

    def end_session(self, token_hash: str) -> None:
        """Forget a session (sign-out, or expired)."""
        self._con().execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def drop_expired(self, now: float) -> None:
        """Forget every session past its end."""
        self._con().execute("DELETE FROM sessions WHERE expires <= ?", (now,))

    # Workspaces
    def add_workspace(self, row: WorkspaceRow) -> bool:
        """Add a workspace and make its owner a member; False when the name is taken."""
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            cur = con.execute("INSERT OR IGNORE INTO workspaces (id, name, kind, owner, folder) VALUES (?,?,?,?,?)",
                              (row.id, row.name, row.kind, row.owner, str(row.folder)))
            if cur.rowcount == 1:
                con.execute("INSERT OR IGNORE INTO members (workspace, user) VALUES (?, ?)", (row.id, row.owner))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return cur.rowcount == 1

    def workspace(self, key: str) -> WorkspaceRow | None:
        """One workspace by id or by name."""
        row = self._con().execute("SELECT * FROM workspaces WHERE id = ? OR name = ?", (key, key)).fetchone()
        return _workspace(row) if row else None

    def workspaces(self) -> list[WorkspaceRow]:
        """Every workspace, private ones first, then by name."""
        return [_workspace(r) for r in self._con().execute("SELECT * FROM workspaces ORDER BY kind, name")]

    def workspaces_of(self, user: str) -> list[WorkspaceRow]:
        """The workspaces a user is a member of (their private one first)."""
        rows = self._con().execute(
            "SELECT w.* FROM workspaces w JOIN members m ON m.workspace = w.id WHERE m.user = ? "
            "ORDER BY w.kind, w.name", (user,))
        return [_workspace(r) for r in rows]

    def private_workspace(self, user: str) -> WorkspaceRow | None:
        """A user's private workspace, or None."""
        row = self._con().execute("SELECT * FROM workspaces WHERE kind = 'private' AND owner = ?", (user,)).fetchone()
        return _workspace(row) if row else None

    def workspace_with_folder(self, folder: Path) -> WorkspaceRow | None:
        """The workspace kept in `folder`, if any."""
        row = self._con().execute("SELECT * FROM workspaces WHERE folder = ?", (str(folder),)).fetchone()
        return _workspace(row) if row else None

    def add_member(self, workspace_id: str, user: str) -> bool:
        """Add a member; False when they already were one."""
        cur = self._con().execute("INSERT OR IGNORE INTO members (workspace, user) VALUES (?, ?)",
                                  (workspace_id, user))
        return cur.rowcount == 1

    def remove_member(self, workspace_id: str, user: str) -> bool:
        """Remove a member; False when they were not one."""
        cur = self._con().execute("DELETE FROM members WHERE workspace = ? AND user = ?", (workspace_id, user))
        return cur.rowcount == 1

    def members(self, workspace_id: str) -> list[str]:
        """The members of a workspace, by name."""
        rows = self._con().execute("SELECT user FROM members WHERE workspace = ? ORDER BY user", (workspace_id,))
        return [r["user"] for r in rows]

    def delete_workspace(self, workspace_id: str) -> bool:
        """Forget a workspace and its memberships (its folder is the caller's to delete)."""
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("DELETE FROM members WHERE workspace = ?", (workspace_id,))
            cur = con.execute("DELETE FROM workspaces WHERE id = ?", (workspace_id,))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return cur.rowcount == 1
