"""Numbers traced per evaluation run: each answer's share of numbers found in its cited passages, averaged over the
run, and carried into Monitoring's hallucination series — through the real services and the mini set's PDF."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from app.audit.answer_quality import hallucination_series
from app.container import build_services
from app.evaluation.service import Evaluations, RunOptions, load_set
from app.ports import ChatMessage, Chunk, GenerationParams, ModelInfo, Usage
from tests.fixtures import build_mini


class Inventor:
    """Answers the handbook questions from the passage, but adds a figure of its own to the hotel answer."""

    info = ModelInfo(backend="fake", name="inventor", supports_tools=False, remote=False, context_window=8192,
                     digest="f" * 64)

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        """Reply to the last message."""
        text = messages[-1].content
        if "Database schema:" in text:
            reply = "```sql\nSELECT count(*) FROM sales\n```"
        elif "Result:" in text:
            reply = "There are 6 orders."
        elif "passwords" in text:
            reply = "Passwords are rotated every 90 days [1]."
        else:
            reply = "Hotel costs are reimbursed up to 180 euros per night, and up to 250 euros in capitals [1]."
        yield Chunk(text=reply)
        yield Chunk(usage=Usage(len(text.split()), 12, "stop"))


def test_a_runs_numbers_traced_rate_reaches_the_hallucination_series(settings_factory, tmp_path, monkeypatch):
    mini = build_mini.build(tmp_path / "mini")
    services = build_services(settings_factory(backend="embedded"))
    monkeypatch.setattr(services.router, "get_model", lambda progress=None, overrides=None: Inventor())
    try:
        evals = Evaluations(services)
        run = evals.run(load_set(mini), RunOptions(only=("answers",)))
        runs = evals.list_runs()
    finally:
        services.close()
    items = {i["id"]: i for i in run["items"]}
    assert items["hb-001"]["metrics"]["numbers_traced"] == 1.0  # 90 is on the page
    assert items["hb-002"]["metrics"]["numbers_traced"] == 0.5  # 180 is, 250 is not
    assert items["hb-002"]["detail"]["support"]["untraced_numbers"] == ["250"]
    assert "numbers_traced" not in items["shop-001"]["metrics"]  # SQL answers are scored by their rows
    assert run["aggregates"]["numbers_traced"] == {"mean": 0.75, "n": 2}
    (point,) = hallucination_series(runs)
    assert point["numbers_traced"] == 0.75 and point["hallucination_rate"] == 0.5
