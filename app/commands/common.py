"""Helpers shared by CLI subcommands."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit(args: Any, payload: dict[str, Any], text: str) -> None:
    """Print `payload` as JSON with --json, else the human-readable `text`."""
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")


def command(parent: Any, name: str, help: str, handler: Any, json_help: str | None = "Print JSON.") -> Any:
    """Add a subcommand that runs `handler(args, services)`; with `--json` unless json_help is None."""
    parser = parent.add_parser(name, help=help)
    if json_help is not None:
        parser.add_argument("--json", action="store_true", help=json_help)
    parser.set_defaults(handler=handler)
    return parser
