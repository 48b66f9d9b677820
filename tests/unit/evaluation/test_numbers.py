"""Numbers traced: every number of an answer is looked for in its sources; the ones not found are marked."""

from __future__ import annotations

import pytest

from app.evaluation.numbers import UNTRACED_MARK, trace_numbers

MANUAL = ["There are about 25 packages supplied with R. The LD50 estimates are 43.663 and 43.601.",
          "The -e option accepts at most 10,000 bytes; locator() waits for up to 512 points."]


@pytest.mark.parametrize("answer", [
    "About 25 packages come with R [1].",
    "The estimates are 43.66 and 43.60 [1].",  # rounded to the answer's precision
    "The limit is 10000 bytes [2].",  # thousands separator dropped
    "The limit is 10,000 bytes and 512 points [2].",
    "1. Use locator() [2].\n2. It waits for 512 points.",  # list numbering is not a claim
    "See page 12 of the manual: 512 points.",  # a page number is not a claim
    "Use log10() or ggplot2 for 25 packages.",  # digits inside names are not numbers
])
def test_numbers_found_in_the_sources_are_traced_and_left_alone(answer):
    trace = trace_numbers(answer, MANUAL)
    assert trace.untraced == [] and trace.answer == answer and trace.total >= 1


def test_an_invented_number_is_marked_in_the_answer_and_counted():
    trace = trace_numbers("locator() waits for 42 points; about 25 packages ship with R [1].", MANUAL)
    assert trace.total == 2 and trace.untraced == ["42"]
    assert trace.answer == f"locator() waits for 42{UNTRACED_MARK} points; about 25 packages ship with R [1]."
    assert "42" in trace.notice() and "may have been invented" in trace.notice()


def test_a_wrong_rounding_is_not_traced():
    assert trace_numbers("The estimate is 43.7 or 45.", ["LD50 = 43.601"]).untraced == ["43.7", "45"]


def test_percentages_scales_and_sql_cells_are_traced():
    cells = [0.125, 1234567, "2,500"]
    trace = trace_numbers("Growth was 12.5% on 1.2 million sales, 1,234,567 in all, plus 2500 refunds.", [], cells)
    assert trace.untraced == [] and trace.total == 4


def test_years_and_numbers_of_the_question_are_not_claims():
    trace = trace_numbers("In 2023 the top 5 regions sold 900 units.", [], [900], question="Top 5 regions in 2023?")
    assert trace.total == 1 and trace.untraced == []


def test_citation_markers_are_never_numbers():
    trace = trace_numbers("Use median() [2] [1, 3].", MANUAL)
    assert trace.total == 0 and trace.answer == "Use median() [2] [1, 3]."


@pytest.mark.parametrize(("answer", "source"), [
    ("Each van has 2 spare keys.", "The number of spare keys per van is two."),
    ("Report damage within 24 hours.", "Drivers report damage within twenty-four hours."),
    ("The depot holds 300 vans.", "The depot holds three hundred vans."),
    ("The fund is 1,000 euros.", "The fund is one thousand euros."),
])
def test_a_number_the_source_spells_out_is_traced(answer, source):
    trace = trace_numbers(answer, [source])
    assert trace.total == 1 and trace.untraced == []


def test_a_number_the_source_does_not_spell_is_still_marked():
    # "one of" is a pronoun, not a count: an answer's "1" is not traced by it, nor is "3" by "two".
    trace = trace_numbers("Vans have 3 keys and 1 card.", ["One of the vans has two keys."])
    assert trace.untraced == ["3", "1"]
