"""Background jobs end to end: `ingest --background`, `eval run --background`, `worker` killed mid-job and started
again, `jobs ...`, and a Redis-backed queue (a real redis-server on 127.0.0.1, skipped where Debian's
redis-server is absent)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from app.jobs.store import JobStore
from storage.chroma_index import ChromaIndex
from storage.embedder import shared_embedder
from storage.keyword_index import KeywordIndex
from tests.fixtures import build_mini
from tests.fixtures import pdf_factory as pf
from tests.fixtures.chroma_server import free_port
from tests.fixtures.paths import FIXTURES, ROOT


def _manual(pages: int, lines: int = 30) -> bytes:
    return pf.text_pdf([[f"Page {p} of the fleet manual: van {p} is serviced in depot {p % 7}, line {i}."
                         for i in range(lines)] for p in range(1, pages + 1)])


@contextmanager
def worker(cli: Any, **env: str) -> Iterator[subprocess.Popen[str]]:
    """`python -m app worker` on the CLI's data dir, stopped (SIGINT, then killed) when the block ends."""
    proc = subprocess.Popen([sys.executable, "-m", "app", "--data-dir", str(cli.data_dir), "worker"], cwd=ROOT,
                            env={**cli.env, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def job(cli: Any, job_id: str) -> dict[str, Any]:
    """The job as `jobs show --json` prints it, read from the job store (polling through the CLI would start a
    Python process each time and slow the worker down)."""
    return JobStore(cli.data_dir / "job_status.sqlite").get(job_id).to_dict()


def wait_for(cli: Any, job_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = job(cli, job_id)
        if done(state):
            return state
        assert time.monotonic() < deadline, f"job did not get there in {timeout} s: {state}"
        time.sleep(0.2)


def submit(cli: Any, path: Path, **env: str) -> str:
    out = cli("ingest", str(path), "--background", "--json", **env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["job"]["id"]


def test_a_worker_killed_mid_ingestion_is_resumed_by_the_next_one_without_duplicate_chunks(cli, tmp_path) -> None:
    # 8 chunks a page: the library writes chunks 256 at a time, after page 32; progress 32/40 says they are in.
    pdf = pf.write(tmp_path / "manual.pdf", _manual(40, lines=60))
    job_id = submit(cli, pdf)
    assert job(cli, job_id)["state"] == "queued"
    with worker(cli) as first:
        wait_for(cli, job_id, lambda j: j["state"] == "running" and j["progress"] >= 0.8)
        first.kill()  # SIGKILL: no chance to clean up, like a crashed machine
        first.wait()
    cut = job(cli, job_id)
    assert cut["state"] == "running" and cut["progress"] < 1  # as the dead worker left it
    listed = json.loads(cli("docs", "list", "--json").stdout)["documents"]
    assert [d["status"] for d in listed] in (["indexing"], ["pending"])  # not searchable half-way

    with worker(cli):
        done = wait_for(cli, job_id, lambda j: j["finished"])
    assert done["state"] == "done" and done["attempts"] == 2, done
    (doc,) = json.loads(cli("docs", "list", "--json").stdout)["documents"]
    assert doc["status"] == "indexed" and doc["pages"] == 40
    data = cli.data_dir
    assert ChromaIndex(data / "chroma", shared_embedder()).count(doc["id"]) == doc["chunks"]
    assert KeywordIndex(data / "documents.sqlite").count(doc["id"]) == doc["chunks"]
    hits = json.loads(cli("search", "which depot services van 37", "--json").stdout)["results"]
    assert hits and hits[0]["page"] == 37


def test_jobs_list_cancel_retry_and_bad_input(cli, tmp_path) -> None:
    pdf = pf.write(tmp_path / "fleet.pdf", _manual(2))
    job_id = submit(cli, pdf)
    listed = cli("jobs", "list")
    assert listed.returncode == 0 and job_id in listed.stdout and "queued" in listed.stdout
    cancelled = cli("jobs", "cancel", job_id)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    again = cli("jobs", "cancel", job_id)
    assert again.returncode == 2 and "already cancelled" in again.stderr
    retried = cli("jobs", "retry", job_id)
    assert retried.returncode == 0 and "queued again" in retried.stdout
    with worker(cli):
        done = wait_for(cli, job_id, lambda j: j["finished"])
    assert done["state"] == "done" and done["result"]["files"][0]["status"] == "indexed"
    assert json.loads(cli("jobs", "list", "--json").stdout)["jobs"][0]["id"] == job_id
    shown = cli("jobs", "show", job_id)
    assert shown.returncode == 0 and "indexed" in shown.stdout and "fleet.pdf" in shown.stdout

    unknown = cli("jobs", "retry", "nope")
    assert unknown.returncode == 2 and "No job with id nope" in unknown.stderr
    secret = cli("ingest", str(pdf), "--background", "--password", "s3cret")
    assert secret.returncode == 2 and "never written into the job queue" in secret.stderr
    missing = cli("ingest", str(tmp_path / "gone.pdf"), "--background")
    assert missing.returncode == 2 and "No such file or folder" in missing.stderr
    both = cli("ingest", str(pdf), str(FIXTURES / "tables" / "sales.csv"), "--background", "--json")
    assert both.returncode == 0
    assert [j["kind"] for j in json.loads(both.stdout)["jobs"]] == ["ingest", "tables"]  # tables get their own job
    bad_workers = cli("worker", "--workers", "0")
    assert bad_workers.returncode == 2 and "--workers must be at least 1" in bad_workers.stderr


def test_docs_resume_in_the_background_is_a_job_a_worker_finishes(cli) -> None:
    out = cli("docs", "resume", "--background", "--json")
    assert out.returncode == 0, out.stderr
    queued = json.loads(out.stdout)["job"]
    assert queued["kind"] == "ingest" and queued["payload"]["resume"] is True
    with worker(cli):
        done = wait_for(cli, queued["id"], lambda j: j["finished"])
    assert done["state"] == "done" and done["result"]["files"] == []  # nothing was interrupted: it just ends
    assert queued["id"] in cli("jobs", "list").stdout


@pytest.fixture()
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server on 127.0.0.1 (a free port, no persistence), stopped after the test."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (Debian package redis-server; .ci/run installs it)")
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while subprocess.run([sys.executable, "-c", f"import redis; redis.Redis(port={port}).ping()"],
                             capture_output=True).returncode:
            assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
            time.sleep(0.2)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_redis_backed_queue_is_run_by_a_separate_worker(cli, tmp_path, redis_url) -> None:
    pdf = pf.write(tmp_path / "fleet.pdf", _manual(3))
    job_id = submit(cli, pdf, ANALYST_JOBS_URL=redis_url)
    assert not (cli.data_dir / "jobs.sqlite").exists()  # the messages went to Redis
    with worker(cli, ANALYST_JOBS_URL=redis_url):
        done = wait_for(cli, job_id, lambda j: j["finished"])
    assert done["state"] == "done", done
    hits = json.loads(cli("search", "which depot services van 2", "--json").stdout)["results"]
    assert hits and hits[0]["source"] == "fleet.pdf"


def test_redis_down_is_a_clear_message(cli, tmp_path, closed_port) -> None:
    pdf = pf.write(tmp_path / "fleet.pdf", _manual(1))
    out = cli("ingest", str(pdf), "--background", ANALYST_JOBS_URL=f"redis://127.0.0.1:{closed_port}/0")
    assert out.returncode == 2
    assert "job queue at redis://127.0.0.1" in out.stderr and "Start the Redis server" in out.stderr


def test_eval_run_in_the_background_is_run_by_a_worker_and_shown_by_jobs_show(cli, tmp_path) -> None:
    mini = build_mini.build(tmp_path / "mini")
    out = cli("eval", "run", str(mini), "--only", "retrieval", "--background", "--json")
    assert out.returncode == 0, out.stderr
    queued = json.loads(out.stdout)
    assert (queued["kind"], queued["state"], queued["payload"]["name"]) == ("evaluation", "queued", "mini")
    with worker(cli):
        done = wait_for(cli, queued["id"], lambda j: j["finished"])
    assert done["state"] == "done" and done["message"] == "run 1: 2 item(s) scored", done
    shown = cli("jobs", "show", queued["id"])
    assert shown.returncode == 0 and "evaluation run 1: `python -m app eval show 1`" in shown.stdout
    (run,) = json.loads(cli("eval", "list", "--json").stdout)["runs"]
    assert (run["id"], run["status"], run["set_name"]) == (1, "finished", "mini")

    unknown = cli("eval", "run", str(mini), "--background", "--model", "gpt-17")
    assert unknown.returncode == 2 and "Unknown model" in unknown.stderr
    assert len(json.loads(cli("jobs", "list", "--json").stdout)["jobs"]) == 1  # nothing queued for it
