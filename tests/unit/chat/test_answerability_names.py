"""Lower-case package and product names (`dplyr`, `testthat`, `foreach`) count as named things for the answerability
rule: a question about one that no retrieved passage mentions is not in the documents — checked on the passages a
real library retrieves from an R-manual-style PDF, beside answerable questions that must stay answerable."""

from __future__ import annotations

import pytest

from app.chat.answerability import assess, named_terms
from app.documents.library import DocumentLibrary
from tests.fixtures import pdf_factory as pf

R_PAGES = [
    ["Writing your own functions", "A function is defined with function(), and its value is the last expression.",
     "Loops are written with for and while; a for loop runs over each element of a vector in turn.",
     "Packages are loaded with library(); the standard packages come with every installation of R."],
    ["Data frames", "A data frame is created with data.frame() and holds columns of equal length.",
     "read.table() reads a file into a data frame; the first line may hold the variable names.",
     "New columns are added to a data frame by assigning to df$name."],
]


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> DocumentLibrary:
    folder = tmp_path_factory.mktemp("rman")
    pdf = folder / "r-manual.pdf"
    pdf.write_bytes(pf.text_pdf(R_PAGES))
    lib = DocumentLibrary(folder / "data")
    lib.ingest_file(pdf)
    return lib


@pytest.mark.parametrize(("question", "names"), [
    ("Which dplyr verb adds new columns to a data frame?", ["dplyr"]),
    ("How do I write unit tests for my R package with testthat?", ["testthat"]),
    ("How can I run a loop in parallel over several cores with foreach?", ["foreach"]),
    ("How do I read a file with read_csv into a data.table?", ["read_csv", "data.table"]),
    ("Should I pip install numpy first, or call library(dplyr)?", ["numpy", "dplyr"]),
    ("How many packages come with R, and which are in the standard library?", []),  # ordinary words stay words
    ("How do I loop over the elements of a vector with for?", []),
])
def test_lower_case_names_are_found_by_their_shape_or_place(question, names):
    assert named_terms(question) == names


@pytest.mark.parametrize(("question", "missing"), [
    ("How do I write unit tests for my R package with testthat?", ["testthat"]),
    ("How is the value of a function returned with rlang?", ["rlang"]),
    ("Which functions does the tidyr package offer?", ["tidyr"]),
])
def test_a_question_about_a_lower_case_package_the_passages_never_mention_is_not_answerable(library, question,
                                                                                            missing):
    verdict = assess(question, library.search(question))
    assert not verdict.answerable and verdict.missing == missing
    assert verdict.reason == "the passages found never mention " + ", ".join(f"`{m}`" for m in missing)


@pytest.mark.parametrize("question", [
    "How does read.table() know that the first line holds the variable names?",
    "How do I create a data frame with data.frame?",
    "How are packages loaded with library?",
])
def test_questions_the_passages_answer_stay_answerable(library, question):
    assert assess(question, library.search(question)).answerable
