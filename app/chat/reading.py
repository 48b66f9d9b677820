"""How long a model will take to read a long message, said before the wait starts.

A 20,000-character message took 260 s to its first token on a 2-core laptop with no word of warning.
The estimate comes from the model's measured prompt speed (its recent request records) or, before
any is measured, from the speed the model's adapter declares (the packaged models' catalog).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from app.audit.record import ChatRecord
from app.chat.prompt import estimate_tokens
from app.ports import ModelInfo, RecordStore

SLOW_READING_S = 20.0  # below this the wait is not worth a warning
_MIN_MEASURED_TOKENS = 400  # shorter prompts are dominated by fixed costs, not reading speed
_RECENT = 50  # records looked at


@dataclass(frozen=True)
class ReadingEstimate:
    """How long reading a message should take, and where the speed came from."""

    tokens: int
    seconds: float
    tokens_per_s: float
    source: str  # "measured" | "declared"

    def notice(self, model_label: str) -> str:
        """'Long message (~6,700 tokens): reading it takes about 2 minutes on qwen2.5-coder-1.5b (embedded).'"""
        how = "measured on its recent answers" if self.source == "measured" else "its typical speed"
        return (f"Long message (~{_round_tokens(self.tokens):,} tokens): reading it takes about "
                f"{_duration(self.seconds)} on {model_label} ({self.tokens_per_s:.0f} tokens/s, {how}) before the "
                "answer starts.")


def measured_speed(records: RecordStore, info: ModelInfo) -> float | None:
    """The model's prompt-reading speed from its recent answers, or None when none fits.

    Only first questions of a conversation count (system prompt + question): later turns reuse the
    model's cached prefix and read far faster than a new long message would (1,747 vs 99 tok/s measured).
    The slower quarter is taken, so the warning errs towards waiting less than announced.
    """
    try:
        recent = records.query(limit=_RECENT, kind="chat", model=info.name, backend=info.backend)
    except Exception:  # noqa: BLE001 - an estimate must never stop a question
        return None
    speeds = []
    for record in map(ChatRecord.from_body, recent):
        tokens, ttft = record.tokens_in or 0, record.ttft_s or 0
        if tokens >= _MIN_MEASURED_TOKENS and ttft > 0 and not record.tokens_estimated and len(record.prompt) == 2:
            speeds.append(tokens / ttft)
    if not speeds:
        return None
    return statistics.quantiles(speeds, n=4)[0] if len(speeds) >= 4 else min(speeds)


def reading_estimate(text: str, info: ModelInfo, records: RecordStore | None = None) -> ReadingEstimate | None:
    """The estimate for a message, or None when it is quick or no speed is known for the model."""
    tokens = estimate_tokens(text)
    speed = measured_speed(records, info) if records is not None else None
    source = "measured"
    if speed is None:
        speed = info.prompt_tokens_per_s or None  # declared by the adapter (packaged models), else unknown
        source = "declared"
    if not speed:
        return None
    seconds = tokens / speed
    return ReadingEstimate(tokens, seconds, speed, source) if seconds >= SLOW_READING_S else None


def _round_tokens(tokens: int) -> int:
    return round(tokens, -2) if tokens >= 1000 else round(tokens, -1)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(10, round(seconds, -1)):.0f} seconds"
    return f"{round(seconds / 60):.0f} minutes"
