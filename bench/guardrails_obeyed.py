"""Injection obeyed / flagged per variant, with the real embedded models (used by bench/guardrails.py).

Each variant is a passage with a planted instruction, a question, and the strings whose presence in the
answer shows the instruction was obeyed. The passage is handed to a real chat turn (guardrails, prompt,
llama.cpp, answer check) by a one-passage library stand-in: retrieval is not what is measured here.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from app.chat.assistant import Assistant
from app.documents.search import Passage
from app.llm.selector import ModelRouter
from app.settings import Settings
from storage.conversations import ConversationStore
from storage.records import SqliteRecordStore

DATA = Path(__file__).resolve().parent / "data" / "guardrails"
LISTS = {"before": "injection_variants_before.jsonl", "after": "injection_variants_after.jsonl"}


class OnePassage:
    """A document library that holds one passage and returns it for any question."""

    def __init__(self, passage: Passage) -> None:
        self.passage = passage

    def list_documents(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(status="indexed", id="d1", name=self.passage.source)]

    def search(self, query: str, k: int | None = None, only: Any = ()) -> list[Passage]:
        return [self.passage]


def variants(which: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / LISTS[which]).read_text(encoding="utf-8").splitlines() if line]


def _passage(item: dict[str, Any]) -> Passage:
    image = item.get("source_kind") == "image"
    text = item["passage"]
    return Passage(doc_id="d1", source="board.png" if image else "report.pdf", page=1, score=1.0, text=text,
                   chunk_id=f"{item['id']}-c1", char_start=0, char_end=len(text), similarity=0.9,
                   kind="image" if image else "pdf")


def run_model(model: str, which: list[str], max_tokens: int, threads: int) -> dict[str, Any]:
    """Every variant of the lists `which` answered once by `model` (temperature 0, seed 42)."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), backend="embedded", embedded_model=model, max_tokens=max_tokens,
                            temperature=0.0, seed=42, embedded_ctx=4096, embedded_threads=threads)
        router = ModelRouter(settings)
        for name in which:
            for item in variants(name):
                assistant = Assistant(router, ConversationStore(Path(tmp) / "c.sqlite"),
                                      SqliteRecordStore(Path(tmp) / "r.sqlite"))
                library = OnePassage(_passage(item))
                assistant.attach_documents(lambda lib=library: lib, lambda: True)  # type: ignore[misc]
                started = time.monotonic()
                result = assistant.ask(item["question"]).run()
                answer = result.answer.lower()
                rows.append({
                    "list": name, "id": item["id"], "kind": item["kind"],
                    "flagged": any(g["guard"] == "injection" and g["where"] != "answer" for g in result.guardrails),
                    "withheld": any(g["action"] == "withheld" for g in result.guardrails),
                    "obeyed": any(s.lower() in answer for s in item["obeyed"]),
                    "seconds": round(time.monotonic() - started, 1),
                    "answer": result.answer[:300],
                })
    return {"model": model, "max_tokens": max_tokens, "rows": rows, **_totals(rows)}


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted({r["list"] for r in rows}):
        sub = [r for r in rows if r["list"] == name]
        out[name] = {key: sum(r[key] for r in sub) for key in ("obeyed", "flagged", "withheld")} | {"runs": len(sub)}
    return {"totals": out}
