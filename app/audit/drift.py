"""Output drift in what the answers say: how far a model digest's answers moved from the previous digest's.

Measured with the app's own embedder (the one that indexes the documents) on a bounded sample, so the page stays
fast on a long period: while the page reads the records, `AnswerSampler` keeps the newest `SAMPLE_PER_DIGEST`
finished answers of each (model, digest), refusals left out (the refusal rate is a figure of its own). Each digest's
answers are embedded, the unit vectors averaged into a centroid, and the centroid compared (cosine) with the one of
the same model's previous digest. 1.0 means the answers, on average, say the same kind of thing. How close two
samples of *one* digest's answers are depends on how varied the questions are (with MiniLM, two halves of twelve
varied answers about R were 0.47 apart, a cooking text 0.06), so the yardstick is the previous digest's own noise:
the cosine between the centroids of its sample's two interleaved halves (`baseline`). The page warns when the new
digest is further from the old one than that, by more than `SHIFT_MARGIN`. Halves are noisier than whole samples,
so the yardstick is lenient. A new question mix moves the centroid too, so the warning says "look", not "worse".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from app.audit.record import ChatRecord, Json, as_record
from app.audit.trail import is_not_in_documents

SAMPLE_PER_DIGEST = 30  # answers embedded per digest: ~1.5 s with MiniLM on this loaded 2-core machine
MIN_SHIFT_ANSWERS = 10  # fewer and the centroid is one or two answers' topic
SHIFT_MARGIN = 0.05  # below the previous digest's own split-half cosine by more than this: the answers moved
MAX_ANSWER_CHARS = 2000  # the embedder reads 256 tokens; the rest would only cost memory

Embed = Callable[[Sequence[str]], Any]
Key = tuple[str, str]


def digest_key(rec: ChatRecord) -> Key:
    """(model, digest) as the drift table names them."""
    return rec.model or "(unknown)", rec.model_digest or "(no digest)"


class AnswerSampler:
    """The newest finished, non-refusal answers per (model, digest), at most `per_digest` each."""

    def __init__(self, per_digest: int = SAMPLE_PER_DIGEST) -> None:
        self.per_digest = per_digest
        self.samples: dict[Key, deque[str]] = {}

    def add(self, record: ChatRecord | Json) -> None:
        """Keep the record's answer if it is a finished chat turn that is not a refusal."""
        rec = as_record(record)
        if rec.kind != "chat" or (rec.status or "ok") != "ok" or not rec.answer.strip() or is_not_in_documents(rec):
            return
        key = digest_key(rec)
        if key not in self.samples:
            self.samples[key] = deque(maxlen=self.per_digest)
        self.samples[key].append(rec.answer[:MAX_ANSWER_CHARS])

    def add_all(self, records: Iterable[ChatRecord | Json]) -> AnswerSampler:
        """Add every record; returns the sampler."""
        for record in records:
            self.add(record)
        return self


def centroid(vectors: Any) -> np.ndarray:
    """The unit-length mean of the rows, each first scaled to unit length."""
    data = np.asarray(vectors, dtype=float)
    data = data / np.clip(np.linalg.norm(data, axis=1, keepdims=True), 1e-12, None)
    mean = data.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def answer_shift(rows: Sequence[Json], samples: Mapping[Key, Sequence[str]], embed: Embed) -> dict[Key, Json]:
    """For each digest (rows as `answer_quality.drift` orders them: per model, oldest first) with enough sampled
    answers, the cosine between its answers' centroid and the previous such digest's of the same model, and that
    digest's split-half cosine: {(model, digest): {"cosine", "baseline", "compared_with", "answers"}}. Each digest
    is embedded once."""
    vectors: dict[Key, np.ndarray] = {}

    def embedded(key: Key) -> np.ndarray:
        if key not in vectors:
            vectors[key] = np.asarray(embed(list(samples[key])), dtype=float)
        return vectors[key]

    out: dict[Key, Json] = {}
    previous: dict[str, Key] = {}
    for row in rows:
        key = (str(row["model"]), str(row["digest"]))
        if len(samples.get(key, ())) < MIN_SHIFT_ANSWERS:
            continue
        before = previous.get(key[0])
        if before is not None:
            old = embedded(before)
            cosine = float(np.clip(centroid(old) @ centroid(embedded(key)), -1.0, 1.0))
            baseline = float(np.clip(centroid(old[0::2]) @ centroid(old[1::2]), -1.0, 1.0))
            out[key] = {"cosine": round(cosine, 4), "baseline": round(baseline, 4), "compared_with": before[1],
                        "answers": len(samples[key])}
        previous[key[0]] = key
    return out


def shift_warning(shift: Json | None) -> str:
    """The words for the drift warning when a digest's answers moved (empty when they did not, or unmeasured)."""
    if not shift or shift["cosine"] >= shift["baseline"] - SHIFT_MARGIN:
        return ""
    return (f"what the answers say (centroid cosine {shift['cosine']:.2f} to the previous digest's answers; "
            f"{shift['baseline']:.2f} between two halves of those)")
