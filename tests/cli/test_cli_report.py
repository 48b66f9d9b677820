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


def test_report_of_ticked_answers_lists_numbers_and_refuses_those_that_do_not_exist(cli, tmp_path):
    cli.data_dir.mkdir(parents=True, exist_ok=True)
    store = ConversationStore(cli.data_dir / "chats.sqlite")
    conv = store.create("Two answers")
    for n in (1, 2):
        store.add_message(conv.id, "user", f"Question number {n}?")
        store.add_message(conv.id, "assistant", f"Answer number {n}.")
    listed = cli("report", conv.id, "--list")
    assert listed.returncode == 0
    assert "1  Question number 1?" in listed.stdout and "2  Question number 2?" in listed.stdout
    out = tmp_path / "r.html"
    for bad, said in (("3", "has answers 1-2; there is no answer 3"), ("1,x", "'x' is not an answer number"),
                      ("0-5", "there is no answer 0, 3, 4, 5")):
        done = cli("report", conv.id, "--answers", bad, "--out", str(out))
        assert done.returncode == 2 and said in done.stderr, done.stderr
        assert "report " + conv.id + " --list" in done.stderr or "2-4" in done.stderr
        assert not out.exists()
    done = cli("report", conv.id, "--answers", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "Answer number 2." in page and "Answer number 1." not in page
    checked = cli("audit", "verify-report", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
