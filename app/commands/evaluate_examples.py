"""CLI: `eval run SET --compare-examples` — the set's SQL questions without and with verified queries."""

from __future__ import annotations

import argparse
import sys

from app.commands.common import emit
from app.errors import BadInputError
from app.evaluation.examples_effect import compare_examples, effect_text, stored_pairs
from app.evaluation.service import RunOptions, load_set


def compare_examples_cli(args: argparse.Namespace, services, options: RunOptions) -> int:
    """Run both ways in this process (progress on stderr), print the side-by-side figures (or JSON)."""
    if getattr(args, "background", False):
        raise BadInputError("--compare-examples runs both runs in this process; it cannot be queued with --background.",
                            "Drop --background (or queue the two runs separately).")
    eval_set = load_set(args.set, args.docs)
    stored = stored_pairs(services, eval_set)
    if stored and not any(stored.values()):
        sys.stderr.write("warning: no verified queries are stored for " + ", ".join(stored) + "; both runs will "
                         "be the same. Add some with `python -m app sql-examples add QUESTION --sql SQL "
                         "--database DB.duckdb`.\n")

    def progress(fraction: float, message: str) -> None:
        sys.stderr.write(f"[{fraction:4.0%}] {message}\n")
        sys.stderr.flush()

    result = compare_examples(services, eval_set, options, progress=progress)
    emit(args, result, effect_text(result))
    return 0
