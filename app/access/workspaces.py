"""Workspaces: a workspace is a data folder. Every user has a private one; admins create shared ones.

The root data directory keeps what is global (settings.json, users.sqlite, records.sqlite, models/). Each
workspace's own data (conversations, documents, vectors, tables, attachments, evaluation runs) lives in its
folder, `<root>/workspaces/<id>/`. Migration: the first admin's private workspace is the root folder itself, so
the data of a single-user install becomes theirs with nothing moved or re-embedded.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

from app.access.accounts import RecordSink
from app.access.names import check_workspace_name
from app.access.roles import MANAGE, Actor, PermissionDenied, allowed
from app.errors import BadInputError, NotFoundError
from storage.users import UserRow, UserStore, WorkspaceRow

FOLDER = "workspaces"


class Workspaces:
    """Creating, listing, joining and deleting workspaces, and resolving where a user works."""

    def __init__(self, store: UserStore, records: RecordSink, root: Path) -> None:
        self.store = store
        self.records = records
        self.root = Path(root)

    def _record(self, kind: str, by: str, status: str = "ok", **body: Any) -> None:
        self.records.append(kind, {"user": by, "status": status, **body})

    def _new_folder(self) -> tuple[str, Path]:
        workspace_id = secrets.token_hex(6)
        return workspace_id, self.root / FOLDER / workspace_id

    def private(self, user: UserRow) -> WorkspaceRow:
        """A user's private workspace, created on first use (the first admin's is the root folder: migration)."""
        found = self.store.private_workspace(user.name)
        if found:
            return found
        workspace_id, folder = self._new_folder()
        if user.role == "admin" and self.store.workspace_with_folder(self.root) is None:
            folder = self.root  # the single-user data that was here becomes the first admin's, untouched
        row = WorkspaceRow(workspace_id, f"private-{user.name}", "private", user.name, folder)
        if not self.store.add_workspace(row):  # created meanwhile by another session
            existing = self.store.private_workspace(user.name)
            if existing is None:
                raise BadInputError(f"The workspace name {row.name!r} is taken.", "Ask an admin to rename it.")
            return existing
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._record("workspace_created", user.name, workspace=row.name, workspace_id=row.id,
                     workspace_kind="private", migrated=folder == self.root)
        return row

    def create(self, name: str, by: str) -> WorkspaceRow:
        """A new shared workspace (its creator is its first member)."""
        name = check_workspace_name(name)
        workspace_id, folder = self._new_folder()
        row = WorkspaceRow(workspace_id, name, "shared", by, folder)
        if not self.store.add_workspace(row):
            raise BadInputError(f"A workspace named {name!r} already exists.", "Pick another name.")
        if self.store.user(by) is None:  # made from the CLI by an OS user who has no account: no member yet
            self.store.remove_member(workspace_id, by)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._record("workspace_created", by, workspace=name, workspace_id=workspace_id, workspace_kind="shared")
        return row

    def get(self, key: str) -> WorkspaceRow:
        """A workspace by name or id, or NotFoundError."""
        row = self.store.workspace(key)
        if row is None:
            raise NotFoundError(f"There is no workspace named {key!r}.",
                                "List them with `python -m app workspaces list`.")
        return row

    def add_member(self, workspace: str, user: str, by: str) -> WorkspaceRow:
        """Add a user to a shared workspace."""
        row = self.get(workspace)
        if row.kind != "shared":
            raise BadInputError(f"{row.name} is a private workspace.", "Create a shared one for working together.")
        if self.store.user(user) is None:
            raise NotFoundError(f"There is no user named {user!r}.", "Add them first with `users add`.")
        if self.store.add_member(row.id, user):
            self._record("member_added", by, workspace=row.name, workspace_id=row.id, target=user)
        return row

    def remove_member(self, workspace: str, user: str, by: str) -> None:
        """Take a user out of a shared workspace."""
        row = self.get(workspace)
        if row.kind == "shared" and self.store.remove_member(row.id, user):
            self._record("member_removed", by, workspace=row.name, workspace_id=row.id, target=user)

    def delete(self, workspace: str, by: str) -> WorkspaceRow:
        """Delete a workspace and its folder, nothing else (the root folder, which holds global data, is kept)."""
        row = self.get(workspace)
        if row.folder == self.root:
            raise BadInputError(f"{row.name} lives in the root data directory with everyone's settings and records.",
                                "It cannot be deleted; delete its documents and tables instead.")
        if self.root / FOLDER not in row.folder.parents:
            raise BadInputError(f"{row.name}'s folder {row.folder} is not under {self.root / FOLDER}.",
                                "It is left alone; remove it by hand if you are sure.")
        self.store.delete_workspace(row.id)
        shutil.rmtree(row.folder, ignore_errors=True)
        self._record("workspace_deleted", by, workspace=row.name, workspace_id=row.id, workspace_kind=row.kind)
        return row

    def listing(self) -> list[dict[str, Any]]:
        """Every workspace with its members (for `workspaces list` and the admin page)."""
        return [{"id": w.id, "name": w.name, "kind": w.kind, "owner": w.owner, "folder": str(w.folder),
                 "members": self.store.members(w.id)} for w in self.store.workspaces()]

    def available(self, user: UserRow) -> list[WorkspaceRow]:
        """The workspaces a user may switch to: their private one and those they belong to (admins: all)."""
        own = [self.private(user)]
        others = self.store.workspaces() if allowed(user.role, MANAGE) else self.store.workspaces_of(user.name)
        return own + [w for w in others if w.id != own[0].id]

    def actor(self, user: UserRow, workspace: str | None = None) -> Actor:
        """Who acts where: the named workspace if the user may enter it (admins may enter any), else refused."""
        if workspace is None:
            row = self.private(user)
            if user.role == "viewer":  # a viewer asks questions in shared workspaces: the first one theirs
                row = next((w for w in self.store.workspaces_of(user.name) if w.kind == "shared"), row)
        else:
            found = self.store.workspace(workspace)
            member = found is not None and user.name in self.store.members(found.id)
            if found is None or not (member or allowed(user.role, MANAGE)):
                self._record("access_refused", user.name, "error", workspace=workspace)
                raise PermissionDenied(f"You are not a member of a workspace named {workspace!r}.",
                                       "Ask an admin to add you, or leave it out to use your private workspace.")
            row = found
        return Actor(user.name, user.role, row.id, row.name, row.folder, row.kind)
