"""Does a verified query help? The set's SQL questions run without and with the verified pairs of their database,
same model and items, both runs stored and compared — through the real services, a real DuckDB database and the
real verified-queries store; the model is scripted so that it writes the right query only when shown the pair."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from app.cli import main
from app.container import build_services
from app.errors import BadInputError
from app.evaluation.examples_effect import compare_examples
from app.evaluation.service import RunOptions, load_set
from app.ports import ChatMessage, Chunk, GenerationParams, ModelInfo, Usage
from app.tables.service import TablesService
from storage.records import SqliteRecordStore
from tests.fixtures import build_mini

RIGHT = "SELECT region, sum(units) AS units FROM sales GROUP BY region ORDER BY units DESC"


class ExampleFollower:
    """Writes the right per-region query only when a verified example shows it; copies any example it is shown for
    the count question (so a pair with the item's own question would make it answer 42)."""

    info = ModelInfo(backend="fake", name="follower", supports_tools=False, remote=False, context_window=8192,
                     digest="e" * 64)

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        """Reply to the last message."""
        text = messages[-1].content
        yield Chunk(text=self._reply(text))
        yield Chunk(usage=Usage(len(text.split()), 12, "stop"))

    @staticmethod
    def _reply(text: str) -> str:
        if "Database schema:" not in text:
            return "East 9, North 5, South 1."
        if "SELECT 42 AS trap" in text:
            return "```sql\nSELECT 42 AS trap\n```"
        if "How many orders" in text:
            return "```sql\nSELECT count(*) FROM sales\n```"
        if RIGHT in text:
            return f"```sql\n{RIGHT}\n```"
        return "```sql\nSELECT region, sum(units) FROM sales GROUP BY region ORDER BY region DESC\n```"


@pytest.fixture()
def mini(tmp_path: Path) -> Path:
    """The mini set (2 document questions, 2 SQL questions over databases/shop.duckdb)."""
    return build_mini.build(tmp_path / "mini")


def _services(settings_factory, monkeypatch, **overrides):
    services = build_services(settings_factory(sql_checks=False, sql_join_hints=False, **overrides))
    monkeypatch.setattr(services.router, "get_model", lambda progress=None, overrides=None: ExampleFollower())
    return services


def _verify(services, db: Path, question: str, sql: str) -> None:
    tables = TablesService.open_database(db)
    try:
        services.mark_sql_correct(tables, question, sql, origin="test")
    finally:
        tables.close()


def test_a_verified_pair_is_measured_side_by_side_on_the_same_items(settings_factory, mini, monkeypatch):
    services = _services(settings_factory, monkeypatch)
    db = mini.parent / "databases" / "shop.duckdb"
    _verify(services, db, "Units sold per region, most units first.", RIGHT)
    _verify(services, db, "How many orders are there?", "SELECT 42 AS trap")  # the item's own question: left out
    eval_set = load_set(mini)

    result = compare_examples(services, eval_set, RunOptions())

    accuracy = next(m for m in result["metrics"] if m["name"] == "execution_accuracy")
    assert (accuracy["a"], accuracy["b"], accuracy["delta"]) == (0.5, 1.0, 0.5)
    assert any(m["name"] == "total_s" and m["a"] is not None and m["b"] is not None for m in result["metrics"])
    assert result["settings_diff"] == {"sql.verified_queries": [False, True]}
    assert result["examples"] == {"questions": 2, "shown": 1, "stored": {"shop": 2}}
    assert result["a"]["model"] == result["b"]["model"] == "fake:follower"
    assert [i["id"] for i in result["items"]] == ["shop-002"]  # the one question the pair changed
    runs = services.records.query(kind="evaluation_run")
    assert len(runs) == 2  # both runs are kept and recorded like any other


def test_a_set_without_sql_questions_is_refused_with_what_to_do(settings_factory, tmp_path, monkeypatch):
    services = _services(settings_factory, monkeypatch)
    docs_only = tmp_path / "docs.jsonl"
    docs_only.write_text('{"id": "q1", "question": "How often are passwords changed?", "answer": "Every 90 days."}\n')
    with pytest.raises(BadInputError) as caught:
        compare_examples(services, load_set(docs_only), RunOptions())
    assert "has no SQL questions" in caught.value.message and "database" in (caught.value.hint or "")


def test_a_viewer_may_not_run_the_comparison_and_the_refusal_is_recorded(tmp_path, mini, monkeypatch, capsys,
                                                                         models_dir):
    monkeypatch.setenv("ANALYST_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("ANALYST_OLLAMA_HOST", "http://127.0.0.1:9")
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "users", "add", "vic", "--role", "viewer", "--password-stdin"]) == 0
    capsys.readouterr()
    assert main([*data, "--user", "vic", "eval", "run", str(mini), "--compare-examples"]) == 2
    assert "Your role (viewer) may not run evaluations." in capsys.readouterr().err
    refused = SqliteRecordStore(tmp_path / "data" / "records.sqlite").query(kind="permission_denied")
    assert refused and refused[0]["user"] == "vic"
