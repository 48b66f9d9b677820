"""CLI: `demo load` — the bundled public demo material (a PDF manual, a WHO air-quality table, a chart image and
a short public-domain recording) through the normal ingestion, plus questions to try."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.commands.common import command, emit
from app.demo.load import SUGGESTED_QUESTIONS, load_demo


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommands."""
    demo = sub.add_parser("demo", help="Load the bundled demo material (public documents, a table, an image, audio).")
    actions = demo.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(actions, "load", help="Index the demo files and load the demo table (twice changes nothing).",
            handler=run_load)


def run_load(args: argparse.Namespace, services: Any) -> int:
    """Load the demo; exit 1 when a file could not be loaded (the others still are)."""
    load = load_demo(services.documents, services.tables, services.records, services.settings.user,
                     None if args.json else _say)
    lines = [f"{f.status:8} {f.name}  ({f.detail})" for f in load.files]
    lines.append(f"Demo loaded in {load.seconds} s" + (f"; {len(load.failed)} file(s) failed" if load.failed else
                                                       "") + ". Questions to try:")
    lines += [f"  python -m app ask \"{q}\"" for q in SUGGESTED_QUESTIONS]
    emit(args, {"files": [vars(f) for f in load.files], "seconds": load.seconds, "record_id": load.record_id,
                "questions": list(SUGGESTED_QUESTIONS)}, "\n".join(lines))
    return 1 if load.failed else 0


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
