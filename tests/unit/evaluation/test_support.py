"""Faithfulness from support: each sentence backed by one source, every number traced (labelled examples)."""

from __future__ import annotations

import json
from pathlib import Path

from app.evaluation.support import sql_source, support_check

LABELLED = Path(__file__).resolve().parents[3] / "bench" / "data" / "faithfulness" / "labelled.jsonl"
PAGE = ("There are about 25 packages supplied with R (called standard and recommended packages) and many more are "
        "available through the CRAN family of Internet sites.")
OTHER = "The locator() function waits until up to 512 points have been selected with the mouse."


def _labelled() -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, LABELLED.read_text(encoding="utf-8").splitlines())}


def test_an_answer_from_its_source_is_faithful():
    verdict = support_check("About 25 standard and recommended packages are supplied with R [1].", [PAGE, OTHER])
    assert verdict.faithful and verdict.score == 1.0


def test_a_changed_number_is_not_faithful_even_with_every_word_supported():
    verdict = support_check("About 35 standard and recommended packages are supplied with R [1].", [PAGE])
    assert verdict.faithful is False and verdict.untraced_numbers == ["35"]


def test_a_fact_from_nowhere_is_not_faithful_and_pooling_sources_does_not_hide_it():
    answer = "R supplies 25 packages. The locator() function downloads packages from CRAN mirrors."
    verdict = support_check(answer, [PAGE, OTHER])
    assert verdict.unsupported == ["The locator() function downloads packages from CRAN mirrors."]
    assert verdict.score == 0.5


def test_a_refusal_is_not_judged():
    assert support_check("The documents do not say.", [PAGE]).faithful is None


def test_sql_results_are_a_source():
    source = sql_source(["region", "revenue"], [["North", 1200.5], ["South", 800]])
    assert support_check("North had revenue of 1,200.5 and South 800.", [source], cells=[1200.5, 800]).faithful


def test_labelled_examples_of_each_kind():
    rows = _labelled()
    for key in ("gold/rintro-036", "gold/rintro-020"):
        assert support_check(rows[key]["answer"], rows[key]["sources"]).faithful, key
    for key in ("number/rintro-036", "number/rintro-002", "swap/rintro-003", "recorded/rintro-u04"):
        assert rows[key]["label"] == "unsupported"
        assert support_check(rows[key]["answer"], rows[key]["sources"]).faithful is False, key
