"""A turn's work before the answer: gather the conversation's files, add new PDFs and tables,
pick the tools (the deterministic router or the model's own tool calling) and run them."""

from __future__ import annotations

from pathlib import Path

from app.chat.state import TurnState
from app.chat.tools.focus import PASTED_TEXT_CHARS, about_unreadable, more_wanted
from app.chat.tools.native import plan_tools
from app.chat.tools.routing import PreviousTurn, TableWords, route, table_vocabulary
from app.chat.tools.specs import (
    DESCRIBE_IMAGE,
    READ_TRANSCRIPT,
    RUN_SQL,
    SEARCH_DOCUMENTS,
    Resources,
    StoredFile,
    ToolCall,
    tool_specs,
)
from app.chat.tools.toolbox import ToolBox, classify
from app.chat.workspace import Workspace
from app.errors import AssistantError
from app.ports import ModelInfo
from app.settings import Settings
from multimodal.kinds import LIBRARY_DOCUMENT_KINDS
from storage.conversations import Message

_UNUSABLE = {
    "empty": "it is empty (0 bytes). Attach it again.",
    "unknown": "it is not a PDF, table, image, recording or other document this app can read (judging by its "
    "content). Attach PDFs, Word, PowerPoint, HTML, Markdown/text or e-mail files, CSV/Excel/Parquet/JSON/DuckDB "
    "tables, images or recordings.",
}


def run_tools(turn: TurnState, info: ModelInfo, workspace: Workspace, settings: Settings) -> ToolBox:
    """Everything between the question and the answer; failures become failed steps, not failed turns."""
    history = turn.history.messages
    resources = conversation_resources(turn, history, workspace)
    base_docs, base_tables = list(resources.doc_ids), list(resources.table_scope)  # before this turn's files
    box = ToolBox(turn, resources, workspace, settings, turn.on_step)
    for stored in resources.files:
        if not stored.new:
            continue
        if stored.kind in LIBRARY_DOCUMENT_KINDS:  # PDFs, Word, PowerPoint, HTML, text, e-mail: indexed and cited
            box.add_document(stored)
        elif stored.kind == "table":
            box.add_table(stored)
        elif stored.kind in _UNUSABLE:
            reason = _UNUSABLE[stored.kind]
            suffix = Path(stored.name).suffix.lower()
            if stored.kind == "unknown" and suffix:
                reason += f" Its name ends in {suffix}, but the content is not such a file: it may be damaged " \
                          "or mislabelled."
            box.failed_call(ToolCall("read_attachment", {"name": stored.name},
                                     error=f"{stored.name} could not be used: {reason}"))
            box.unreadable_file(stored, reason)
    mode = tool_mode(settings.tool_mode, info)
    turn.tool_mode = turn.result.tool_mode = mode
    if _about_unreadable(turn, box):
        # The question is about a file that could not be read: no other tool may stand in for it.
        return box
    _focus(turn, resources, box, base_docs, base_tables)
    if turn.use_documents is False:
        resources.documents = False
    if mode == "native":
        _plan_natively(turn, info, box, previous_turn(history))
    else:
        calls = route(turn.model_question, resources, _table_words(workspace, resources), previous_turn(history),
                      force_documents=turn.use_documents)
        for call in calls:
            if call.name == SEARCH_DOCUMENTS:
                turn.docs_required = turn.use_documents is True or call.reason == "document question"
            box.run(call)
    _about_unreadable(turn, box)  # an attached image or recording may only fail once it is read
    return box


def _about_unreadable(turn: TurnState, box: ToolBox) -> bool:
    about = about_unreadable(turn.question, turn.stored, box.unreadable)
    if about:
        turn.unreadable = about
    return bool(about)


def _focus(turn: TurnState, resources: Resources, box: ToolBox, base_docs: list[str], base_tables: list[str]) -> None:
    """A turn with attachments works on them; long pasted text is answered from itself. The documents and
    tables of the conversation join only when the question clearly asks for them (or names them)."""
    new = [f for f in resources.files if f.new]
    pasted = not new and len(turn.question) >= PASTED_TEXT_CHARS
    if not new and not pasted:
        return  # a plain question or a follow-up: the conversation's scope, as chosen
    turn.pasted = pasted
    wanted = more_wanted(turn.question, resources.library, resources.all_tables, [f.name for f in new],
                         box.added_tables)
    more_docs = wanted.documents or turn.use_documents is True
    had_docs, had_tables = resources.documents, bool(resources.tables)
    if more_docs and not base_docs:
        resources.doc_ids = []  # every document (this turn's PDFs included)
    else:
        resources.doc_ids = _unique([*box.added_docs, *wanted.doc_ids, *(base_docs if more_docs else [])])
        resources.documents = bool(resources.doc_ids)
    if wanted.tables and not base_tables:
        resources.table_scope, resources.tables = [], _unique([*resources.all_tables, *box.added_tables])
    else:
        resources.table_scope = _unique([*box.added_tables, *wanted.table_names,
                                         *(base_tables if wanted.tables else [])])
        resources.tables = list(resources.table_scope)
    if not (more_docs or wanted.tables):
        resources.files = new  # earlier images and recordings are not reread either
    left_out = [what for what, had, kept in (("documents", had_docs, resources.documents),
                                             ("tables", had_tables, resources.tables)) if had and not kept]
    unused = f", not from your {' or '.join(left_out)}" if left_out else ""
    if pasted:
        turn.result.notices.append(
            f"Your message is long ({len(turn.question):,} characters), so it was read as pasted text and "
            f"answered from that text alone{unused}. Name a document or table, or say 'and in my documents', "
            "to use them too.")
    elif left_out:
        turn.result.notices.append(
            f"Answered from the attached file(s) only{unused}. To include them, name the document or table, or "
            "say e.g. 'and in my documents'.")


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def tool_mode(setting: str, info: ModelInfo) -> str:
    """'native' or 'router' for this model. 'auto' uses native tool calling only where the model advertises it
    and declares itself able to plan (`plans_tools`: Ollama models with the tools capability); the small
    embedded models route by rules, which the assistant benchmark measured as more accurate and faster for them."""
    if setting in ("native", "router"):
        return setting if (setting == "router" or info.supports_tools) else "router"
    return "native" if info.plans_tools and info.supports_tools else "router"


def _plan_natively(turn: TurnState, info: ModelInfo, box: ToolBox, previous: PreviousTurn | None) -> None:
    resources = box.resources
    specs = tool_specs(resources)

    def on_call(call: ToolCall) -> None:
        box.failed_call(call)

    def execute(call: ToolCall) -> str:
        if call.name == SEARCH_DOCUMENTS:
            turn.docs_required = True
        return box.run(call)

    context = ""
    if previous and previous.question:
        sql = f" (answered with the SQL: {' '.join(previous.sql.split())})" if previous.sql else ""
        context = f"Previous question in this conversation: {previous.question}{sql}\nNow: "
    if specs:
        try:
            assert turn.model is not None  # resolved before the tools run
            plan_tools(turn.model, turn.model_question, specs, execute, on_call, context)
        except AssistantError as exc:
            failed = ToolCall("plan_tools", {"question": turn.question}, error=f"Tool planning failed: {exc.message}")
            box.failed_call(failed)
    # Files attached to this very question are always read, whatever the model chose.
    done = {(s["name"], s["input"]) for s in box.steps if s["ok"]}
    for stored in resources.files:
        tool = {"image": DESCRIBE_IMAGE, "audio": READ_TRANSCRIPT}.get(stored.kind)
        if stored.new and tool and (tool, stored.name) not in done:
            box.run(ToolCall(tool, {"name": stored.name}))


def conversation_resources(turn: TurnState, history: list[Message], workspace: Workspace) -> Resources:
    """The documents, tables and files this turn's tools can reach (`history`: the conversation's earlier
    messages)."""
    files = [*_earlier_files(history, turn.stored), *turn.stored]
    indexed = workspace.indexed_documents()
    resources = Resources(documents=bool(indexed), files=files, library=[(d.id, d.name) for d in indexed])
    scope = turn.scope  # what the user chose for this conversation (None or empty lists: all)
    chosen_docs = set(scope.documents) if scope else set()
    earlier_pdfs = {f.sha256 for f in files if f.kind == "pdf" and not f.new}
    if earlier_pdfs or chosen_docs:
        # Documents that were deleted since they were chosen drop out; none left means all again.
        resources.doc_ids = [d.id for d in indexed if d.sha256 in earlier_pdfs or d.id in chosen_docs]
    if workspace.tables_present() or any(f.kind == "table" for f in files):
        try:
            tables = workspace.tables
            resources.all_tables = [t.name for t in tables.tables()]
            earlier_tables = {f.sha256 for f in files if f.kind == "table" and not f.new}
            chosen_tables = set(scope.tables) if scope else set()
            attached = [t for src in tables.sources() if src.sha256 in earlier_tables for t in src.tables]
            resources.table_scope = _unique([*attached, *(t for t in resources.all_tables if t in chosen_tables)])
            resources.tables = list(resources.table_scope) or list(resources.all_tables)
        except AssistantError as exc:  # e.g. the tables database is locked by another process
            turn.result.notices.append(f"Your tables cannot be used right now: {exc.one_line()}")
    return resources


def _earlier_files(history: list[Message], current: list[StoredFile]) -> list[StoredFile]:
    files: list[StoredFile] = []
    seen = {f.sha256 for f in current}
    for message in history:
        if message.role != "user":
            continue
        for ref in message.meta.get("attachments") or []:
            path = ref.get("path")
            if not path or ref.get("sha256") in seen or not Path(path).exists():
                continue
            seen.add(ref["sha256"])
            kind = ref.get("kind") or classify(Path(path), ref.get("name", ""))
            files.append(StoredFile(ref.get("name", "file"), ref["sha256"], path, kind))
    return files


def previous_turn(history: list[Message]) -> PreviousTurn | None:
    """The conversation's last answered question and the tools it used (for follow-ups like 'now for 2023')."""
    question, found = "", None
    for message in history:
        if message.role == "user":
            question = message.content
        elif message.role == "assistant" and message.meta.get("tools"):
            steps = message.meta["tools"]
            sql = next((s.get("sql", "") for s in reversed(steps) if s.get("name") == RUN_SQL and s.get("ok")), "")
            found = PreviousTurn(question, tuple(s.get("name", "") for s in steps), sql)
    return found


def _table_words(workspace: Workspace, resources: Resources) -> TableWords:
    if not resources.tables:
        return TableWords()
    try:
        return table_vocabulary([t for t in workspace.tables.tables() if t.name in resources.tables])
    except AssistantError:
        return TableWords()
