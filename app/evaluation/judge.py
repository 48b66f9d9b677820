"""Faithfulness judged by the local model: numbered answer sentences against the cited passages.

The model is asked for one strict JSON object; small models wrap it in prose or code fences, cut it
short or invent keys, so parsing accepts the few shapes that carry a usable verdict and reports
anything else as "unparseable" instead of guessing a score.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.ports import ChatMessage, GenerationParams

JUDGE_TEMPLATE = """You check whether an answer is supported by source passages.

Passages:
{passages}

Answer sentences:
{sentences}

For each numbered sentence decide: is everything it states found in the passages?
Reply with only this JSON object and nothing else:
{{"supported": [numbers of supported sentences], "unsupported": [numbers of unsupported sentences]}}"""

JUDGE_PARAMS = GenerationParams(temperature=0.0, top_p=1.0, max_tokens=96, seed=0)
_PASSAGE_CHARS = 1200  # per passage: enough for the cited fact, small enough for a 2k-token context


@dataclass(frozen=True)
class Verdict:
    """A parsed judge reply: the supported share (None when unusable) and why not."""

    score: float | None
    supported: tuple[int, ...] = ()
    error: str = ""


def judge_messages(passages: Sequence[str], claims: Sequence[str]) -> list[ChatMessage]:
    """The judge prompt as chat messages."""
    quoted = "\n".join(f"[{i}] {' '.join(p.split())[:_PASSAGE_CHARS]}" for i, p in enumerate(passages, 1))
    numbered = "\n".join(f"{i}. {c}" for i, c in enumerate(claims, 1))
    return [ChatMessage(role="user", content=JUDGE_TEMPLATE.format(passages=quoted, sentences=numbered))]


def _json_objects(text: str) -> list[Any]:
    """Every JSON object embedded in `text` (prose, code fences and trailing text around it are skipped)."""
    decoder = json.JSONDecoder()
    found, start = [], text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        found.append(value)
        start = text.find("{", end)
    return found


def _numbers(value: Any, count: int) -> set[int] | None:
    if not isinstance(value, list):
        return None
    picked = set()
    for entry in value:
        if isinstance(entry, bool):
            continue
        if isinstance(entry, (int, float)) or (isinstance(entry, str) and entry.strip().isdigit()):
            number = int(entry)
            if 1 <= number <= count:
                picked.add(number)
    return picked


def parse_verdict(reply: str, claim_count: int) -> Verdict:
    """Read the judge's reply for `claim_count` sentences; unusable replies give score None and a reason."""
    if claim_count <= 0:
        return Verdict(None, error="no sentences to judge")
    for obj in _json_objects(reply or ""):
        if not isinstance(obj, dict):
            continue
        supported = _numbers(obj.get("supported"), claim_count)
        unsupported = _numbers(obj.get("unsupported"), claim_count)
        if supported is not None or unsupported is not None:
            supported = (supported or set()) - (unsupported or set())
            if not supported and not unsupported:
                continue  # two empty lists: the model echoed the template
            return Verdict(len(supported) / claim_count, tuple(sorted(supported)))
        verdicts = obj.get("verdicts")
        if isinstance(verdicts, list) and verdicts and all(isinstance(v, bool) for v in verdicts):
            flags = verdicts[:claim_count]
            return Verdict(sum(flags) / claim_count, tuple(i for i, ok in enumerate(flags, 1) if ok))
        score = obj.get("score", obj.get("faithfulness"))
        if isinstance(score, (int, float)) and not isinstance(score, bool) and 0 <= score <= 1:
            return Verdict(float(score))
    reason = "no JSON object in the reply" if "{" not in (reply or "") else "the JSON had no usable verdict"
    return Verdict(None, error=reason)


def judge_faithfulness(model: Any, passages: Sequence[str], claims: Sequence[str]) -> tuple[Verdict, str]:
    """Ask `model` (a ChatModel) for a verdict; returns the parsed verdict and the raw reply."""
    if not claims or not passages:
        return Verdict(None, error="nothing to judge"), ""
    reply = "".join(chunk.text for chunk in model.stream(judge_messages(passages, claims), JUDGE_PARAMS))
    return parse_verdict(reply, len(claims)), reply
