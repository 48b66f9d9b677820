"""CLI: `audit verify` (is the keyed chain intact?), `audit anchor` (its head, to write down), `audit export`
(JSONL or CSV), `audit verify-report` (a report file against the trail), `audit prune` (retention), `audit redact`
(erase one record's personal data) and `audit reveal` (the raw values sealed in a record, when kept)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from app.audit.privacy import RecordPrivacy
from app.audit.trail import write_records
from app.commands.common import command, emit
from app.errors import BadInputError, NotFoundError
from app.reports.proof import verify_report_file


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `audit` subcommands."""
    audit = sub.add_parser("audit", help="Check, export or prune the request records (the audit trail).")
    actions = audit.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(
        actions, "verify", help="Check that no record was edited, deleted or cut off (exit 1 if one was).",
        handler=run_verify,
    )
    check = command(actions, "verify-report", help="Check a report file against the trail (exit 1 if it differs).",
                    handler=run_verify_report)
    check.add_argument("file", type=Path, metavar="FILE")
    command(actions, "anchor", help="Print the head of the chain (records, last hash, time) to keep elsewhere.",
            handler=run_anchor)
    redact = command(actions, "redact", help="Erase the personal data of one record (GDPR erasure); recorded.",
                     handler=run_redact)
    redact.add_argument("record_id", metavar="RECORD_ID")
    redact.add_argument("--reason", default="erasure request", help="Why (kept in the redaction record).")
    reveal = command(actions, "reveal", help="Show the raw values sealed in one record (mask_and_encrypt policy).",
                     handler=run_reveal)
    reveal.add_argument("record_id", metavar="RECORD_ID")
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
    """Walk the keyed chain and compare its end with the head anchor; exit 1 on any problem."""
    report = services.records.verify_report()
    problems, count = report["problems"], report["records"]
    text = (
        f"OK: {count} record(s), hash chain intact."
        if not problems
        else f"TAMPERED: {len(problems)} problem(s) in {count} record(s):\n" + "\n".join(problems)
    )
    text += "".join(f"\nnote: {n}" for n in report["notes"])
    emit(args, {k: report[k] for k in ("ok", "records", "problems", "notes")}, text)
    return 0 if not problems else 1


def run_verify_report(args: argparse.Namespace, services: Any) -> int:
    """A report's text as exported, every record it cites present and unaltered, the chain intact; else exit 1."""
    verdict = verify_report_file(args.file, services.records)
    if verdict.ok:
        text = (f"OK: {verdict.file} is as exported; its {verdict.records} cited record(s) exist, unaltered, "
                "and the hash chain is intact.")
    else:
        text = (f"DOES NOT VERIFY: {verdict.file}: {len(verdict.problems)} problem(s):\n"
                + "\n".join(f"- {p}" for p in verdict.problems))
    text += "".join(f"\nnote: {n}" for n in verdict.notes)
    emit(args, {"ok": verdict.ok, "file": verdict.file, "records": verdict.records, "problems": verdict.problems,
                "notes": verdict.notes}, text)
    return 0 if verdict.ok else 1


def run_anchor(args: argparse.Namespace, services: Any) -> int:
    """Print the current head (from the records file) and whether the anchor kept outside agrees."""
    head = services.records.head()
    text = (f"Head of the audit trail at {head['ts']}: {head['records']} record(s), last record "
            f"{head['last_id'] or '-'}, last hash {head['last_hash']}\n"
            f"Anchor file: {head['anchor_file']} ({'agrees' if head['anchored'] else 'DOES NOT agree: run verify'})")
    emit(args, head, text)
    return 0


def run_redact(args: argparse.Namespace, services: Any) -> int:
    """Erase one record's personal data; the chain still verifies and the redaction is itself a record."""
    privacy = RecordPrivacy(services.records.keys)
    erased = 0

    def rewrite(body: dict) -> dict:
        nonlocal erased
        cleaned, erased = privacy.erase(body)
        return cleaned

    note = {"user": services.settings.user, "reason": args.reason, "status": "ok"}
    redaction = services.records.replace_body(args.record_id, rewrite, note)
    text = (f"Erased {erased} personal data value(s) from record {args.record_id}; "
            f"recorded as redaction {redaction['id']}.")
    emit(args, {"record_id": args.record_id, "erased": erased, "redaction_id": redaction["id"]}, text)
    return 0


def run_reveal(args: argparse.Namespace, services: Any) -> int:
    """The sealed raw values of one record, by token (needs the personal-data key of the keys folder)."""
    body = services.records.get(args.record_id)
    if body is None:
        raise NotFoundError(f"No request record with id {args.record_id}.", "List ids with `audit export`.")
    values = RecordPrivacy(services.records.keys).reveal(body)
    if values:  # reading personal data is itself recorded: who, which record, how many values
        services.records.append("pii_revealed", {"user": services.settings.user, "status": "ok",
                                                 "record_id": args.record_id, "values": len(values)})
    text = "\n".join(f"{token} {value}" for token, value in values.items()) or (
        "No sealed values in this record (written with record_personal_data = mask, or erased).")
    emit(args, {"record_id": args.record_id, "values": values}, text)
    return 0


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
