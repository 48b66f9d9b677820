"""`python -m app ...` end to end, in a subprocess, with the real embedded model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.paths import ROOT

QUESTION = "What is the capital of France?"


def test_status_json(cli):
    done = cli("status", "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert {"backend", "model", "vision", "ollama", "data_dir"} <= set(status)
    assert (status["backend"], status["model"], status["vision"]) == ("embedded", "qwen2.5-coder-1.5b", False)
    assert status["ollama"]["host"] == cli.ollama_host
    assert status["ollama"]["reachable"] is False and status["ollama"]["models"] == []
    assert Path(status["data_dir"]) == cli.data_dir.resolve()
    assert "Traceback" not in done.stderr


def test_status_text_with_model_flag(cli):
    done = cli("--model", "qwen2.5-coder-0.5b", "status")
    assert done.returncode == 0, done.stderr
    assert "qwen2.5-coder-0.5b" in done.stdout and "embedded" in done.stdout
    assert "not reachable" in done.stdout


@pytest.mark.slow
def test_ask_json_answers_with_the_embedded_model(cli, packaged_model_path):
    done = cli("--model", "qwen2.5-coder-0.5b", "ask", QUESTION, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"answer", "model", "backend", "citations", "tools"} <= set(result)
    assert "Paris" in result["answer"]
    assert (result["model"], result["backend"]) == ("qwen2.5-coder-0.5b", "embedded")
    assert result["citations"] == [] and result["tools"] == []
    assert "Traceback" not in done.stderr

    # The same service path as the UI: the answer is in the request records.
    from storage.records import SqliteRecordStore

    (record,) = SqliteRecordStore(cli.data_dir / "records.sqlite").query()
    assert (record["status"], record["answer"]) == ("ok", result["answer"])


@pytest.mark.parametrize("question", ["", "   "])
def test_an_empty_question_is_a_user_error(cli, question):
    done = cli("ask", question, "--json")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "empty" in lines[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_an_empty_question_from_stdin_is_a_user_error(cli):
    done = cli("ask", "-", stdin="")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "empty" in done.stderr


def test_a_missing_image_is_a_user_error(cli, tmp_path):
    done = cli("ask", "What is this?", "--image", str(tmp_path / "nope.png"))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "nope.png" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_invalid_setting_is_a_user_error(cli):
    done = cli("status", "--json", ANALYST_MAX_TOKENS="lots")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "max_tokens" in lines[0]
    assert "Traceback" not in done.stderr


def test_an_unreachable_ollama_backend_is_a_user_error_with_the_fix(cli):
    done = cli("--backend", "ollama", "ask", QUESTION, "--json")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "not reachable" in lines[0] and "ollama serve" in lines[0]
    assert "Traceback" not in done.stderr


def test_a_corrupt_settings_file_is_a_user_error(cli):
    cli.data_dir.mkdir(parents=True)
    (cli.data_dir / "settings.json").write_text("{broken")
    done = cli("status", "--json")
    assert done.returncode == 2
    assert "settings.json" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_status_and_ask_through_a_running_ollama(cli, fake_ollama):
    fake_ollama.add_model("nomic-embed-text:latest", ("embedding",), family="nomic-bert")
    fake_ollama.add_model("gemma3:4b", ("completion", "vision"), context_length=131072, family="gemma3")
    fake_ollama.reply("The capital ", "is Paris.")

    status = cli("status", "--json", ANALYST_OLLAMA_HOST=fake_ollama.host)
    assert status.returncode == 0, status.stderr
    payload = json.loads(status.stdout)
    assert (payload["backend"], payload["model"], payload["vision"]) == ("ollama", "gemma3:4b", True)
    assert payload["ollama"] == {"host": fake_ollama.host, "reachable": True, "error": "",
                                 "models": ["nomic-embed-text:latest", "gemma3:4b"]}

    # Without --json the answer streams to stdout and the stats line goes to stderr.
    done = cli("ask", QUESTION, ANALYST_OLLAMA_HOST=fake_ollama.host)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "The capital is Paris.\n"
    assert "gemma3:4b (ollama)" in done.stderr
    (request,) = fake_ollama.chat_requests()
    assert request["options"]["num_ctx"] == 8192


@pytest.mark.slow
def test_killed_mid_answer_keeps_the_question_and_the_partial_answer(cli, packaged_model_path):
    from storage.conversations import INTERRUPTED, ConversationStore

    cli.data_dir.mkdir(parents=True)
    store = ConversationStore(cli.data_dir / "chats.sqlite")
    conv = store.create()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYST_")}
    env.update({"ANALYST_MODELS_DIR": str(packaged_model_path.parent), "ANALYST_OLLAMA_HOST": cli.ollama_host,
                "ANALYST_EMBEDDED_CTX": "2048", "ANALYST_MAX_TOKENS": "600", "ANALYST_TEMPERATURE": "0"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(cli.data_dir), "--model", "qwen2.5-coder-0.5b",
         "ask", "Count from 1 to 300, separated by commas.", "--conversation", conv.id],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        # Wait (by content, not by clock) until part of the answer has been saved, then kill the app.
        partial = ""
        while not partial:
            assert proc.poll() is None, "the answer finished before it could be interrupted"
            proc.stdout.read1(64)
            answers = [m for m in store.messages(conv.id) if m.role == "assistant"]
            partial = answers[0].content if answers else ""
        proc.kill()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)

    user, answer = ConversationStore(cli.data_dir / "chats.sqlite").messages(conv.id)
    assert (user.role, user.content) == ("user", "Count from 1 to 300, separated by commas.")
    assert answer.status == INTERRUPTED
    assert answer.content.startswith(partial)  # what was saved before the kill is still there
