"""Many analysts at once: 1, 5 and 20 simulated users ask mixed document and SQL questions through the app's
services (one `build_services`, as the web server shares it) against a local OpenAI-compatible stub that streams
with a fixed time per token, so the figures measure the app, not the model.

Per level: p50/p95 turn latency, throughput, errors, request records written vs turns asked (each once) and the
audit chain verified; and the p95 turn latency as a ratio to the stub's own time for the same turns (the sum of
the server-side durations of each turn's model calls; goal at 20 users: <= 1.2x).

The stub runs as a process of its own by default, as a model server is (`--stub process`); `--stub thread` runs it
inside the benchmark's process, where its token timer competes for the GIL with the twenty analysts and so slows
both its own figure and the app's; `--stub both` measures both ways in one run, one after the other.

    flock /tmp/bench.lock python bench/load.py [--users 1 5 20] [--turns 4] [--seconds-per-token 0.01]
                                               [--stub process|thread|both]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Protocol

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


class Stub(Protocol):
    """The stub as the benchmark uses it, in this process or in its own."""

    url: str
    model: str

    def stats(self) -> dict[str, Any]:
        """{"max_active", "turn_seconds": {"N": seconds}, "requests"}."""
        ...

    def reset_peak(self) -> None:
        """Start counting the most requests served at once again."""
        ...

    def stop(self) -> None:
        """Stop serving."""
        ...


class ThreadStub:
    """The stub's server threads inside this process (sharing its GIL with the app)."""

    def __init__(self, seconds_per_token: float) -> None:
        self.server = OpenAIStub(seconds_per_token).start()
        self.url, self.model = self.server.url, self.server.model

    def stats(self) -> dict[str, Any]:
        """The server's counters."""
        return self.server.stats()

    def reset_peak(self) -> None:
        """Clear the peak of requests at once."""
        self.server.max_active = 0

    def stop(self) -> None:
        """Stop the server threads."""
        self.server.stop()


class ProcessStub:
    """The stub as a process of its own (`python -m tests.fixtures.openai_stub`), like a real model server."""

    def __init__(self, seconds_per_token: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fixtures.openai_stub", "--seconds-per-token", str(seconds_per_token)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.stop()
            raise RuntimeError("The stub process did not start (it printed no URL).")
        self.model = "stub-model"
        self._root = self.url.removesuffix("/v1")

    def _call(self, path: str, method: str = "GET") -> dict[str, Any]:
        request = urllib.request.Request(self._root + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return dict(json.load(answer))

    def stats(self) -> dict[str, Any]:
        """The server's counters, read over HTTP."""
        return self._call("/_stub/stats")

    def reset_peak(self) -> None:
        """Clear the peak of requests at once."""
        self._call("/_stub/reset", "POST")

    def stop(self) -> None:
        """Close its standard input (it stops) and wait for it."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def prepare(root: Path, stub: Stub, parallel: int) -> Services:
    """Services on a fresh data dir with the finance policy (PDF) and the sales table loaded."""
    settings = Settings(data_dir=root / "data", keys_dir=root / "keys", backend="openai", openai_base_url=stub.url,
                        openai_model=stub.model, tool_mode="router", max_parallel_requests=parallel, user="bench")
    services = build_services(settings)
    services.documents.ingest_file(pf.write(root / "policy.pdf", pf.text_pdf(POLICY_PAGES)))
    csv = root / "sales.csv"
    csv.write_bytes(SALES_CSV)
    load_table(services.tables, csv)
    return services


def run_level(services: Services, stub: Stub, users: int, turns: int, first_turn: int) -> dict[str, Any]:
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
    stats = stub.stats()
    stub_s = [float(stats["turn_seconds"].get(str(t), 0.0)) for t in latencies]
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
        "stub_max_concurrent": stats["max_active"],
    }


def measure(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every level against a stub run as `mode` ("process" or "thread"), on a fresh data dir."""
    stub: Stub = ProcessStub(args.seconds_per_token) if mode == "process" else ThreadStub(args.seconds_per_token)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
            services = prepare(Path(tmp), stub, args.parallel)
            try:
                services.assistant.ask("[turn-0] How is revenue defined?").run()  # warm-up: imports, connections
                for level, users in enumerate(args.users, start=1):
                    stub.reset_peak()
                    rows.append(run_level(services, stub, users, args.turns, first_turn=level * 10_000))
                verified = services.records.verify_report()
            finally:
                services.close()
    finally:
        stub.stop()
    return {"stub": mode, "levels": rows, "audit_chain_ok": verified["ok"], "audit_records": verified["records"]}


def print_run(run: dict[str, Any]) -> None:
    """One run's table."""
    where = "its own process" if run["stub"] == "process" else "the benchmark's process (threads)"
    print(f"stub in {where}:")
    print(f"{'users':>5} {'turns':>5} {'err':>4} {'p50 s':>7} {'p95 s':>7} {'stub p95':>8} {'ratio':>6} "
          f"{'turns/s':>8} {'records':>8} {'dupes':>5}")
    for r in run["levels"]:
        print(f"{r['users']:>5} {r['turns_answered']:>5} {r['errors']:>4} {r['p50_s']:>7.3f} {r['p95_s']:>7.3f} "
              f"{r['stub_p95_s']:>8.3f} {r['p95_ratio_to_stub']:>6.2f} {r['throughput_turns_per_s']:>8.2f} "
              f"{r['chat_records_of_these_turns']:>4}/{r['turns_asked']:<3} {r['duplicate_records']:>5}")
    print(f"audit chain: {'intact' if run['audit_chain_ok'] else 'BROKEN'} ({run['audit_records']} records)")


def main() -> int:
    """Run the levels (per stub mode), print the tables, write bench/results/load.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--turns", type=int, default=4, help="Questions per simulated analyst (default 4).")
    parser.add_argument("--seconds-per-token", type=float, default=0.01, help="The stub's time per token.")
    parser.add_argument("--parallel", type=int, default=32, help="max_parallel_requests (default 32, a vLLM-like "
                        "server that batches; the app's default for servers is 4).")
    parser.add_argument("--stub", choices=("process", "thread", "both"), default="process",
                        help="Run the stub as its own process (default: a model server is another process), in "
                        "this process's threads (it then shares the GIL with the app), or both, one after the other.")
    parser.add_argument("--threads", type=int, default=1, help="Accepted for the benchmarks' common command line; "
                        "the stub uses no model.")
    args = parser.parse_args()
    load_before = os.getloadavg()
    runs = [measure(mode, args) for mode in (("process", "thread") if args.stub == "both" else (args.stub,))]
    load_after = os.getloadavg()
    print(f"stub: {args.seconds_per_token * 1000:.0f} ms per token, max_parallel_requests={args.parallel}, "
          f"{args.turns} turns per analyst (mixed documents / SQL); load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after")
    for run in runs:
        print_run(run)
    write_results("load", {"seconds_per_token": args.seconds_per_token, "max_parallel_requests": args.parallel,
                           "turns_per_user": args.turns, "stub": runs[0]["stub"], "levels": runs[0]["levels"],
                           "audit_chain_ok": all(r["audit_chain_ok"] for r in runs),
                           "audit_records": runs[0]["audit_records"], "runs": runs,
                           "load_average_1min": [round(load_before[0], 2), round(load_after[0], 2)],
                           "note": "2-core machine; see load_average_1min for how busy it was"})
    ok = all(r["audit_chain_ok"] and all(level["errors"] == 0 for level in r["levels"]) for r in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
