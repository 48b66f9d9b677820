"""The access wing's front: accounts, sessions and workspaces over one `users.sqlite` in the root data dir."""

from __future__ import annotations

from pathlib import Path

from app.access.accounts import Accounts, RecordSink, SignInError
from app.access.roles import Actor
from app.access.workspaces import Workspaces
from app.audit.privacy import RecordPrivacy
from app.settings import Settings
from storage.keys import RecordKeys
from storage.records import SqliteRecordStore
from storage.users import UserStore

USERS_FILE = "users.sqlite"
# What a workspace's settings change from the root's (kept when settings are saved from a workspace).
WORKSPACE_FIELDS = ("data_dir", "models_dir", "user")


def workspace_settings(settings: Settings, actor: Actor) -> Settings:
    """The settings a workspace's services read: its folder as data dir, the root's models, the actor's name."""
    return settings.model_copy(update={"data_dir": actor.folder, "models_dir": settings.resolved_models_dir,
                                       "user": actor.user})


class Access:
    """Who may sign in, with which role, and which workspace (data folder) they work in."""

    def __init__(self, settings: Settings, records: RecordSink) -> None:
        self.settings = settings
        self.root: Path = settings.data_dir
        self.store = UserStore(self.root / USERS_FILE)
        self.accounts = Accounts(self.store, records, settings.session_hours)
        self.workspaces = Workspaces(self.store, records, self.root)

    @classmethod
    def open(cls, settings: Settings) -> Access:
        """The access wing of the root data dir, recording into its request records (personal data masked)."""
        keys = RecordKeys.load(settings.keys_dir)
        records = SqliteRecordStore(settings.data_dir / "records.sqlite", keys)
        records.privacy = RecordPrivacy(keys, lambda: settings.record_personal_data).mask_record
        return cls(settings, records)

    def actor(self, user: str, workspace: str | None = None) -> Actor:
        """The actor for a user in a workspace (default: their private one); refused for a disabled account."""
        row = self.accounts.user(user)
        if row.disabled:
            raise SignInError(f"The account {user!r} is disabled.", "Ask an admin to enable it.")
        return self.workspaces.actor(row, workspace)

    def has_users(self) -> bool:
        """Whether any account exists yet (sign-in needs one)."""
        return bool(self.store.users())
