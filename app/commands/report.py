"""CLI: `report CONVERSATION_ID --format html|pdf --out FILE [--answers 1,3]` (a conversation, or the answers
ticked, as a report that can be verified with `audit verify-report`), `report --list` (the conversations and
their ids) and `report CONVERSATION_ID --list` (its answers, numbered as --answers takes them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.commands.common import emit
from app.errors import BadInputError, NotFoundError
from app.reports.export import FORMATS, export_report
from app.reports.model import answer_list


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `report` command."""
    parser = sub.add_parser("report", help="Export a conversation as an HTML or PDF report (verifiable).")
    parser.add_argument("conversation_id", nargs="?", metavar="CONVERSATION_ID")
    parser.add_argument("--format", choices=FORMATS, default="html")
    parser.add_argument("--out", type=Path, help="File to write (default: report-<id>.<format> here).")
    parser.add_argument("--answers", metavar="N,M-K",
                        help="Only these answers, numbered from 1 as `report ID --list` shows them (default: all).")
    parser.add_argument("--list", action="store_true",
                        help="List the conversations and their ids instead (with an ID: that conversation's answers).")
    parser.add_argument("--json", action="store_true", help="Print JSON.")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace, services: Any) -> int:
    """Write the report file and say where; the export is recorded (`report_exported`)."""
    if args.list and args.conversation_id:
        return _list_answers(args, services)
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
    _existing(services, args.conversation_id)
    answers = parse_answers(args.answers) if args.answers is not None else None
    data = export_report(services.conversations, services.records, args.conversation_id, args.format,
                         services.settings.user, origin="cli", answers=answers)
    out.write_bytes(data)
    emit(args, {"file": str(out), "format": args.format, "bytes": len(data)},
         f"Wrote {args.format.upper()} report {out} ({len(data):,} bytes). Check it with "
         f"`python -m app audit verify-report {out}`.")
    sys.stdout.flush()
    return 0


def _existing(services: Any, conversation_id: str) -> None:
    try:
        services.conversations.get(conversation_id)
    except NotFoundError as exc:
        raise NotFoundError(f"No conversation with id {conversation_id} in {services.settings.data_dir}.",
                            "List them with `python -m app report --list`.") from exc


def _list_answers(args: argparse.Namespace, services: Any) -> int:
    """Print a conversation's answers with the numbers `--answers` takes."""
    _existing(services, args.conversation_id)
    listed = answer_list(services.conversations, args.conversation_id)
    emit(args, {"conversation_id": args.conversation_id,
                "answers": [{"n": n, "question": q} for n, q in listed]},
         "\n".join(f"{n:3}  {q[:100]}" for n, q in listed) or "No answers in this conversation yet.")
    return 0


def parse_answers(text: str) -> list[int]:
    """"1,3" or "2-4,7" as answer numbers; BadInputError naming what could not be read."""
    numbers: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise BadInputError(f"--answers {text!r}: {part!r} is not an answer number.",
                                "Give numbers from `report ID --list`, e.g. --answers 1,3 or --answers 2-4.") from None
        if last < first or last - first > 10_000:
            raise BadInputError(f"--answers {text!r}: {part!r} is not a range from low to high.",
                                "Write a range as 2-4.")
        numbers.extend(range(first, last + 1))
    return numbers
