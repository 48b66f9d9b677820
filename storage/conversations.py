"""Conversations and their messages, persisted in `<data_dir>/chats.sqlite`.

An answer is saved as a placeholder before generation starts and updated while it
streams, so a killed app keeps the question and the partial answer. A placeholder
left by another process is shown as "interrupted".
"""

from __future__ import annotations

import builtins
import json
import secrets
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import AssistantError, BadInputError, NotFoundError
from storage.sqlite import ThreadConnections

# Identifies this process: a "streaming" message owned by another process was cut off.
PROCESS_TOKEN = uuid.uuid4().hex

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    status TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_conv ON messages(conversation_id, seq);
CREATE TABLE IF NOT EXISTS conversation_scope (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    documents TEXT NOT NULL DEFAULT '[]',
    tables TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS conversation_shares (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    token TEXT NOT NULL UNIQUE,
    shared_by TEXT NOT NULL DEFAULT '',
    shared_at TEXT NOT NULL
);
"""
# conversation_scope is its own table (not a column) so databases written before it existed gain it with
# CREATE TABLE IF NOT EXISTS, and a conversation without a row simply uses everything.
# conversation_shares likewise (a row: shared read-only with the workspace's members, by its token); the owner is
# a column added to older databases by _migrate (empty: made before sign-in, open to everyone as it was).

# Message status values.
OK, STREAMING, STOPPED, ERROR, INTERRUPTED = "ok", "streaming", "stopped", "error", "interrupted"


def _now() -> str:
    # Microseconds: "most recently active first" must order two actions within the same second.
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass
class Message:
    """One message of a conversation."""

    id: str
    conversation_id: str
    role: str
    content: str
    status: str = OK
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


@dataclass
class Scope:
    """Which documents (ids) and tables (names) a conversation uses; an empty list means all of them."""

    documents: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)

    @property
    def is_all(self) -> bool:
        """True when nothing is narrowed."""
        return not (self.documents or self.tables)


@dataclass
class Conversation:
    """A conversation's header."""

    id: str
    title: str
    created_at: str
    updated_at: str
    owner: str = ""  # the signed-in user who started it ("" before sign-in or with it off)


class NotOwnerError(AssistantError):
    """A change to a conversation by someone other than its owner (a shared conversation is read-only to others)."""


class ConversationStore:
    """Thread-safe SQLite store of conversations (shared by every browser session).

    With `user` (who is signed in), new conversations are theirs, `list` shows theirs (and those made before
    sign-in), and every change to someone else's conversation raises NotOwnerError: a member of the workspace
    reads a shared conversation, never changes it. Without `user` (sign-in off, the CLI's admin trust): all."""

    def __init__(self, path: Path, user: str = "") -> None:
        self.path = Path(path)
        self.user = user
        # synchronous=NORMAL (as the request records): in WAL mode a commit survives the app being killed, and it is
        # not an fsync per message saved (about 4 ms each here, taken in turn by every answer streaming at once).
        self._connections = ThreadConnections(self.path, "foreign_keys=ON", "synchronous=NORMAL")
        self._con().executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        columns = {row["name"] for row in self._con().execute("PRAGMA table_info(conversations)")}
        if "owner" not in columns:  # written before sign-in had owners: additive, the old rows read as unowned
            try:
                self._con().execute("ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
            except sqlite3.OperationalError as exc:  # another process added it a moment ago
                if "duplicate column" not in str(exc):
                    raise

    def may_change(self, conversation: Conversation) -> bool:
        """Whether this store's user may change the conversation (theirs, unowned, or no user: everyone)."""
        return not self.user or not conversation.owner or conversation.owner == self.user

    def _check_owner(self, conversation_id: str) -> None:
        row = self._con().execute("SELECT owner FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is not None and self.user and row["owner"] and row["owner"] != self.user:
            raise NotOwnerError(f"This conversation is {row['owner']}'s: others in the workspace can read it when "
                                "it is shared, not change it.", "Start a conversation of your own to ask more.")

    def _con(self) -> sqlite3.Connection:
        return self._connections.get()

    def _write(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        """One change, queued behind this process's other writers to the file (see storage.sqlite.write_lock)."""
        with self._connections.write_lock:
            return self._con().execute(sql, args)

    def create(self, title: str = "New conversation") -> Conversation:
        """Start a new, empty conversation."""
        now = _now()
        conv = Conversation(uuid.uuid4().hex, title.strip() or "New conversation", now, now, self.user)
        self._write(
            "INSERT INTO conversations (id, title, created_at, updated_at, owner) VALUES (?,?,?,?,?)",
            (conv.id, conv.title, conv.created_at, conv.updated_at, conv.owner),
        )
        return conv

    def list(self) -> list[Conversation]:
        """The user's conversations (and unowned ones; without a user: all), most recently active first."""
        rows = self._con().execute("SELECT * FROM conversations WHERE ? = '' OR owner IN ('', ?) "
                                   "ORDER BY updated_at DESC, rowid DESC", (self.user, self.user)).fetchall()
        return [Conversation(**dict(r)) for r in rows]

    def get(self, conversation_id: str) -> Conversation:
        """One conversation's header, or NotFoundError."""
        row = self._con().execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise NotFoundError("That conversation no longer exists.", "It may have been deleted in another tab.")
        return Conversation(**dict(row))

    def rename(self, conversation_id: str, title: str) -> None:
        """Give a conversation a new title."""
        title = " ".join(title.split())[:120]
        if not title:
            raise BadInputError("A conversation title cannot be empty.")
        self.get(conversation_id)
        self._check_owner(conversation_id)
        self._write("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    def delete(self, conversation_id: str) -> None:
        """Delete a conversation and its messages (request records are kept)."""
        self._check_owner(conversation_id)
        self._write("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def delete_from(self, conversation_id: str, message_id: str) -> int:
        """Delete a message and every later one (regenerate, edit and resend); returns how many went."""
        self._check_owner(conversation_id)
        row = self._con().execute("SELECT seq FROM messages WHERE id = ? AND conversation_id = ?",
                                  (message_id, conversation_id)).fetchone()
        if row is None:
            raise NotFoundError("That message no longer exists.", "Reload the page.")
        cur = self._write("DELETE FROM messages WHERE conversation_id = ? AND seq >= ?", (conversation_id, row[0]))
        return cur.rowcount

    def add_message(
        self, conversation_id: str, role: str, content: str, status: str = OK, meta: dict[str, Any] | None = None
    ) -> Message:
        """Append a message to a conversation."""
        self._check_owner(conversation_id)
        msg = Message(uuid.uuid4().hex, conversation_id, role, content, status, meta or {}, _now())
        with self._connections.writing() as con:
            if con.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone() is None:
                raise NotFoundError("That conversation no longer exists.", "It may have been deleted in another tab.")
            seq = con.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()[0]
            con.execute(
                "INSERT INTO messages (id, conversation_id, seq, role, content, status, meta, created_at, owner)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (msg.id, conversation_id, seq, role, content, status, json.dumps(msg.meta), msg.created_at,
                 PROCESS_TOKEN if status == STREAMING else ""),
            )
            con.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (msg.created_at, conversation_id))
        return msg

    def update_message(
        self, message_id: str, content: str, status: str | None = None, meta: dict[str, Any] | None = None
    ) -> None:
        """Replace a message's content (and optionally status and meta)."""
        if self.user:
            row = self._con().execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is not None:
                self._check_owner(row["conversation_id"])
        sets, args = ["content = ?"], [content]
        if status is not None:
            sets.append("status = ?")
            args.append(status)
        if meta is not None:
            sets.append("meta = ?")
            args.append(json.dumps(meta))
        self._write(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", (*args, message_id))

    def messages(self, conversation_id: str) -> builtins.list[Message]:
        """Messages in order; placeholders from a dead process read as interrupted."""
        rows = self._con().execute(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
        ).fetchall()
        result = []
        for row in rows:
            status = row["status"]
            if status == STREAMING and row["owner"] != PROCESS_TOKEN:
                status = INTERRUPTED
            result.append(
                Message(row["id"], row["conversation_id"], row["role"], row["content"], status,
                        json.loads(row["meta"]), row["created_at"])
            )
        return result

    def scope(self, conversation_id: str) -> Scope:
        """The documents and tables this conversation uses (all of them unless narrowed)."""
        row = self._con().execute("SELECT documents, tables FROM conversation_scope WHERE conversation_id = ?",
                                  (conversation_id,)).fetchone()
        if row is None:
            return Scope()
        return Scope(_names(row["documents"]), _names(row["tables"]))

    def set_scope(self, conversation_id: str, scope: Scope) -> None:
        """Narrow (or, with empty lists, widen back) what the conversation uses; kept across restarts."""
        self.get(conversation_id)
        self._check_owner(conversation_id)
        self._write(
            "INSERT INTO conversation_scope (conversation_id, documents, tables) VALUES (?,?,?) "
            "ON CONFLICT(conversation_id) DO UPDATE SET documents = excluded.documents, tables = excluded.tables",
            (conversation_id, json.dumps(list(dict.fromkeys(scope.documents))),
             json.dumps(list(dict.fromkeys(scope.tables)))),
        )

    def share(self, conversation_id: str) -> str:
        """Share a conversation read-only with the workspace; returns its link token (the same one if shared)."""
        self.get(conversation_id)
        self._check_owner(conversation_id)
        self._write("INSERT OR IGNORE INTO conversation_shares (conversation_id, token, shared_by, shared_at)"
                            " VALUES (?,?,?,?)", (conversation_id, secrets.token_urlsafe(18), self.user, _now()))
        return self.share_token(conversation_id) or ""

    def unshare(self, conversation_id: str) -> bool:
        """Stop sharing (its link no longer opens it); True if it was shared."""
        self._check_owner(conversation_id)
        cur = self._write("DELETE FROM conversation_shares WHERE conversation_id = ?", (conversation_id,))
        return cur.rowcount > 0

    def share_token(self, conversation_id: str) -> str | None:
        """The link token of a shared conversation, or None when it is not shared."""
        row = self._con().execute("SELECT token FROM conversation_shares WHERE conversation_id = ?",
                                  (conversation_id,)).fetchone()
        return str(row["token"]) if row else None

    def by_token(self, token: str) -> Conversation | None:
        """The shared conversation a link token opens, or None (unknown, mistyped or unshared)."""
        row = self._con().execute("SELECT c.* FROM conversations c JOIN conversation_shares s "
                                  "ON s.conversation_id = c.id WHERE s.token = ?", (token,)).fetchone()
        return Conversation(**dict(row)) if row else None

    def shared_by_others(self) -> builtins.list[tuple[Conversation, str]]:
        """Conversations others shared with this workspace, with their tokens, most recently active first."""
        rows = self._con().execute("SELECT c.*, s.token FROM conversations c JOIN conversation_shares s "
                                   "ON s.conversation_id = c.id WHERE c.owner != ? "
                                   "ORDER BY c.updated_at DESC", (self.user,)).fetchall()
        return [(Conversation(**{k: r[k] for k in r.keys() if k != "token"}), str(r["token"])) for r in rows]

    def title_from(self, question: str) -> str:
        """A short title made from the first question."""
        words = " ".join(question.split())
        return (words[:57] + "…") if len(words) > 60 else (words or "New conversation")


def _names(raw: str) -> list[str]:
    # A hand-edited or damaged value reads as "all" rather than breaking the conversation.
    try:
        value = json.loads(raw or "[]")
    except json.JSONDecodeError:
        return []
    return [str(v) for v in value if isinstance(v, str | int) and str(v)] if isinstance(value, list) else []
