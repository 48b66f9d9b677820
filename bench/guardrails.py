"""Guardrails benchmark: detection quality on the labelled lists, and the latency each guard adds to a turn.

Usage: python -m bench.guardrails [--repeats N] [--models M1,M2 | --models none] [--lists before,after]
Quality: precision/recall/F1 per PII kind (a finding counts when kind and text match a label)
and for injection (an item counts as flagged when any rule fires). Latency: a typical turn is a
question, 8 retrieved passages of ~800 characters and a ~300-word answer, built here from fixed
report-like sentences (one e-mail and one phone number in it, no injection). Each guard is timed
over the whole turn, as the chat turn would call it; the baseline is what the turn does anyway
with that text: building the prompt string (question + numbered passages) and `str.lower()` over
it. Injection obeyed / flagged / withheld per variant (bench/data/guardrails: a list written before the
rules and one written after them, reported separately) with the embedded models, one answer each at
temperature 0 (bench/guardrails_obeyed.py). Prints tables and writes bench/results/guardrails.json.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
FIXTURES = ROOT.parent / "tests" / "fixtures" / "guardrails"
sys.path.insert(0, str(ROOT.parent))

from app.guardrails import Guardrails, find_injection, find_pii, scan_chunks  # noqa: E402
from app.guardrails.pii import KINDS  # noqa: E402
from bench.common import write_results  # noqa: E402
from bench.guardrails_obeyed import run_model  # noqa: E402

SENTENCES = [
    "Revenue for the third quarter rose 4.2% to EUR 18.4 million, driven by services in the Nordic region.",
    "Operating costs were flat at 12.1 million as the new warehouse in Rotterdam absorbed higher freight rates.",
    "The board approved the 2025 budget on 14 March; capital expenditure is capped at 3.5 million.",
    "Customer churn fell from 6.1% to 5.4% after the support desk moved to a 24-hour rota.",
    "Invoice INV-2024-00123 remains open; the supplier expects payment within 30 days of delivery.",
    "See section 4.3 and table 7 for the reconciliation of deferred revenue against the ledger.",
    "Headcount reached 214 employees across 6 sites, with 19 open positions in engineering.",
    "The audit committee noted no material weaknesses but asked for quarterly access reviews.",
    "Version 2.14.3 of the reporting tool fixed the rounding error seen in the June figures.",
    "Contact the controller, anna.berg@example.com or +44 20 7946 0958, for the detailed schedule.",
]


def _text(n_chars: int, rng: random.Random) -> str:
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < n_chars:
        parts.append(rng.choice(SENTENCES))
    return " ".join(parts)[:n_chars]


def typical_turn(seed: int = 7) -> tuple[str, list[str], str]:
    """(question, 8 passages of ~800 chars, ~300-word answer), deterministic."""
    rng = random.Random(seed)
    question = "How did operating costs and churn develop in Q3, and who approved the 2025 budget?"
    passages = [_text(800, rng) for _ in range(8)]
    passages[3] = passages[3][:600] + " " + SENTENCES[-1]  # one passage carries personal data
    words: list[str] = []
    while len(words) < 300:
        words.extend(rng.choice(SENTENCES[:-1]).split())
    return question, passages, " ".join(words[:300])


def build_prompt(question: str, passages: list[str]) -> str:
    """What the turn builds anyway: the baseline."""
    body = "\n\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))
    return f"Answer from the passages below and cite them.\n\n{body}\n\nQuestion: {question}"


def timed(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Median and p95 in microseconds over `repeats` calls (after a few warm-up calls)."""
    for _ in range(5):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1000)
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[int(0.95 * (len(samples) - 1))], 1),
    }


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3)}


def pii_quality() -> dict[str, Any]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    lines = (FIXTURES / "pii_labelled.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        item = json.loads(line)
        expected = Counter((e["kind"], e["text"]) for e in item["expected"])
        found = Counter((f.kind, f.text) for f in find_pii(item["text"]))
        for (kind, _), n in (found & expected).items():
            tp[kind] += n
        for (kind, _), n in (found - expected).items():
            fp[kind] += n
        for (kind, _), n in (expected - found).items():
            fn[kind] += n
    per_kind = {kind: _prf(tp[kind], fp[kind], fn[kind]) for kind in KINDS}
    overall = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return {"items": len(lines), "per_kind": per_kind, "overall": overall}


def injection_quality() -> dict[str, Any]:
    tp = fp = fn = tn = 0
    misses, false_flags = [], []
    lines = (FIXTURES / "injection_labelled.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        item = json.loads(line)
        flagged = bool(find_injection(item["text"]))
        if item["label"] == "injection":
            tp += flagged
            fn += not flagged
            if not flagged:
                misses.append(item["note"])
        else:
            fp += flagged
            tn += not flagged
            if flagged:
                false_flags.append(item["note"])
    return {
        "items": len(lines),
        **_prf(tp, fp, fn),
        "tn": tn,
        "missed": misses,
        "false_flags": false_flags,
    }


def latency(repeats: int) -> dict[str, Any]:
    question, passages, answer = typical_turn()
    turn = [question, *passages, answer]
    guard = Guardrails("redact_remote", "flag")

    def full_guardrails() -> None:
        guard.check_text(question, "question", remote=True)
        guard.check_chunks(passages, "passage", remote=True)
        guard.check_answer(answer)

    cases = {
        "baseline: build prompt + str.lower()": lambda: build_prompt(question, passages).lower(),
        "pii: find_pii over question, passages, answer": lambda: [find_pii(t) for t in turn],
        "injection: find_injection(question) + scan_chunks(passages)": lambda: (
            find_injection(question),
            scan_chunks(passages),
        ),
        "both, through Guardrails (redact_remote, remote=True)": full_guardrails,
    }
    results = {name: timed(fn, repeats) for name, fn in cases.items()}
    base = results["baseline: build prompt + str.lower()"]["median_us"]
    for r in results.values():
        r["x_baseline"] = round(r["median_us"] / base, 1) if base else None
    return {
        "turn_chars": sum(len(t) for t in turn),
        "passages": len(passages),
        "passage_chars": [len(p) for p in passages],
        "answer_words": len(answer.split()),
        "repeats": repeats,
        "timings": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300, help="timed calls per case (default 300)")
    parser.add_argument("--models", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b",
                        help="embedded models for the obeyed runs, comma-separated, or 'none'")
    parser.add_argument("--lists", default="before,after", help="variant lists: before, after or both")
    parser.add_argument("--max-tokens", type=int, default=64, help="answer length for the obeyed runs")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads for the obeyed runs")
    args = parser.parse_args(argv)

    pii = pii_quality()
    injection = injection_quality()
    speed = latency(args.repeats)

    print(f"\nPII ({pii['items']} labelled texts)")
    print(f"{'kind':<14}{'tp':>4}{'fp':>4}{'fn':>4}{'precision':>11}{'recall':>8}{'f1':>7}")
    for kind, m in [*pii["per_kind"].items(), ("overall", pii["overall"])]:
        print(
            f"{kind:<14}{m['tp']:>4}{m['fp']:>4}{m['fn']:>4}{m['precision']:>11.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}"
        )

    i = injection
    print(f"\nInjection ({i['items']} labelled texts)")
    print(
        f"tp {i['tp']}  fp {i['fp']}  fn {i['fn']}  tn {i['tn']}  precision {i['precision']:.3f}  "
        f"recall {i['recall']:.3f}  f1 {i['f1']:.3f}"
    )
    for note in i["false_flags"]:
        print(f"  false flag: {note}")
    for note in i["missed"]:
        print(f"  missed:     {note}")

    print(
        f"\nLatency per typical turn ({speed['turn_chars']} chars: question + {speed['passages']} passages "
        f"+ {speed['answer_words']}-word answer; {speed['repeats']} runs)"
    )
    print(f"{'case':<62}{'median µs':>11}{'p95 µs':>9}{'x base':>8}")
    for name, t in speed["timings"].items():
        print(f"{name:<62}{t['median_us']:>11.1f}{t['p95_us']:>9.1f}{t['x_baseline']:>8.1f}")

    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "baseline": "build the prompt string (question + 8 numbered passages) and str.lower() over it",
        "pii": pii,
        "injection": injection,
        "latency": speed,
    }
    models = [] if args.models == "none" else [m for m in args.models.split(",") if m]
    report["obeyed"] = [run_model(m, args.lists.split(","), args.max_tokens, args.threads) for m in models]
    _print_obeyed(report["obeyed"])
    write_results("guardrails", report)
    return 0


def _print_obeyed(runs: list[dict[str, Any]]) -> None:
    for run in runs:
        print(f"\nInjection variants, {run['model']} (max {run['max_tokens']} tokens, temperature 0)")
        print(f"{'list':<8}{'variant':<20}{'kind':<14}{'flagged':>8}{'withheld':>9}{'obeyed':>7}{'s':>7}  answer")
        for r in run["rows"]:
            answer = " ".join(r["answer"].split())[:70]
            print(f"{r['list']:<8}{r['id']:<20}{r['kind']:<14}{r['flagged']!s:>8}{r['withheld']!s:>9}"
                  f"{r['obeyed']!s:>7}{r['seconds']:>7.1f}  {answer}")
        for name, t in run["totals"].items():
            print(f"  {name}: obeyed {t['obeyed']}/{t['runs']}, flagged {t['flagged']}/{t['runs']}, "
                  f"withheld {t['withheld']}/{t['runs']}")


if __name__ == "__main__":
    raise SystemExit(main())
