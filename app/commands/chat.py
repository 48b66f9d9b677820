"""CLI: `status` and `ask`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from app.commands.common import command, emit
from app.errors import BadInputError
from storage.conversations import Scope


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `status` and `ask` subcommands."""
    command(sub, "status", help="Show which backend and model would answer, and Ollama's state.", handler=run_status)

    ask = command(
        sub,
        "ask",
        help="Ask a question and print the answer.",
        handler=run_ask,
        json_help="Print JSON instead of streaming text.",
    )
    ask.add_argument("question", help="The question (use - to read it from standard input).")
    ask.add_argument(
        "--file",
        "--image",
        dest="files",
        action="append",
        default=[],
        type=Path,
        help="Attach an image or a recording (repeatable); the answer is about it.",
    )
    ask.add_argument("--conversation", help="Save the turn in this conversation id (see the Chat page or a "
                     "previous --json answer), or 'new' to start one; follow-ups then see earlier results.")
    ask.add_argument(
        "--docs",
        choices=("auto", "on", "off"),
        default="auto",
        help="Answer from your ingested documents with citations (auto: when any are indexed).",
    )
    ask.add_argument("--docs-only", action="append", default=[], metavar="ID/NAME",
                     help="Search only this document (id or file name; repeatable). With --conversation, the "
                     "conversation keeps this choice.")
    ask.add_argument("--tables", metavar="NAME,...", default="",
                     help="Let SQL use only these tables (comma-separated). With --conversation, the conversation "
                     "keeps this choice.")


def run_status(args: argparse.Namespace, services) -> int:
    """Print backend, model, vision and Ollama state."""
    router = services.router
    status = router.ollama_status(refresh=True)
    store = services.vector_store_status(refresh=True)
    choice = router.choose()
    vision = False
    if choice.backend == "ollama" and status.reachable and choice.model:
        try:
            vision = router.get_model().info.supports_images
        except Exception:  # noqa: BLE001 - status must report, not fail, on a broken model
            vision = False
    payload = {
        "backend": choice.backend,
        "model": choice.model,
        "vision": vision,
        "reason": choice.reason,
        "ollama": {"host": status.host, "reachable": status.reachable, "models": status.models, "error": status.error},
        "data_dir": str(services.settings.data_dir),
        "vector_store": asdict(store),
    }
    ollama_line = (
        f"reachable, {len(status.models)} model(s): {', '.join(status.models) or 'none'}"
        if status.reachable
        else f"not reachable ({status.hint or status.error})"
    )
    text = (
        f"Backend:  {choice.backend}\nModel:    {choice.model}\nVision:   {'yes' if vision else 'no'}\n"
        f"Why:      {choice.reason}\nOllama:   {status.host} — {ollama_line}\nData dir: {services.settings.data_dir}"
        f"\nVectors:  {_store_line(store)}"
    )
    emit(args, payload, text)
    return 0


def _store_line(store) -> str:
    if store.kind == "embedded":
        return f"embedded Chroma in {store.location}"
    return f"Chroma server {store.location} — " + ("reachable" if store.reachable else "not reachable: " + store.error)


def run_ask(args: argparse.Namespace, services) -> int:
    """Answer one question, streaming to stdout unless --json."""
    question = sys.stdin.read() if args.question == "-" else args.question
    files = []
    for path in args.files:
        if not path.is_file():
            raise BadInputError(f"No such file: {path}", "Check the path given to --file.")
        files.append((path.name, path.read_bytes()))
    progress = None if args.json else _stderr_progress
    use_documents = {"auto": None, "on": True, "off": False}[args.docs]
    conversation_id = args.conversation
    if conversation_id == "new":
        conversation_id = services.conversations.create().id
    turn = services.assistant.ask(
        question, conversation_id=conversation_id, files=files, progress=progress, use_documents=use_documents,
        scope=_scope(args, services),
    )
    if args.json:
        result = turn.run()
    else:
        turn.on_step = _stderr_step
        turn.resolve_model()
        if reading := services.assistant.reading_notice(turn):
            sys.stderr.write(f"note: {reading}\n")  # before the wait, so a long pause is expected
            sys.stderr.flush()
        for text in turn:
            sys.stdout.write(text)
            sys.stdout.flush()
        sys.stdout.write("\n")
        result = turn.result
        sys.stderr.write(f"[{result.model} ({result.backend}), {result.total_s:.1f} s, {result.tokens_out} tokens]\n")
        for cite in result.citations:
            sys.stdout.write(_citation_line(cite) + "\n")
        for notice in result.notices:
            sys.stderr.write(f"note: {notice}\n")
    if args.json:
        emit(args, {k: v for k, v in result.as_json().items()}, result.answer)
    return 0


def _scope(args: argparse.Namespace, services) -> Scope | None:
    """--docs-only and --tables as a Scope (None when neither is given); unknown names are a user error."""
    wanted_tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    if not (args.docs_only or wanted_tables):
        return None
    doc_ids: list[str] = []
    if args.docs_only:
        documents = services.assistant.indexed_documents()
        for wanted in args.docs_only:
            found = [d for d in documents if wanted in (d.id, d.name) or wanted.lower() == d.name.lower()]
            if not found:
                names = ", ".join(f"{d.name} ({d.id})" for d in documents[:20]) or "none yet"
                raise BadInputError(f"No indexed document is called {wanted!r}.",
                                    f"Use an id or file name from `python -m app docs list` (indexed: {names}).")
            doc_ids.extend(d.id for d in found)
    if wanted_tables:
        known = [t.name for t in services.tables.tables()] if services.assistant.tables_present() else []
        missing = [t for t in wanted_tables if t not in known]
        if missing:
            raise BadInputError(f"No table is called {', '.join(missing)}.",
                                f"Tables: {', '.join(known) or 'none yet (load some with `tables load`)'}.")
    return Scope(doc_ids, wanted_tables)


def _citation_line(cite: dict) -> str:
    if cite.get("kind") == "sql":
        rows = "\n".join("    " + " | ".join(str(v) for v in row) for row in cite.get("rows", [])[:10])
        origin = f" {cite['origin']}" if cite.get("origin") else ""  # a table taken from a document: its page
        return (f"[{cite.get('label', cite['n'])}] SQL{origin} ({cite.get('row_count', 0)} row(s)): "
                f"{cite.get('sql', '')}\n"
                f"    {' | '.join(cite.get('columns', []))}\n{rows}")
    where = f"page {cite['page']}" if cite.get("page") else f"@ {cite.get('timestamp', '')}"
    locator = str(cite.get("locator") or "")  # Word/PowerPoint/HTML/text/e-mail: "3.2 Revenue ¶4", "slide 7"
    if locator:
        return f'[{cite["n"]}] {cite["source"]}{", " if locator.startswith("slide ") else " › "}{locator}: ' \
               f'"{cite.get("quote", "")}"'
    return f'[{cite["n"]}] {cite["source"]}, {where}: "{cite.get("quote", "")}"'


def _stderr_step(step: dict) -> None:
    # Each tool step on stderr as it finishes, so a long turn shows what it is doing.
    if step.get("running"):
        return
    state = "ok" if step.get("ok") else f"FAILED: {step.get('error', '')}"
    sys.stderr.write(f"- {step['name']}({step.get('input', '')!s:.80}) → {step.get('output', '')} "
                     f"[{step.get('seconds', 0):.1f} s, {state}]\n")
    sys.stderr.flush()


def _stderr_progress(fraction: float, message: str) -> None:
    if not sys.stderr.isatty() and fraction < 1.0:
        return  # logs and pipes get the final line only, not a redraw per step
    sys.stderr.write(f"\r{message} ({fraction:.0%})\x1b[K")
    if fraction >= 1.0:
        sys.stderr.write("\n")
    sys.stderr.flush()
