"""CLI: `ingest PATH...`, `search "QUERY"` and `docs list|delete ID` over the document library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.commands.common import command, emit
from app.commands.ingest_tables import is_table_file, load_table
from app.documents.results import failed_result
from app.errors import BadInputError
from multimodal.kinds import kind_by_name
from multimodal.transcribe import format_timestamp


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `ingest`, `search` and `docs` subcommands."""
    ingest = command(
        sub,
        "ingest",
        help="Add PDFs, images (their text) and recordings (their transcript) to "
        "the document library, and table files (CSV, Excel, Parquet, JSON, "
        "DuckDB) to your tables; folders are searched for all of them.",
        handler=run_ingest,
    )
    ingest.add_argument("paths", nargs="+", type=Path, help="Files or folders (folders are searched recursively).")
    ingest.add_argument("--password", help="Password for encrypted PDFs (tried after the empty password).")
    ingest.add_argument("--background", action="store_true",
                        help="Queue the ingestion as a background job and print its id at once (the app, or "
                        "`python -m app worker`, runs it; `jobs list` shows its progress). Table files named "
                        "here become a table-loading job; folders are searched for documents only.")

    search = command(sub, "search", help="Ranked passages from your documents (no language model).", handler=run_search)
    search.add_argument("query")
    search.add_argument("--k", type=int, default=5,
                        help="How many chunks to retrieve (default 5); close chunks of one page are one passage.")

    docs = sub.add_parser("docs", help="List or delete documents.")
    dsub = docs.add_subparsers(dest="docs_command", metavar="ACTION", required=True)
    command(dsub, "list", help="Documents with pages, chunks and status.", handler=run_list)
    delete = command(
        dsub, "delete", help="Delete a document (its vectors, keyword rows and stored copy).", handler=run_delete
    )
    delete.add_argument("id")
    resume = command(dsub, "resume", help="Finish documents whose indexing was interrupted.", handler=run_resume)
    resume.add_argument("--background", action="store_true",
                        help="Queue it as a job (goes on after this command ends; `jobs list` shows it).")


def library(services: Any) -> Any:
    """The shared DocumentLibrary."""
    return services.documents


def _progress(event: Any) -> None:
    # Human-readable progress on stderr so --json output on stdout stays clean.
    if event.stage == "transcribe":
        total = f"/{format_timestamp(event.total_seconds)}" if event.total_seconds else ""
        sys.stderr.write(
            f"\r[{event.file_index}/{event.file_count}] {Path(event.path).name}: "
            f"transcribed {format_timestamp(event.seconds)}{total}"
        )
        if event.total_seconds and event.seconds >= event.total_seconds:
            sys.stderr.write("\n")
        sys.stderr.flush()
    elif event.stage == "page" and (event.page == event.pages or event.page % 25 == 0):
        sys.stderr.write(
            f"\r[{event.file_index}/{event.file_count}] {Path(event.path).name}: page {event.page}/{event.pages}"
        )
        if event.page == event.pages:
            sys.stderr.write("\n")
        sys.stderr.flush()


def cmd_ingest(args: argparse.Namespace, lib: Any, tables: Any = None) -> dict[str, Any]:
    """Ingest paths; {"files": [{path, id, kind, status, error, pages, chunks, seconds, ...}], "summary": {...}}.

    PDFs, images and recordings go to the document index; table files (when `tables` is given) to DuckDB.
    Every file succeeds or fails alone: a damaged one is listed with its reason and the others go on.
    """
    missing = [str(p) for p in args.paths if not Path(p).exists()]
    if missing:
        raise BadInputError(f"No such file or folder: {', '.join(missing)}.")
    progress = None if getattr(args, "json", False) else _progress
    explicit_tables = [p for p in args.paths if tables is not None and is_table_file(Path(p))]
    rest = [p for p in args.paths if p not in explicit_tables]
    files = []
    for result in lib.ingest_paths(rest, password=args.password, progress=progress) if rest else []:
        # Files found in folders that the index skipped may still be tables (by content, or by name: then the
        # table loader says what is wrong with them, e.g. a cut-off workbook).
        path = Path(result.path)
        if result.status == "skipped" and tables is not None and (is_table_file(path) or kind_by_name(path) == "table"):
            files.append(_load_table(tables, path))
        elif result.status == "skipped" and tables is not None and result.error.startswith("not a PDF"):
            files.append(result.to_dict() | {"error": "not a PDF, image, recording or table"})
        else:
            files.append(result.to_dict())
    files.extend(_load_table(tables, Path(p)) for p in explicit_tables)
    return {"files": files, "summary": _summary(files)}


def _load_table(tables: Any, path: Path) -> dict[str, Any]:
    try:
        return load_table(tables, path)
    except Exception as exc:  # noqa: BLE001 - one file's fault must not stop the others; reported, not hidden
        return failed_result(path, exc, kind="table").to_dict() | {"tables": [], "rows": {}}


def _summary(files: list[dict[str, Any]]) -> dict[str, int]:
    count = {status: sum(f["status"] == status for f in files) for status in ("indexed", "skipped", "error")}
    return {"files": len(files), "indexed": count["indexed"], "skipped": count["skipped"], "failed": count["error"]}


def _ingest_line(f: dict[str, Any]) -> str:
    if f["status"] == "error" or (f["status"] == "skipped" and f["error"]):
        detail = f["error"]
    elif f["kind"] == "table":
        loaded = ", ".join(f"{t} ({f['rows'][t]} rows)" if t in f["rows"] else t for t in f["tables"])
        detail = f"({'already loaded: ' if f['status'] == 'skipped' else ''}{loaded}, {f['seconds']} s)"
    else:
        already = "already in the library: " if f["status"] == "skipped" else ""
        detail = f"({already}{f['pages']} pages, {f['chunks']} chunks, {f['seconds']} s)"
    notes = "".join(f"\n         note: {w}" for w in f.get("warnings") or ())
    return f"{f['status']:8} {f['path']}  {detail}{notes}"


def cmd_search(args: argparse.Namespace, lib: Any) -> dict[str, Any]:
    """Search; {"results": [{source, page, score, text, kind, ...}]}, best first; empty = not in your documents.

    Passages from recordings also carry "timestamp" ("12:31") and "start"/"end" in seconds.
    """
    if not args.query.strip():
        raise BadInputError("Give a search query.")
    if args.k < 1:
        raise BadInputError("--k must be at least 1.")
    passages = lib.search(args.query, k=args.k)
    return {
        "results": [
            {
                "source": p.source,
                "page": p.page,
                "score": p.score,
                "text": p.text,
                "doc_id": p.doc_id,
                "chunk_id": p.chunk_id,
                "char_start": p.char_start,
                "char_end": p.char_end,
                "similarity": p.similarity,
                "suspicious": p.suspicious,
                "kind": p.kind,
                **_times(p),
            }
            for p in passages
        ]
    }


def _times(p: Any) -> dict[str, Any]:
    if getattr(p, "locator", ""):  # Word/PowerPoint/HTML/text/e-mail: "3.2 Revenue ¶4", "slide 7"
        return {"locator": p.locator}
    if p.start_s is None:
        return {}
    return {"timestamp": format_timestamp(p.start_s), "start": p.start_s, "end": p.end_s}


def cmd_list(args: argparse.Namespace, lib: Any) -> dict[str, Any]:
    """{"documents": [{id, name, kind, pages, chunks, status, ...}]}."""
    return {
        "documents": [
            {
                "id": d.id,
                "name": d.name,
                "kind": d.kind,
                "title": d.title,
                "pages": d.pages,
                "chunks": d.chunks,
                "status": d.status,
                "error": d.error,
                "fallback_pages": d.fallback_pages,
                "ocr_pages": d.ocr_pages,
                "added_at": d.added_at,
                "sha256": d.sha256,
            }
            for d in lib.list_documents()
        ]
    }


def run_ingest(args: argparse.Namespace, services: Any) -> int:
    """`ingest`: one line per file and a summary line; exit 1 if any file failed (the output is printed anyway)."""
    if getattr(args, "background", False):
        return _submit_ingest(args, services)
    payload = cmd_ingest(args, library(services), getattr(services, "tables", None))  # None: documents only
    total = payload["summary"]
    lines = [_ingest_line(f) for f in payload["files"]]
    if lines:
        lines.append(f"{total['files']} files: {total['indexed']} indexed, {total['skipped']} skipped, "
                     f"{total['failed']} failed")
    emit(args, payload, "\n".join(lines) or "nothing to ingest")
    return 1 if total["failed"] else 0


def _submit_ingest(args: argparse.Namespace, services: Any) -> int:
    """`ingest --background`: queue one job for the given paths; prints the job id."""
    if args.password:
        raise BadInputError("--password cannot be used with --background: a password is never written into the "
                            "job queue.", "Add encrypted PDFs without --background.")
    missing = [str(p) for p in args.paths if not Path(p).exists()]
    if missing:
        raise BadInputError(f"No such file or folder: {', '.join(missing)}.")
    resolved = [Path(p).resolve() for p in args.paths]  # a worker may run in another folder
    tables = [str(p) for p in resolved if is_table_file(p)]
    documents = [str(p) for p in resolved if str(p) not in tables]
    jobs = ([services.jobs.submit("ingest", {"paths": documents})] if documents else []) + (
        [services.jobs.submit("tables", {"paths": tables})] if tables else [])
    lines = [f"{j.id}  queued: {len(j.payload['paths'])} {'table file' if j.kind == 'tables' else 'path'}(s)"
             for j in jobs]
    emit(args, {"job": jobs[0].to_dict(), "jobs": [j.to_dict() for j in jobs]},
         "\n".join(lines) + "\n`python -m app jobs list` shows their progress")
    return 0


def run_search(args: argparse.Namespace, services: Any) -> int:
    """`search`: ranked passages."""
    payload = cmd_search(args, library(services))
    lines = [
        f"{n}. {r['source']} "
        + (f"@ {r['timestamp']}" if "timestamp" in r else r.get("locator") or f"p.{r['page']}")
        + f" ({r['score']:.4f})\n   {' '.join(r['text'].split())[:300]}"
        for n, r in enumerate(payload["results"], start=1)
    ]
    emit(args, payload, "\n".join(lines) or "Not in your documents.")
    return 0


def run_list(args: argparse.Namespace, services: Any) -> int:
    """`docs list`."""
    payload = cmd_list(args, library(services))
    lines = [
        f"{d['id']}  {d['status']:8} {d['kind']:5} {d['pages']:5}p {d['chunks']:6}c  {d['name']}"
        for d in payload["documents"]
    ]
    emit(args, payload, "\n".join(lines) or "No documents yet.")
    return 0


def run_delete(args: argparse.Namespace, services: Any) -> int:
    """`docs delete ID` (NotFoundError -> exit 2)."""
    services.delete_document(args.id)  # recorded
    emit(args, {"deleted": args.id}, f"deleted {args.id}")
    return 0


def run_resume(args: argparse.Namespace, services: Any) -> int:
    """`docs resume`: finish interrupted documents (here, or as a background job with --background)."""
    if args.background:
        job = services.jobs.submit_resume()
        emit(args, {"job": job.to_dict()}, f"{job.id}  queued: finishing interrupted documents\n"
                                           "`python -m app jobs list` shows its progress")
        return 0
    results = library(services).resume(progress=None if args.json else _progress)
    emit(
        args,
        {"files": [r.to_dict() for r in results]},
        "\n".join(f"{r.status} {r.path}" for r in results) or "nothing to resume",
    )
    return 1 if any(r.status == "error" for r in results) else 0
