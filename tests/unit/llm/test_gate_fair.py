"""The model queue is fair per user: waiting turns are served round-robin across users, first come first served
within one user, each told how many are ahead; every user's router queues in the same gate."""

from __future__ import annotations

import threading
import time

from app.llm.gate import GatedChatModel, ModelGate
from app.llm.selector import ModelRouter
from app.ports import ChatMessage, GenerationParams


def _ask(model: GatedChatModel, text: str, told: dict[str, list[int]]) -> threading.Thread:
    """Start one turn in a thread and return once it waits in the queue (so arrival order is the call order)."""
    model.on_wait = lambda ahead: told.setdefault(text, []).append(ahead)

    def turn() -> None:
        for _ in model.stream([ChatMessage("user", text)], GenerationParams()):
            time.sleep(0.005)

    thread = threading.Thread(target=turn)
    thread.start()
    while not told.get(text):
        time.sleep(0.001)
    return thread


def test_one_users_five_queued_turns_do_not_hold_back_another_users_first(fake_model) -> None:
    gate = ModelGate(1)
    for n in range(6):
        fake_model.queue(f"reply {n}")
    release = threading.Event()
    told: dict[str, list[int]] = {}

    def alice_answering() -> None:  # alice's first turn holds the model
        with gate.slot(user="alice"):
            release.wait()

    first = threading.Thread(target=alice_answering)
    first.start()
    while gate.load() != (1, 0):
        time.sleep(0.001)
    threads = [_ask(GatedChatModel(fake_model, gate, user="alice"), f"alice {n}", told) for n in range(1, 6)]
    threads.append(_ask(GatedChatModel(fake_model, gate, user="bob"), "bob 1", told))
    assert gate.load() == (1, 6)
    assert [told[f"alice {n}"][0] for n in range(1, 6)] == [1, 2, 3, 4, 5]
    assert told["bob 1"][0] == 2  # "2 questions ahead of yours": alice's running turn and her next one
    release.set()
    for thread in [first, *threads]:
        thread.join(10)
    served = [sent[-1].content for sent in fake_model.sent]
    assert served == ["alice 1", "bob 1", "alice 2", "alice 3", "alice 4", "alice 5"]
    assert gate.load() == (0, 0)


def test_turns_alternate_between_users_and_keep_each_users_order(fake_model) -> None:
    gate = ModelGate(1)
    for n in range(6):
        fake_model.queue(f"reply {n}")
    told: dict[str, list[int]] = {}
    with gate.slot(user="carol"):
        threads = [_ask(GatedChatModel(fake_model, gate, user=who), f"{who} {n}", told)
                   for who, n in [("alice", 1), ("alice", 2), ("alice", 3), ("bob", 1), ("bob", 2), ("dan", 1)]]
        assert told["dan 1"][0] == 3  # carol running, then alice 1 and bob 1 before dan's first turn
    for thread in threads:
        thread.join(10)
    served = [sent[-1].content for sent in fake_model.sent]
    assert served == ["alice 1", "bob 1", "dan 1", "alice 2", "bob 2", "alice 3"]


def test_with_two_places_the_limit_holds_and_everyone_is_served(fake_model) -> None:
    gate = ModelGate(2)
    running, peak, lock = [0], [0], threading.Lock()

    def call(user: str) -> None:
        with gate.slot(user=user):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.01)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=call, args=(f"user{n % 3}",)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak[0] == 2 and gate.load() == (0, 0)


def test_every_users_router_queues_in_the_same_gate(settings_factory) -> None:
    alice = ModelRouter(settings_factory(user="alice", max_parallel_requests=2))
    bob = ModelRouter(settings_factory(user="bob", max_parallel_requests=2))
    assert alice._gates["embedded"] is bob._gates["embedded"]
    assert alice._gates["embedded"].limit == 2
    elsewhere = ModelRouter(settings_factory(user="bob", ollama_host="http://10.0.0.9:11434"))
    assert elsewhere._gates["ollama"] is not alice._gates["ollama"]  # another server has its own queue


def test_a_turn_that_gives_up_while_waiting_holds_no_one_back(fake_model) -> None:
    gate = ModelGate(1)
    fake_model.queue("for bob")

    class PageStopped(BaseException):
        """What Streamlit raises in a callback when the user leaves the page."""

    def leave(ahead: int) -> None:
        raise PageStopped

    stopped: list[BaseException] = []

    def alice() -> None:
        try:
            list(GatedChatModel(fake_model, gate, on_wait=leave, user="alice").stream(
                [ChatMessage("user", "alice 1")], GenerationParams()))
        except PageStopped as exc:
            stopped.append(exc)

    with gate.slot(user="carol"):
        thread = threading.Thread(target=alice)
        thread.start()
        thread.join(10)
        assert stopped and gate.load() == (1, 0)  # alice left the queue
    told: dict[str, list[int]] = {}
    with gate.slot(user="carol"):
        thread = _ask(GatedChatModel(fake_model, gate, user="bob"), "bob 1", told)
        assert told["bob 1"] == [1]  # only carol's running turn is ahead
    thread.join(10)
    assert [sent[-1].content for sent in fake_model.sent] == ["bob 1"]
