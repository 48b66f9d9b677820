"""Writing SQL for a question: the greedy query with its repairs and checks, then sampled candidates.

The greedy query gets the repair loop (DuckDB's error plus a hint from the schema and the join graph) and
one repair when a check of the question against the result fails. Sampled candidates get no repairs: one
that fails is simply discarded. The caller picks among them by agreement (app/tables/candidates.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.errors import AssistantError
from app.ports import ChatMessage, ChatModel, GenerationParams
from app.tables.candidates import SAMPLE_TEMPERATURE, SAMPLE_TOP_P, Candidate, agree
from app.tables.checks import check_result
from app.tables.joins import JoinGraph
from app.tables.prompt import cannot_answer_reason, check_repair_messages, extract_sql, repair_hint, repair_messages
from app.tables.repair import binder_hint
from app.tables.safety import UnsafeSQLError
from storage.tables_engine import QueryError, QueryMemoryError, QueryResult, QueryTimeoutError, TableInfo

Execute = Callable[[str], QueryResult]
RUN_ERRORS = (UnsafeSQLError, QueryError, QueryTimeoutError, QueryMemoryError)


@dataclass
class WriterOptions:
    """Which techniques are on: repairs, binder hints from the join graph, result checks, candidates."""

    max_repairs: int = 2
    max_tokens: int = 512
    binder_hints: bool = False
    checks: bool = False
    candidates: int = 1


class SqlWriter:
    """Generates and runs queries for one question."""

    def __init__(self, model: ChatModel, execute: Execute, tables: Sequence[TableInfo], graph: JoinGraph | None,
                 options: WriterOptions) -> None:
        self._model = model
        self._execute = execute
        self._tables = list(tables)
        self._graph = graph
        self.options = options

    def _generate(self, messages: list[ChatMessage], params: GenerationParams) -> str:
        return "".join(chunk.text for chunk in self._model.stream(messages, params))

    def _run(self, sql: str) -> tuple[QueryResult | None, str | None, AssistantError | None, str]:
        """(result, error, exception, raw DuckDB text) of one query."""
        try:
            return self._execute(sql), None, None, ""
        except RUN_ERRORS as exc:
            raw = str(exc.__cause__) if isinstance(exc, QueryError) and exc.__cause__ is not None else exc.message
            return None, exc.message, exc, raw

    def _hint(self, error: str, raw: str, sql: str) -> str:
        if self.options.binder_hints:
            hint = binder_hint(raw or error, sql, self._tables, self._graph)
            if hint:
                return hint
        return repair_hint(error, self._tables)

    def greedy(self, messages: list[ChatMessage], question: str) -> Candidate:
        """The greedy query, repaired after errors (up to max_repairs) and once after a failed check."""
        params = GenerationParams(temperature=0.0, top_p=1.0, max_tokens=self.options.max_tokens, seed=0)
        candidate = Candidate(sql="", greedy=True, attempts=0)
        checked = not self.options.checks  # the one check repair is still to come
        fallback: Candidate | None = None  # a query that ran but failed a check, kept in case the repair fails
        for _ in range(self.options.max_repairs + 2):
            candidate.attempts += 1
            reply = self._generate(messages, params)
            sql = extract_sql(reply)
            reason = cannot_answer_reason(reply)
            if sql is None and reason is not None:
                candidate.cannot_answer, candidate.error = reason, None
                return fallback or candidate
            if sql is None:
                candidate.error, candidate.failure, candidate.sql = "The reply contained no SQL query.", None, ""
                if candidate.attempts > self.options.max_repairs:
                    break
                messages = repair_messages(messages, reply, "(none)", candidate.error, "")
                continue
            candidate.sql = sql
            result, error, failure, raw = self._run(sql)
            candidate.result, candidate.error, candidate.failure = result, error, failure
            if error is not None:
                if fallback is not None or candidate.attempts > self.options.max_repairs:
                    break
                messages = repair_messages(messages, reply, sql, error, self._hint(error, raw, sql))
                continue
            assert result is not None
            violations = [] if checked else check_result(question, sql, result, self._tables)
            if not violations:
                return candidate
            checked = True
            candidate.notes.extend(f"check {v.check}: {v.reason}" for v in violations)
            fallback = Candidate(sql, result, attempts=candidate.attempts, greedy=True, notes=list(candidate.notes))
            messages = check_repair_messages(messages, reply, sql, [v.reason for v in violations])
        if fallback is not None:
            fallback.attempts = candidate.attempts
            return fallback
        return candidate

    def sampled(self, messages: list[ChatMessage], seed: int) -> Candidate:
        """One sampled query, run once (no repairs)."""
        params = GenerationParams(temperature=SAMPLE_TEMPERATURE, top_p=SAMPLE_TOP_P,
                                  max_tokens=self.options.max_tokens, seed=seed)
        reply = self._generate(messages, params)
        sql = extract_sql(reply)
        if sql is None:
            reason = cannot_answer_reason(reply)
            return Candidate("", error=None if reason else "The reply contained no SQL query.", cannot_answer=reason)
        result, error, failure, _ = self._run(sql)
        return Candidate(sql, result, error, failure)

    def candidates(self, messages: list[ChatMessage], question: str) -> list[Candidate]:
        """The greedy query, then sampled ones up to the option's number; stops early when the first two agree."""
        found = [self.greedy(messages, question)]
        if found[0].cannot_answer is not None:
            return found
        for seed in range(1, self.options.candidates):
            found.append(self.sampled(messages, seed))
            if len(found) == 2 and agree(found[0], found[1]):
                break
        return found
