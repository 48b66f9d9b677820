"""Fair sharing of the model: first come first served with the position told, at most N calls at once; 20
simultaneous turns through the real services against an OpenAI-compatible stub lose and duplicate nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.commands.ingest_tables import load_table
from app.container import Services, build_services
from app.llm.gate import GatedChatModel, ModelGate
from app.llm.selector import ModelRouter, parallel_limit
from app.ports import ChatMessage, GenerationParams
from tests.fixtures import pdf_factory as pf
from tests.fixtures.openai_stub import OpenAIStub
from tests.fixtures.threads import at_once
from tests.fixtures.turns import POLICY_PAGES, SALES_CSV


def _arrive_in_order(gate: ModelGate, count: int, admitted: list[int], told: dict[int, list[int]]) -> list[
        threading.Thread]:
    threads = []
    for n in range(count):
        def run(n: int = n) -> None:
            with gate.slot(lambda ahead: told.setdefault(n, []).append(ahead)):
                admitted.append(n)
                time.sleep(0.01)

        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)
        while len(told.get(n, [])) == 0:  # queued before the next one arrives
            time.sleep(0.001)
    return threads


def test_waiting_calls_are_served_in_arrival_order_and_told_how_many_are_ahead() -> None:
    gate = ModelGate(1)
    admitted: list[int] = []
    told: dict[int, list[int]] = {}
    release = threading.Event()

    def holder() -> None:
        with gate.slot():
            release.wait()

    first = threading.Thread(target=holder)
    first.start()
    while gate.load() != (1, 0):
        time.sleep(0.001)
    threads = _arrive_in_order(gate, 5, admitted, told)
    assert gate.load() == (1, 5)
    assert [told[n][0] for n in range(5)] == [1, 2, 3, 4, 5]  # "n questions ahead of yours"
    release.set()
    for thread in [first, *threads]:
        thread.join(10)
    assert admitted == [0, 1, 2, 3, 4]
    assert told[4][-1] == 1  # the last one heard its place move up to the front


def test_no_more_than_the_limit_run_at_once() -> None:
    gate = ModelGate(3)
    running, peak, lock = [0], [0], threading.Lock()

    def call() -> None:
        with gate.slot():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.02)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak[0] == 3 and gate.load() == (0, 0)


def test_a_call_nested_in_a_held_place_does_not_wait_for_itself() -> None:
    gate = ModelGate(1)
    with gate.slot(), gate.slot():
        assert gate.load() == (1, 0)
    assert gate.load() == (0, 0)


def test_a_stream_closed_early_gives_its_place_back(fake_model) -> None:
    gate = ModelGate(1)
    model = GatedChatModel(fake_model.queue("one ", "two ", "three"), gate)
    stream = model.stream([], GenerationParams())
    next(stream)
    assert gate.load() == (1, 0)
    stream.close()  # the Stop button
    assert gate.load() == (0, 0)


def test_parallel_limit_defaults_per_backend_and_follows_the_setting(settings_factory) -> None:
    settings = settings_factory()
    assert [parallel_limit(settings, b) for b in ("embedded", "ollama", "openai")] == [1, 4, 4]
    assert parallel_limit(settings_factory(max_parallel_requests=8), "embedded") == 8


@pytest.fixture()
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub(seconds_per_token=0.002).start()
    yield server
    server.stop()


@pytest.fixture()
def services(settings_factory, stub: OpenAIStub, tmp_path: Path) -> Iterator[Services]:
    svc = build_services(settings_factory(backend="openai", openai_base_url=stub.url, openai_model=stub.model,
                                          tool_mode="router", max_parallel_requests=4))
    svc.documents.ingest_file(pf.write(tmp_path / "policy.pdf", pf.text_pdf(POLICY_PAGES)))
    csv = tmp_path / "sales.csv"
    csv.write_bytes(SALES_CSV)
    load_table(svc.tables, csv)
    yield svc
    svc.close()


def test_twenty_simultaneous_turns_are_each_recorded_once_and_the_chain_stays_valid(
        services: Services, stub: OpenAIStub) -> None:
    questions = ["How is revenue defined in the finance policy?", "What is the total revenue by region in sales?"]
    results: dict[int, Any] = {}
    conversations = {n: services.conversations.create().id for n in range(20)}

    def analyst(n: int) -> None:
        results[n] = services.assistant.ask(f"[turn-{n}] {questions[n % 2]}", conversation_id=conversations[n]).run()

    errors = at_once(20, analyst, timeout=120)
    assert not errors and len(results) == 20
    assert stub.max_active <= 4  # max_parallel_requests held
    record_ids = [r.record_id for r in results.values()]
    assert len(set(record_ids)) == 20
    chats = [r for r in services.records.iter_all() if r.get("kind") == "chat"]
    assert sorted(r["id"] for r in chats) == sorted(record_ids)  # each once, none lost
    assert all(r.answer.startswith("According to the documents") for r in results.values())
    report = services.records.verify_report()
    assert report["ok"] and not report["problems"] and report["records"] >= 20


def test_a_turn_waiting_for_the_model_is_told_its_place(settings_factory, stub: OpenAIStub) -> None:
    router = ModelRouter(settings_factory(backend="openai", openai_base_url=stub.url, openai_model=stub.model,
                                          max_parallel_requests=1))
    first = router.get_model()
    answering = first.stream([ChatMessage("user", "hello")], GenerationParams())
    next(answering)  # the first question holds the only place
    heard: list[str] = []
    second = router.get_model(progress=lambda fraction, text: heard.append(text))
    waiting = threading.Thread(target=lambda: list(second.stream([ChatMessage("user", "hi")], GenerationParams())))
    waiting.start()
    while router.model_queue()["openai"] != (1, 1):
        time.sleep(0.01)
    assert heard == ["Waiting for the model: 1 question ahead of yours…"]
    answering.close()  # the first answer ends (or is stopped): the second goes on
    waiting.join(30)
    assert not waiting.is_alive() and router.model_queue()["openai"] == (0, 0)
