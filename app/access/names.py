"""What a user or workspace name may look like (checked before anything is stored)."""

from __future__ import annotations

import re

from app.errors import BadInputError

# Letters, digits and . _ @ - : a login name or an e-mail (OIDC and proxy users), never a path or markup.
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
_WORKSPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def check_user_name(name: str) -> str:
    """A valid user name (stripped), or a clear error saying what is allowed."""
    name = (name or "").strip()
    if not _USER.match(name):
        raise BadInputError(f"{name!r} cannot be a user name.",
                            "Use letters, digits and . _ @ + - (an e-mail address works), starting with a letter "
                            "or digit, at most 100 characters.")
    return name


def check_workspace_name(name: str) -> str:
    """A valid workspace name (stripped), or a clear error saying what is allowed."""
    name = (name or "").strip()
    if not _WORKSPACE.match(name) or name.startswith("private-"):
        raise BadInputError(f"{name!r} cannot be a workspace name.",
                            "Use letters, digits, spaces and . _ - (at most 64 characters, starting with a letter "
                            "or digit); names starting with 'private-' belong to users' own workspaces.")
    return name
