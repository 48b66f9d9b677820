"""Many analysts at once: 1, 5 and 20 simulated users ask mixed document and SQL questions through the app's
services (one `build_services`, as the web server shares it) against a local OpenAI-compatible stub that streams
with a fixed time per token, so the figures measure the app, not the model.

Per level: p50/p95 turn latency, throughput, errors, request records written vs turns asked (each once) and the
audit chain verified; and the p95 turn latency as a ratio to the stub's own time for the same turns (the sum of
the server-side durations of each turn's model calls; goal at 20 users: <= 1.2x).

    flock /tmp/bench.lock python bench/load.py [--users 1 5 20] [--turns 4] [--seconds-per-token 0.01]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/load.py` from the repository
    sys.path.insert(0, str(ROOT))

from app.commands.ingest_tables import load_table  # noqa: E402
from app.container import Services, build_services  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.common import write_results  # noqa: E402
from tests.fixtures import pdf_factory as pf  # noqa: E402
from tests.fixtures.openai_stub import OpenAIStub  # noqa: E402
from tests.fixtures.turns import POLICY_PAGES, SALES_CSV  # noqa: E402

QUESTIONS = (
    "How is revenue defined in the finance policy?",  # documents
    "What is the total revenue by region in the sales table?",  # SQL
    "When are travel expenses reimbursed according to the policy?",  # documents
    "Which region had the highest revenue in sales?",  # SQL
)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))] if ordered else 0.0


def prepare(root: Path, stub: OpenAIStub, parallel: int) -> Services:
    """Services on a fresh data dir with the finance policy (PDF) and the sales table loaded."""
    settings = Settings(data_dir=root / "data", keys_dir=root / "keys", backend="openai", openai_base_url=stub.url,
                        openai_model=stub.model, tool_mode="router", max_parallel_requests=parallel, user="bench")
    services = build_services(settings)
    services.documents.ingest_file(pf.write(root / "policy.pdf", pf.text_pdf(POLICY_PAGES)))
    csv = root / "sales.csv"
    csv.write_bytes(SALES_CSV)
    load_table(services.tables, csv)
    return services


def run_level(services: Services, stub: OpenAIStub, users: int, turns: int, first_turn: int) -> dict[str, Any]:
    """`users` threads, each asking `turns` questions in its own conversation, all starting together."""
    latencies: dict[int, float] = {}
    errors: list[str] = []
    record_ids: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(users)

    def analyst(user: int) -> None:
        conversation = services.conversations.create().id
        start.wait()
        for n in range(turns):
            turn_id = first_turn + user * turns + n
            question = f"[turn-{turn_id}] {QUESTIONS[(user + n) % len(QUESTIONS)]}"
            began = time.monotonic()
            try:
                result = services.assistant.ask(question, conversation_id=conversation).run()
            except Exception as exc:  # noqa: BLE001 - counted as an error of the level, the run goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies[turn_id] = time.monotonic() - began
                record_ids.append(result.record_id)
                if getattr(result, "error", ""):
                    errors.append(str(result.error))

    before = services.records.count()
    began = time.monotonic()
    threads = [threading.Thread(target=analyst, args=(u,)) for u in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    chats = [r["id"] for r in services.records.iter_all() if r.get("kind") == "chat"]
    stub_s = [stub.turn_seconds.get(t, 0.0) for t in latencies]
    turn_lat = list(latencies.values())
    return {
        "users": users, "turns_asked": users * turns, "turns_answered": len(turn_lat), "errors": len(errors),
        "error_samples": errors[:3], "wall_s": round(wall, 3),
        "throughput_turns_per_s": round(len(turn_lat) / wall, 3) if wall else 0.0,
        "p50_s": round(percentile(turn_lat, 50), 3), "p95_s": round(percentile(turn_lat, 95), 3),
        "stub_p50_s": round(percentile(stub_s, 50), 3), "stub_p95_s": round(percentile(stub_s, 95), 3),
        "p95_ratio_to_stub": round(percentile(turn_lat, 95) / percentile(stub_s, 95), 3) if stub_s else None,
        "records_written": services.records.count() - before,
        "chat_records_of_these_turns": sum(1 for r in chats if r in set(record_ids)),
        "duplicate_records": len(record_ids) - len(set(record_ids)),
        "stub_max_concurrent": stub.max_active,
    }


def main() -> int:
    """Run the levels, print the table, write bench/results/load.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--turns", type=int, default=4, help="Questions per simulated analyst (default 4).")
    parser.add_argument("--seconds-per-token", type=float, default=0.01, help="The stub's time per token.")
    parser.add_argument("--parallel", type=int, default=32, help="max_parallel_requests (default 32, a vLLM-like "
                        "server that batches; the app's default for servers is 4).")
    parser.add_argument("--threads", type=int, default=1, help="Accepted for the benchmarks' common command line; "
                        "the stub uses no model.")
    args = parser.parse_args()
    stub = OpenAIStub(args.seconds_per_token).start()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        services = prepare(Path(tmp), stub, args.parallel)
        try:
            services.assistant.ask("[turn-0] How is revenue defined?").run()  # warm-up: imports, first connections
            for level, users in enumerate(args.users, start=1):
                stub.max_active = 0
                rows.append(run_level(services, stub, users, args.turns, first_turn=level * 10_000))
            verified = services.records.verify_report()
        finally:
            services.close()
            stub.stop()
    print(f"stub: {args.seconds_per_token * 1000:.0f} ms per token, max_parallel_requests={args.parallel}, "
          f"{args.turns} turns per analyst (mixed documents / SQL)")
    print(f"{'users':>5} {'turns':>5} {'err':>4} {'p50 s':>7} {'p95 s':>7} {'stub p95':>8} {'ratio':>6} "
          f"{'turns/s':>8} {'records':>8} {'dupes':>5}")
    for r in rows:
        print(f"{r['users']:>5} {r['turns_answered']:>5} {r['errors']:>4} {r['p50_s']:>7.3f} {r['p95_s']:>7.3f} "
              f"{r['stub_p95_s']:>8.3f} {r['p95_ratio_to_stub']:>6.2f} {r['throughput_turns_per_s']:>8.2f} "
              f"{r['chat_records_of_these_turns']:>4}/{r['turns_asked']:<3} {r['duplicate_records']:>5}")
    print(f"audit chain: {'intact' if verified['ok'] else 'BROKEN'} ({verified['records']} records)")
    write_results("load", {"seconds_per_token": args.seconds_per_token, "max_parallel_requests": args.parallel,
                           "turns_per_user": args.turns, "levels": rows, "audit_chain_ok": verified["ok"],
                           "audit_records": verified["records"],
                           "note": "shared 2-core machine (other work running): timings are noisy"})
    return 0 if verified["ok"] and all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
