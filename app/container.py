"""Builds every service from settings. No Streamlit here: the CLI, tests and benchmarks share it."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.access.directory import WORKSPACE_FIELDS, Access, workspace_settings
from app.access.roles import MANAGE, WRITE, Actor
from app.access.scoped import DOCUMENT_WRITES, TABLE_WRITES, ActorRecords, WriteGuard, refuse
from app.audit.changes import ingest_record, settings_changes, sql_result_hash
from app.audit.privacy import RecordPrivacy
from app.chat.assistant import Assistant
from app.documents.library import DocumentLibrary
from app.errors import AssistantError, ConfigError, NotFoundError
from app.jobs.queue import JobQueue
from app.llm.selector import ModelRouter
from app.settings import Settings, save_settings
from app.tables.service import SqlAnswer, TablesService
from multimodal.transcribe import Transcript, WhisperTranscriber
from storage.chroma_index import probe_server
from storage.conversations import ConversationStore
from storage.file_modes import secure_tree
from storage.keys import RecordKeys
from storage.records import SqliteRecordStore
from storage.sql_examples import SqlExample, SqlExampleStore
from storage.tables import TableStore


@dataclass(frozen=True)
class VectorStoreStatus:
    """Where the document vectors live and whether that store answers (for `status` and the sidebar)."""

    kind: str  # "embedded" (a folder in the data directory) or "server" (chroma_url)
    location: str
    reachable: bool
    error: str


TABLE_LIMITS = {"sql_memory_limit", "sql_threads", "max_table_rows", "tables_lock_wait_s"}
# Heavy services bound to a folder, not to who uses it: two people in one workspace share them (DuckDB opens a
# file once per process).
POOLED = frozenset({"documents", "evaluation_documents", "tables", "transcriber"})


@dataclass
class Services:
    """The app's services, shared by every browser session (all thread-safe)."""

    settings: Settings
    router: ModelRouter
    conversations: ConversationStore
    records: SqliteRecordStore
    assistant: Assistant
    actor: Actor | None = None  # who is signed in, in which workspace (None: auth off, the root data dir)
    root_dir: Path | None = None  # the root data dir when this is a workspace's folder (global files live there)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._lazy: dict[str, Any] = {}
        self._lazy_lock = threading.Lock()
        self._pool, self._pool_lock = self._lazy, self._lazy_lock  # shared with the workspace's other users
        self._retention_ran = float("-inf")
        self._store_status: tuple[float, VectorStoreStatus] | None = None

    def _once(self, name: str, factory: Callable[[], Any]) -> Any:
        # Heavy services (vector index, DuckDB, whisper) are built on first use, once per process.
        lazy, lock = (self._pool, self._pool_lock) if name in POOLED else (self._lazy, self._lazy_lock)
        with lock:
            if name not in lazy:
                lazy[name] = factory()
            return lazy[name]

    def share_pool(self, other: Services) -> None:
        """Use `other`'s heavy services (same workspace folder): one DuckDB and one vector index per folder."""
        self._pool, self._pool_lock = other._pool, other._pool_lock

    def require(self, action: str, where: str) -> None:
        """Refuse (and record) an action the signed-in role may not do; nothing when sign-in is off."""
        if self.actor is not None and not self.actor.may(action):
            raise refuse(self.actor, self.records, action, where)

    def _guarded(self, service: Any, writes: frozenset[str], what: str) -> Any:
        if self.actor is None or self.actor.may(WRITE):
            return service
        return WriteGuard(service, writes, self.actor, self.records, what)

    def close(self) -> None:
        """Release files held by heavy services (DuckDB allows one process to open its file)."""
        shared = [(self._pool, self._pool_lock)] if self._pool is not self._lazy else []
        for lazy, lock in [(self._lazy, self._lazy_lock), *shared]:
            with lock:
                for service in lazy.values():
                    close = getattr(service, "close", None)
                    if callable(close):
                        close()
                lazy.clear()

    @property
    def jobs(self) -> JobQueue:
        """Background jobs (ingestion, transcription): submit, cancel, retry, list; consumed by the app's own
        thread (`jobs.start_consumer()`) and by `python -m app worker`."""
        return self._once("jobs", lambda: JobQueue(self.settings.data_dir, self, self.settings.jobs_url,
                                                    self.settings.user, self.settings.job_uploads_kept_days,
                                                    build_services))

    @property
    def documents(self) -> DocumentLibrary:
        """The PDF library: ingestion (each file's outcome recorded), hybrid search, citations."""
        return self._guarded(self._once(
            "documents",
            lambda: DocumentLibrary(self.settings.data_dir, transcriber_provider=lambda: self.transcriber,
                                    chroma_url=self.settings.chroma_url, tables=self._table_service,
                                    on_ingested=lambda r: self.records.append("ingest", ingest_record(
                                        r, self.settings.user))),
        ), DOCUMENT_WRITES, "documents")

    def vector_store_status(self, refresh: bool = False, max_age_s: float = 30.0) -> VectorStoreStatus:
        """Which vector store the documents use (embedded folder or server URL) and whether it answers; a server is
        asked at most every `max_age_s` seconds unless `refresh` (pages call this on every rerun)."""
        url = self.settings.chroma_url
        if not url:
            return VectorStoreStatus("embedded", str(self.settings.data_dir / "chroma"), True, "")
        cached = self._store_status
        if cached and not refresh and time.monotonic() - cached[0] < max_age_s and cached[1].location == url:
            return cached[1]
        error = probe_server(url)
        status = VectorStoreStatus("server", url, not error, error)
        self._store_status = (time.monotonic(), status)
        return status

    @property
    def evaluation_library_dir(self) -> Path:
        """Where evaluation sets' documents are indexed: apart from the user's library, never in their search."""
        return self.settings.data_dir / "eval" / "library"

    @property
    def evaluation_documents(self) -> DocumentLibrary:
        """The evaluation sets' own document library (the bundled evaluation's PDFs must not join the user's)."""

        return self._once(
            "evaluation_documents",
            lambda: DocumentLibrary(self.evaluation_library_dir, transcriber_provider=lambda: self.transcriber,
                                    chroma_url=self.settings.chroma_url),
        )

    @property
    def evaluation_assistant(self) -> Assistant:
        """An assistant like the chat's (same router, records), answering from the evaluation library only;
        it has no tables, so the user's tables cannot change a score either."""

        def build() -> Assistant:
            assistant = Assistant(self.router, self.conversations, self.records)
            assistant.attach_documents(lambda: self.evaluation_documents,
                                       lambda: (self.evaluation_library_dir / "documents.sqlite").exists())
            assistant.attach_transcriber(lambda: self.transcriber)
            return assistant

        return self._once("evaluation_assistant", build)

    @property
    def tables(self) -> TablesService:
        """The analyst's tables in DuckDB: loading, schema, checked read-only SQL, question to SQL."""
        return self._guarded(self._table_service(), TABLE_WRITES, "tables")

    def _table_service(self) -> TablesService:
        # Unguarded: the document library (shared by the workspace's members) loads the tables found in documents.
        service = self._once("tables", lambda: TablesService(self._table_store(), model=self.router.get_model))
        return self.apply_sql_options(service)  # settings may have changed since it was built

    @property
    def sql_examples(self) -> SqlExampleStore:
        """Verified question-SQL pairs (this data directory's sql_examples.sqlite)."""
        return self._once("sql_examples", lambda: SqlExampleStore(self.settings.data_dir / "sql_examples.sqlite"))

    def apply_sql_options(self, service: TablesService) -> TablesService:
        """Switch the question-to-SQL techniques on or off as the settings say (join keys, checks, candidates,
        verified examples)."""
        s = self.settings
        service.join_hints, service.checks, service.candidates = s.sql_join_hints, s.sql_checks, s.sql_candidates
        store, count = self.sql_examples, s.sql_examples
        service.examples = (lambda database, question: [(e.question, e.sql) for _, e in
                                                        store.similar(database, question, count)]) if count else None
        return service

    def mark_sql_correct(self, service: TablesService, question: str, sql: str, *, origin: str) -> SqlExample:
        """Store a question-SQL pair as verified (only if the SQL is safe and runs); recorded, failed or not."""
        self.require(WRITE, "mark_sql_correct")
        body: dict[str, Any] = {"user": self.settings.user, "origin": origin, "database": service.database,
                                "question": question, "sql": sql}
        try:
            example = service.mark_correct(self.sql_examples, question, sql, user=self.settings.user)
        except AssistantError as exc:
            self.records.append("sql_example_added", {**body, "status": "error", "error": exc.one_line()})
            raise
        self.records.append("sql_example_added", {**body, "status": "ok", "example_id": example.id})
        return example

    def delete_sql_example(self, example_id: str, *, origin: str) -> SqlExample:
        """Delete a verified pair (NotFoundError if unknown); the deletion is recorded."""
        self.require(WRITE, "delete_sql_example")
        example = self.sql_examples.get(example_id)
        if example is None or not self.sql_examples.delete(example_id):
            raise NotFoundError(f"There is no verified query with id {example_id!r}.",
                                "List them with `python -m app sql-examples list`.")
        self.records.append("sql_example_deleted", {"user": self.settings.user, "status": "ok", "origin": origin,
                                                    "example_id": example_id, "database": example.database,
                                                    "question": example.question})
        return example

    def _table_store(self) -> TableStore:
        s = self.settings
        return TableStore(s.data_dir / "tables.duckdb", memory_limit=s.sql_memory_limit, threads=s.sql_threads,
                          max_rows=s.max_table_rows, lock_wait_s=s.tables_lock_wait_s)

    @property
    def transcriber(self) -> WhisperTranscriber:
        """Whisper speech-to-text (the model itself loads on first transcription)."""

        s = self.settings
        return self._once(
            "transcriber",
            lambda: WhisperTranscriber(  # its checkpoint is kept once, under the root's models/
                self.root_dir or s.data_dir, size=s.whisper_model, threads=s.whisper_threads,
                max_seconds=s.max_audio_seconds,
            ),
        )

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete a conversation and its messages; the deletion itself is recorded (the request records stay)."""
        self.require(WRITE, "delete_conversation")
        try:
            conv = self.conversations.get(conversation_id)
        except NotFoundError:
            return  # already deleted, maybe in another tab
        count = len(self.conversations.messages(conversation_id))
        self.conversations.delete(conversation_id)
        self.records.append(
            "conversation_deleted",
            {"user": self.settings.user, "conversation_id": conversation_id, "title": conv.title, "messages": count},
        )

    def delete_document(self, doc_id: str) -> None:
        """Delete a document from the library (NotFoundError if unknown); the deletion is recorded."""
        self.require(WRITE, "delete_document")
        doc = self.documents.get(doc_id)
        self.documents.delete(doc_id)
        self.records.append("document_deleted", {"user": self.settings.user, "status": "ok", "doc_id": doc_id,
                                                 "name": doc.name, "kind": doc.kind, "chunks": doc.chunks})

    def delete_table_source(self, sha256: str) -> list[str]:
        """Delete a loaded file's tables; the deletion is recorded. Returns the tables' names."""
        self.require(WRITE, "delete_table_source")
        source = next((s for s in self.tables.sources() if s.sha256 == sha256), None)
        names = self.tables.delete_source(sha256)
        self.records.append("table_deleted", {
            "user": self.settings.user, "status": "ok", "sha256": sha256, "tables": list(names),
            "file_name": source.file_name if source else "", "kind": source.kind if source else ""})
        return names

    def run_sql(self, service: TablesService, text: str, *, raw: bool, origin: str, database: str = "",
                question: str = "") -> SqlAnswer:
        """Run hand-written SQL (`raw`) or answer a question with model-written SQL, and record the run — also
        when it raises (the error is recorded, then raised again)."""
        try:
            answer = service.run_sql(text, question=question) if raw else service.ask(text)
        except AssistantError as exc:
            failed = SqlAnswer(question=question if raw else text, sql=text if raw else "", error=exc.message)
            self.record_sql(failed, model_written=not raw, origin=origin, database=database)
            raise
        self.record_sql(answer, model_written=not raw, origin=origin, database=database)
        return answer

    def transcribe(self, source: bytes | Path, *, name: str, origin: str, size: str | None = None,
                   language: str | None = None, progress: Callable[[float, float | None], None] | None = None,
                   ) -> Transcript:
        """Transcribe a recording with Whisper and record the run (a model reads the user's audio), failed or not."""
        started = time.monotonic()
        body: dict[str, Any] = {"user": self.settings.user, "origin": origin, "file_name": name,
                                "whisper_model": size or self.settings.whisper_model}
        try:
            transcript = self.transcriber.transcribe(source, name=name, size=size, language=language,
                                                     progress=progress)
        except AssistantError as exc:
            self.records.append("transcribe", {**body, "status": "error", "error": exc.one_line(),
                                               "seconds": round(time.monotonic() - started, 3)})
            raise
        self.records.append("transcribe", {
            **body, "whisper_model": transcript.model or body["whisper_model"],
            "status": "cancelled" if transcript.cancelled else "ok", "language": transcript.language,
            "duration": round(transcript.duration, 3), "segments": len(transcript.segments),
            "text_sha256": hashlib.sha256(transcript.text.encode("utf-8")).hexdigest(),
            "seconds": round(time.monotonic() - started, 3)})
        return transcript

    def record_sql(self, answer: SqlAnswer, *, model_written: bool, origin: str, database: str = "") -> None:
        """Record one SQL run (hand-written or model-written; from the CLI or the Tables page), failed or not."""
        body: dict[str, Any] = {
            "user": self.settings.user, "status": "error" if answer.error else "ok", "origin": origin,
            "model_written": model_written, "question": answer.question, "sql": answer.sql,
            "columns": answer.columns, "row_count": len(answer.rows), "truncated": answer.truncated,
            "result_sha256": sql_result_hash(answer) if not answer.error else "", "attempts": answer.attempts,
            "seconds": round(answer.seconds, 3), "error": answer.error or "", "database": database,
        }
        if model_written:
            choice = self.router.choose(None)
            body.update(model=choice.model or "", backend=choice.backend)
        self.records.append("sql", body)

    def apply_retention(self, every_s: float = 0.0) -> dict[str, Any] | None:
        """Prune request records older than `audit_retention_days` (0 keeps them forever); returns what was done.

        With `every_s`, does nothing if it last ran less than that long ago (pages call it on a long-running server).
        """
        days = self.settings.audit_retention_days
        if days <= 0:
            return None
        now = time.monotonic()
        if every_s and now - self._retention_ran < every_s:
            return None
        self._retention_ran = now
        return self.records.prune(days)

    def apply_settings(self, changes: dict[str, Any]) -> Settings:
        """Validate, persist and start using changed settings (raises ConfigError)."""
        self.require(MANAGE, "apply_settings")
        with self._lock:
            previous = self.settings
            root = previous if self.root_dir is None else previous.model_copy(update={"data_dir": self.root_dir})
            updated = save_settings(root, changes)  # settings.json lives in the root data dir
            if self.root_dir is not None:
                updated = updated.model_copy(update={k: getattr(previous, k) for k in WORKSPACE_FIELDS})
            self.settings = updated
            self.router.update_settings(updated)
            if changes.keys() & {"whisper_model", "whisper_threads", "max_audio_seconds"}:
                with self._pool_lock:
                    self._pool.pop("transcriber", None)  # rebuilt with the new settings on next use
            if "chroma_url" in changes:
                with self._pool_lock:  # the libraries open the other vector store on next use
                    for name in ("documents", "evaluation_documents"):
                        self._pool.pop(name, None)
                    self._store_status = None
            if changes.keys() & TABLE_LIMITS and "tables" in self._pool:
                self.tables.set_limits(updated.sql_memory_limit, updated.sql_threads, updated.max_table_rows,
                                       updated.tables_lock_wait_s)  # from the next query or load on
        changed = settings_changes(previous, updated, changes)
        if changed:
            self.records.append("settings_changed", {"user": updated.user, "status": "ok", "changed": changed})
        if "audit_retention_days" in changes:
            self.apply_retention()
        return updated


def _usable(data_dir: Path) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = data_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"The data directory {data_dir} cannot be used: {exc.strerror or exc}.",
            "Point ANALYST_DATA_DIR (or --data-dir) at a folder you can write to.",
        ) from exc


def build_access(settings: Settings) -> Access:
    """Accounts, sessions and workspaces of the root data directory, recording into its request records."""
    _usable(settings.data_dir)
    return Access.open(settings)


def build_services(settings: Settings, actor: Actor | None = None) -> Services:
    """Create the data directory and every service for `settings`; with `actor`, the services of that user in
    that workspace (its folder holds the data, the root keeps settings, models and the one audit trail)."""
    root = settings.data_dir
    _usable(root)
    work = settings if actor is None else workspace_settings(settings, actor)
    data_dir = work.data_dir
    _usable(data_dir)
    router = ModelRouter(work)
    conversations = ConversationStore(data_dir / "chats.sqlite", actor.user if actor else "")
    keys = RecordKeys.load(settings.keys_dir)  # the audit keys, outside the data dir (created on first start)
    path = root / "records.sqlite"
    records = SqliteRecordStore(path, keys) if actor is None else ActorRecords(path, keys, actor)
    assistant = Assistant(router, conversations, records)
    services = Services(work, router, conversations, records, assistant, actor, None if actor is None else root)
    records.privacy = RecordPrivacy(keys, lambda: services.settings.record_personal_data).mask_record
    assistant.attach_documents(lambda: services.documents, lambda: (data_dir / "documents.sqlite").exists())
    assistant.attach_transcriber(lambda: services.transcriber)
    assistant.attach_tables(lambda: services.tables, lambda: (data_dir / "tables.duckdb").exists())
    services.apply_retention()
    # Owner only (700/600): what this start created, and what an earlier version left readable by others.
    secure_tree(data_dir)
    return services
