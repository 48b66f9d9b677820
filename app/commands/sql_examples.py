"""CLI: `sql-examples add|list|delete` — verified question-SQL pairs shown to the model as examples."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.commands.common import command, emit
from app.commands.tables import tables_service
from app.errors import BadInputError
from storage.sql_examples import SqlExample


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sql-examples` subcommand and its actions."""
    parser = sub.add_parser("sql-examples", help="Verified queries: question-SQL pairs marked as correct.")
    actions = parser.add_subparsers(dest="sql_examples_command", metavar="ACTION", required=True)
    add = command(actions, "add", help="Store a question with SQL that answers it (checked and run first).",
                  handler=run_add)
    add.add_argument("question", help="The question in words.")
    add.add_argument("--sql", required=True, help="The read-only SQL that answers it correctly.")
    add.add_argument("--database", "--db", dest="database", type=Path,
                     help="The .duckdb file the SQL runs on (default: your loaded tables).")
    listing = command(actions, "list", help="Verified pairs, oldest first.", handler=run_list)
    listing.add_argument("--database", help="Only pairs of this database (a .duckdb file's name without .duckdb).")
    delete = command(actions, "delete", help="Delete one verified pair by its id (from `list`).", handler=run_delete)
    delete.add_argument("id")


def _line(example: SqlExample) -> str:
    where = example.database or "your tables"
    return f"{example.id}\t[{where}]\t{example.question}\n\t{example.sql}"


def run_add(args: argparse.Namespace, services) -> int:
    """Check and run the SQL, then store the pair; nothing is stored when it is refused or fails."""
    if not args.sql.strip():
        raise BadInputError("Give the SQL with --sql.", 'e.g. --sql "SELECT region, sum(revenue) FROM sales '
                                                        'GROUP BY region"')
    service = tables_service(services, args.database)
    try:
        example = services.mark_sql_correct(service, args.question, args.sql, origin="cli")
    finally:
        if args.database is not None:
            service.close()
    emit(args, {"added": example.to_json()}, f"Stored verified query {example.id}.\n{_line(example)}")
    return 0


def run_list(args: argparse.Namespace, services) -> int:
    """Print every verified pair (of one database with --database)."""
    examples = services.sql_examples.list(args.database)
    text = "\n".join(_line(e) for e in examples) or "No verified queries yet."
    emit(args, {"examples": [e.to_json() for e in examples]}, text)
    return 0


def run_delete(args: argparse.Namespace, services) -> int:
    """Delete one pair."""
    example = services.delete_sql_example(args.id, origin="cli")
    emit(args, {"deleted": example.to_json()}, f"Deleted verified query {example.id}: {example.question}")
    return 0
