"""Plain-text renderings of runs and comparisons for the CLI."""

from __future__ import annotations

from typing import Any

from app.evaluation.metrics import COST_METRICS, QUALITY_METRICS

# The one or two figures that say most about an item of each kind, for the per-item lines.
_ITEM_KEYS = (
    "hit@1",
    "mrr",
    "execution_accuracy",
    "correctness_f1",
    "faithfulness_support",
    "faithfulness_lexical",
    "faithfulness_judge",
    "declined_unanswerable",
    "sql_answer_match",
)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def metric_rows(aggregates: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(label, value, n) for every metric a run has."""
    rows = [
        (label, _fmt(aggregates[name]["mean"]), aggregates[name]["n"])
        for name, (label, _) in QUALITY_METRICS.items()
        if name in aggregates
    ]
    rows += [
        (label, _fmt(aggregates[name]["value"]), aggregates[name]["n"])
        for name, (label, _) in COST_METRICS.items()
        if name in aggregates
    ]
    return rows


def run_text(run: dict[str, Any], items: bool = True) -> str:
    """A run's summary table, skipped lines, per-item lines and warnings."""
    agg = run["aggregates"]
    lines = [
        f"run {run['id']} · set {run['set_name']} (sha256 {run['set_sha256'][:12]}) · model {run['model']} · "
        f"{agg.get('items', 0)} item(s), {agg.get('errors', 0)} error(s) · {run['status']} · {run['started_at']}"
    ]
    width = max([len(r[0]) for r in metric_rows(agg)] + [6])
    lines.append(f"{'metric':<{width}}  {'value':>7}  {'n':>3}")
    lines += [f"{label:<{width}}  {value:>7}  {n:>3}" for label, value, n in metric_rows(agg)]
    if run.get("problems"):
        lines.append("skipped lines:")
        lines += [f"  line {p['line']}: {p['message']}" for p in run["problems"]]
    if items and run.get("items"):
        lines.append("items:")
        for item in run["items"]:
            figures = " ".join(f"{k}={item['metrics'][k]:.2f}" for k in _ITEM_KEYS if k in item["metrics"])
            seconds = f"{item['total_s']:.1f}s" if item.get("total_s") is not None else ""
            error = f" ERROR: {item['error']}" if item.get("error") else ""
            lines.append(f"  {item['id']:<14} {item['kind']:<6} {figures} {seconds}{error}".rstrip())
    lines += [f"WARNING: {w}" for w in run.get("warnings", [])]
    return "\n".join(lines)


def runs_text(runs: list[dict[str, Any]]) -> str:
    """One line per stored run."""
    if not runs:
        return "No evaluation runs yet. Start one with `python -m app eval run SET.jsonl`."
    lines = []
    for run in runs:
        agg = run["aggregates"]
        headline = " ".join(
            f"{name}={agg[name]['mean']:.3f}"
            for name in ("hit@5", "execution_accuracy", "correctness_f1", "faithfulness_lexical")
            if name in agg
        )
        lines.append(
            f"{run['id']:>4}  {run['started_at']}  {run['set_name']:<20} {run['model']:<32} "
            f"{run['status']:<9} {agg.get('items', 0):>3} items  {headline}"
        )
    return "\n".join(lines)


def compare_text(result: dict[str, Any]) -> str:
    """Metric deltas, changed settings, changed items and warnings of a comparison."""
    a, b = result["a"], result["b"]
    lines = [
        f"run {a['id']} ({a['model']}) → run {b['id']} ({b['model']}) · set {a['set_name']}"
        + ("" if result["same_set"] else f" vs {b['set_name']} (different sets)")
    ]
    width = max([len(m["label"]) for m in result["metrics"]] + [6])
    lines.append(f"{'metric':<{width}}  {'A':>7}  {'B':>7}  {'delta':>7}")
    for m in result["metrics"]:
        delta = "—" if m["delta"] is None else f"{m['delta']:+.3f}"
        flag = "  REGRESSION" if m["regressed"] else ""
        lines.append(f"{m['label']:<{width}}  {_fmt(m['a']):>7}  {_fmt(m['b']):>7}  {delta:>7}{flag}")
    if result["settings_diff"]:
        lines.append("changed settings:")
        lines += [f"  {k}: {v[0]} → {v[1]}" for k, v in result["settings_diff"].items()]
    else:
        lines.append("same model and settings in both runs")
    if result["set_changed"]:
        lines.append("the set changed between the runs (its sha256 differs)")
    if result["items"]:
        lines.append("changed items:")
        for item in result["items"]:
            changes = ", ".join(f"{k} {v:+.2f}" for k, v in item["changes"].items())
            errors = f" error: {item['error_after']}" if item["error_after"] else ""
            lines.append(f"  {item['id']}: {changes}{errors}")
    lines += [f"WARNING: {w}" for w in result["warnings"]]
    return "\n".join(lines)
