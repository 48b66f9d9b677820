"""The checks around a turn's answer: answerability before a document answer, the retry of a refusal the passages
contradict, and numbers traced to the sources after it. The turn (app.chat.turn) calls these; they only read
its state and return what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.chat.answerability import (
    EXTRACT_COVERAGE,
    EXTRACT_SENTENCE_SHARE,
    EXTRACT_SIMILARITY,
    RETRY_INSTRUCTION,
    Answerability,
    assess,
    extract_answer,
)
from app.chat.grounding import cited_numbers
from app.chat.state import TurnState
from app.documents.refusals import MODEL_SAYS_NOT_FOUND, NOT_IN_DOCUMENTS, is_refusal, marker_only
from app.evaluation.numbers import NumberTrace, trace_numbers
from app.ports import ChatMessage
from app.settings import Settings


def searched(turn: TurnState) -> bool:
    """The turn searched the documents."""
    return any(step.get("name") == "search_documents" for step in turn.result.tools)


def answers_from_passages(turn: TurnState) -> bool:
    """The answer rests on passages alone: no SQL result, attachment or pasted text could answer instead."""
    return bool(turn.passages) and searched(turn) and not (turn.sql or turn.attachments or turn.pasted)


def verdict(turn: TurnState, settings: Settings) -> Answerability | None:
    """Can the retrieved passages answer the question? None when the check is off or does not apply."""
    if not settings.doc_answerability or not answers_from_passages(turn):
        return None
    return assess(turn.model_question or turn.question, turn.passages)


def not_answerable_notice(checked: Answerability) -> str:
    """Why the app said 'not in your documents' although passages were found."""
    return (f"Not answered from the documents: {checked.reason}, so they most likely do not hold the answer. "
            "Rephrase the question with the words your documents use, or add the document that covers it.")


def with_retry_instruction(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The prompt's messages with the retry instruction put before the passages of the last (user) message."""
    last = messages[-1]
    instruction = RETRY_INSTRUCTION.format(not_found=MODEL_SAYS_NOT_FOUND)
    return [*messages[:-1], ChatMessage(last.role, f"{instruction}\n\n{last.content}", last.images)]


def recognise_refusal(turn: TurnState, answer: str) -> str:
    """A refusal the model wrote in its own words, after a document search, is the app's "not in your documents"
    reply (and recorded as such); with SQL results it stays as written (it says what is missing)."""
    if answer and searched(turn) and is_refusal(answer):
        turn.result.not_in_documents = True
        return answer if turn.sql else NOT_IN_DOCUMENTS
    return answer


def from_marker(turn: TurnState, text: str) -> str:
    """For an answer that is only a marker ("[2]"): the marked passage's sentence closest to the question."""
    marked = cited_numbers(text, len(turn.kept_passages))
    if not marked:
        return ""
    return extract_answer(turn.model_question or turn.question, turn.kept_passages[marked[0] - 1], marked[0])


def instead_of_refusal(turn: TurnState, text: str, verdict: Answerability | None, retry: Callable[[], str]) -> str:
    """A held-back answer's replacement: a bare marker becomes the marked passage's best sentence; a refusal of a
    question the passages answer is retried once from the best passage, and when the model refuses again although
    one passage clearly matches the question, that passage's closest sentence is the answer (said in a notice) if
    the sentence itself matches the question;
    otherwise the text stays (and is recorded as "not in your documents")."""
    if marker_only(text):
        return from_marker(turn, text) or text
    # A named thing missing from the passages (even with the rest well covered) is a reason the model may be right
    # to refuse: no retry then, which would push it to answer from general knowledge.
    if not (is_refusal(text) and verdict and verdict.answerable and not verdict.missing):
        return text
    retried = retry()
    if marker_only(retried):
        return from_marker(turn, retried) or text
    if retried.strip() and not is_refusal(retried):
        return retried.strip()
    if verdict.coverage >= EXTRACT_COVERAGE and verdict.similarity >= EXTRACT_SIMILARITY and turn.kept_passages:
        question = turn.model_question or turn.question
        if extracted := extract_answer(question, turn.kept_passages[0], 1, EXTRACT_SENTENCE_SHARE):
            turn.result.notices.append(EXTRACTED)
            return extracted
    return retried or text


EXTRACTED = ("The model twice answered that the documents do not say, although one passage clearly matches the "
             "question: its sentence closest to the question is shown instead. Check it against the passage.")
RETRIED = ("The model first answered that the documents do not say; it was asked once more with the passage that "
           "matches the question best put first.")


def traced(turn: TurnState, answer: str, settings: Settings) -> tuple[str, NumberTrace | None]:
    """The answer with numbers not found in its sources marked, and the trace (None when not checked: the check is
    off, or the answer had no evidence to check against)."""
    if not settings.trace_numbers or not answer or not (turn.kept_passages or turn.sql):
        return answer, None
    cited = {c.get("chunk_id") for c in turn.result.citations if c.get("chunk_id")}
    passages = [p.text for p in turn.kept_passages if p.chunk_id in cited] or [p.text for p in turn.kept_passages]
    cells: list[Any] = []
    for evidence in turn.sql:
        cells.append(evidence.row_count)
        cells.extend(value for row in evidence.rows for value in row)
    trace = trace_numbers(answer, passages, cells, question=turn.question)
    if notice := trace.notice():
        turn.result.notices.append(notice)
    return trace.answer, trace
