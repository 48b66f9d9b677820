"""Which running jobs count as interrupted: a dead worker on this machine (even one whose pid this process got
back), or a worker on another machine that has not reported progress for a long time; never a live one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from app.jobs.store import WORKER_ID, JobStore


def _running(store: JobStore, worker: str, updated_ago_s: float = 0.0) -> str:
    job = store.create("ingest", {"paths": []})
    store._update("UPDATE jobs SET state = 'running', worker = ?, updated_at = ? WHERE id = ?",
                  (worker, time.time() - updated_ago_s, job.id))
    return job.id


def test_interrupted_jobs_are_told_from_live_ones(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "job_status.sqlite")
    host = socket.gethostname()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ours = _running(store, WORKER_ID, updated_ago_s=3600)  # this process, however long since its last progress
    dead_pid = _running(store, f"{host}:{dead.stdout.strip()}:abcd1234")
    pid_reused = _running(store, f"{host}:{os.getpid()}:0ldt0ken")  # a process before us that had our pid
    live_here = _running(store, f"{host}:1:abcd1234", updated_ago_s=3600)  # pid 1 lives: slow, not lost
    far_quiet = _running(store, "elsewhere:42:abcd1234", updated_ago_s=3600)
    far_busy = _running(store, "elsewhere:43:abcd1234", updated_ago_s=5)
    lost = {j.id for j in store.interrupted(stale_after_s=600)}
    assert lost == {dead_pid, pid_reused, far_quiet}
    assert not lost & {ours, live_here, far_busy}
