"""What a signed-in actor's services see: records stamped with user and workspace and read back within what
the role may see, and document and table services that refuse writes to a role without them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.access.roles import SEE_ALL_RECORDS, WRITE, Actor, PermissionDenied
from storage.keys import RecordKeys
from storage.records import SqliteRecordStore

# Methods that change a workspace's documents or tables (everything else only reads).
DOCUMENT_WRITES = frozenset({"ingest_paths", "ingest_file", "ingest_bytes", "delete", "reindex", "resume"})
TABLE_WRITES = frozenset({"load_file", "load_table_file", "delete_source"})
NOBODY = "\x00nobody"  # a user name no record carries (names are checked: no control characters)


class ActorRecords(SqliteRecordStore):
    """The one audit trail (root records.sqlite) as one actor writes and reads it.

    Every appended body carries the actor's user and workspace; reads of a role without `see_all_records`
    return the actor's own records only (admins and auditors see everyone's)."""

    def __init__(self, path: Path, keys: RecordKeys | None, actor: Actor) -> None:
        super().__init__(path, keys)
        self.actor = actor
        self.sees_all = actor.may(SEE_ALL_RECORDS)

    def append(self, kind: str, body: dict[str, Any]) -> str:
        """Append with the actor's identity: `user` is who is signed in, whatever the caller put there."""
        stamped = {**body, "user": self.actor.user}
        if not stamped.get("workspace"):  # a typed record writes it empty; access events may name another
            stamped["workspace"] = self.actor.workspace
            stamped["workspace_id"] = self.actor.workspace_id
        return super().append(kind, stamped)

    def _user(self, asked: str | None) -> str | None:
        if self.sees_all:
            return asked
        # Someone else's records, asked for by name, are not there for this actor: a name no record has.
        return self.actor.user if asked in (None, self.actor.user) else NOBODY

    def _own(self, filters: dict[str, Any]) -> dict[str, Any]:
        filters["user"] = self._user(filters.get("user"))
        return filters

    def query(self, limit: int = 100, since: str | None = None, until: str | None = None,
              **filters: Any) -> list[dict[str, Any]]:
        """As the store's query, within what the actor may see."""
        return super().query(limit, since, until, **self._own(filters))

    def search(self, since: str | None = None, until: str | None = None, user: str | None = None,
               model: str | None = None, tool: str | None = None, flagged: bool | None = None,
               status: str | None = None, kind: str | None = "chat", text: str | None = None, limit: int = 100,
               offset: int = 0, workspace: str | None = None) -> list[dict[str, Any]]:
        """As the store's search, within what the actor may see."""
        return super().search(since, until, self._user(user), model, tool, flagged,
                              status, kind, text, limit, offset, workspace)

    def count_matching(self, **filters: Any) -> int:
        """As the store's count, within what the actor may see."""
        return super().count_matching(**self._own(filters))

    def iter_matching(self, batch: int = 500, **filters: Any) -> Iterator[dict[str, Any]]:
        """As the store's batched reading, within what the actor may see."""
        return super().iter_matching(batch, **self._own(filters))

    def get(self, record_id: str) -> dict[str, Any] | None:
        """One record, if the actor may see it."""
        body = super().get(record_id)
        if body is None or self.sees_all or body.get("user") == self.actor.user:
            return body
        return None

    def distinct(self, column: str, kind: str | None = "chat") -> list[str]:
        """Filter choices: a user who sees only their own records sees only their own name."""
        if column == "user" and not self.sees_all:
            return [self.actor.user]
        return super().distinct(column, kind)


class WriteGuard:
    """A document library or tables service whose writing methods refuse (and record) for this actor."""

    def __init__(self, inner: Any, writes: frozenset[str], actor: Actor, records: SqliteRecordStore,
                 what: str) -> None:
        self._inner = inner
        self._writes = writes
        self._actor = actor
        self._records = records
        self._what = what

    def __getattr__(self, name: str) -> Any:
        if name in self._writes:
            return self._refuse(name)
        return getattr(self._inner, name)

    def _refuse(self, name: str) -> Any:
        def refused(*_args: Any, **_kwargs: Any) -> Any:
            raise refuse(self._actor, self._records, WRITE, f"{self._what}.{name}")
        return refused


def refuse(actor: Actor, records: SqliteRecordStore, action: str, where: str) -> PermissionDenied:
    """Record a refused action and return the error to raise."""
    error = actor.refusal(action)
    records.append("permission_denied", {"user": actor.user, "status": "error", "action": action, "where": where,
                                         "role": actor.role, "error": error.one_line()})
    return error
