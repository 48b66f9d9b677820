"""Which metrics a run reports, how per-item results add up, and how two runs compare.

Noise: a metric has regressed when it dropped by more than max(5 points, one item's worth), so on a
small set one question flipping is not a regression and on a large one a 2-point wobble is not either.
Timings and token counts are compared but never called regressions (the machine may just be busy).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

# name -> (label, group); every quality metric is a share in [0, 1], higher is better.
QUALITY_METRICS: dict[str, tuple[str, str]] = {
    "hit@1": ("Hit@1", "retrieval"),
    "hit@5": ("Hit@5", "retrieval"),
    "mrr": ("MRR", "retrieval"),
    "execution_accuracy": ("SQL execution accuracy", "sql"),
    "faithfulness_support": ("Faithfulness (every sentence supported, numbers traced)", "answers"),
    "numbers_traced": ("Numbers traced (share of an answer's numbers found in its sources)", "answers"),
    "faithfulness_judge": ("Faithfulness (model judge)", "answers"),
    "faithfulness_lexical": ("Faithfulness (lexical)", "answers"),
    "answer_relevance": ("Answer relevance", "answers"),
    "context_recall": ("Context recall", "answers"),
    "gold_page_retrieved": ("Gold page retrieved", "answers"),
    "correctness_f1": ("Correctness (token F1)", "answers"),
    "declined_unanswerable": ("Declined unanswerable", "answers"),
    "sql_answer_match": ("SQL answer mentions result", "answers"),
}
# name -> (label, how it is summarised); lower is better, never flagged as a regression.
COST_METRICS: dict[str, tuple[str, str]] = {
    "total_s": ("Seconds per question (median)", "median"),
    "ttft_s": ("Time to first token, s (median)", "median"),
    "tokens_in": ("Tokens in (total)", "sum"),
    "tokens_out": ("Tokens out (total)", "sum"),
}
NOISE_POINTS = 0.05


def label(name: str) -> str:
    """A metric's display name."""
    return (QUALITY_METRICS.get(name) or COST_METRICS.get(name) or (name,))[0]


def aggregate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean (and count) of each quality metric over the items that have it; costs; error count."""
    out: dict[str, Any] = {}
    for name in QUALITY_METRICS:
        values = [i["metrics"][name] for i in items if i.get("metrics", {}).get(name) is not None]
        if values:
            out[name] = {"mean": round(sum(values) / len(values), 4), "n": len(values)}
    for name, (_, how) in COST_METRICS.items():
        values = [i[name] for i in items if i.get(name) is not None]
        if values:
            value = statistics.median(values) if how == "median" else sum(values)
            out[name] = {"value": round(value, 3), "n": len(values)}
    out["items"] = len(items)
    out["errors"] = sum(1 for i in items if i.get("error"))
    return out


def noise_threshold(n: int) -> float:
    """The drop (as a share) that counts as more than noise for a metric scored on n items."""
    return max(NOISE_POINTS, 1.0 / n) if n > 0 else NOISE_POINTS


@dataclass(frozen=True)
class MetricDelta:
    """One metric in two runs."""

    name: str
    label: str
    before: float | None
    after: float | None
    n: int
    regressed: bool

    @property
    def delta(self) -> float | None:
        """after - before, when both exist."""
        return None if self.before is None or self.after is None else round(self.after - self.before, 4)


def metric_deltas(before: dict[str, Any], after: dict[str, Any]) -> list[MetricDelta]:
    """Every metric present in either run's aggregates, with its change and whether it regressed."""
    rows = []
    for name, (text, _) in QUALITY_METRICS.items():
        a, b = before.get(name), after.get(name)
        if a is None and b is None:
            continue
        va, vb = (a or {}).get("mean"), (b or {}).get("mean")
        n = min((a or {}).get("n", 0), (b or {}).get("n", 0))
        regressed = va is not None and vb is not None and vb - va < -noise_threshold(n) - 1e-9
        rows.append(MetricDelta(name, text, va, vb, n, regressed))
    for name, (text, _) in COST_METRICS.items():
        a, b = before.get(name), after.get(name)
        if a is None and b is None:
            continue
        n = min((a or {}).get("n", 0), (b or {}).get("n", 0))
        rows.append(MetricDelta(name, text, (a or {}).get("value"), (b or {}).get("value"), n, False))
    return rows


def item_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-item metric changes between two runs (items in both), largest drop first."""
    earlier = {i["id"]: i for i in before}
    changes = []
    for item in after:
        old = earlier.get(item["id"])
        if old is None:
            continue
        diffs = {}
        for name in QUALITY_METRICS:
            a, b = old.get("metrics", {}).get(name), item.get("metrics", {}).get(name)
            if a is not None and b is not None and abs(b - a) > 1e-9:
                diffs[name] = round(b - a, 4)
        if diffs or bool(old.get("error")) != bool(item.get("error")):
            changes.append(
                {
                    "id": item["id"],
                    "question": item.get("question", ""),
                    "changes": diffs,
                    "error_before": old.get("error", ""),
                    "error_after": item.get("error", ""),
                }
            )
    return sorted(changes, key=lambda c: min(c["changes"].values(), default=0))


def settings_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Settings that differ between two run snapshots (nested keys joined with dots)."""
    flat_a, flat_b = _flatten(before), _flatten(after)
    return {
        k: (flat_a.get(k), flat_b.get(k))
        for k in sorted(flat_a.keys() | flat_b.keys())
        if flat_a.get(k) != flat_b.get(k)
    }


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, inner in value.items():
        if isinstance(inner, dict):
            flat.update(_flatten(inner, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = inner
    return flat


def describe_changes(diff: dict[str, tuple[Any, Any]], set_changed: bool) -> str:
    """What changed between two runs, in words (model, embedding, chunking, other settings)."""
    groups: dict[str, list[str]] = {"model": [], "embedding": [], "chunking": [], "retrieval": [], "settings": []}
    for key, (a, b) in diff.items():
        head = key.split(".", 1)[0]
        bucket = head if head in groups else "settings"
        groups[bucket].append(f"{key.split('.', 1)[-1] if head in groups else key}: {a} → {b}")
    parts = [f"{name} ({'; '.join(entries)})" for name, entries in groups.items() if entries]
    if set_changed:
        parts.insert(0, "the set itself (its sha256 differs)")
    return "; ".join(parts) if parts else "nothing recorded changed (same model and settings: likely sampling noise)"


def regression_warnings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per regressed metric between two stored runs (dicts from the store), naming what changed."""
    deltas = [d for d in metric_deltas(before["aggregates"], after["aggregates"]) if d.regressed]
    errors_before = before["aggregates"].get("errors", 0)
    errors_after = after["aggregates"].get("errors", 0)
    if not deltas and errors_after <= errors_before + 1:
        return []
    why = describe_changes(
        settings_diff(before["settings"], after["settings"]), before["set_sha256"] != after["set_sha256"]
    )
    lines = [
        f"{d.label} dropped {d.before:.3f} → {d.after:.3f} ({d.delta:+.3f}, noise ≤ {noise_threshold(d.n):.3f}) "
        f"since run {before['id']}. Changed: {why}."
        for d in deltas
    ]
    if errors_after > errors_before + 1:
        lines.append(f"Errors rose from {errors_before} to {errors_after} since run {before['id']}. Changed: {why}.")
    return lines
