"""A report of the answers an analyst ticks: only those answers, under their numbers in the conversation, with
only their records in the manifest, and it verifies against the audit trail like a full report."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from app.errors import BadInputError
from app.reports.export import export_report
from app.reports.model import answer_list
from app.reports.proof import verify_report_file
from tests.fixtures.fakes import FakeChatModel
from tests.fixtures.turns import TOTAL_SQL, sql_reply
from tests.unit.reports.conftest import QUESTION, Answered

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SECOND = "The total is still 238.42 [S1], as invoiced."


def _ask_again(env: Answered, fake_model: FakeChatModel) -> None:
    fake_model.queue(sql_reply(TOTAL_SQL))
    fake_model.queue(SECOND)
    result = env.assistant.ask(QUESTION, conversation_id=env.conversation_id).run()
    assert result.status == "ok" and result.record_id


@pytest.mark.parametrize("fmt", ["html", "pdf"])
def test_a_report_of_the_second_answer_only_verifies(answered, fake_model, tmp_path, fmt):
    _ask_again(answered, fake_model)
    assert [n for n, _ in answer_list(answered.conversations, answered.conversation_id)] == [1, 2]
    records = answered.records.query(kind="chat", conversation_id=answered.conversation_id)
    second = next(r["id"] for r in records if SECOND in str(r.get("answer", r)))
    path = tmp_path / f"r.{fmt}"
    path.write_bytes(export_report(answered.conversations, answered.records, answered.conversation_id, fmt, "ana",
                                   answers=[2]))
    if fmt == "pdf":
        text = " ".join("\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(path.read_bytes())).pages)
                        .split())
    else:
        text = path.read_text(encoding="utf-8")
    assert "as invoiced" in text and "net of refunds and discounts [1]" not in text
    assert "2. Question" in text and "1. Question" not in text
    assert "Answers 2 of 2 in this conversation, chosen by ana" in text
    verdict = verify_report_file(path, answered.records)
    assert verdict.ok, verdict.problems
    assert verdict.records == 1
    (exported,) = answered.records.query(kind="report_exported")
    assert exported["answer_numbers"] == [2] and exported["cited_records"] == [second]
    assert exported["all_answers"] is False


def test_numbers_that_name_no_answer_are_refused_naming_those_that_exist(answered):
    with pytest.raises(BadInputError) as caught:
        export_report(answered.conversations, answered.records, answered.conversation_id, "html", "ana",
                      answers=[1, 4])
    assert "has answer 1; there is no answer 4" in caught.value.message
    assert "--list" in caught.value.hint
    with pytest.raises(BadInputError, match="No answer was chosen"):
        export_report(answered.conversations, answered.records, answered.conversation_id, "html", "ana", answers=[])
    assert answered.records.query(kind="report_exported") == []  # nothing exported, nothing recorded
