"""CLI: `report CONVERSATION_ID --format html|pdf --out FILE` (a conversation as a report that can be verified
with `audit verify-report`), and `report --list` (the conversations and their ids)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.commands.common import emit
from app.errors import BadInputError, NotFoundError
from app.reports.export import FORMATS, export_report


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `report` command."""
    parser = sub.add_parser("report", help="Export a conversation as an HTML or PDF report (verifiable).")
    parser.add_argument("conversation_id", nargs="?", metavar="CONVERSATION_ID")
    parser.add_argument("--format", choices=FORMATS, default="html")
    parser.add_argument("--out", type=Path, help="File to write (default: report-<id>.<format> here).")
    parser.add_argument("--list", action="store_true", help="List the conversations and their ids instead.")
    parser.add_argument("--json", action="store_true", help="Print JSON.")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace, services: Any) -> int:
    """Write the report file and say where; the export is recorded (`report_exported`)."""
    if args.list:
        conversations = services.conversations.list()
        emit(args, {"conversations": [{"id": c.id, "title": c.title, "updated_at": c.updated_at}
                                      for c in conversations]},
             "\n".join(f"{c.id}  {c.updated_at[:19]}  {c.title}" for c in conversations) or "No conversations yet.")
        return 0
    if not args.conversation_id:
        raise BadInputError("Which conversation? No CONVERSATION_ID given.",
                            "List them with `python -m app report --list`.")
    out: Path = args.out or Path(f"report-{args.conversation_id}.{args.format}")
    if out.is_dir():
        raise BadInputError(f"{out} is a folder.", "Give a file name for --out.")
    if not out.parent.exists():
        raise BadInputError(f"The folder {out.parent} does not exist.", "Create it, or write the report elsewhere.")
    try:
        services.conversations.get(args.conversation_id)
    except NotFoundError as exc:
        raise NotFoundError(f"No conversation with id {args.conversation_id} in {services.settings.data_dir}.",
                            "List them with `python -m app report --list`.") from exc
    data = export_report(services.conversations, services.records, args.conversation_id, args.format,
                         services.settings.user, origin="cli")
    out.write_bytes(data)
    emit(args, {"file": str(out), "format": args.format, "bytes": len(data)},
         f"Wrote {args.format.upper()} report {out} ({len(data):,} bytes). Check it with "
         f"`python -m app audit verify-report {out}`.")
    sys.stdout.flush()
    return 0
