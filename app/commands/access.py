"""CLI: `users add|list|set-role|disable|enable|password` and `workspaces create|add-member|remove-member|list|delete`.

Whoever runs the CLI has the data directory itself, so these commands act with admin trust (no sign-in); each
change is recorded with the acting name (`--user`, else the OS user).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.access.directory import Access
from app.access.roles import ROLE_HELP, ROLES
from app.commands.common import command, emit
from app.errors import BadInputError
from app.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `users` and `workspaces` subcommands."""
    users = sub.add_parser("users", help="Accounts for sign-in (admin trust: whoever runs the CLI owns the data).")
    usub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = command(usub, "add", help="Add a user.", handler=run_add)
    add.add_argument("name")
    add.add_argument("--role", required=True, help="; ".join(f"{r}: {ROLE_HELP[r]}" for r in ROLES))
    add.add_argument("--password-stdin", action="store_true",
                     help="Read the password from the first line of standard input (never from the command line).")
    command(usub, "list", help="List users and their roles.", handler=run_list)
    role = command(usub, "set-role", help="Change a user's role.", handler=run_set_role)
    role.add_argument("name")
    role.add_argument("role", help=", ".join(ROLES))
    for name, handler, text in (("disable", run_disable, "Disable a user (their sessions end; records stay)."),
                                ("enable", run_enable, "Enable a disabled user.")):
        command(usub, name, help=text, handler=handler).add_argument("name")
    password = command(usub, "password", help="Set a user's password from standard input.", handler=run_password)
    password.add_argument("name")

    spaces = sub.add_parser("workspaces", help="Private and shared workspaces (each is a data folder).")
    wsub = spaces.add_subparsers(dest="workspaces_command", metavar="ACTION", required=True)
    create = command(wsub, "create", help="Create a shared workspace.", handler=run_create)
    create.add_argument("name")
    for name, handler, text in (("add-member", run_add_member, "Add a user to a shared workspace."),
                                ("remove-member", run_remove_member, "Take a user out of a shared workspace.")):
        member = command(wsub, name, help=text, handler=handler)
        member.add_argument("workspace")
        member.add_argument("user")
    command(wsub, "list", help="List workspaces with their members.", handler=run_workspaces)
    delete = command(wsub, "delete", help="Delete a workspace and its folder (nothing else).", handler=run_delete)
    delete.add_argument("name")


def access_of(services: Any) -> Access:
    """The access wing of the root data directory the services were built from."""
    settings: Settings = services.settings
    root = services.root_dir or settings.data_dir
    return Access.open(settings.model_copy(update={"data_dir": root}))


def _by(services: Any) -> str:
    return str(services.settings.user)


def _read_password() -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise BadInputError("No password was given on standard input.",
                            "Pipe it in: `printf '%s\\n' \"$PASSWORD\" | python -m app users add NAME --role ROLE "
                            "--password-stdin`.")
    return line


def _user_json(row: Any) -> dict[str, Any]:
    return {"name": row.name, "role": row.role, "disabled": row.disabled, "created": row.created,
            "password": bool(row.password_hash)}


def run_add(args: argparse.Namespace, services: Any) -> int:
    """`users add NAME --role ROLE [--password-stdin]`."""
    password = _read_password() if args.password_stdin else None
    access = access_of(services)
    row = access.accounts.add(args.name, args.role, password, by=_by(services))
    workspace = access.workspaces.private(row)
    emit(args, {**_user_json(row), "workspace": workspace.name},
         f"added {row.name} ({row.role}); private workspace {workspace.name}"
         + ("" if password else " (no password: sign-in through OIDC or the proxy only)"))
    return 0


def run_list(args: argparse.Namespace, services: Any) -> int:
    """`users list [--json]`."""
    rows = access_of(services).store.users()
    lines = [f"{r.name:24} {r.role:8} {'disabled' if r.disabled else 'enabled'}" for r in rows]
    emit(args, {"users": [_user_json(r) for r in rows]}, "\n".join(lines) or "no users yet")
    return 0


def run_set_role(args: argparse.Namespace, services: Any) -> int:
    """`users set-role NAME ROLE`."""
    row = access_of(services).accounts.set_role(args.name, args.role, by=_by(services))
    emit(args, _user_json(row), f"{row.name} is now {row.role}")
    return 0


def run_disable(args: argparse.Namespace, services: Any) -> int:
    """`users disable NAME`."""
    row = access_of(services).accounts.set_disabled(args.name, True, by=_by(services))
    emit(args, _user_json(row), f"{row.name} is disabled (their records stay)")
    return 0


def run_enable(args: argparse.Namespace, services: Any) -> int:
    """`users enable NAME`."""
    row = access_of(services).accounts.set_disabled(args.name, False, by=_by(services))
    emit(args, _user_json(row), f"{row.name} is enabled")
    return 0


def run_password(args: argparse.Namespace, services: Any) -> int:
    """`users password NAME` (the new password on standard input)."""
    access_of(services).accounts.set_password(args.name, _read_password(), by=_by(services))
    emit(args, {"name": args.name, "password": True}, f"password of {args.name} changed")
    return 0


def run_create(args: argparse.Namespace, services: Any) -> int:
    """`workspaces create NAME`."""
    row = access_of(services).workspaces.create(args.name, by=_by(services))
    emit(args, {"id": row.id, "name": row.name, "kind": row.kind, "folder": str(row.folder)},
         f"created shared workspace {row.name} ({row.folder})")
    return 0


def run_add_member(args: argparse.Namespace, services: Any) -> int:
    """`workspaces add-member WORKSPACE USER`."""
    row = access_of(services).workspaces.add_member(args.workspace, args.user, by=_by(services))
    emit(args, {"workspace": row.name, "user": args.user}, f"{args.user} is a member of {row.name}")
    return 0


def run_remove_member(args: argparse.Namespace, services: Any) -> int:
    """`workspaces remove-member WORKSPACE USER`."""
    access_of(services).workspaces.remove_member(args.workspace, args.user, by=_by(services))
    emit(args, {"workspace": args.workspace, "user": args.user}, f"{args.user} is not a member of {args.workspace}")
    return 0


def run_workspaces(args: argparse.Namespace, services: Any) -> int:
    """`workspaces list [--json]`."""
    spaces = access_of(services).workspaces.listing()
    lines = [f"{w['name']:28} {w['kind']:7} members: {', '.join(w['members']) or '—'}" for w in spaces]
    emit(args, {"workspaces": spaces}, "\n".join(lines) or "no workspaces yet")
    return 0


def run_delete(args: argparse.Namespace, services: Any) -> int:
    """`workspaces delete NAME`: its folder and nothing else."""
    row = access_of(services).workspaces.delete(args.name, by=_by(services))
    emit(args, {"deleted": row.name, "folder": str(row.folder)}, f"deleted workspace {row.name} and {row.folder}")
    return 0
