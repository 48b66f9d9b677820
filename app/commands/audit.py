"""CLI: `audit verify` (is the hash chain intact?) and `audit export` (JSONL or CSV)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from app.commands.common import command, emit
from app.errors import BadInputError

# Flat columns for CSV; the full record is in the JSONL export.
CSV_COLUMNS = (
    "id",
    "ts",
    "kind",
    "user",
    "backend",
    "model",
    "status",
    "conversation_id",
    "question",
    "answer",
    "load_s",
    "ttft_s",
    "total_s",
    "tokens_in",
    "tokens_out",
    "tools",
    "citations",
    "error",
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `audit` subcommands."""
    audit = sub.add_parser("audit", help="Check or export the request records (the audit trail).")
    actions = audit.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(
        actions, "verify", help="Check that no record was edited or deleted (exit 1 if one was).", handler=run_verify
    )
    export = command(
        actions, "export", help="Write every record, oldest first, as JSONL or CSV.", handler=run_export, json_help=None
    )
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--out", type=Path, help="File to write (default: standard output).")


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
    handle: TextIO = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        count = write_records(services.records.iter_all(), args.format, handle)
    finally:
        if args.out:
            handle.close()
    if args.out:
        sys.stderr.write(f"wrote {count} record(s) to {args.out}\n")
    return 0


def write_records(records, fmt: str, handle: TextIO) -> int:
    """Write records as JSONL or CSV; returns how many were written."""
    count = 0
    writer = csv.DictWriter(handle, CSV_COLUMNS, extrasaction="ignore") if fmt == "csv" else None
    if writer:
        writer.writeheader()
    for record in records:
        if writer:
            row = {k: record.get(k) for k in CSV_COLUMNS}
            for key in ("tools", "citations", "error"):
                row[key] = json.dumps(record.get(key), ensure_ascii=False) if record.get(key) else ""
            writer.writerow(row)
        else:
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    return count
