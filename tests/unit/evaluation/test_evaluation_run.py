"""Whole runs: a scripted model through the real services, the CLI, and one small run with the real 0.5B model."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from app.cli import main
from app.container import build_services
from app.evaluation.service import Evaluations, RunOptions, load_set
from app.ports import ChatMessage, Chunk, GenerationParams, ModelInfo, Usage
from tests.fixtures import build_mini, paths

FIXTURES = paths.FIXTURES / "eval"

QUALITY = ("hit@1", "hit@5", "mrr", "execution_accuracy", "correctness_f1", "context_recall", "gold_page_retrieved")


class RuleModel:
    """Answers by what the prompt is (grounded answer, judge, SQL, phrasing), so the order of calls does not matter."""

    info = ModelInfo(backend="fake", name="rule-model", supports_tools=False, remote=False, context_window=8192,
                     digest="d" * 64)

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        """Reply to the last message."""
        text = messages[-1].content
        self.prompts.append(text)
        yield Chunk(text=self._reply(text))
        yield Chunk(usage=Usage(len(text.split()), 12, "stop"))

    @staticmethod
    def _reply(text: str) -> str:
        if "You check whether an answer is supported" in text:
            # Prose around the JSON, as small models write it; sentence 2 of the hotel answer is invented.
            return (
                'Verdict:\n```json\n{"supported": [1], "unsupported": [2]}\n```'
                if "CEO" in text
                else ('{"supported": [1], "unsupported": []}')
            )
        if "Database schema:" in text:
            if "How many orders" in text:
                return "```sql\nSELECT count(*) FROM sales\n```"
            return (
                "```sql\nSELECT region, sum(units) FROM sales GROUP BY region ORDER BY region DESC\n```"  # wrong order
            )
        if "Result:" in text:
            return "There are 6 orders." if "How many" in text else "East 9, North 5, South 1."
        if "passwords" in text:
            return "Passwords are rotated every 90 days [1]."
        return "Hotel costs are reimbursed up to 180 euros per night [1]. The CEO approves suite upgrades."


@pytest.fixture()
def mini(tmp_path: Path) -> Path:
    """The mini set (2 document questions, 2 SQL questions) with its PDF and database."""
    return build_mini.build(tmp_path / "mini")


def test_a_scripted_run_scores_every_metric(settings_factory, mini, monkeypatch):
    services = build_services(settings_factory(backend="embedded"))
    model = RuleModel()
    monkeypatch.setattr(services.router, "get_model", lambda progress=None, overrides=None: model)
    events: list[str] = []
    try:
        run = Evaluations(services).run(load_set(mini), RunOptions(self_judge=True),
                                        progress=lambda f, m: events.append(m))
        # The set's PDF is indexed in the evaluation's own library, never in the user's Documents or chat search.
        assert [d.name for d in services.evaluation_documents.list_documents()] == ["handbook.pdf"]
        assert services.assistant.indexed_documents() == [] and services.documents.list_documents() == []
        assert services.documents.search("How often are passwords rotated?") == []
    finally:
        services.close()
    assert services.evaluation_library_dir == services.settings.data_dir / "eval" / "library"

    assert run["status"] == "finished" and run["model"] == "fake:rule-model"
    assert any("Indexing handbook.pdf" in e for e in events) and any(e.startswith("4/4 shop-002") for e in events)
    items = {i["id"]: i for i in run["items"]}
    pw, hotel, count, units = items["hb-001"], items["hb-002"], items["shop-001"], items["shop-002"]
    assert pw["metrics"]["hit@1"] == 1.0 and pw["detail"]["retrieved_pages"][0] == 2
    assert pw["metrics"]["faithfulness_lexical"] == 1.0 and pw["metrics"]["faithfulness_judge"] == 1.0
    assert pw["metrics"]["correctness_f1"] == 0.75 and pw["metrics"]["context_recall"] == 1.0  # P 3/5, R 1
    assert pw["metrics"]["gold_page_retrieved"] == 1.0 and pw["detail"]["cited_pages"] == [2]
    assert 0.3 < pw["metrics"]["answer_relevance"] <= 1.0
    assert pw["tokens_out"] == 12 and pw["ttft_s"] is not None
    assert hotel["metrics"]["faithfulness_lexical"] == 0.5 and hotel["metrics"]["faithfulness_judge"] == 0.5
    assert hotel["detail"]["unsupported_sentences"] == ["The CEO approves suite upgrades."]
    # The sentence-support check: every sentence backed by one passage, every number traced.
    assert pw["metrics"]["faithfulness_support"] == 1.0 and hotel["metrics"]["faithfulness_support"] == 0.0
    assert hotel["detail"]["support"]["unsupported"] == ["The CEO approves suite upgrades."]
    assert count["metrics"]["execution_accuracy"] == 1.0 and count["metrics"]["sql_answer_match"] == 1.0
    assert units["metrics"]["execution_accuracy"] == 0.0  # right rows, wrong order for an ordered question
    agg = run["aggregates"]
    assert agg["execution_accuracy"] == {"mean": 0.5, "n": 2} and agg["faithfulness_lexical"]["mean"] == 0.75
    assert agg["items"] == 4 and agg["errors"] == 0
    assert run["settings"]["model"] == {"backend": "fake", "name": "rule-model", "digest": "d" * 64}
    assert run["settings"]["chunking"]["max_chars"] > 0 and run["settings"]["retrieval"]["k"] == 5


def test_a_stopped_run_keeps_the_items_done(settings_factory, mini, monkeypatch):
    services = build_services(settings_factory(backend="embedded"))
    monkeypatch.setattr(services.router, "get_model", lambda progress=None, overrides=None: RuleModel())
    evals = Evaluations(services)
    calls = iter([False, True])
    try:
        run = evals.run(load_set(mini), RunOptions(only=("sql",)), should_stop=lambda: next(calls))
    finally:
        services.close()
    assert run["status"] == "cancelled" and [i["id"] for i in run["items"]] == ["shop-001"]
    assert run["aggregates"]["execution_accuracy"] == {"mean": 1.0, "n": 1}


def test_a_finished_run_is_recorded_in_the_audit_trail(settings_factory, mini, monkeypatch):
    services = build_services(settings_factory(backend="embedded"))
    monkeypatch.setattr(services.router, "get_model", lambda progress=None, overrides=None: RuleModel())
    try:
        run = Evaluations(services).run(load_set(mini), RunOptions(only=("sql",)))
        records = services.records.query(kind="evaluation_run")
    finally:
        services.close()
    assert len(records) == 1
    body = records[0]
    assert body["run_id"] == run["id"] and body["set_name"] == run["set_name"] and body["items"] == 2
    assert body["model"] == "fake:rule-model" and body["status"] == "finished"
    assert body["aggregates"]["execution_accuracy"] == {"mean": 0.5, "n": 2}


def test_cli_retrieval_only_run_then_list_show_compare(tmp_path, mini, capsys):
    data = ["--data-dir", str(tmp_path / "data")]
    malformed = mini.parent / "mini-bad.jsonl"
    malformed.write_text(mini.read_text() + '{"id": "x", "question": "broken"\n', encoding="utf-8")
    assert main([*data, "eval", "run", str(malformed), "--only", "retrieval"]) == 0
    out, err = capsys.readouterr()
    assert "mini-bad.jsonl:5: skipped: not valid JSON" in err and "Indexing handbook.pdf" in err
    assert "model none (retrieval only)" in out and "Hit@5" in out and "line 5: not valid JSON" in out
    assert main([*data, "eval", "run", str(malformed), "--only", "retrieval", "--limit", "1", "--json"]) == 0
    out, err = capsys.readouterr()
    second = json.loads(out)
    assert "handbook.pdf: already indexed" in err  # same sha256: not indexed twice
    assert second["aggregates"]["hit@1"] == {"mean": 1.0, "n": 1} and second["previous_id"] == 1

    assert main([*data, "eval", "list", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["runs"]] == [2, 1]
    assert main([*data, "eval", "show", "1"]) == 0
    assert "hb-002" in capsys.readouterr().out
    assert main([*data, "eval", "compare", "1", "2"]) == 0
    assert "Hit@1" in capsys.readouterr().out


def test_cli_reports_bad_options_and_missing_models_clearly(tmp_path, mini, capsys, closed_port, monkeypatch):
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "eval", "run", str(mini), "--model", "embedded:nope"]) == 2
    assert "Unknown model 'embedded:nope'" in capsys.readouterr().err
    assert main([*data, "eval", "run", str(mini), "--only", "speed"]) == 2
    assert "Unknown --only value(s): speed" in capsys.readouterr().err
    monkeypatch.setenv("ANALYST_OLLAMA_HOST", f"http://127.0.0.1:{closed_port}")
    assert main([*data, "eval", "run", str(mini), "--model", "ollama:qwen2.5:7b", "--only", "sql"]) == 2
    assert "error: " in capsys.readouterr().err
    assert main([*data, "eval", "show", "7"]) == 2
    assert "No evaluation run 7" in capsys.readouterr().err


@pytest.mark.slow
def test_a_small_real_run_with_the_embedded_model(embedded_settings, mini):
    services = build_services(embedded_settings)
    try:
        evals = Evaluations(services)
        run = evals.run(load_set(mini), RunOptions(model="embedded:qwen2.5-coder-0.5b"))
        rerun = evals.run(load_set(mini), RunOptions(model="embedded:qwen2.5-coder-0.5b", only=("retrieval",)))
    finally:
        services.close()
    assert run["status"] == "finished" and run["model"] == "embedded:qwen2.5-coder-0.5b"
    agg = run["aggregates"]
    assert set(QUALITY) <= set(agg) and agg["items"] == 4 and agg["errors"] == 0
    assert all(0.0 <= agg[name]["mean"] <= 1.0 for name in QUALITY)
    assert agg["hit@5"]["mean"] == 1.0 and agg["gold_page_retrieved"]["mean"] == 1.0  # an easy three-page PDF
    assert agg["total_s"]["value"] > 0 and agg["tokens_in"]["value"] > 0
    docqa = [i for i in run["items"] if i["kind"] == "docqa"]
    assert all(i["detail"]["answer"] and i["ttft_s"] is not None for i in docqa)
    sql = [i for i in run["items"] if i["kind"] == "sql"]
    assert all(i["detail"]["sql"] or i["detail"]["error"] for i in sql)
    assert run["settings"]["model"]["name"] == "qwen2.5-coder-0.5b" and run["settings"]["settings"]["seed"] == 42
    assert rerun["previous_id"] is None  # a retrieval-only run is compared with retrieval-only runs


def test_a_fixed_judge_scores_every_answer_after_the_run(settings_factory, mini, monkeypatch):
    # Two models are compared fairly when one judge scores both; the judge runs after all answers because
    # only one embedded model is loaded at a time.
    services = build_services(settings_factory(backend="embedded"))
    answerer, judge = RuleModel(), RuleModel()
    asked: list[dict | None] = []

    def get_model(progress=None, overrides=None):
        asked.append(overrides)
        return judge if overrides and overrides.get("embedded_model") == "qwen2.5-coder-1.5b" else answerer

    monkeypatch.setattr(services.router, "get_model", get_model)
    try:
        options = RunOptions(model="embedded:qwen2.5-coder-0.5b", judge="embedded:qwen2.5-coder-1.5b")
        run = Evaluations(services).run(load_set(mini), options)
    finally:
        services.close()

    keys = [o["embedded_model"] for o in asked if o]
    assert keys[-1] == "qwen2.5-coder-1.5b" and keys.count("qwen2.5-coder-1.5b") == 1  # the judge is loaded last
    assert not any("You check whether an answer is supported" in p for p in answerer.prompts)
    assert sum("You check whether an answer is supported" in p for p in judge.prompts) == 2
    items = {i["id"]: i for i in run["items"]}
    assert items["hb-002"]["metrics"]["faithfulness_judge"] == 0.5 and "judge_input" not in items["hb-002"]["detail"]
    assert run["aggregates"]["faithfulness_judge"]["n"] == 2
    assert run["settings"]["judge"] == "embedded:qwen2.5-coder-1.5b"
