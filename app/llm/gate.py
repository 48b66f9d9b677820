"""Fair sharing of a model between concurrent turns: at most N calls at once, the rest served first come, first
served, each told how many are ahead of it.

The embedded model answers one request at a time (llama.cpp runs it with one slot); without a gate, concurrent
turns would pile up on its lock in no particular order. Ollama and OpenAI-compatible servers take a few at once
(`max_parallel_requests`).
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
    """A FIFO admission queue in front of one model backend: `limit` calls run, later ones wait in order."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()
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
            return self._running, len(self._waiting)

    @contextmanager
    def slot(self, on_wait: WaitCallback | None = None) -> Iterator[None]:
        """Hold one of the `limit` places for the duration of the block; waits in arrival order. A thread that
        already holds a place (e.g. a tool run inside an answer) goes on without waiting for itself."""
        if getattr(self._held, "count", 0):
            self._held.count += 1
            try:
                yield
            finally:
                self._held.count -= 1
            return
        ticket = object()
        with self._cond:
            self._waiting.append(ticket)
            told = -1
            while not (self._waiting[0] is ticket and self._running < self._limit):
                ahead = self._waiting.index(ticket) + self._running - self._limit + 1
                if on_wait is not None and ahead != told:
                    told = ahead
                    on_wait(max(1, ahead))
                self._cond.wait(timeout=1.0)
            self._waiting.popleft()
            self._running += 1
            self._cond.notify_all()  # the next in line may fit too (limit > 1)
        self._held.count = 1
        try:
            yield
        finally:
            self._held.count = 0
            with self._cond:
                self._running -= 1
                self._cond.notify_all()


class GatedChatModel:
    """A ChatModel whose calls pass through a ModelGate; everything else is the wrapped model's."""

    def __init__(self, model: ChatModel, gate: ModelGate, on_wait: WaitCallback | None = None) -> None:
        self.inner = model
        self.gate = gate
        self.on_wait = on_wait

    @property
    def info(self) -> ModelInfo:
        """The wrapped model's name, backend and capabilities."""
        return self.inner.info

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        """Stream once a place is free; the place is held until the answer ends or the iterator is closed."""
        with self.gate.slot(self.on_wait):
            yield from self.inner.stream(messages, params)

    def call_tools(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]], params: GenerationParams
    ) -> ToolReply:
        """One tool-calling round once a place is free."""
        with self.gate.slot(self.on_wait):
            return self.inner.call_tools(messages, tools, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # e.g. load() of the embedded model
