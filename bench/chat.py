"""Chat latency: the app's service path vs a bare xllamacpp call, same model, same prompts, same run.

    python bench/chat.py [--model qwen2.5-coder-1.5b] [--repeats 3] [--max-tokens 96]

Prints time to first token, tokens/s and total time (medians) for both paths and the
overhead ratio; writes the figures to bench/results/chat-<model>.json.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.container import build_services  # noqa: E402
from app.llm.model_files import ensure_model_file  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.common import write_results  # noqa: E402

PROMPTS = [
    "What is the capital of France?",
    "Explain in two sentences what a median is and when it is better than a mean.",
    "Write a SQL query that counts orders per customer in a table orders(customer_id, amount).",
    "List three risks of storing customer data in spreadsheets.",
    "What does year-over-year growth mean? Give a short example with numbers.",
]


def bare_call(server, messages: list[dict], max_tokens: int, seed: int) -> dict:
    """One streamed request straight to xllamacpp; returns ttft, total and tokens."""
    start = time.perf_counter()
    first: list[float] = []
    usage: dict = {}

    def on_chunk(chunk: dict) -> bool:
        for choice in chunk.get("choices") or []:
            if (choice.get("delta") or {}).get("content") and not first:
                first.append(time.perf_counter() - start)
        if chunk.get("usage"):
            usage.update(chunk["usage"])
        return False

    request = {"messages": messages, "stream": True, "stream_options": {"include_usage": True},
               "max_tokens": max_tokens, "temperature": 0.0, "top_p": 1.0, "seed": seed}
    server.handle_chat_completions(request, on_chunk)
    total = time.perf_counter() - start
    return {"ttft_s": first[0] if first else total, "total_s": total,
            "tokens_in": usage.get("prompt_tokens", 0), "tokens_out": usage.get("completion_tokens", 0)}


def app_call(services, question: str) -> tuple[dict, list[dict]]:
    """One question through Assistant.ask (the path the UI and CLI use)."""
    start = time.perf_counter()
    turn = services.assistant.ask(question)
    first = None
    for _ in turn:
        if first is None:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    result = turn.result
    record = services.records.get(result.record_id)
    messages = [{"role": m["role"], "content": m["content"]} for m in record["prompt"]]
    return {"ttft_s": first or total, "total_s": total, "tokens_in": result.tokens_in,
            "tokens_out": result.tokens_out}, messages


def bare_server(model: str, settings: Settings):
    """An xllamacpp server on the app's GGUF file with the app's context and threads, warmed up."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(ensure_model_file(model, settings.resolved_models_dir))
    params.n_ctx, params.n_parallel, params.verbosity = 4096, 1, -1
    params.cpuparams.n_threads = settings.embedded_threads
    params.cpuparams_batch.n_threads = settings.embedded_batch_threads
    bare = xllamacpp.Server(params)
    bare_call(bare, [{"role": "user", "content": "warm up"}], 8, 7)
    return bare


def summarise(rows: list[dict]) -> dict:
    """Medians of a list of measurements."""
    tps = [r["tokens_out"] / max(r["total_s"] - r["ttft_s"], 1e-9) for r in rows if r["tokens_out"] > 1]
    return {
        "ttft_s": statistics.median(r["ttft_s"] for r in rows),
        "total_s": statistics.median(r["total_s"] for r in rows),
        "tokens_out": statistics.median(r["tokens_out"] for r in rows),
        "gen_tokens_per_s": statistics.median(tps) if tps else 0.0,
        "s_per_output_token": statistics.median(r["total_s"] / max(r["tokens_out"], 1) for r in rows),
        "n": len(rows),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models-dir", type=Path, default=Path.home() / ".analyst-assistant" / "models")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        overrides = {"data_dir": Path(tmp), "models_dir": args.models_dir, "backend": "embedded",
                     "embedded_model": args.model, "temperature": 0.0, "top_p": 1.0, "seed": 7,
                     "max_tokens": args.max_tokens, "embedded_ctx": 4096}
        if args.threads:
            overrides["embedded_threads"] = args.threads
        settings = Settings(**overrides)
        services = build_services(settings)
        print(f"Loading {args.model} ({settings.embedded_threads} generation / {settings.embedded_batch_threads} "
              "prompt thread(s))…", flush=True)
        services.assistant.ask("warm up").run()  # loads the model, fills caches
        bare = bare_server(args.model, settings)

        app_rows, bare_rows = [], []
        for repeat in range(args.repeats):
            for question in PROMPTS:
                # Alternate the two paths so drift in machine load hits both alike.
                app_row, messages = app_call(services, question)
                bare_row = bare_call(bare, messages, args.max_tokens, 7)
                app_rows.append(app_row)
                bare_rows.append(bare_row)
                print(f"  [{repeat + 1}] app {app_row['total_s']:6.2f} s ({app_row['tokens_out']} tok)  "
                      f"bare {bare_row['total_s']:6.2f} s ({bare_row['tokens_out']} tok)  {question[:40]}", flush=True)

    app_s, bare_s = summarise(app_rows), summarise(bare_rows)
    overhead_total = app_s["total_s"] / bare_s["total_s"] - 1
    overhead_per_token = app_s["s_per_output_token"] / bare_s["s_per_output_token"] - 1
    print(f"\nModel {args.model}, {len(PROMPTS)} prompts x {args.repeats}, max {args.max_tokens} tokens, medians:")
    print(f"{'':18}{'TTFT s':>10}{'total s':>10}{'tok/s':>10}{'s/token':>10}")
    for name, s in (("app service path", app_s), ("bare xllamacpp", bare_s)):
        print(f"{name:18}{s['ttft_s']:10.3f}{s['total_s']:10.3f}{s['gen_tokens_per_s']:10.2f}"
              f"{s['s_per_output_token']:10.4f}")
    print(f"overhead: total time {overhead_total:+.1%}, time per output token {overhead_per_token:+.1%} "
          f"(target < 5%)")
    write_results(f"chat-{args.model}", {
        "benchmark": "chat", "when": datetime.now(UTC).isoformat(timespec="seconds"), "model": args.model,
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "threads": settings.embedded_threads, "batch_threads": settings.embedded_batch_threads,
        "prompts": len(PROMPTS), "repeats": args.repeats,
        "max_tokens": args.max_tokens, "app": app_s, "bare": bare_s,
        "overhead_total": overhead_total, "overhead_per_output_token": overhead_per_token,
        "rows": {"app": app_rows, "bare": bare_rows},
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
