"""CLI: `audit verify` (is the hash chain intact?), `audit export` (JSONL or CSV) and `audit prune` (retention)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from app.audit.trail import write_records
from app.commands.common import command, emit
from app.errors import BadInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `audit` subcommands."""
    audit = sub.add_parser("audit", help="Check, export or prune the request records (the audit trail).")
    actions = audit.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(
        actions, "verify", help="Check that no record was edited or deleted (exit 1 if one was).", handler=run_verify
    )
    export = command(
        actions,
        "export",
        help="Write the records, oldest first, as JSONL or CSV (every kind, unless filtered).",
        handler=run_export,
        json_help=None,
    )
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--out", type=Path, help="File to write (default: standard output).")
    export.add_argument("--since", type=_day_or_time, help="From this date or ISO time (UTC), inclusive.")
    export.add_argument("--until", type=_day_or_time, help="Up to this date (inclusive) or ISO time (exclusive), UTC.")
    export.add_argument("--user", help="Only this user's records.")
    export.add_argument("--model", help="Only records answered by this model.")
    export.add_argument("--kind", help="Only records of this kind (chat, retention, conversation_deleted, ...).")
    export.add_argument("--flagged", action="store_true", help="Only turns a guardrail flagged.")
    prune = command(
        actions,
        "prune",
        help="Delete records older than the retention period; the chain stays verifiable.",
        handler=run_prune,
    )
    prune.add_argument(
        "--days", type=float, help="Delete records older than this many days (default: audit_retention_days)."
    )


def _day_or_time(value: str) -> str:
    # A bare date means the whole day (UTC); an ISO time is converted to UTC like the records' stamps.
    try:
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD) or ISO time") from exc
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")


def _until(value: str | None) -> str | None:
    if value is None or len(value) != 10:
        return value
    return (date.fromisoformat(value) + timedelta(days=1)).isoformat()  # through the end of that day


def run_verify(args: argparse.Namespace, services: Any) -> int:
    """Walk the hash chain."""
    problems = services.records.verify()
    count = services.records.count()
    text = (
        f"OK: {count} record(s), hash chain intact."
        if not problems
        else f"TAMPERED: {len(problems)} problem(s) in {count} record(s):\n" + "\n".join(problems)
    )
    emit(args, {"ok": not problems, "records": count, "problems": problems}, text)
    return 0 if not problems else 1


def run_export(args: argparse.Namespace, services: Any) -> int:
    """Stream records to a file or stdout."""
    if args.out is not None and args.out.exists() and args.out.is_dir():
        raise BadInputError(f"{args.out} is a folder.", "Give a file name for --out.")
    filters = {
        "since": args.since,
        "until": _until(args.until),
        "user": args.user,
        "model": args.model,
        "kind": args.kind,
        "flagged": True if args.flagged else None,
    }
    handle: TextIO = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        count = write_records(services.records.iter_matching(**filters), args.format, handle)
    finally:
        if args.out:
            handle.close()
    if args.out:
        sys.stderr.write(f"wrote {count} record(s) to {args.out}\n")
    return 0


def run_prune(args: argparse.Namespace, services: Any) -> int:
    """Apply the retention period once."""
    days = args.days if args.days is not None else services.settings.audit_retention_days
    if not days or days <= 0:
        raise BadInputError(
            "No retention period: records are kept forever.",
            "Pass --days N, or set audit_retention_days (ANALYST_AUDIT_RETENTION_DAYS or the Settings page).",
        )
    result = services.records.prune(days)
    text = (
        f"Pruned {result['pruned']} record(s) older than {result['before']}; the chain is anchored at "
        f"{result['anchor_hash'][:12]}…"
        if result["pruned"]
        else f"Nothing to prune: no record is older than {result['before']}."
    )
    emit(args, {**result, "days": days}, text)
    return 0
