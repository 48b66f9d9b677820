"""Document answers that refuse when they should: refusals recognised, answerability before answering, one retry of
an over-refusal, a bare "[1]" made into an answer, and numbers traced in whole turns (real library, real DuckDB)."""

from __future__ import annotations

import pytest

from app.chat.answerability import assess, named_terms
from app.documents.refusals import NOT_IN_DOCUMENTS, is_refusal, marker_only
from tests.fixtures import pdf_factory as pf
from tests.fixtures.turns import POLICY_PAGES, SALES_CSV, TOTAL_SQL, sql_reply


@pytest.mark.parametrize("answer", [
    "The documents do not say.",
    "I could not find this in your documents.",
    "The passages do not mention how travel is booked.",
    "The provided documents don't contain information about Excel.",
    "There is no information about Excel workbooks in the passages.",
    "Unfortunately, the context does not specify the refund period.",
    "The refund period is not mentioned in the provided passages.",
    "I cannot answer this from the documents [1].",
])
def test_refusals_in_the_models_own_words_are_recognised(answer):
    assert is_refusal(answer)


@pytest.mark.parametrize("answer", [
    "Revenue is the amount invoiced, net of refunds [1].",
    "The documents do not say why, but travel is reimbursed within thirty days [1].",
    "It does not contain duplicates: unique() removes them [2].",
    "",
])
def test_answers_and_partial_answers_are_not_refusals(answer):
    assert not is_refusal(answer)


def test_a_bare_marker_is_recognised():
    assert marker_only("[2]") and marker_only(" [1, 2]. ") and not marker_only("See [2].")


def test_named_terms_skip_the_sentence_start_and_masked_data():
    assert named_terms("How do I import an Excel workbook with readxl()? My card is [CARD:3f2a].") == [
        "Excel", "readxl"]
    assert named_terms("Which function reads JSON or ggplot2 themes? Who wrote it?") == ["JSON", "ggplot2"]


@pytest.fixture()
def policy_env(make_env, tmp_path):
    """An assistant whose library holds the real two-page finance policy PDF."""
    def build(**settings):
        assistant, tables, library = make_env(documents=True, **settings)
        pdf = tmp_path / "policy.pdf"
        pdf.write_bytes(pf.text_pdf(POLICY_PAGES))
        library.ingest_file(pdf)
        return assistant, tables, library
    return build


def test_answerability_on_real_passages(policy_env):
    _, _, library = policy_env()
    question = "How is revenue defined?"
    assert assess(question, library.search(question)).answerable
    question = "How are travel expenses booked in SAP Concur?"
    passages = library.search(question)
    verdict = assess(question, passages)
    assert passages and not verdict.answerable and verdict.missing == ["SAP", "Concur"]


def test_a_question_the_passages_cannot_answer_is_not_in_documents_without_the_model(policy_env, fake_model):
    assistant, _, library = policy_env()
    result = assistant.ask("How are travel expenses booked in SAP Concur?", use_documents=True).run()

    assert result.answer == NOT_IN_DOCUMENTS and result.not_in_documents
    assert fake_model.sent == []  # decided before any model call
    assert any("never mention `SAP`, `Concur`" in n for n in result.notices)
    record = assistant.records.get(result.record_id)
    assert record["not_in_documents"] is True and record["answerability"]["answerable"] is False
    assert [t["name"] for t in record["tools"]] == ["search_documents"]  # the search step stays visible


def test_a_refusal_the_model_writes_is_the_apps_own_reply_and_recorded(policy_env, fake_model):
    assistant, _, _ = policy_env(doc_answerability=False)
    fake_model.queue("The passages do not mention ", "how revenue is defined.")

    result = assistant.ask("How is revenue defined?", use_documents=True).run()

    assert result.answer == NOT_IN_DOCUMENTS and result.not_in_documents and result.citations == []
    assert assistant.records.get(result.record_id)["not_in_documents"] is True


def test_an_over_refusal_is_retried_once_from_the_best_passage(policy_env, fake_model):
    assistant, _, _ = policy_env()
    fake_model.queue("The documents do not say.")
    fake_model.queue("Revenue is the amount invoiced to customers, net of refunds and discounts [1].")

    result = assistant.ask("How is revenue defined?", use_documents=True).run()

    assert result.answer.startswith("Revenue is the amount invoiced") and not result.not_in_documents
    retry_prompt = fake_model.sent[-1][-1].content
    assert retry_prompt.startswith("The first passage below was selected") and "[1] policy.pdf, page 2" in retry_prompt
    assert [c["page"] for c in result.citations] == [2]
    record = assistant.records.get(result.record_id)
    assert record["retried"] is True and record["not_in_documents"] is False


def test_a_second_refusal_gives_the_clearly_matching_passages_sentence_and_says_so(policy_env, fake_model):
    assistant, _, _ = policy_env()
    fake_model.queue("The documents do not say.").queue("The documents do not say.")
    result = assistant.ask("How is revenue defined?", use_documents=True).run()
    assert result.answer == ("According to the passage: Revenue is defined as the amount invoiced to customers, net "
                             "of refunds and discounts. [1]")
    assert not result.not_in_documents and len(fake_model.sent) == 2
    assert any("twice answered" in n for n in result.notices) and [c["page"] for c in result.citations] == [2]


def test_a_second_refusal_stands_when_no_passage_clearly_matches(policy_env, fake_model):
    assistant, _, _ = policy_env()
    fake_model.queue("The documents do not say.").queue("The documents do not say.")
    result = assistant.ask("When are travel costs of a partner refunded?", use_documents=True).run()
    assert result.answer == NOT_IN_DOCUMENTS and result.not_in_documents and len(fake_model.sent) == 2


def test_a_bare_marker_becomes_the_marked_passages_best_sentence(policy_env, fake_model):
    assistant, _, _ = policy_env()
    fake_model.queue("[1]")
    result = assistant.ask("How is revenue defined?", use_documents=True).run()
    assert "Revenue is defined as the amount invoiced" in result.answer and result.answer.endswith("[1]")
    assert [c["page"] for c in result.citations] == [2]


def test_an_invented_number_in_a_sql_answer_is_marked_and_counted(make_env, fake_model):
    assistant, _, _ = make_env()
    fake_model.queue(sql_reply(TOTAL_SQL))
    fake_model.queue("The total revenue is 238.42 [S1], up 17% on last year.")

    result = assistant.ask("What is the total revenue?", files=[("sales.csv", SALES_CSV)]).run()

    assert result.answer == "The total revenue is 238.42 [S1], up 17% (not found in the sources) on last year."
    assert any("17%" in n and "invented" in n for n in result.notices)
    record = assistant.records.get(result.record_id)
    assert (record["numbers_total"], record["numbers_untraced"]) == (2, 1)


def test_a_refusal_is_not_retried_when_the_passages_never_mention_a_name_the_question_asks_about(
        policy_env, fake_model):
    assistant, _, _ = policy_env()
    fake_model.queue("The documents do not say.")
    result = assistant.ask("How is revenue defined under IFRS?", use_documents=True).run()
    assert result.answer == NOT_IN_DOCUMENTS and len(fake_model.sent) == 1  # the model was right: no second call
    assert assistant.records.get(result.record_id)["answerability"]["missing"] == ["IFRS"]


def test_an_answer_no_passage_supports_is_flagged_even_when_the_model_wrote_a_marker(policy_env, fake_model):
    assistant, _, _ = policy_env()
    fake_model.queue("Revenue is booked in SAP by the controlling team every quarter [1].")

    result = assistant.ask("How is revenue defined?", use_documents=True).run()

    # Kept as written (turning such answers into refusals cost more answerable questions than it caught unanswerable
    # ones on a held-out set), but not presented as backed by the passage it marks.
    assert result.answer.startswith("Revenue is booked in SAP") and not result.not_in_documents
    assert any(n.startswith("No passage clearly supports this answer, although it cites one") for n in result.notices)


def test_supported_partly_supported_and_contentless_answers_get_no_such_flag(policy_env, fake_model):
    assistant, _, _ = policy_env()
    flagged = "No passage clearly supports this answer"
    for answer in ["Revenue is the amount invoiced to customers, net of refunds and discounts [1].",
                   "Revenue is the amount invoiced to customers, net of refunds [1]. SAP books it quarterly.",
                   "Yes [1]."]:
        fake_model.queue(answer)
        result = assistant.ask("How is revenue defined?", use_documents=True).run()
        assert result.answer.startswith(answer[:12]) and not result.not_in_documents
        assert not any(n.startswith(flagged) for n in result.notices), answer


FLEET_PAGES = [
    ["Fleet policy 2026.", "Every van is serviced every 12,000 kilometres in depot 4.",
     "Drivers report damage within 24 hours using form F-17.", "Vans are painted in the colour white."],
    ["Fuel cards are issued by the finance team.", "The monthly fuel budget per van is 480 euros.",
     "The number of spare keys per van is two, kept at the depot office."],
]


def test_a_second_refusal_stands_when_the_closest_sentence_shares_only_topic_words(make_env, fake_model, tmp_path):
    """Seen in the browser: the page matched on "fleet", "policy", "drivers", and its closest sentence ("Every van is
    serviced every 12,000 kilometres") was shown as the answer to how the interior is cleaned."""
    assistant, _, library = make_env(documents=True)
    pdf = tmp_path / "fleet-policy.pdf"
    pdf.write_bytes(pf.text_pdf(FLEET_PAGES))
    library.ingest_file(pdf)
    fake_model.queue("The documents do not say.").queue("The documents do not say.")

    result = assistant.ask("According to the fleet policy, how should drivers clean the van's interior?",
                           use_documents=True).run()

    assert result.answer == NOT_IN_DOCUMENTS and result.not_in_documents and len(fake_model.sent) == 2
    assert not any("twice answered" in n for n in result.notices)
