"""`report` and `audit verify-report` end to end: a conversation answered by the embedded model, exported as HTML
and PDF, verified, then edited."""

from __future__ import annotations

import json

import pytest

from storage.conversations import ConversationStore


def test_report_of_an_unknown_conversation_exits_2_and_says_how_to_find_one(cli, tmp_path):
    done = cli("report", "nope123", "--format", "html", "--out", str(tmp_path / "r.html"))
    assert done.returncode == 2
    assert "No conversation with id nope123" in done.stderr and "report --list" in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_report_of_a_conversation_without_answers_exits_2(cli, tmp_path):
    cli.data_dir.mkdir(parents=True, exist_ok=True)
    conv = ConversationStore(cli.data_dir / "chats.sqlite").create("Empty")
    done = cli("report", conv.id, "--format", "pdf", "--out", str(tmp_path / "r.pdf"))
    assert done.returncode == 2 and "has no answers yet" in done.stderr
    listed = cli("report", "--list")
    assert listed.returncode == 0 and conv.id in listed.stdout and "Empty" in listed.stdout


def test_verify_report_on_a_file_that_is_no_report_exits_2(cli, tmp_path):
    other = tmp_path / "notes.html"
    other.write_text("<p>hello</p>", encoding="utf-8")
    done = cli("audit", "verify-report", str(other))
    assert done.returncode == 2 and "carries no report manifest" in done.stderr


@pytest.mark.slow
def test_report_round_trip_with_the_embedded_model(cli, packaged_model_path, tmp_path):
    asked = cli("--model", "qwen2.5-coder-0.5b", "ask", "What is the capital of France?", "--conversation", "new",
                "--json")
    assert asked.returncode == 0, asked.stderr
    conversation_id = json.loads(asked.stdout)["conversation_id"]
    for fmt in ("html", "pdf"):
        out = tmp_path / f"r.{fmt}"
        done = cli("report", conversation_id, "--format", fmt, "--out", str(out))
        assert done.returncode == 0, done.stderr
        checked = cli("audit", "verify-report", str(out), "--json")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert json.loads(checked.stdout)["records"] == 1
    page = tmp_path / "r.html"
    assert "Paris" in page.read_text(encoding="utf-8")
    page.write_text(page.read_text(encoding="utf-8").replace("Paris", "Lyon"), encoding="utf-8")
    edited = cli("audit", "verify-report", str(page))
    assert edited.returncode == 1 and "text was changed after export" in edited.stdout
    assert cli("audit", "verify").returncode == 0  # the exports are recorded and the chain still verifies
