"""Who submitted a job, and the services it runs with: those of its submitter, so the records it writes name
them even when another member's app process (or a worker) runs it.

In a shared workspace every member's app runs the workspace's queue; without this, a job would be recorded under
whoever's process happened to pick it up.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.access.roles import Actor

BuildServices = Callable[..., Any]  # app.container.build_services(settings, actor=None)


def identity_of(services: Any) -> dict[str, str]:
    """The submitter as stored in a job's payload: the signed-in actor, or (sign-in off) the settings' user."""
    actor: Actor | None = getattr(services, "actor", None)
    if actor is None:
        return {"user": str(services.settings.user)}
    return {name: str(value) for name, value in asdict(actor).items()}


class ActingServices:
    """Services per submitter, built once and sharing the heavy services (one DuckDB, one vector index) with the
    services the queue was built from."""

    def __init__(self, services: Any, build: BuildServices | None) -> None:
        self._services, self._build = services, build
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def for_submitter(self, submitter: Any) -> Any:
        """The services to run a job of `submitter` with; the queue's own for its own user, for a job without a
        submitter, or for one of another workspace folder (never run as someone in another workspace)."""
        own = self._services
        if self._build is None or not isinstance(submitter, dict) or not submitter.get("user"):
            return own
        if submitter == identity_of(own) or not self._same_workspace(submitter):
            return own
        key = json.dumps(submitter, sort_keys=True)
        with self._lock:
            if key not in self._built:
                self._built[key] = self._make(submitter)
            return self._built[key]

    def _same_workspace(self, submitter: dict[str, str]) -> bool:
        actor = getattr(self._services, "actor", None)
        return actor is None if "folder" not in submitter else (
            actor is not None and submitter["folder"] == str(actor.folder))

    def _make(self, submitter: dict[str, str]) -> Any:
        own = self._services
        assert self._build is not None  # checked by for_submitter
        if own.actor is None:
            other = self._build(own.settings.model_copy(update={"user": submitter["user"]}))
        else:
            actor = Actor(submitter["user"], submitter["role"], submitter["workspace_id"], submitter["workspace"],
                          Path(submitter["folder"]), submitter.get("kind", "private"))
            other = self._build(own.settings.model_copy(update={"data_dir": own.root_dir}), actor)
        other.share_pool(own)
        return other
