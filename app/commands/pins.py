"""CLI: `pins list`, `pins add CONVERSATION_ID` (its latest SQL-backed answer) and `pins refresh [PIN_ID]` (re-run
the saved SQL on today's tables, read-only; exit 1 when a pin is stale) — the workspace board."""

from __future__ import annotations

import argparse
from typing import Any

from app.access.roles import WRITE
from app.commands.common import command, emit
from app.pins.refresh import pin_latest_answer, refresh_pin
from app.pins.store import PinStore


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `pins` subcommands."""
    pins = sub.add_parser("pins", help="The workspace board: pinned SQL-backed answers, refreshed on today's tables.")
    actions = pins.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(actions, "list", help="Each pin's headline, when it was computed and whether it is stale.",
            handler=run_list)
    add = command(actions, "add", help="Pin the latest SQL-backed answer of a conversation.", handler=run_add)
    add.add_argument("conversation_id", metavar="CONVERSATION_ID")
    refresh = command(actions, "refresh", help="Re-run the pins' SQL (not the model); exit 1 if one is stale.",
                      handler=run_refresh)
    refresh.add_argument("pin_id", nargs="?", metavar="PIN_ID", help="Only this pin (default: all).")


def board(services: Any) -> PinStore:
    """This workspace's board."""
    return PinStore(services.settings.data_dir / "board.sqlite")


def run_list(args: argparse.Namespace, services: Any) -> int:
    """Print the pins."""
    pins = board(services).list()
    lines = [f"{p.id}  {p.headline}  (computed {p.computed_at}{', STALE: ' + p.stale if p.stale else ''})  "
             f"{p.question}" for p in pins]
    emit(args, {"pins": [p.as_json() for p in pins]}, "\n".join(lines) or "No pins on this board yet.")
    return 0


def run_add(args: argparse.Namespace, services: Any) -> int:
    """Pin the conversation's latest SQL-backed answer."""
    services.require(WRITE, "pins add")  # a viewer reads the board, never changes it (refused and recorded)
    services.conversations.get(args.conversation_id)  # NotFoundError for an unknown id
    pin = pin_latest_answer(board(services), services.conversations, services.records, args.conversation_id,
                            services.settings.user)
    emit(args, pin.as_json(), f"Pinned {pin.id}: {pin.headline} ({pin.question})")
    return 0


def run_refresh(args: argparse.Namespace, services: Any) -> int:
    """Refresh one pin or all; stale ones keep their old value."""
    services.require(WRITE, "pins refresh")
    store = board(services)
    pins = [store.get(args.pin_id)] if args.pin_id else store.list()
    results = [refresh_pin(store, services.tables, services.records, pin, services.settings.user) for pin in pins]
    emit(args, {"pins": [{**r.pin.as_json(), "before": r.before, "changed": r.changed} for r in results]},
         "\n".join(r.summary for r in results) or "No pins on this board yet.")
    return 1 if any(r.pin.stale for r in results) else 0
