"""The four roles and what each may do; the one place a permission is decided."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.errors import AssistantError

Role = Literal["admin", "analyst", "viewer", "auditor"]
ROLES: tuple[Role, ...] = ("admin", "analyst", "viewer", "auditor")

# Actions the services check (the UI hides what a role may not use; the services refuse it too).
ASK = "ask"  # ask questions in a workspace
WRITE = "write"  # upload, load, ingest, delete documents, tables, conversations, evaluation runs
SEE_ALL_RECORDS = "see_all_records"  # every user's request records (Audit, Monitoring)
MANAGE = "manage"  # users, roles, workspaces, settings
EVALUATE = "evaluate"  # run evaluation sets

_ALLOWED: dict[str, frozenset[str]] = {
    "admin": frozenset({ASK, WRITE, SEE_ALL_RECORDS, MANAGE, EVALUATE}),
    "analyst": frozenset({ASK, WRITE, EVALUATE}),
    "viewer": frozenset({ASK}),
    "auditor": frozenset({SEE_ALL_RECORDS}),
}
ROLE_HELP = {
    "admin": "users, roles, settings and every workspace",
    "analyst": "works in the workspaces they belong to",
    "viewer": "asks questions in shared workspaces; cannot upload, load or delete",
    "auditor": "reads Audit and Monitoring across all users; changes nothing",
}
_WHAT = {ASK: "ask questions", WRITE: "upload, load or delete data", SEE_ALL_RECORDS: "read other users' records",
         MANAGE: "manage users, workspaces and settings", EVALUATE: "run evaluations"}


class PermissionDenied(AssistantError):
    """The signed-in user's role does not allow the action (the refusal is recorded)."""


def allowed(role: str, action: str) -> bool:
    """Whether `role` may do `action`."""
    return action in _ALLOWED.get(role, frozenset())


def check_role(value: str) -> Role:
    """A role name as given on the CLI or a page, or a clear error naming the four."""
    for role in ROLES:
        if value == role:
            return role
    raise AssistantError(f"Unknown role {value!r}.", f"Use one of: {', '.join(ROLES)}.")


@dataclass(frozen=True)
class Actor:
    """Who is asking, with which role, in which workspace (the folder holding that workspace's data)."""

    user: str
    role: str
    workspace_id: str
    workspace: str
    folder: Path
    kind: str = "private"

    def may(self, action: str) -> bool:
        """Whether this actor may do `action` here (a viewer writes nowhere; in a private workspace too)."""
        return allowed(self.role, action)

    def refusal(self, action: str) -> PermissionDenied:
        """The error shown (and recorded) when this actor tries `action` without the right."""
        return PermissionDenied(
            f"Your role ({self.role}) may not {_WHAT.get(action, action)}.",
            "Ask an admin for another role, or for a workspace where you may.")
