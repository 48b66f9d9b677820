"""Evaluation scoring on hand-made inputs: ranks, SQL result equality, token F1, faithfulness, judge parsing."""

from __future__ import annotations

import pytest

from app.evaluation import scoring
from app.evaluation.judge import judge_messages, parse_verdict


def test_rank_hit_at_k_and_reciprocal_rank():
    assert scoring.first_gold_rank([4, 8, 9], [8]) == 2
    assert scoring.first_gold_rank([4, 5], [8, 9]) is None
    assert scoring.first_gold_rank([9, 8], [8, 9]) == 1  # any gold page counts
    assert (scoring.hit_at(1, 1), scoring.hit_at(2, 1), scoring.hit_at(5, 5), scoring.hit_at(6, 5)) == (1, 0, 1, 0)
    assert scoring.hit_at(None, 5) == 0.0
    assert scoring.reciprocal_rank(4) == 0.25 and scoring.reciprocal_rank(None) == 0.0


def test_execution_accuracy_unordered_ignores_row_and_column_order_and_number_format():
    gold = {"result_rows": [["North", 5], ["East", 9]], "ordered": False}
    assert scoring.rows_match([[9, "East"], ["North", 5.0]], gold)
    assert scoring.rows_match([["East", "9"], ["North", 5]], gold)  # numeric strings compare as numbers
    assert not scoring.rows_match([["East", 9]], gold)  # a missing row
    assert not scoring.rows_match([["East", 9], ["North", 6]], gold)
    assert not scoring.rows_match([["East", 9], ["East", 9]], gold)  # multisets, not sets


def test_execution_accuracy_ordered_and_tie_groups():
    gold = {"result_rows": [["East", 9], ["North", 5], ["South", 1]], "ordered": True}
    assert scoring.rows_match([["East", 9], ["North", 5], ["South", 1]], gold)
    assert not scoring.rows_match([["North", 5], ["East", 9], ["South", 1]], gold)
    tied = {**gold, "tie_groups": [0, 0, 1]}  # the first two rows may come in either order
    assert scoring.rows_match([["North", 5], ["East", 9], ["South", 1]], tied)
    assert not scoring.rows_match([["South", 1], ["East", 9], ["North", 5]], tied)
    assert scoring.rows_match([[1.0000001]], {"result_rows": [[1.0]], "ordered": True})  # tolerance 1e-6


def test_token_f1():
    assert scoring.token_f1("Every 90 days.", "every 90 days") == 1.0
    assert scoring.token_f1("The answer is 90 days", "Every 90 days.") == pytest.approx(2 / 3)  # P = R = 2/3
    assert scoring.token_f1("Paris", "Rome") == 0.0
    assert scoring.token_f1("Every 90 days [1].", "Every 90 days") == 1.0  # citation markers are not words
    assert scoring.token_f1("", "") == 1.0 and scoring.token_f1("", "cats dogs") == 0.0


def test_lexical_faithfulness_counts_supported_sentences():
    passages = ["Passwords are rotated every 90 days. Laptops must use full disk encryption."]
    score, unsupported = scoring.lexical_support("Passwords are rotated every 90 days [1].", passages)
    assert score == 1.0 and unsupported == []
    answer = "Passwords rotate every 90 days [1]. The CEO approves exceptions by email."
    score, unsupported = scoring.lexical_support(answer, passages)
    assert score == 0.5 and unsupported == ["The CEO approves exceptions by email."]
    assert scoring.lexical_support("[1]", passages) == (None, [])  # nothing to check
    assert scoring.lexical_support("Laptops are encrypted.", [])[0] == 0.0  # no source supports nothing


def test_context_recall_and_cosine_and_refusals():
    assert scoring.context_recall("Up to 180 euros per night.", ["Hotel costs are reimbursed up to 180 euros"]) == (
        pytest.approx(2 / 3)
    )
    assert scoring.context_recall("the", ["x"]) is None
    assert scoring.cosine([1, 0], [1, 0]) == 1.0 and scoring.cosine([1, 0], [0, 1]) == 0.0
    assert scoring.cosine([0, 0], [1, 0]) == 0.0
    assert scoring.is_refusal("I could not find this in your documents.")
    assert scoring.is_refusal("The documents do not say.") and scoring.is_refusal("")
    assert not scoring.is_refusal("Every 90 days [1].")


def test_sql_answer_mentions_result_values():
    rows = [["East", 9], ["North", 5]]
    assert scoring.answer_mentions_rows("East sold 9 units, North 5.", rows) == 1.0
    assert scoring.answer_mentions_rows("East sold the most.", rows) == 0.25
    assert scoring.answer_mentions_rows("Total: 1,234.", [[1234.0]]) == 1.0
    assert scoring.answer_mentions_rows("x", [[None]]) is None
    assert scoring.answer_mentions_rows("It is stated in [1].", [[1]]) == 0.0  # a citation is not a value


@pytest.mark.parametrize(
    ("reply", "score", "supported"),
    [
        ('{"supported": [1, 2], "unsupported": [3]}', 2 / 3, (1, 2)),
        ('Here is my verdict:\n```json\n{"supported": [2], "unsupported": [1, 3]}\n```\nHope this helps!', 1 / 3, (2,)),
        ('{"supported": ["1", 3, 7, true], "unsupported": []}', 2 / 3, (1, 3)),  # strings, out of range, bools
        ('{"supported": [1, 2], "unsupported": [2]}', 1 / 3, (1,)),  # contradictory: unsupported wins
        ('{"note": "x"} then {"verdicts": [true, false, true]}', 2 / 3, (1, 3)),
        ('{"score": 0.5}', 0.5, ()),
    ],
)
def test_judge_replies_that_carry_a_verdict(reply, score, supported):
    verdict = parse_verdict(reply, 3)
    assert verdict.score == pytest.approx(score) and verdict.supported == supported and not verdict.error


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("All sentences are supported.", "no JSON object in the reply"),
        ('{"supported": [1, 2', "the JSON had no usable verdict"),  # cut off by the token limit
        ('{"supported": [], "unsupported": []}', "the JSON had no usable verdict"),  # the template echoed
        ('{"score": 7}', "the JSON had no usable verdict"),
        ("[1, 2]", "no JSON object in the reply"),
        ("", "no JSON object in the reply"),
    ],
)
def test_judge_replies_without_a_verdict_score_none(reply, error):
    verdict = parse_verdict(reply, 3)
    assert verdict.score is None and verdict.error == error


def test_judge_prompt_numbers_passages_and_sentences():
    (message,) = judge_messages(["Passwords are rotated.", "Hotels: 180 euros."], ["A.", "B."])
    assert "[1] Passwords are rotated." in message.content and "[2] Hotels: 180 euros." in message.content
    assert "1. A.\n2. B." in message.content and '"supported"' in message.content
