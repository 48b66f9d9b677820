"""CLI: `sql` (question or --raw SQL, optionally over --db FILE.duckdb) and `tables` (list, load, show, delete)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.commands.common import command, emit
from app.errors import AssistantError, BadInputError
from app.tables.service import TablesService, valid_max_rows, valid_timeout
from storage.tables_engine import Limits


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sql` and `tables` subcommands."""
    sql = command(sub, "sql", help="Answer a question with SQL over your tables (or run --raw SQL).", handler=run_sql)
    sql.add_argument("question", help="The question, or with --raw the SQL (use - to read standard input).")
    sql.add_argument("--raw", action="store_true", help="Treat the argument as SQL; it is checked, then run.")
    sql.add_argument("--db", type=Path, help="Answer over this .duckdb file, attached read-only.")
    sql.add_argument("--max-rows", type=_rows_arg, default=1000,
                     help="Row cap, 1 to 1,000,000 (the result says when it was cut).")
    sql.add_argument("--timeout", type=_timeout_arg, default=10.0,
                     help="Seconds before the query is stopped, above 0 and at most 3600.")

    tables = sub.add_parser("tables", help="List, load, inspect or delete tables.")
    tsub = tables.add_subparsers(dest="tables_command", metavar="ACTION", required=True)
    listing = command(tsub, "list", help="Tables with columns, row counts and source files.", handler=run_list)
    listing.add_argument("--db", type=Path, help="List the tables of this .duckdb file instead.")
    load = command(tsub, "load", help="Load CSV/TSV, Excel, Parquet, JSON or DuckDB files.", handler=run_load)
    load.add_argument("files", nargs="+", type=Path)
    show = command(tsub, "show", help="Sample rows and column statistics of one table.", handler=run_show)
    show.add_argument("table")
    delete = command(
        tsub, "delete", help="Delete a loaded file's tables (by sha256 from `tables list`).", handler=run_delete
    )
    delete.add_argument("sha256")


def _timeout_arg(text: str) -> float:
    try:
        return valid_timeout(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds, more than 0 and at most 3600, not {text!r}") from None
    except BadInputError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _rows_arg(text: str) -> int:
    try:
        return valid_max_rows(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of rows, not {text!r}") from None
    except BadInputError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def tables_service(services, db: Path | None = None, **kwargs):
    """The shared TablesService, or a read-only one over `db` (with the same memory and thread limits)."""
    if db is not None:
        settings = services.settings
        limits = Limits(settings.sql_memory_limit, settings.sql_threads)
        service = TablesService.open_database(db, model=services.router.get_model, limits=limits, **kwargs)
        return services.apply_sql_options(service)
    service = services.tables
    for key, value in kwargs.items():
        setattr(service, key, value)
    return service


def run_sql(args: argparse.Namespace, services) -> int:
    """Answer a question or run raw SQL; JSON {sql, columns, rows, truncated, error, attempts}."""
    text = sys.stdin.read() if args.question == "-" else args.question
    if not text.strip():
        raise BadInputError("Give a question, or SQL with --raw.")
    service = tables_service(services, args.db, max_rows=args.max_rows, timeout=args.timeout)
    answer = services.run_sql(service, text, raw=args.raw, origin="cli", database=str(args.db or ""))
    lines = [f"SQL: {answer.sql}"] if answer.sql and not args.raw else []
    if answer.error:
        lines.append(f"error: {answer.error}")
        if answer.error_hint:
            lines.append(f"what to do: {answer.error_hint}")
    else:
        lines.append("\t".join(answer.columns))
        lines += ["\t".join("" if v is None else str(v) for v in row) for row in answer.rows]
        if answer.truncated:
            lines.append(f"(cut at {len(answer.rows)} rows)")
        lines.append(answer.answer)
    emit(args, answer.to_json(), "\n".join(lines))
    return 1 if answer.error else 0


def run_list(args: argparse.Namespace, services) -> int:
    """Print tables (name, source, rows, columns)."""
    service = tables_service(services, args.db)
    tables = service.tables()
    sources = {t: s.sha256 for s in service.sources() for t in s.tables}
    payload = {
        "tables": [
            {
                "name": t.name,
                "source": t.source,
                "sha256": sources.get(t.name, ""),
                "rows": t.row_count,
                "columns": [{"name": c.name, "type": c.type} for c in t.columns],
            }
            for t in tables
        ]
    }
    text = (
        "\n".join(
            f"{t.name}\t{t.row_count} rows\t{t.source}\t" + ", ".join(f"{c.name} {c.type}" for c in t.columns)
            for t in tables
        )
        or "No tables loaded."
    )
    emit(args, payload, text)
    return 0


def run_load(args: argparse.Namespace, services) -> int:
    """Load table files and report their tables."""
    service = tables_service(services)
    results = []
    for path in args.files:
        try:
            result = service.load_file(path, progress=None if args.json else _progress)
        except AssistantError:
            if not args.json:
                sys.stderr.write("\r\x1b[K")  # the error line replaces the progress line
            raise
        results.append(
            {
                "file": str(path),
                "sha256": result.sha256,
                "kind": result.kind,
                "tables": result.tables,
                "rows": result.rows,
                "already_loaded": result.already_loaded,
                "warnings": result.warnings,
            }
        )
    text = "\n".join(
        f"{r['file']}: {', '.join(r['tables'])}"
        + (" (already loaded)" if r["already_loaded"] else "")
        + "".join(f"\n  warning: {w}" for w in r["warnings"])
        for r in results
    )
    emit(args, {"loaded": results}, text)
    return 0


def run_show(args: argparse.Namespace, services) -> int:
    """Print sample rows and column statistics of one table."""
    service = tables_service(services)
    sample = service.preview(args.table)
    stats = service.column_stats(args.table)
    text = "\n".join(
        ["\t".join(sample.columns)]
        + ["\t".join(str(v) for v in r) for r in sample.rows]
        + [""]
        + [
            f"{s['column']} {s['type']}: {s['non_null']} values, ~{s['distinct']} distinct, "
            f"min {s['min']}, max {s['max']}"
            for s in stats
        ]
    )
    emit(args, {"columns": sample.columns, "rows": sample.rows, "stats": stats}, text)
    return 0


def run_delete(args: argparse.Namespace, services) -> int:
    """Delete one loaded file's tables."""
    dropped = services.delete_table_source(args.sha256)  # recorded
    emit(args, {"deleted": dropped}, f"Deleted: {', '.join(dropped) or 'nothing'}")
    return 0


def _progress(fraction: float, message: str) -> None:
    sys.stderr.write(f"\r{message} ({fraction:.0%})\x1b[K")
    if fraction >= 1.0:
        sys.stderr.write("\n")
    sys.stderr.flush()
