"""The assistant benchmark's scoring: the checks of one turn, one printed line per item, and the summary of a
mode (figures and the table comparing the modes)."""

from __future__ import annotations

import re
import statistics
from typing import Any

from app.evaluation.scoring import rows_match  # the rules of bench/sql_eval.py (shared with `python -m app eval`)
from bench.assistant_questions import SEARCH, SQL

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def numbers_in(text: str) -> list[tuple[float, int]]:
    """Numbers written in a text, with how many decimals they were written with."""
    found = []
    for raw in _NUMBER.findall(text):
        clean = raw.replace(",", "")
        try:
            found.append((float(clean), len(clean.split(".")[1]) if "." in clean else 0))
        except ValueError:
            continue
    return found


_MARKER = re.compile(r"\[[^\]\n]{0,20}\]")  # citation markers: [S1], [2], [1, 3]


def answer_has(text: str, value: float) -> bool:
    """The number appears in the answer (as written, or rounded to the decimals the answer shows, min 0);
    citation markers such as [S1] are not numbers of the answer."""
    for number, decimals in numbers_in(_MARKER.sub(" ", text)):
        if decimals and abs(number - value) <= 0.5 * 10 ** -decimals + 1e-9:
            return True
        if not decimals and (abs(number - value) < 1e-6 or number == round(value)):
            return True
    return False


def single_number(rows: list[list[Any]]) -> float | None:
    """The value of a one-row, one-column numeric result."""
    if len(rows) == 1 and len(rows[0]) == 1:
        try:
            return float(rows[0][0])
        except (TypeError, ValueError):
            return None
    return None


def score_item(item: dict[str, Any], result: Any, sql_rows: list[list[list[Any]]]) -> dict[str, Any]:
    """Correctness of one turn: SQL rows, the number in the answer, the gold page cited / retrieved."""
    out: dict[str, Any] = {}
    golds = item.get("accept_rows") or ([item["result_rows"]] if "result_rows" in item else [])
    if golds:
        out["sql_ok"] = any(rows_match(rows, {**item, "result_rows": g}) for rows in sql_rows for g in golds)
        values = [v for v in (single_number(g) for g in golds) if v is not None]
        if values:
            out["number_in_answer"] = any(answer_has(result.answer, v) for v in values)
    if item.get("pages"):
        cited = [c.get("page") for c in result.citations if c.get("kind") != "sql" and c.get("page") is not None]
        retrieved = [p.get("page") for s in result.tools if s.get("name") == SEARCH for p in s.get("passages", [])]
        out["page_cited"] = any(p in item["pages"] for p in cited)
        out["page_retrieved"] = any(p in item["pages"] for p in retrieved)
    checks = [out[k] for k in ("sql_ok", "page_cited") if k in out]
    out["correct"] = all(checks) if checks else None
    return out


def routing(used: set[str], expected: set[str]) -> dict[str, Any]:
    """Exact match of the tool sets, and what was extra or missing."""
    return {"exact": used == expected, "extra": sorted(used - expected), "missing": sorted(expected - used)}


def _flag(value: bool | None) -> str:
    return "-" if value is None else ("ok" if value else "NO")


def line_for(row: dict[str, Any]) -> str:
    """One readable line per item."""
    used = ",".join(_short(t) for t in row["used"]) or "none"
    exp = ",".join(_short(t) for t in row["expected"]) or "none"
    steps = " ".join(f"{_short(s['name'])}{'' if s['ok'] else '!'}={s['seconds']:.1f}" for s in row["steps"])
    return (f"{row['mode']:6} {row['id']:12} used {used:9} exp {exp:9} {'=' if row['exact'] else 'x'}  "
            f"sql {_flag(row.get('sql_ok')):2} num {_flag(row.get('number_in_answer')):2} "
            f"page {_flag(row.get('page_cited')):2}/{_flag(row.get('page_retrieved')):2}  "
            f"pre {row['non_tool_pre_answer_s']:5.1f} ttft {row['ttft_s'] or 0:5.1f} total {row['total_s']:6.1f}  "
            f"[{steps}]{'  ERROR ' + row['error'] if row['error'] else ''}")


def _short(name: str) -> str:
    return {SEARCH: "docs", SQL: "sql"}.get(name, name)


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def _rate(values: list[bool | None]) -> dict[str, Any]:
    values = [v for v in values if v is not None]
    return {"n": len(values), "ok": sum(values), "rate": round(sum(values) / len(values), 3) if values else None}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Routing, correctness and latency figures of one mode."""
    per_tool = {}
    for tool in (SEARCH, SQL):
        used = [r for r in rows if tool in r["used"]]
        wanted = [r for r in rows if tool in r["expected"]]
        hits = [r for r in used if tool in r["expected"]]
        per_tool[tool] = {"used": len(used), "expected": len(wanted), "true_positive": len(hits),
                          "precision": round(len(hits) / len(used), 3) if used else None,
                          "recall": round(len(hits) / len(wanted), 3) if wanted else None}
    kinds = sorted({r["kind"] for r in rows})
    steps: dict[str, list[float]] = {}
    for r in rows:
        for s in r["steps"]:
            steps.setdefault(s["name"], []).append(s["seconds"])
    with_tools = [r for r in rows if r["steps"]]
    return {
        "items": len(rows),
        "routing_exact": _rate([r["exact"] for r in rows]),
        "routing_exact_by_kind": {k: _rate([r["exact"] for r in rows if r["kind"] == k]) for k in kinds},
        "per_tool": per_tool,
        "invalid_calls": sum(len(r["invalid_calls"]) for r in rows),
        "correct_by_kind": {k: _rate([r["correct"] for r in rows if r["kind"] == k]) for k in kinds},
        "sql_ok": _rate([r.get("sql_ok") for r in rows]),
        "number_in_answer": _rate([r.get("number_in_answer") for r in rows]),
        "page_cited": _rate([r.get("page_cited") for r in rows]),
        "page_retrieved": _rate([r.get("page_retrieved") for r in rows]),
        "not_in_documents": sum(r["not_in_documents"] for r in rows),
        "errors": sum(bool(r["error"]) for r in rows),
        "median_step_s": {name: _median(v) for name, v in sorted(steps.items())},
        "step_count": {name: len(v) for name, v in sorted(steps.items())},
        "median_first_tool_at_s": _median([r["first_tool_at_s"] for r in with_tools]),
        "median_non_tool_pre_answer_s": _median([r["non_tool_pre_answer_s"] for r in rows]),
        "median_tool_s": _median([r["tool_s"] for r in rows]),
        "median_ttft_s": _median([r["ttft_s"] for r in rows]),
        "median_total_s": _median([r["total_s"] for r in rows]),
        "sum_total_s": round(sum(r["total_s"] for r in rows), 1),
    }


def print_summary(summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The summary table, and native/router ratios when both modes ran."""
    modes = list(summaries)
    width = 14

    def row(label: str, fn: Any) -> None:
        print(f"{label:34}" + "".join(f"{fn(summaries[m]):>{width}}" for m in modes))

    def rate(fig: dict[str, Any]) -> str:
        return f"{fig['ok']}/{fig['n']}" + (f" {fig['rate']:.2f}" if fig["rate"] is not None else "")

    def num(value: Any) -> str:
        return "-" if value is None else f"{value:.2f}"

    print("\n" + f"{'':34}" + "".join(f"{m:>{width}}" for m in modes))
    row("routing exact match", lambda s: rate(s["routing_exact"]))
    for kind in sorted({k for s in summaries.values() for k in s["routing_exact_by_kind"]}):
        row(f"  routing exact: {kind}", lambda s, k=kind: rate(s["routing_exact_by_kind"][k])
            if k in s["routing_exact_by_kind"] else "-")
    for tool in (SEARCH, SQL):
        row(f"{tool} precision / recall",
            lambda s, t=tool: f"{num(s['per_tool'][t]['precision'])}/{num(s['per_tool'][t]['recall'])}")
    row("invalid tool calls", lambda s: str(s["invalid_calls"]))
    for kind in sorted({k for s in summaries.values() for k in s["correct_by_kind"]}):
        row(f"correct: {kind}", lambda s, k=kind: rate(s["correct_by_kind"][k]) if s["correct_by_kind"].get(k, {})
            .get("n") else "-")
    row("SQL rows match gold", lambda s: rate(s["sql_ok"]))
    row("gold number in answer", lambda s: rate(s["number_in_answer"]))
    row("gold page cited", lambda s: rate(s["page_cited"]))
    row("gold page retrieved", lambda s: rate(s["page_retrieved"]))
    row("'not in your documents' answers", lambda s: str(s["not_in_documents"]))
    row("turn errors", lambda s: str(s["errors"]))
    names = sorted({n for s in summaries.values() for n in s["median_step_s"]})
    for name in names:
        row(f"median s: {name} step",
            lambda s, n=name: f"{num(s['median_step_s'].get(n))} n={s['step_count'].get(n, 0)}")
    row("median s: before first tool", lambda s: num(s["median_first_tool_at_s"]))
    row("median s: non-tool before answer", lambda s: num(s["median_non_tool_pre_answer_s"]))
    row("median s: all tools of a turn", lambda s: num(s["median_tool_s"]))
    row("median s: time to first token", lambda s: num(s["median_ttft_s"]))
    row("median s: total", lambda s: num(s["median_total_s"]))
    row("sum s: total", lambda s: num(s["sum_total_s"]))
    ratios: dict[str, Any] = {}
    if "router" in summaries and "native" in summaries:
        r, n = summaries["router"], summaries["native"]
        for key in ("median_total_s", "median_ttft_s", "median_tool_s", "median_non_tool_pre_answer_s",
                    "sum_total_s"):
            ratios[key] = round(n[key] / r[key], 2) if r[key] else None
        for name in names:
            a, b = r["median_step_s"].get(name), n["median_step_s"].get(name)
            ratios[f"median_step_s:{name}"] = round(b / a, 2) if a and b else None
        print("native / router: " + ", ".join(f"{k} x{v}" for k, v in ratios.items() if v is not None))
    return ratios
