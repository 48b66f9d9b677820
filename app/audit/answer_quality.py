"""Monitoring figures about the answers themselves: tokens per successful task, guardrail rejections by filter and
severity, numbers traced, and output drift between model versions (per model digest).

Pure functions over request records (bodies, ChatRecord, or `monitoring.slim` rows). Definitions, as the
Monitoring page shows them:

- A *successful task* is a finished turn (status "ok") that answered with support: it cites a passage or a SQL
  result and is not a "not in your documents" reply. Its tokens are tokens_in + tokens_out.
- *Rejections*: the guardrail decisions of the turns, counted per filter (pii, injection) and severity. The
  records carry no severity field; the action is the severity: blocked > withheld > redacted > flagged.
- *Numbers traced*: of the numbers the checked answers state (`numbers_total`), the share found in their
  sources; and the share of checked answers with at least one number not found.
- *Drift*: per model digest (one build of a model's weights), the median answer length, refusal rate, citation
  rate and numbers-traced rate; the newest digest of a model is compared with the one before it, and a figure
  that moved by more than its threshold is named in a warning — with the shift of the answers' embeddings
  (app.audit.drift) when the page measured it.
- *Hallucination rate*: per finished evaluation run, 1 − its faithfulness by support, beside its numbers-traced
  rate; `rerun_due` says when the chat's model (name or digest) is not the one the last run measured.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from app.audit.drift import Key, shift_warning
from app.audit.record import ChatRecord, Json, as_record
from app.audit.trail import is_not_in_documents

SEVERITY = ("blocked", "withheld", "redacted", "flagged")  # most severe first
# How far a figure may move between two digests before the page warns: answer length by a relative share,
# rates by absolute points. Both assume a few dozen turns per digest; `n` is shown next to every figure.
DRIFT_LENGTH = 0.3
DRIFT_RATE = 0.15
MIN_DRIFT_TURNS = 10


def _turns(records: Iterable[ChatRecord | Json]) -> list[tuple[ChatRecord, int]]:
    """(record, answer length) of every chat turn; slim rows keep the length the page cut from the answer."""
    out = []
    for raw in records:
        rec = as_record(raw)
        if rec.kind == "chat":
            length = raw.get("answer_chars") if isinstance(raw, dict) else None
            out.append((rec, int(length) if isinstance(length, int) else len(rec.answer)))
    return out


def successful(rec: ChatRecord) -> bool:
    """A finished turn that answered with support (a cited passage or SQL result), not a refusal."""
    return (rec.status or "ok") == "ok" and not is_not_in_documents(rec) and bool(rec.citations)


def tokens_per_success(records: Iterable[ChatRecord | Json]) -> dict[str, Any]:
    """Tokens of successful tasks (median, mean, n), and all tokens spent per successful task (failures included)."""
    turns = [rec for rec, _ in _turns(records)]
    done = [(rec.tokens_in or 0) + (rec.tokens_out or 0) for rec in turns if successful(rec)]
    spent = sum((rec.tokens_in or 0) + (rec.tokens_out or 0) for rec in turns)
    return {"n": len(done), "turns": len(turns),
            "median": statistics.median(done) if done else None,
            "mean": statistics.fmean(done) if done else None,
            "spent_per_success": spent / len(done) if done else None}


def rejections(records: Iterable[ChatRecord | Json]) -> list[dict[str, Any]]:
    """One row per (filter, severity): turns with such a decision and their share of all turns, most severe first."""
    turns = [rec for rec, _ in _turns(records)]
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for rec in turns:
        for key in {(str(g.get("guard") or "?"), str(g.get("action") or "?")) for g in rec.guardrails}:
            counts[key] += 1
    order = {action: i for i, action in enumerate(SEVERITY)}
    return [{"filter": guard, "severity": action, "turns": n, "rate": n / len(turns)}
            for (guard, action), n in sorted(counts.items(), key=lambda kv: (order.get(kv[0][1], 9), kv[0][0]))]


def numbers_traced(records: Iterable[ChatRecord | Json]) -> dict[str, Any]:
    """Numbers checked, the share traced to the sources, and the share of checked answers with an untraced one."""
    checked = [rec for rec, _ in _turns(records) if rec.numbers_total]
    total = sum(rec.numbers_total or 0 for rec in checked)
    untraced = sum(rec.numbers_untraced or 0 for rec in checked)
    return {"answers": len(checked), "numbers": total, "untraced": untraced,
            "traced_rate": (total - untraced) / total if total else None,
            "answers_with_untraced": (sum(bool(rec.numbers_untraced) for rec in checked) / len(checked)
                                      if checked else None)}


def _digest_figures(turns: list[tuple[ChatRecord, int]]) -> dict[str, Any]:
    done = [(rec, n) for rec, n in turns if (rec.status or "ok") == "ok"]
    traced = numbers_traced([rec for rec, _ in done])
    return {"turns": len(done),
            "answer_chars": statistics.median([n for _, n in done]) if done else None,
            "refusal_rate": sum(is_not_in_documents(rec) for rec, _ in done) / len(done) if done else None,
            "citation_rate": sum(bool(rec.citations) for rec, _ in done) / len(done) if done else None,
            "traced_rate": traced["traced_rate"],
            "first": min((rec.ts for rec, _ in turns if rec.ts), default=""),
            "last": max((rec.ts for rec, _ in turns if rec.ts), default="")}


_LABELS = {"answer_chars": "answer length", "refusal_rate": "refusal rate", "citation_rate": "citation rate",
           "traced_rate": "numbers-traced rate"}


def drift(records: Iterable[ChatRecord | Json], shifts: dict[Key, Json] | None = None
          ) -> tuple[list[dict[str, Any]], list[str]]:
    """Per (model, digest) figures, oldest digest first, and warnings naming what moved from a model's previous
    digest to its newest one (only when both have at least MIN_DRIFT_TURNS finished turns). `shifts`
    (`drift.answer_shift`) adds each digest's answer-embedding cosine to the previous digest's, and warns on it."""
    groups: dict[tuple[str, str], list[tuple[ChatRecord, int]]] = defaultdict(list)
    for rec, length in _turns(records):
        groups[(rec.model or "(unknown)", rec.model_digest or "(no digest)")].append((rec, length))
    rows = sorted(({"model": m, "digest": d, **_digest_figures(t)} for (m, d), t in groups.items()),
                  key=lambda r: (r["model"], r["first"]))
    shifts = shifts or {}
    for row in rows:
        measured = shifts.get((row["model"], row["digest"])) or {}
        row["answer_shift"], row["shift_baseline"] = measured.get("cosine"), measured.get("baseline")
    warnings = []
    for model in dict.fromkeys(r["model"] for r in rows):
        versions = [r for r in rows if r["model"] == model and r["turns"] >= MIN_DRIFT_TURNS]
        if len(versions) < 2:
            continue
        before, after = versions[-2], versions[-1]
        moved = []
        for key, label in _LABELS.items():
            old, new = before[key], after[key]
            if old is None or new is None:
                continue
            change = (new - old) / old if key == "answer_chars" and old else new - old
            if abs(change) > (DRIFT_LENGTH if key == "answer_chars" else DRIFT_RATE):
                shown = f"{change:+.0%}" if key == "answer_chars" else f"{old:.0%} → {new:.0%}"
                moved.append(f"{label} {shown}")
        shift = shifts.get((model, after["digest"]))
        if shift and shift["compared_with"] == before["digest"] and shift_warning(shift):
            moved.append(shift_warning(shift))
        if moved:
            warnings.append(f"{model}: digest {after['digest'][:12]} differs from {before['digest'][:12]} — "
                            + "; ".join(moved) + ".")
    return rows, warnings


def hallucination_series(runs: Iterable[Json]) -> list[dict[str, Any]]:
    """Hallucination rate per finished evaluation run, oldest first: 1 − the share of answers every sentence of
    which was supported with every number traced (the Evaluation page's `faithfulness_support`), and the run's
    numbers-traced rate (mean share of an answer's numbers found in its sources; None in runs older than it)."""
    out = []
    for run in runs:
        aggregates = run.get("aggregates") or {}
        figure, traced = aggregates.get("faithfulness_support"), aggregates.get("numbers_traced")
        if run.get("status") != "finished" or not isinstance(figure, dict) or figure.get("mean") is None:
            continue
        model = (run.get("settings") or {}).get("model") or {}
        out.append({"when": run.get("finished_at") or run.get("started_at") or "", "run": run.get("id"),
                    "model": run.get("model") or "",
                    "digest": str(model.get("digest") or "")[:12], "set": run.get("set_name") or "",
                    "hallucination_rate": 1 - float(figure["mean"]), "answers": int(figure.get("n") or 0),
                    "numbers_traced": float(traced["mean"]) if isinstance(traced, dict) and traced.get("mean")
                    is not None else None})
    return sorted(out, key=_run_order)


def _run_order(row: Json) -> tuple[str, int]:
    """Runs in the order they finished; runs finished within the same second by id."""
    run_id = row.get("run")
    return str(row.get("when") or ""), run_id if isinstance(run_id, int) else 0


def rerun_due(runs: Iterable[Json], latest_turn: ChatRecord | Json | None) -> str:
    """Why an evaluation set should be run again — the model answering the chat now (its newest turn) is not the
    one (name and digest) of the newest finished run that scored answers — or "" when it is, or nothing is known."""
    if latest_turn is None:
        return ""
    turn = as_record(latest_turn)
    if not turn.model:
        return ""
    scored = [r for r in runs if r.get("status") == "finished"
              and "faithfulness_support" in (r.get("aggregates") or {})]
    now = f"{turn.model} (digest {(turn.model_digest or 'unknown')[:12]})"
    if not scored:
        return f"No evaluation run has scored answers yet; the chat now answers with {now}."
    last = max(scored, key=lambda r: _run_order({"when": r.get("finished_at") or r.get("started_at"),
                                                 "run": r.get("id")}))
    model = (last.get("settings") or {}).get("model") or {}
    name, digest = str(model.get("name") or ""), str(model.get("digest") or "")
    if name == turn.model and (not digest or not turn.model_digest or digest == turn.model_digest):
        return ""
    return (f"The chat now answers with {now}; the last evaluation run (run {last.get('id')}, "
            f"{last.get('finished_at') or ''}) used {name or 'another model'} (digest {digest[:12] or 'unknown'}).")
