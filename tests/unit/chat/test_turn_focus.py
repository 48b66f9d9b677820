"""What a turn works on: unreadable attachments, attachments before the library, the conversation's chosen
documents and tables, and long pasted text. Real DuckDB tables and a real document library on temp dirs,
the scripted model for the assistant's logic."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import pytest

from app.ports import ModelInfo
from storage.conversations import OK, Scope
from tests.fixtures import pdf_factory as pf
from tests.fixtures.turns import POLICY_PAGES, SALES_CSV, TOTAL_SQL, assert_complete_steps, sql_reply, steps

MANUAL_PAGES = [
    ["Software manual", "Chapter 1. Installing the program: run the installer and restart."],
    ["Chapter 2. The country setting changes the date format and the currency shown in reports."],
]
COUNTRY_CSV = b"country,population\nNorway,5500000\nChile,19600000\nKenya,55100000\n"
NOT_A_TABLE = random.Random(7).randbytes(4096)  # what a damaged download looks like


def _png(lines: list[str]) -> bytes:
    out = io.BytesIO()
    pf.text_image(lines).save(out, format="PNG")
    return out.getvalue()


def _load(tables, tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    tables.load_file(path, file_name=name)


@pytest.fixture()
def loaded(make_env, tmp_path):
    """A new user's setup: a software manual in the library and two tables (one called `country`)."""
    assistant, tables, library = make_env(documents=True)
    manual = library.ingest_bytes(pf.text_pdf(MANUAL_PAGES), "manual.pdf")
    _load(tables, tmp_path, "sales.csv", SALES_CSV)
    _load(tables, tmp_path, "country.csv", COUNTRY_CSV)
    return assistant, tables, library, manual


# Item 3: answers about a file that could not be read ------------------------------------------------------

@pytest.mark.parametrize(
    ("data", "step", "why"),
    [
        (b"", ("read_attachment", False), "empty (0 bytes)"),
        (pf.text_pdf([[]]), ("index_document", False), "no text could be read"),
    ],
    ids=["zero-bytes", "blank-page"],
)
def test_an_unreadable_report_is_answered_as_unreadable_without_the_model_or_other_sources(
        loaded, fake_model, data, step, why):
    assistant, _, _, _ = loaded
    conv = assistant.conversations.create()

    result = assistant.ask("Summarise this report", conversation_id=conv.id, files=[("report.pdf", data)]).run()

    assert fake_model.sent == []  # no model call: nothing may be "summarised" from elsewhere
    assert result.status == "ok" and steps(result) == [step]  # no search of the manual, no SQL
    assert "**report.pdf** could not be read" in result.answer and why in result.answer
    assert "other documents or tables" in result.answer
    assert result.unreadable == ["report.pdf"] and result.citations == []
    assert_complete_steps(result.tools)
    # Saved and shown like any answer, with its failed step, and recorded.
    question, answer = assistant.conversations.messages(conv.id)
    assert (answer.role, answer.content, answer.status) == ("assistant", result.answer, OK)
    assert [t["name"] for t in answer.meta["tools"]] == [step[0]]
    record = assistant.records.get(result.record_id)
    assert record["answer"] == result.answer and record["unreadable"] == ["report.pdf"]
    assert record["tools"][0]["ok"] is False and why in record["tools"][0]["error"]


def test_random_bytes_named_csv_are_named_in_the_answer_and_no_columns_are_invented(loaded, fake_model):
    assistant, _, _, _ = loaded

    result = assistant.ask("What columns does data.csv have?", files=[("data.csv", NOT_A_TABLE)]).run()

    assert fake_model.sent == []
    assert steps(result) == [("read_attachment", False)]
    assert "**data.csv** could not be read" in result.answer and "damaged or mislabelled" in result.answer
    assert "population" not in result.answer and "Revenue" not in result.answer  # columns of the loaded tables


def test_a_table_that_fails_to_load_is_unreadable_too(make_env, fake_model):
    assistant, _, _ = make_env()
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("xl/workbook.xml", "not a workbook")

    result = assistant.ask("What is in this spreadsheet?", files=[("budget.xlsx", broken.getvalue())]).run()

    assert fake_model.sent == [] and steps(result) == [("load_table", False)]
    assert "**budget.xlsx** could not be read" in result.answer


def test_when_one_attachment_works_its_question_is_answered_and_the_failed_one_noted(loaded, fake_model):
    assistant, _, _, _ = loaded
    fake_model.queue(sql_reply(TOTAL_SQL))
    fake_model.queue("The total revenue is 238.42 [S1].")

    result = assistant.ask("What is the total revenue?",
                           files=[("report.pdf", b""), ("sales.csv", SALES_CSV)]).run()

    assert result.answer == "The total revenue is 238.42 [S1]." and result.unreadable == []
    assert steps(result) == [("read_attachment", False), ("load_table", True), ("run_sql", True)]
    assert any(n.startswith("report.pdf could not be used") for n in result.notices)


def test_pointing_at_the_failed_one_among_working_attachments_is_answered_as_unreadable(loaded, fake_model):
    assistant, _, _, _ = loaded

    result = assistant.ask("Summarise this report", files=[("report.pdf", b""), ("sales.csv", SALES_CSV)]).run()

    assert fake_model.sent == [] and result.unreadable == ["report.pdf"]
    assert steps(result) == [("read_attachment", False), ("load_table", True)]


def test_a_greeting_with_a_broken_attachment_is_still_answered_by_the_model(loaded, fake_model):
    assistant, _, _, _ = loaded
    fake_model.queue("Hello! How can I help?")
    result = assistant.ask("Hello there", files=[("report.pdf", b"")]).run()
    assert result.answer == "Hello! How can I help?" and result.unreadable == []


# Item 4: a turn with attachments works on them -------------------------------------------------------------

CHART = ["Sales by country", "Norway 42", "Chile 17"]
CHART_QUESTION = "Which country has the highest value in this chart?"


def test_an_image_question_reads_only_the_image_even_with_tables_and_documents_loaded(loaded, fake_model):
    assistant, _, _, _ = loaded
    fake_model.queue("Norway has the highest value (42).")

    result = assistant.ask(CHART_QUESTION, files=[("chart.png", _png(CHART))]).run()

    assert steps(result) == [("describe_image", True)]
    assert "Norway" in result.tools[0]["text"]  # what OCR read is what the answer gets
    (prompt,) = fake_model.sent  # one model call: the answer, no SQL writer
    assert "SQL result" not in prompt[-1].content and "manual.pdf" not in prompt[-1].content
    assert all(c.get("kind") != "sql" and c.get("source") != "manual.pdf" for c in result.citations)
    assert any(n.startswith("Answered from the attached file(s) only") for n in result.notices)


def test_native_planning_is_offered_only_the_attachment_tools(loaded, fake_model):
    fake_model.model_info = ModelInfo(backend="embedded", name="fake-qwen", supports_tools=True, context_window=8192)
    assistant, _, _, _ = loaded
    assistant.settings.tool_mode = "native"
    fake_model.queue('<tool_call>{"name": "describe_image", "arguments": {"name": "chart.png"}}</tool_call>')
    fake_model.queue("DONE")
    fake_model.queue("Norway (42).")

    result = assistant.ask(CHART_QUESTION, files=[("chart.png", _png(CHART))]).run()

    planner = fake_model.sent[0][0].content
    assert '"describe_image"' in planner and '"run_sql"' not in planner and '"search_documents"' not in planner
    assert result.tool_mode == "native" and steps(result) == [("describe_image", True)]


def test_asking_for_more_brings_in_the_library(loaded, fake_model):
    assistant, _, _, manual = loaded
    fake_model.queue("The chart shows Norway first; the manual says the country setting changes formats [1].")

    result = assistant.ask("What does this chart show, and what does the manual say about the country setting?",
                           files=[("chart.png", _png(CHART))]).run()

    names = [name for name, _ in steps(result)]
    assert "describe_image" in names and "search_documents" in names and "run_sql" not in names
    search = next(s for s in result.tools if s["name"] == "search_documents")
    assert {p["source"] for p in search["passages"]} == {manual.path}


def test_an_attached_pdf_is_searched_alone(loaded, fake_model):
    assistant, _, _, _ = loaded
    fake_model.queue("Revenue is the amount invoiced, net of refunds [1].")

    result = assistant.ask("How does the policy define revenue?",
                           files=[("policy.pdf", pf.text_pdf(POLICY_PAGES))]).run()

    assert steps(result) == [("index_document", True), ("search_documents", True)]
    assert {p["source"] for p in result.tools[1]["passages"]} == {"policy.pdf"}


def test_long_pasted_text_is_answered_from_itself_not_from_the_tables(loaded, fake_model):
    assistant, _, _, _ = loaded
    text = " ".join(f"In week {i} the team shipped {i % 5 + 1} releases and closed {i * 3} tickets."
                    for i in range(1, 60))
    fake_model.queue("The team shipped releases every week.")

    question = f"Summarise this:\n\n{text}"
    result = assistant.ask(question).run()

    assert steps(result) == []  # no SUM(total) over an unrelated table, no search of the manual
    prompt = fake_model.sent[-1][-1].content
    assert "<<<PASTED" in prompt and text in prompt and prompt.rstrip().endswith("The user's request: Summarise this:")
    assert any(n.startswith(f"Your message is long ({len(question):,} characters)") for n in result.notices)


# The conversation's chosen documents and tables ---------------------------------------------------------

def test_the_chosen_tables_are_the_only_ones_sql_sees_and_the_choice_is_kept(loaded, fake_model):
    assistant, _, _, _ = loaded
    conv = assistant.conversations.create()
    fake_model.queue(sql_reply(TOTAL_SQL))
    fake_model.queue("238.42 [S1]")

    assistant.ask("What is the total revenue?", conversation_id=conv.id, scope=Scope(tables=["sales"])).run()

    assert assistant.conversations.scope(conv.id) == Scope(tables=["sales"])
    writer = fake_model.sent[0][-1].content
    assert "sales" in writer and "population" not in writer

    fake_model.queue(sql_reply("SELECT COUNT(*) AS n FROM sales"))
    fake_model.queue("6 [S1]")
    turn = assistant.ask("How many orders are there in total?", conversation_id=conv.id)  # no scope: the saved one
    turn.run()
    assert turn.scope == Scope(tables=["sales"]) and "population" not in fake_model.sent[2][-1].content


@pytest.mark.parametrize("mode", ["router", "native"])
def test_the_chosen_documents_are_the_only_ones_searched(loaded, fake_model, mode):
    assistant, _, library, manual = loaded
    policy = library.ingest_bytes(pf.text_pdf(POLICY_PAGES), "policy.pdf")
    if mode == "native":
        fake_model.model_info = ModelInfo(backend="embedded", name="fake-qwen", supports_tools=True,
                                          context_window=8192)
        assistant.settings.tool_mode = "native"
        fake_model.queue('<tool_call>{"name": "search_documents", "arguments": {"query": "revenue defined"}}'
                         '</tool_call>')
        fake_model.queue("DONE")
    fake_model.queue("Revenue is the amount invoiced [1].")
    conv = assistant.conversations.create()
    assistant.conversations.set_scope(conv.id, Scope(documents=[policy.id]))

    result = assistant.ask("How is revenue defined according to the documentation?", conversation_id=conv.id).run()

    searches = [s for s in result.tools if s["name"] == "search_documents"]
    assert searches and all(p["source"] == "policy.pdf" for s in searches for p in s["passages"])
    assert searches[0]["passages"] and manual.id not in {c.get("doc_id") for c in result.citations}
    assert result.tool_mode == mode


def test_an_unreadable_answer_counts_no_model_tokens(loaded, fake_model):
    # The app wrote it: Monitoring's tokens and tokens/s must not count it as the model's output.
    assistant, _, _, _ = loaded
    result = assistant.ask("Summarise this report", files=[("report.pdf", b"")]).run()
    record = assistant.records.get(result.record_id)
    assert (result.tokens_out, record["tokens_out"], record["tokens_estimated"]) == (0, 0, False)
