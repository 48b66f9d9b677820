"""Candidate queries checked by execution: discard failures and empty results, pick by agreement."""

from __future__ import annotations

from pathlib import Path

from app.llm.embedded import EmbeddedChatModel
from app.tables.service import TablesService
from tests.fixtures.fakes import ScriptedModel
from tests.fixtures.models import TEST_EMBEDDED_CTX, TEST_EMBEDDED_MODEL

COUNT_FRANCE = "```sql\nSELECT count(*) FROM customers WHERE country = 'France'\n```"
COUNT_FRANCE_OTHER = "```sql\nSELECT count(customer_id) FROM customers WHERE country IN ('France')\n```"
COUNT_ALL = "```sql\nSELECT count(*) FROM customers\n```"
BROKEN = "```sql\nSELECT count(*) FROM customer WHERE land = 'France'\n```"
EMPTY = "```sql\nSELECT name FROM customers WHERE country = 'france'\n```"


def ask(shop: Path, replies: list[str], candidates: int, **kw) -> tuple[object, ScriptedModel]:
    model = ScriptedModel(replies)
    service = TablesService.open_database(shop, model=model, candidates=candidates, max_repairs=0, **kw)
    try:
        return service.ask("How many customers are in France?"), model
    finally:
        service.close()


def test_the_result_most_candidates_agree_on_wins_over_the_greedy_one(shop: Path) -> None:
    answer, model = ask(shop, [COUNT_ALL, COUNT_FRANCE, COUNT_FRANCE_OTHER], candidates=3)
    assert answer.rows == [[2]]
    assert answer.sql.endswith("IN ('France')") or "= 'France'" in answer.sql
    assert [a["outcome"] for a in answer.alternatives] == ["1 row", "1 row", "1 row"]
    assert [a["agreeing"] for a in answer.alternatives] == [1, 2, 2]
    assert answer.candidates_disagreed
    assert len(model.sent) == 3


def test_failed_and_empty_candidates_are_discarded(shop: Path) -> None:
    answer, _ = ask(shop, [BROKEN, EMPTY, COUNT_FRANCE], candidates=3)
    assert answer.error is None and answer.rows == [[2]]
    outcomes = [a["outcome"] for a in answer.alternatives]
    assert outcomes[0].startswith("failed") and outcomes[1] == "no rows" and outcomes[2] == "1 row"
    assert answer.to_json()["alternatives"][2]["chosen"] is True


def test_a_tie_goes_to_the_greedy_query_and_two_agreeing_stop_early(shop: Path) -> None:
    answer, _ = ask(shop, [COUNT_FRANCE, COUNT_ALL, COUNT_FRANCE_OTHER], candidates=3)
    assert answer.rows == [[2]] and answer.alternatives[0]["chosen"]
    agreeing, model = ask(shop, [COUNT_FRANCE, COUNT_FRANCE_OTHER, COUNT_ALL], candidates=3)
    assert len(model.sent) == 2 and len(agreeing.alternatives) == 2  # the third was never generated
    assert not agreeing.candidates_disagreed


def test_one_candidate_is_todays_behaviour(shop: Path) -> None:
    answer, model = ask(shop, [COUNT_ALL], candidates=1)
    assert answer.rows == [[3]] and answer.alternatives == [] and len(model.sent) == 1


def test_candidates_with_the_real_small_model(shop: Path, packaged_model_path: Path) -> None:
    model = EmbeddedChatModel(TEST_EMBEDDED_MODEL, packaged_model_path.parent, threads=2, n_ctx=TEST_EMBEDDED_CTX)
    service = TablesService.open_database(shop, model=model, candidates=2, max_repairs=0, max_tokens=96,
                                          join_hints=True, checks=True)
    try:
        answer = service.ask("How many customers are there?")
    finally:
        service.close()
    # The 0.5B may decline (CANNOT_ANSWER); whatever it does, every candidate it wrote was run and reported.
    if answer.cannot_answer:
        assert answer.error and answer.error.startswith("The data cannot answer this")
    else:
        assert 1 <= len(answer.alternatives) <= 2 or answer.alternatives == []
        assert all(a["outcome"] for a in answer.alternatives)
        assert answer.sql
