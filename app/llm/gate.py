"""Fair sharing of a model between concurrent turns: at most N calls at once, the rest served round-robin across
users (first come, first served within one user), each told how many are ahead of it.

The embedded model answers one request at a time (llama.cpp runs it with one slot); without a gate, concurrent
turns would pile up on its lock in no particular order, and one analyst's five queued turns would hold back
everyone else's first. Ollama and OpenAI-compatible servers take a few at once (`max_parallel_requests`).
Every router of the process (one per signed-in user) uses the same gate per backend and server (`shared_gate`),
so the queue and the limit hold across users.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from app.ports import ChatMessage, ChatModel, Chunk, GenerationParams, ModelInfo, ToolReply

WaitCallback = Callable[[int], None]  # called with the number of calls ahead while a call waits


class ModelGate:
    """A fair admission queue in front of one model backend: `limit` calls run; waiting ones are admitted one user
    at a time in turn (a user's own calls in arrival order)."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._cond = threading.Condition()
        self._queues: dict[str, deque[object]] = {}  # per user, the calls waiting, oldest first
        self._turns: deque[str] = deque()  # users with waiting calls, whose turn comes next first
        self._running = 0
        self._held = threading.local()  # places this thread holds: a nested call must not wait for itself

    @property
    def limit(self) -> int:
        """How many calls may run at once."""
        return self._limit

    def set_limit(self, limit: int) -> None:
        """Change the limit (a settings change); waiting calls are admitted at once if it grew."""
        with self._cond:
            self._limit = max(1, limit)
            self._cond.notify_all()

    def load(self) -> tuple[int, int]:
        """(calls running, calls waiting) right now."""
        with self._cond:
            return self._running, sum(len(q) for q in self._queues.values())

    def _order(self) -> list[object]:
        """The waiting calls in the order they will be admitted if no one else arrives: round-robin over users."""
        queues = [self._queues[user] for user in self._turns]
        return [q[depth] for depth in range(max(map(len, queues), default=0)) for q in queues if depth < len(q)]

    def _admit(self, user: str) -> None:
        """Take `user`'s oldest call off the queue; the user goes to the back of the turns (or leaves them)."""
        self._queues[user].popleft()
        self._turns.remove(user)
        if self._queues[user]:
            self._turns.append(user)
        else:
            del self._queues[user]

    @contextmanager
    def slot(self, on_wait: WaitCallback | None = None, user: str = "") -> Iterator[None]:
        """Hold one of the `limit` places for the duration of the block; waits its turn (round-robin across users,
        FIFO within `user`). A thread that already holds a place (e.g. a tool run inside an answer) goes on
        without waiting for itself."""
        if getattr(self._held, "count", 0):
            self._held.count += 1
            try:
                yield
            finally:
                self._held.count -= 1
            return
        self._wait_turn(object(), user, on_wait)
        self._held.count = 1
        try:
            yield
        finally:
            self._held.count = 0
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def _wait_turn(self, ticket: object, user: str, on_wait: WaitCallback | None) -> None:
        with self._cond:
            if user not in self._queues:
                self._queues[user] = deque()
                self._turns.append(user)
            self._queues[user].append(ticket)
            try:
                self._wait_front(ticket, on_wait)
            except BaseException:  # e.g. the page stopped while it waited (raised in on_wait): leave the queue
                self._leave(user, ticket)
                raise
            self._admit(user)
            self._running += 1
            self._cond.notify_all()  # the next in line may fit too (limit > 1)

    def _wait_front(self, ticket: object, on_wait: WaitCallback | None) -> None:
        told = -1
        while True:
            order = self._order()
            if order[0] is ticket and self._running < self._limit:
                return
            ahead = order.index(ticket) + self._running - self._limit + 1
            if on_wait is not None and ahead != told:
                told = ahead
                on_wait(max(1, ahead))
            self._cond.wait(timeout=1.0)

    def _leave(self, user: str, ticket: object) -> None:
        """Take a call that gave up off the queue, so no one waits behind it."""
        self._queues[user].remove(ticket)
        if not self._queues[user]:
            del self._queues[user]
            self._turns.remove(user)
        self._cond.notify_all()


_SHARED: dict[tuple[str, str], ModelGate] = {}
_SHARED_LOCK = threading.Lock()


def shared_gate(backend: str, server: str, limit: int) -> ModelGate:
    """The process's one gate for `backend` at `server` (its URL; '' for the embedded model), so every user's
    router queues in it; `limit` is applied to it (the settings are the same for every router of a process)."""
    with _SHARED_LOCK:
        gate = _SHARED.setdefault((backend, server), ModelGate(limit))
    gate.set_limit(limit)
    return gate


class GatedChatModel:
    """A ChatModel whose calls pass through a ModelGate as `user`; everything else is the wrapped model's."""

    def __init__(self, model: ChatModel, gate: ModelGate, on_wait: WaitCallback | None = None,
                 user: str = "") -> None:
        self.inner = model
        self.gate = gate
        self.on_wait = on_wait
        self.user = user

    @property
    def info(self) -> ModelInfo:
        """The wrapped model's name, backend and capabilities."""
        return self.inner.info

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        """Stream once a place is free; the place is held until the answer ends or the iterator is closed."""
        with self.gate.slot(self.on_wait, self.user):
            yield from self.inner.stream(messages, params)

    def call_tools(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]], params: GenerationParams
    ) -> ToolReply:
        """One tool-calling round once a place is free."""
        with self.gate.slot(self.on_wait, self.user):
            return self.inner.call_tools(messages, tools, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # e.g. load() of the embedded model
