"""Time `python -m app demo load` on a fresh data directory, the whole process (imports included): the PDF
indexed while the recording, image and table load on a second thread (now) vs one file after the other (before).

Runs alternate (sequential, overlapped, sequential, ...) so a machine whose speed drifts affects both alike.
Wrap it: `flock /tmp/bench.lock python -m bench.demo_load --runs 3`. Writes bench/results/demo_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import write_results

ROOT = Path(__file__).resolve().parent.parent
RUN = ("import sys; import app.demo.load as demo; demo.OVERLAP = {overlap}; from app.cli import main; "
       "sys.exit(main(['--data-dir', {data!r}, 'demo', 'load', '--json']))")


def one_run(overlap: bool, threads: int) -> dict:
    """One `demo load` in a new process on a new data directory: wall seconds and what it loaded."""
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYST_")}
        env["ANALYST_WHISPER_THREADS"] = str(threads)
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", RUN.format(overlap=overlap, data=str(Path(tmp) / "data"))],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"demo load failed ({done.returncode}): {done.stderr[-2000:]}")
    loaded = json.loads(done.stdout)
    return {"wall_s": round(wall, 2), "load_s": loaded["seconds"],
            "files": [(f["name"], f["status"]) for f in loaded["files"]]}


def main() -> None:
    """Alternate the two ways, print medians and the ratio, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="whisper threads (the app's default is 1)")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"sequential": [], "overlapped": []}
    for n in range(args.runs):
        for name, overlap in (("sequential", False), ("overlapped", True)):
            result = one_run(overlap, args.threads)
            runs[name].append(result)
            print(f"run {n + 1} {name:10} wall {result['wall_s']:6.1f} s  (load {result['load_s']:.1f} s)",
                  flush=True)
    summary = {name: {"median_wall_s": statistics.median(r["wall_s"] for r in rs),
                      "median_load_s": statistics.median(r["load_s"] for r in rs)} for name, rs in runs.items()}
    ratio = summary["overlapped"]["median_wall_s"] / summary["sequential"]["median_wall_s"]
    for name, s in summary.items():
        print(f"{name:10} median wall {s['median_wall_s']:.1f} s, of which loading {s['median_load_s']:.1f} s")
    print(f"overlapped / sequential (wall): {ratio:.2f}")
    write_results("demo_load", {"runs": runs, "summary": summary, "ratio_wall": round(ratio, 3),
                                "cpus": os.cpu_count(), "whisper_threads": args.threads,
                                "note": "fresh data dir per run; whole process timed (imports included); "
                                        "shared machine: other helpers' tests and benchmarks ran meanwhile"})


if __name__ == "__main__":
    main()
