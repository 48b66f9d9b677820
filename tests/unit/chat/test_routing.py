"""The deterministic router: which tools a question needs, from its words and the conversation's files."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from app.chat.tools.routing import PreviousTurn, follow_up_question, route, split_question, table_vocabulary
from app.chat.tools.specs import (
    DESCRIBE_IMAGE,
    READ_TRANSCRIPT,
    RUN_SQL,
    SEARCH_DOCUMENTS,
    Resources,
    StoredFile,
)


@dataclass
class Col:
    name: str


@dataclass
class Table:
    name: str
    columns: list[Col] = field(default_factory=list)


SALES = Table(
    "sales", [Col("order_id"), Col("Region"), Col("order_date"), Col("product"), Col("units"), Col("revenue")]
)
VOCAB = table_vocabulary([SALES])
PREVIOUS_SQL = "SELECT region, SUM(revenue)\n  FROM sales GROUP BY region"


def names(calls) -> list[str]:
    return [c.name for c in calls]


def both() -> Resources:
    return Resources(documents=True, tables=["sales"])


def stored(name: str, kind: str, new: bool) -> StoredFile:
    return StoredFile(name, f"sha-{name}", f"/nowhere/{name}", kind, new=new)


# Data questions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "How many orders were placed in the North region?",
        "What is the average number of units per product?",
        "Top 3 products by revenue",
        "What was the total in 2024?",
    ],
)
def test_a_data_question_runs_sql_when_tables_exist(question):
    calls = route(question, both(), VOCAB)
    assert names(calls) == [RUN_SQL]
    assert calls[0].arguments == {"question": question}
    assert calls[0].reason == "data question"


def test_a_data_question_without_tables_does_not_run_sql():
    calls = route("How many orders were placed in the North region?", Resources(documents=True), set())
    assert names(calls) == [SEARCH_DOCUMENTS]  # nothing else fits: the documents may still say it
    assert calls[0].reason == "nothing else fits"
    assert route("How many orders were placed in the North region?", Resources(), set()) == []


# Text questions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "What does the policy say about refunds?",
        "Explain the termination clause of the contract.",
        "According to the manual, why should filters be cleaned?",
    ],
)
def test_a_text_question_searches_the_documents(question):
    calls = route(question, both(), VOCAB)
    assert names(calls) == [SEARCH_DOCUMENTS]
    assert calls[0].arguments == {"query": question}
    assert calls[0].reason == "document question"


def test_a_question_needing_both_picks_both_sql_first_each_with_its_part():
    question = "What is the total revenue in 2023, and how does the policy define revenue?"
    calls = route(question, both(), VOCAB)
    assert names(calls) == [RUN_SQL, SEARCH_DOCUMENTS]
    assert calls[0].arguments == {"question": "What is the total revenue in 2023"}
    assert calls[1].arguments == {"query": "how does the policy define revenue?"}
    assert calls[1].reason == "document question"


def test_a_data_question_with_words_the_tables_do_not_know_searches_the_documents_too():
    question = "How many orders were shipped, and which carrier handles refrigerated freight?"
    calls = route(question, both(), VOCAB)
    assert names(calls) == [RUN_SQL, SEARCH_DOCUMENTS]
    assert calls[0].arguments == {"question": "How many orders were shipped"}
    assert calls[1].arguments == {"query": "which carrier handles refrigerated freight?"}


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        (
            "What is the total revenue in 2023, and how does the policy define revenue?",
            ["What is the total revenue in 2023", "how does the policy define revenue?"],
        ),
        ("How many orders? What does churn mean?", ["How many orders", "What does churn mean?"]),
        ("Total revenue; and the refund policy", ["Total revenue", "and the refund policy"]),
        ("Sales and revenue by region", ["Sales and revenue by region"]),  # "and" between nouns does not split
        ("", [""]),
    ],
)
def test_split_question(question, parts):
    assert split_question(question) == parts


def test_a_compound_question_of_two_data_parts_is_not_split():
    question = "How many orders were placed in 2024, and what is the average revenue per region?"
    assert [(c.name, c.arguments) for c in route(question, both(), VOCAB)] == [(RUN_SQL, {"question": question})]


def test_without_documents_the_sql_writer_still_gets_only_the_data_part():
    question = "What is the total revenue in 2023, and how does the policy define revenue?"
    calls = route(question, Resources(tables=["sales"]), VOCAB)
    assert [(c.name, c.arguments) for c in calls] == [(RUN_SQL, {"question": "What is the total revenue in 2023"})]


def test_a_text_question_without_documents_uses_no_tool():
    assert route("What does the policy say about refunds?", Resources(tables=["sales"]), VOCAB) == []


# Table and column names --------------------------------------------------------------------------------


def test_table_and_column_names_in_the_question_pick_run_sql():
    question = "region and product of order 4"  # no data cue: only the schema's words
    assert names(route(question, Resources(tables=["sales"]), VOCAB)) == [RUN_SQL]
    # The same words mean nothing without the schema's vocabulary.
    assert route(question, Resources(tables=["sales"]), set()) == []


def test_generic_column_words_alone_do_not_pick_run_sql():
    vocab = table_vocabulary([Table("t", [Col("name"), Col("date"), Col("value")])])
    assert route("name the date", Resources(tables=["t"]), vocab) == []


def test_a_table_attached_to_this_question_leans_to_run_sql():
    resources = Resources(tables=["sales"], files=[stored("sales.csv", "table", new=True)])
    assert names(route("Anything interesting here?", resources, VOCAB)) == [RUN_SQL]
    earlier = Resources(tables=["sales"], files=[stored("sales.csv", "table", new=False)])
    assert route("Anything interesting here?", earlier, VOCAB) == []


def test_a_pdf_attached_to_this_question_is_searched():
    resources = Resources(documents=True, tables=["sales"], files=[stored("policy.pdf", "pdf", new=True)])
    calls = route("How many products are there?", resources, VOCAB)
    assert names(calls) == [RUN_SQL, SEARCH_DOCUMENTS]
    assert calls[1].reason == "document question"


# Manuals and tables in scope together -----------------------------------------------------------------

# An analyst's schema full of ordinary words: flight_number, type, title, color, a "user" table, flight_package.
TRAVEL = [
    Table("flight", [Col("flight_number"), Col("type"), Col("is_available"), Col("duration_min")]),
    Table("flight_package", [Col("title"), Col("description"), Col("price")]),
    Table("printers", [Col("model"), Col("color"), Col("type"), Col("price")]),
    Table("user", [Col("email"), Col("first_name")]),
    Table("sales", [Col("type_of_payment"), Col("quantity"), Col("paid")]),
]
TRAVEL_WORDS = table_vocabulary(TRAVEL)


def manuals_and_tables() -> Resources:
    return Resources(documents=True, tables=[t.name for t in TRAVEL])


@pytest.mark.parametrize(
    "question",
    [
        "Which function gives the number of elements in a vector?",  # number (flight_number)
        "Which graphics parameter controls the colors of a plot?",  # color
        "Which function loads an installed package?",  # package (flight_package)
        "Which plot types can the type= argument select?",  # type
        "How many arguments can the user pass to a function?",  # the "user" table, but arguments are counted
        "Which characters surround the name of a user-defined binary operator?",  # user-defined is not "user"
        "How many points does locator() wait for by default?",  # code of the manual
        "What does the outer product of two arrays return?",
        "How many rows does the table returned by read.table() have?",  # "rows", "table" of a manual
    ],
)
def test_a_manual_question_with_a_word_that_is_also_a_column_name_stays_with_the_documents(question):
    calls = route(question, manuals_and_tables(), TRAVEL_WORDS)
    assert names(calls) == [SEARCH_DOCUMENTS]
    assert calls[0].arguments == {"query": question}


@pytest.mark.parametrize(
    "question",
    [
        "How many flights are there?",  # a table, counted
        "What is the average price?",  # a column, averaged
        "How much was paid in total?",
        "Which flights are longer than 300 minutes?",  # a table, with a comparison
        "What is the total quantity per type of payment?",  # a column named in full
        "List the title and description of every flight package.",
        "Which users have an email address?",  # the "user" table, asked about
        "Top 3 printers by price",
        "What is in the database?",  # said explicitly
    ],
)
def test_a_data_question_naming_a_table_or_column_still_runs_sql(question):
    calls = route(question, manuals_and_tables(), TRAVEL_WORDS)
    assert names(calls) == [RUN_SQL]
    assert calls[0].arguments == {"question": question}


def test_each_part_of_a_compound_question_is_judged_on_its_own_words():
    question = "How many flights are there, and which function gives the number of elements in a vector?"
    calls = route(question, manuals_and_tables(), TRAVEL_WORDS)
    assert [(c.name, c.arguments) for c in calls] == [
        (RUN_SQL, {"question": "How many flights are there"}),
        (SEARCH_DOCUMENTS, {"query": "which function gives the number of elements in a vector?"}),
    ]


def test_a_follow_up_with_a_generic_word_after_run_sql_still_refines_the_query():
    previous = PreviousTurn("How many flights are there?", (RUN_SQL,), "SELECT count(*) FROM flight")
    calls = route("and by type?", manuals_and_tables(), TRAVEL_WORDS, previous)
    assert names(calls) == [RUN_SQL]
    assert calls[0].arguments["question"].startswith("Previous question: How many flights are there?")


def test_a_follow_up_after_a_document_turn_stays_with_the_documents_despite_a_column_word():
    previous = PreviousTurn("Which function gives the number of elements in a vector?", (SEARCH_DOCUMENTS,), "")
    assert names(route("and their type?", manuals_and_tables(), TRAVEL_WORDS, previous)) == [SEARCH_DOCUMENTS]


# Follow-ups --------------------------------------------------------------------------------------------


def test_a_follow_up_after_run_sql_reruns_sql_with_the_previous_query():
    previous = PreviousTurn("What is the total revenue per region?", (RUN_SQL,), PREVIOUS_SQL)
    calls = route("now only for 2023", both(), VOCAB, previous)
    assert names(calls) == [RUN_SQL]
    rewritten = calls[0].arguments["question"]
    assert rewritten == follow_up_question(previous, "now only for 2023")
    assert "What is the total revenue per region?" in rewritten
    assert "SELECT region, SUM(revenue) FROM sales GROUP BY region" in rewritten  # whitespace folded
    assert rewritten.endswith("Follow-up: now only for 2023")


def test_a_short_question_after_run_sql_is_a_follow_up_too():
    previous = PreviousTurn("Total revenue per region?", (RUN_SQL,), PREVIOUS_SQL)
    calls = route("Excluding the South?", Resources(tables=["sales"]), VOCAB, previous)
    assert names(calls) == [RUN_SQL]
    assert calls[0].arguments["question"].startswith("Previous question: Total revenue per region?")


def test_a_follow_up_after_a_document_turn_does_not_run_sql():
    previous = PreviousTurn("What does the policy say?", (SEARCH_DOCUMENTS,), "")
    assert names(route("now only for 2023", both(), VOCAB, previous)) == [SEARCH_DOCUMENTS]


def test_a_follow_up_without_the_previous_sql_still_names_the_previous_question():
    previous = PreviousTurn("Total revenue per region?", (RUN_SQL,), "")
    text = follow_up_question(previous, "and for 2023?")
    assert text == "Previous question: Total revenue per region?. Follow-up: and for 2023?"
    assert "answered with" not in text


def test_a_data_question_after_run_sql_is_not_rewritten():
    previous = PreviousTurn("Total revenue per region?", (RUN_SQL,), PREVIOUS_SQL)
    question = "How many orders were placed in 2024?"
    calls = route(question, both(), VOCAB, previous)
    assert [c.arguments for c in calls] == [{"question": question}]


# force_documents ---------------------------------------------------------------------------------------


def test_force_documents_true_always_searches():
    calls = route("How many orders were placed in 2024?", both(), VOCAB, force_documents=True)
    assert names(calls) == [RUN_SQL, SEARCH_DOCUMENTS]
    assert calls[1].reason == "document question"
    # ...but not when there is nothing to search.
    assert names(route("How many orders?", Resources(tables=["sales"]), VOCAB, force_documents=True)) == [RUN_SQL]


def test_force_documents_false_never_searches():
    assert route("What does the policy say about refunds?", both(), VOCAB, force_documents=False) == []
    question = "What is the total revenue in 2023, and how does the policy define revenue?"
    assert names(route(question, both(), VOCAB, force_documents=False)) == [RUN_SQL]


# Images and recordings ---------------------------------------------------------------------------------


def test_new_images_and_recordings_are_always_read():
    resources = Resources(
        documents=True, tables=["sales"], files=[stored("chart.png", "image", True), stored("call.mp3", "audio", True)]
    )
    calls = route("How many orders were placed in 2024?", resources, VOCAB)
    assert names(calls) == [RUN_SQL, DESCRIBE_IMAGE, READ_TRANSCRIPT]
    assert calls[1].arguments == {"name": "chart.png"} and calls[2].arguments == {"name": "call.mp3"}


def test_earlier_images_and_recordings_are_read_only_when_the_question_points_at_them():
    resources = Resources(
        documents=True,
        tables=["sales"],
        files=[stored("chart.png", "image", False), stored("call.mp3", "audio", False)],
    )
    assert names(route("How many orders were placed in 2024?", resources, VOCAB)) == [RUN_SQL]
    assert DESCRIBE_IMAGE in names(route("What does the chart show?", resources, VOCAB))
    assert READ_TRANSCRIPT not in names(route("What does the chart show?", resources, VOCAB))
    on_audio = names(route("What was decided in the meeting?", resources, VOCAB))
    assert READ_TRANSCRIPT in on_audio and DESCRIBE_IMAGE not in on_audio


def test_earlier_media_are_read_when_nothing_else_is_available():
    resources = Resources(files=[stored("scan.png", "image", False), stored("memo.wav", "audio", False)])
    calls = route("What is this about?", resources, set())
    assert names(calls) == [DESCRIBE_IMAGE, READ_TRANSCRIPT]
    # Every earlier file is read, not just the first one found.
    two_images = Resources(files=[stored("a.png", "image", False), stored("b.png", "image", False)])
    assert [c.arguments["name"] for c in route("What is this about?", two_images, set())] == ["a.png", "b.png"]


# table_vocabulary --------------------------------------------------------------------------------------


def test_table_vocabulary_splits_names_and_adds_singulars_and_plurals():
    vocab = table_vocabulary([Table("SalesOrders", [Col("unit_price"), Col("CustomerName"), Col("id"), Col("qty")])])
    assert {
        "sales",
        "sale",
        "orders",
        "order",
        "unit",
        "units",
        "price",
        "prices",
        "customer",
        "customers",
        "name",
        "names",
        "qty",
        "qtys",
    } <= vocab
    assert "id" not in vocab  # words under three letters never match
    assert all(w == w.lower() for w in vocab)


def test_table_vocabulary_keeps_table_names_and_several_word_names_apart():
    vocab = table_vocabulary([Table("flight_package", [Col("type_of_payment"), Col("price")]), Table("Seat", [])])
    assert {"seat", "seats"} <= vocab.tables and "price" not in vocab.tables and "package" not in vocab.tables
    assert {"flight package", "flight packages", "type of payment", "type of payments"} <= vocab.phrases
    assert "type of" not in vocab.phrases  # a run never ends on a linking word


def test_table_vocabulary_of_nothing_is_empty():
    assert table_vocabulary([]) == set()
    assert table_vocabulary([object()]) == set()
