"""Tables service: load files, browse the schema, run checked SQL, answer questions with SQL."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from app.errors import AssistantError, BadInputError
from app.ports import ChatMessage, ChatModel
from app.tables.answer import ChartSpec, describe_result, phrase_answer, suggest_chart
from app.tables.candidates import Candidate, alternatives, pick
from app.tables.checks import prompt_hints
from app.tables.errors import explain_sql_error
from app.tables.generate import SqlWriter, WriterOptions
from app.tables.joins import JoinGraph, join_graph
from app.tables.prompt import build_messages, named_tables, select_schema
from app.tables.safety import check_sql
from multimodal.tables import Progress
from storage.sql_examples import SqlExample, SqlExampleStore
from storage.tables import LoadResult, NameChange, SourceInfo, TableStore
from storage.tables_engine import (
    Limits,
    QueryEngine,
    QueryError,
    QueryResult,
    TableInfo,
)

ModelSource = ChatModel | Callable[[], ChatModel] | None
# (database name, question) -> verified (question, sql) pairs to show the model as examples
ExampleSource = Callable[[str, str], list[tuple[str, str]]]
MAX_TIMEOUT_S = 3600.0
MAX_RESULT_ROWS = 1_000_000


def valid_timeout(value: Any) -> float:
    """A query time limit in seconds: a finite number above 0 and at most an hour (0, negative, nan and inf
    would switch the timer off or break it)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not 0 < seconds <= MAX_TIMEOUT_S:  # nan fails every comparison
        raise BadInputError(
            f"The query timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds (got {value!r}).",
            "Give a number of seconds such as 10.")
    return seconds


def valid_max_rows(value: Any) -> int:
    """A row cap: a whole number from 1 to a million."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RESULT_ROWS:
        raise BadInputError(f"The row cap must be a whole number between 1 and {MAX_RESULT_ROWS:,} rows "
                            f"(got {value!r}).", "Give a number of rows such as 1000.")
    return value


@dataclass
class SqlAnswer:
    """The outcome of a question or a hand-written query."""

    question: str = ""
    sql: str = ""
    columns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    truncated: bool = False
    error: str | None = None  # what went wrong, in words (DuckDB's own text is in error_detail)
    error_hint: str = ""  # what to do about it
    error_detail: str = ""  # DuckDB's message, for experts; empty when the error did not come from DuckDB
    attempts: int = 0
    cannot_answer: bool = False
    answer: str = ""
    chart: ChartSpec | None = None
    seconds: float = 0.0
    alternatives: list[dict[str, Any]] = field(default_factory=list)  # candidates: sql, outcome, agreeing, chosen
    notes: list[str] = field(default_factory=list)  # checks that fired and were repaired

    @property
    def candidates_disagreed(self) -> bool:
        """True when several candidate queries were run and not all returned the same rows."""
        return len(self.alternatives) > 1 and any(a["agreeing"] < len(self.alternatives)
                                                   for a in self.alternatives if a["chosen"])

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON shape; a failed query adds what to do (`error_hint`) and DuckDB's text (`error_detail`)."""
        out = {"sql": self.sql, "columns": self.columns, "rows": self.rows, "truncated": self.truncated,
               "error": self.error, "attempts": self.attempts}
        if self.error:
            out.update(error_hint=self.error_hint, error_detail=self.error_detail)
        if self.alternatives:
            out["alternatives"] = self.alternatives
        return out


class TablesService:
    """Everything the Tables page and the CLI need; thread-safe, one instance per process."""

    def __init__(self, store: TableStore | None = None, model: ModelSource = None, *, engine: QueryEngine | None = None,
                 max_rows: int = 1000, timeout: float = 10.0, max_repairs: int = 2,
                 schema_budget_tokens: int | None = None, max_tokens: int = 512, join_hints: bool = False,
                 checks: bool = False, candidates: int = 1, examples: ExampleSource | None = None,
                 database: str = "") -> None:
        if (store is None) == (engine is None):
            raise ValueError("give exactly one of store or engine")
        self._store = store
        self._engine = engine
        self._model = model
        self._max_rows = valid_max_rows(max_rows)
        self._timeout = valid_timeout(timeout)
        self.max_repairs = max_repairs
        self._budget = schema_budget_tokens
        self._max_tokens = max_tokens
        self.join_hints = join_hints  # join graph in the prompt and schema selection, binder-error repair hints
        self.checks = checks  # checks of the question against the result, with one repair
        self.candidates = max(1, int(candidates))  # greedy + (n-1) sampled queries, picked by agreement
        self.examples = examples  # verified question-SQL pairs of this database
        self.database = database  # "" for the app's own tables; the file's name for an attached database
        self._identity = database

    @property
    def timeout(self) -> float:
        """Seconds before a query is stopped (always a finite number above 0)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._timeout = valid_timeout(value)

    @property
    def max_rows(self) -> int:
        """Most rows a result returns (the result says when it was cut)."""
        return self._max_rows

    @max_rows.setter
    def max_rows(self, value: int) -> None:
        self._max_rows = valid_max_rows(value)

    @classmethod
    def open_database(cls, path: Path, model: ModelSource = None, limits: Limits | None = None,
                      **kwargs: Any) -> TablesService:
        """A read-only service over an existing .duckdb file (attached read-only, catalog = file stem)."""
        kwargs.setdefault("database", Path(path).stem)
        service = cls(engine=QueryEngine.open_attached(Path(path), limits or Limits()), model=model, **kwargs)
        stat = Path(path).stat()
        service._identity = f"{Path(path).resolve()}:{stat.st_mtime_ns}:{stat.st_size}"  # join graph cache key
        return service

    def set_limits(self, memory_limit: str, threads: int, max_table_rows: int, lock_wait_s: float | None = None
                   ) -> None:
        """Apply changed settings (memory, threads, table size, lock wait) from the next query or load on."""
        if self._store is not None:
            self._store.set_limits(memory_limit, threads, max_table_rows, lock_wait_s)

    def close(self) -> None:
        """Release the database connection."""
        if self._store is not None:
            self._store.close()
        elif self._engine is not None:
            self._engine.close()

    @contextmanager
    def _eng(self) -> Iterator[QueryEngine]:
        if self._store is not None:
            with self._store.engine() as eng:
                yield eng
        else:
            assert self._engine is not None
            yield self._engine

    # Loading and browsing -------------------------------------------------------------------
    def load_file(self, path: Path, progress: Progress | None = None, file_name: str | None = None) -> LoadResult:
        """Load a table file into the tables database (same bytes load once)."""
        return self._writable().load_file(Path(path), progress, file_name)

    def load_table_file(self, path: Path, progress: Progress | None = None) -> LoadResult:
        """Same as load_file; the name the generic `ingest` command dispatches to."""
        return self.load_file(path, progress)

    def delete_source(self, sha256: str) -> list[str]:
        """Delete a loaded file's tables; returns their names."""
        return self._writable().delete_source(sha256)

    def sources(self) -> list[SourceInfo]:
        """Loaded files and their tables."""
        return self._store.sources() if self._store is not None else []

    def names(self) -> dict[str, list[NameChange]]:
        """Per loaded table: its own and its columns' names in the file beside the snake_case names they are
        stored (and queried) under. Tables loaded before names were recorded, and --db files, are absent."""
        return self._store.names() if self._store is not None else {}

    def tables(self) -> list[TableInfo]:
        """Tables with columns, types, row counts and source file."""
        if self._store is not None:
            return self._store.tables()
        with self._eng() as eng:
            return eng.tables()

    def preview(self, table: str, limit: int = 5) -> QueryResult:
        """A few rows of a table."""
        with self._eng() as eng:
            return eng.sample_rows(table, limit)

    def column_stats(self, table: str) -> list[dict[str, Any]]:
        """Simple per-column statistics of a table."""
        with self._eng() as eng:
            return eng.column_stats(table)

    def _writable(self) -> TableStore:
        if self._store is None:
            raise BadInputError("This database was opened read-only.", "Load files without --db.")
        return self._store

    # SQL ----------------------------------------------------------------------------------
    def check_sql(self, sql: str) -> str:
        """Raise UnsafeSQLError unless `sql` is one read-only query; return it trimmed."""
        with self._eng() as eng:
            return check_sql(eng, sql)

    def run_sql(self, sql: str, question: str = "") -> SqlAnswer:
        """Check and run SQL (from a person or a model) with the row cap and time limit."""
        start = time.monotonic()
        answer = SqlAnswer(question=question, sql=sql.strip(), attempts=1)
        try:
            result = self._execute(sql)
        except AssistantError as exc:
            answer.error, answer.error_hint, answer.error_detail = self._explain(exc)
        else:
            self._fill(answer, result)
        answer.seconds = time.monotonic() - start
        return answer

    def _explain(self, exc: AssistantError) -> tuple[str, str, str]:
        """(message, hint, DuckDB's text) for a failed query: DuckDB's binder and parser errors in words."""
        if not isinstance(exc, QueryError):
            return exc.message, exc.hint, ""
        # QueryError keeps only DuckDB's first line; the full text (candidates, the caret line) is its cause.
        raw = str(exc.__cause__) if exc.__cause__ is not None else exc.message
        with self._eng() as eng:
            explained = explain_sql_error(raw, eng.tables())
        return explained.message, explained.hint, explained.detail

    def _execute(self, sql: str) -> QueryResult:
        with self._eng() as eng:
            checked = check_sql(eng, sql)
            return eng.run(checked, max_rows=self.max_rows, timeout=self.timeout)

    @staticmethod
    def _fill(answer: SqlAnswer, result: QueryResult) -> None:
        answer.columns, answer.types, answer.rows = result.columns, result.types, result.rows
        answer.truncated = result.truncated
        answer.answer = describe_result(result)
        answer.chart = suggest_chart(result)

    def ask(self, question: str, phrase: bool = False, only: Sequence[str] = (), model: ChatModel | None = None
            ) -> SqlAnswer:
        """Answer a question with generated SQL: repaired when it fails, checked against the question, and
        (with `candidates` > 1) picked among several queries by agreement of their results."""
        start = time.monotonic()
        answer = SqlAnswer(question=question)
        question = question.strip()
        if not question:
            raise BadInputError("Ask a question about your tables.")
        with self._eng() as eng:
            if not eng.tables():
                answer.error = "No tables are loaded yet."
                answer.cannot_answer = True
                return answer
        model = model or self._chat_model()
        messages, tables, graph = self._prompt(question, model, only)
        options = WriterOptions(self.max_repairs, self._max_tokens, binder_hints=self.join_hints,
                                checks=self.checks, candidates=self.candidates)
        found = SqlWriter(model, self._execute, tables, graph, options).candidates(messages, question)
        chosen, votes = pick(found)
        self._answer_from(answer, chosen)
        if len(found) > 1:
            answer.alternatives = alternatives(found, chosen, votes)
        if phrase and chosen.result is not None and answer.error is None:
            answer.answer = phrase_answer(model, question, chosen.result)
        answer.seconds = time.monotonic() - start
        return answer

    def _prompt(self, question: str, model: ChatModel, only: Sequence[str]
                ) -> tuple[list[ChatMessage], list[TableInfo], JoinGraph | None]:
        groups = {table: src.sha256 for src in self.sources() for table in src.tables}
        with self._eng() as eng:
            tables = eng.tables()
            graph = join_graph(eng, self._identity) if self.join_hints else None
            schema = select_schema(eng, question, self._schema_budget(model), groups=groups, only=only, graph=graph)
        shown = [t for t in tables if t.name in schema.tables]
        joins = graph.describe(named_tables(shown, question)) if graph is not None else ""
        hints = prompt_hints(question, shown) if self.checks else []
        return build_messages(schema, question, joins, hints, self._examples_for(question)), tables, graph

    def _answer_from(self, answer: SqlAnswer, chosen: Candidate) -> None:
        answer.sql, answer.attempts, answer.notes = chosen.sql, chosen.attempts, list(chosen.notes)
        if chosen.cannot_answer is not None:
            answer.cannot_answer = True
            answer.error = f"The data cannot answer this: {chosen.cannot_answer}"
            answer.answer = answer.error
        elif chosen.result is not None and chosen.error is None:
            self._fill(answer, chosen.result)
        elif chosen.failure is not None:
            answer.error, answer.error_hint, answer.error_detail = self._explain(chosen.failure)
        else:
            answer.error = chosen.error or "The reply contained no SQL query."

    # Verified queries -----------------------------------------------------------------------
    def _examples_for(self, question: str) -> list[tuple[str, str]]:
        """Verified pairs for this question whose SQL still passes the safety check and runs."""
        if self.examples is None:
            return []
        usable = []
        for example_question, sql in self.examples(self.database, question):
            try:
                with self._eng() as eng:
                    eng.run(check_sql(eng, sql), max_rows=1, timeout=min(self.timeout, 5.0))
            except AssistantError:
                continue  # the tables changed since it was verified: a broken example would mislead
            usable.append((example_question, sql))
        return usable

    def verify_example(self, question: str, sql: str) -> SqlAnswer:
        """Run a question-SQL pair an analyst marks as correct; BadInputError unless it is safe and runs."""
        if not question.strip():
            raise BadInputError("A verified query needs the question it answers.",
                                "Give the question in words, e.g. \"Total revenue by region\".")
        answer = self.run_sql(sql, question=question)
        if answer.error:
            raise BadInputError(f"This SQL cannot be stored as a verified query: {answer.error}",
                                answer.error_hint or "Fix the SQL so that it runs, then mark it again.")
        return answer

    def mark_correct(self, store: SqlExampleStore, question: str, sql: str, user: str = "") -> SqlExample:
        """Check that the SQL is safe and runs, then store the pair for this database; nothing is stored otherwise."""
        self.verify_example(question, sql)
        return store.add(question, sql, database=self.database, user=user)

    def _chat_model(self) -> ChatModel:
        if self._model is None:
            raise AssistantError("No chat model is configured.", "Choose a model in Settings.")
        if hasattr(self._model, "stream"):
            return cast(ChatModel, self._model)  # a model (checked by what it does: stand-ins declare less)
        return cast(Callable[[], ChatModel], self._model)()  # a provider, called when a model is first needed

    def _schema_budget(self, model: ChatModel) -> int:
        if self._budget is not None:
            return self._budget
        # Leave room for hints, the question, two repair rounds and the answer.
        return max(500, min(int(model.info.context_window * 0.45), 6000))
