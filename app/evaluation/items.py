"""Scoring one item: a document question (retrieval, then the answer) or a SQL question.

Document answers go through `assistant.ask(..., use_documents=True).run()` like the chat does; the
retrieved passages (`turn.passages`) are the context for context recall, the cited ones the source
for faithfulness. SQL questions go through `TablesService.ask` over the item's database, read-only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app.errors import AssistantError, BadInputError
from app.evaluation import scoring
from app.evaluation.judge import Verdict, judge_faithfulness
from app.evaluation.loader import DOCQA, EvalItem
from app.evaluation.metrics import QUALITY_METRICS
from app.evaluation.numbers import trace_numbers
from app.evaluation.ports import EvaluationServices
from app.evaluation.support import support_check
from app.tables.service import TablesService
from storage.embedder import shared_embedder

_SEARCH_POOL = 40  # passages fetched before keeping the set's own documents (the library may hold others)


class ItemScorer:
    """Scores items of one run: the metric groups asked for, the model, and the set's documents."""

    def __init__(
        self,
        services: EvaluationServices,
        only: tuple[str, ...],
        model: Any,
        choice: dict | None,
        doc_ids: set[str] | None,
        embed: Callable[[list[str]], Any] | None = None,
        defer_judge: bool = False,
        self_judge: bool = False,
    ) -> None:
        self.defer_judge = defer_judge  # a separate judge model runs after every answer (one model loaded at a time)
        self.self_judge = self_judge  # the answering model judges its own answers too (lenient; off by default)
        self.services = services
        self.only = only
        self.model = model
        self.choice = choice
        self.doc_ids = doc_ids  # None: search every indexed document
        self._embed = embed

    def score(self, item: EvalItem) -> dict[str, Any]:
        """Run one item and return its result: metrics (of the requested groups), details, timings, error."""
        only = self.only
        result: dict[str, Any] = {
            "id": item.id,
            "kind": item.kind,
            "question": item.question,
            "metrics": {},
            "detail": {},
            "error": "",
            "total_s": None,
            "ttft_s": None,
            "tokens_in": None,
            "tokens_out": None,
        }
        try:
            if item.kind == DOCQA:
                self._docqa(item, result)
            else:
                self._sql(item, result)
        except AssistantError as exc:
            result["error"] = exc.one_line()
        groups = {name: group for name, (_, group) in QUALITY_METRICS.items()}
        result["metrics"] = {k: v for k, v in result["metrics"].items() if groups.get(k) in only}
        return result

    def _search(self, question: str) -> list[Any]:
        library, doc_ids = self.services.evaluation_documents, self.doc_ids
        k = library.config.k
        if doc_ids is None:
            return library.search(question, k=k)
        return [p for p in library.search(question, k=_SEARCH_POOL) if p.doc_id in doc_ids][:k]

    def _docqa(self, item: EvalItem, result: dict[str, Any]) -> None:
        only = self.only
        metrics, detail = result["metrics"], result["detail"]
        detail["reference"] = item.answer
        detail["gold_pages"] = list(item.pages)
        if "retrieval" in only:
            started = time.monotonic()
            passages = self._search(item.question)
            pages = [p.page for p in passages]
            detail["retrieved_pages"] = pages
            result["total_s"] = round(time.monotonic() - started, 3)
            if item.pages:
                rank = scoring.first_gold_rank(pages, item.pages)
                metrics.update(
                    {
                        "hit@1": scoring.hit_at(rank, 1),
                        "hit@5": scoring.hit_at(rank, 5),
                        "mrr": scoring.reciprocal_rank(rank),
                    }
                )
            else:
                detail["refused_by_retrieval"] = not passages
        if "answers" in only:
            self._answer(item, result)

    def _answer(self, item: EvalItem, result: dict[str, Any]) -> None:
        metrics, detail, doc_ids = result["metrics"], result["detail"], self.doc_ids
        # The evaluation's assistant: the same answer path as the chat, over the evaluation library only.
        turn = self.services.evaluation_assistant.ask(item.question, use_documents=True, model_choice=self.choice)
        outcome = turn.run()
        answer = outcome.answer or ""
        result.update(
            total_s=round(outcome.total_s, 3),
            ttft_s=outcome.ttft_s and round(outcome.ttft_s, 3),
            tokens_in=outcome.tokens_in,
            tokens_out=outcome.tokens_out,
        )
        detail.update(answer=answer, status=outcome.status, cited_pages=[c.get("page") for c in outcome.citations])
        if outcome.status == "error" or outcome.error:
            result["error"] = outcome.error
            if item.answer:
                metrics["correctness_f1"] = 0.0
            return
        context = [p for p in getattr(turn, "passages", []) if doc_ids is None or p.doc_id in doc_ids]
        refusal = scoring.is_refusal(answer)
        detail["declined"] = refusal
        if item.answer is None:
            metrics["declined_unanswerable"] = 1.0 if refusal else 0.0
        else:
            metrics["correctness_f1"] = round(scoring.token_f1(answer, item.answer), 4)
            recall = scoring.context_recall(item.answer, [p.text for p in context])
            if recall is not None:
                metrics["context_recall"] = round(recall, 4)
            if item.pages:
                metrics["gold_page_retrieved"] = 1.0 if any(p.page in item.pages for p in context) else 0.0
        if refusal:
            return
        cited = _cited_texts(outcome.citations, getattr(turn, "kept_passages", []))
        lexical, unsupported = scoring.lexical_support(answer, cited)
        if lexical is not None:
            metrics["faithfulness_lexical"] = round(lexical, 4)
            detail["unsupported_sentences"] = unsupported
        support = support_check(answer, cited, question=item.question)
        if support.score is not None:
            metrics["faithfulness_support"] = 1.0 if support.faithful else 0.0
            detail["support"] = {"unsupported": support.unsupported, "untraced_numbers": support.untraced_numbers}
        stated = trace_numbers(answer, cited, question=item.question).total
        if stated:  # answers without numbers say nothing about tracing them
            metrics["numbers_traced"] = round(max(0, stated - len(support.untraced_numbers)) / stated, 4)
        claims = scoring.sentences(answer)
        if self.defer_judge:
            detail["judge_input"] = {"passages": cited, "claims": claims}
        elif self.self_judge:
            apply_judge(self.model, cited, claims, metrics, detail)
        vectors = self._embedder()([item.question, answer])
        metrics["answer_relevance"] = round(max(0.0, scoring.cosine(list(vectors[0]), list(vectors[1]))), 4)

    def _embedder(self) -> Callable[[list[str]], Any]:
        if self._embed is None:
            self._embed = shared_embedder().embed
        return self._embed

    def _sql(self, item: EvalItem, result: dict[str, Any]) -> None:
        only = self.only
        if item.db is None:  # the loader refuses SQL items without one
            raise BadInputError(f"SQL item {item.id} names no database.")
        service = TablesService.open_database(item.db, model=self.model, timeout=10.0)
        setup = getattr(self.services, "evaluation_sql_setup", None)  # only the with/without verified-queries pair
        if setup is not None:
            setup(service)
        try:
            answer = service.ask(item.question, phrase="answers" in only)
        finally:
            service.close()
        correct = answer.error is None and scoring.rows_match(answer.rows, item.gold)
        result["total_s"] = round(answer.seconds, 3)
        result["detail"].update(
            sql=answer.sql,
            error=answer.error,
            attempts=answer.attempts,
            rows=answer.rows[:5],
            answer=answer.answer,
            db=item.db.name if item.db else "",
        )
        result["metrics"]["execution_accuracy"] = 1.0 if correct else 0.0
        if "answers" in only:
            match = scoring.answer_mentions_rows(answer.answer, item.gold["result_rows"]) if not answer.error else 0.0
            if match is not None:
                result["metrics"]["sql_answer_match"] = round(match, 4)


def _cited_texts(citations: list[dict[str, Any]], kept: list[Any]) -> list[str]:
    """Full text of each cited passage (the citation's quote is cut at 300 characters)."""
    by_chunk = {getattr(p, "chunk_id", None): p.text for p in kept}
    return [by_chunk.get(c.get("chunk_id")) or c.get("quote", "") for c in citations]


def apply_judge(model: Any, cited: list[str], claims: list[str], metrics: dict[str, Any],
                detail: dict[str, Any]) -> None:
    """Ask the judge model whether the claims are supported; store its verdict in the item's result."""
    try:
        verdict, raw = judge_faithfulness(model, cited, claims)
    except AssistantError as exc:  # the judge failing is not the answer failing
        verdict, raw = Verdict(None, error=exc.message), ""
    detail["judge"] = {"reply": raw[:500], "error": verdict.error, "supported": list(verdict.supported)}
    if verdict.score is not None:
        metrics["faithfulness_judge"] = round(verdict.score, 4)
