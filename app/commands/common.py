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
