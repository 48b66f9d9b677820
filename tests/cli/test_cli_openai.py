"""`python -m app ask` through an OpenAI-compatible server: the real `model-server` with the packaged 0.5B."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.model_server import running_model_server
from tests.fixtures.models import TEST_EMBEDDED_MODEL


def test_ask_answers_through_the_model_server(cli, models_dir: Path, packaged_model_path: Path, tmp_path: Path):
    with running_model_server(models_dir, tmp_path / "server-data") as url:
        env = {"ANALYST_BACKEND": "openai", "ANALYST_OPENAI_BASE_URL": url, "ANALYST_OPENAI_MODEL": TEST_EMBEDDED_MODEL}
        done = cli("ask", "--json", "What is the capital of France? One word.", **env)
        status = cli("status", "--json", **env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert "Paris" in answer["answer"]
    assert (answer["status"], answer["backend"], answer["model"]) == ("ok", "openai", TEST_EMBEDDED_MODEL)
    assert answer["tokens_in"] > 0 and answer["tokens_out"] > 0 and not answer["tokens_estimated"]
    assert status.returncode == 0, status.stderr
    assert (json.loads(status.stdout)["backend"], json.loads(status.stdout)["model"]) == ("openai", TEST_EMBEDDED_MODEL)


def test_ask_with_the_server_down_says_so(cli, closed_port: int):
    url = f"http://127.0.0.1:{closed_port}/v1"
    done = cli("ask", "Hello?", ANALYST_BACKEND="openai", ANALYST_OPENAI_BASE_URL=url, ANALYST_OPENAI_MODEL="m")
    assert done.returncode == 2
    assert "not reachable" in done.stderr and url in done.stderr


def test_model_server_refuses_a_non_loopback_address(cli):
    done = cli("model-server", "--address", "0.0.0.0", "--port", "8080")
    assert done.returncode == 2
    assert "no authentication" in done.stderr and "--allow-remote" in done.stderr
