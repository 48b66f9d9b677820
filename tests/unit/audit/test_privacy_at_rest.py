"""Personal data at rest in the request records: masked with a keyed fingerprint, sealed on request, erasable.

Whole chat turns run through the real assistant and record store (the model is the scripted fake); the checks read
the bytes of records.sqlite itself, and the CLI's `audit verify / export / redact / reveal`.
"""

from __future__ import annotations

import json
import re
import sqlite3
import stat

import pytest

from app.chat.assistant import Assistant
from app.cli import main
from app.errors import ConfigError
from app.settings import Settings
from storage.conversations import ConversationStore
from storage.keys import RecordKeys
from storage.record_chain import chain_hash
from storage.records import GENESIS, SqliteRecordStore
from tests.fixtures.fakes import StubRouter

CARD, IBAN = "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00"
EMAIL, PHONE = "ann.smith@example.com", "+44 20 7946 0958"
RAW = (CARD, IBAN, EMAIL, PHONE, "4111111111111111", "DE89370400440532013000")
QUESTION = f"Refund card {CARD} to IBAN {IBAN}; write to {EMAIL} or call {PHONE}."


def _turn(settings, fake_model, question=QUESTION, answer=f"Done: mail sent to {EMAIL}, card {CARD}.") -> str:
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    assistant = Assistant(StubRouter(settings, fake_model), ConversationStore(data / "chats.sqlite"),
                          SqliteRecordStore(data / "records.sqlite"))
    fake_model.queue(answer)
    turn = assistant.ask(question)
    list(turn)
    return turn.result.record_id


def _file_text(data_dir) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in data_dir.glob("records.sqlite*"))


def _records(data_dir) -> list[dict]:
    con = sqlite3.connect(data_dir / "records.sqlite")
    bodies = [json.loads(b) for (b,) in con.execute("SELECT body FROM records ORDER BY seq")]
    con.close()
    return bodies


@pytest.mark.parametrize("policy", ["detect", "redact_always"])
def test_a_turn_is_recorded_with_personal_data_masked_by_type_and_fingerprint(settings_factory, fake_model, policy):
    settings = settings_factory(pii_policy=policy)
    _turn(settings, fake_model)
    _turn(settings, fake_model, question=f"Anything new from {EMAIL}?", answer="No.")
    text = _file_text(settings.data_dir)
    for raw in RAW:
        assert raw not in text, f"{raw} is stored in clear"
    first, second = _records(settings.data_dir)
    assert re.fullmatch(r"Refund card \[CARD:[0-9a-f]{8}\] to IBAN \[IBAN:[0-9a-f]{8}\]; write to "
                        r"\[EMAIL:[0-9a-f]{8}\] or call \[PHONE:[0-9a-f]{8}\]\.", first["question"]), first["question"]
    email_token = re.search(r"\[EMAIL:[0-9a-f]{8}\]", first["question"]).group()
    assert email_token in second["question"]  # the same person links across records
    assert email_token in first["answer"]
    # The prompt holds what the model read: fingerprints, or the bare types the redacting policy sent it.
    assert ("[EMAIL]" if policy == "redact_always" else email_token) in first["prompt"][-1]["content"]
    assert first["user"] == "tester" and "sealed_pii" not in first


def test_export_holds_no_more_than_the_record(settings_factory, fake_model, capsys):
    settings = settings_factory()
    _turn(settings, fake_model)
    for fmt in ("jsonl", "csv"):
        assert main(["--data-dir", str(settings.data_dir), "audit", "export", "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert "[EMAIL:" in out and not any(raw in out for raw in RAW)


def test_the_opt_in_policy_keeps_raw_values_encrypted(settings_factory, fake_model, capsys):
    settings = settings_factory(record_personal_data="mask_and_encrypt")
    record_id = _turn(settings, fake_model)
    text = _file_text(settings.data_dir)
    assert not any(raw in text for raw in RAW)
    (body,) = _records(settings.data_dir)
    assert len(body["sealed_pii"]) == 4
    assert main(["--data-dir", str(settings.data_dir), "audit", "reveal", record_id, "--json"]) == 0
    values = json.loads(capsys.readouterr().out)["values"]
    assert sorted(values.values()) == sorted([CARD, IBAN, EMAIL, PHONE])
    assert all(token in body["question"] for token in values)
    revealed = _records(settings.data_dir)[-1]  # who read them is recorded, without the values
    assert revealed["kind"] == "pii_revealed" and revealed["record_id"] == record_id and revealed["values"] == 4


def test_redact_erases_one_records_personal_data_and_the_chain_still_verifies(settings_factory, fake_model, capsys,
                                                                             monkeypatch):
    monkeypatch.setenv("ANALYST_USER", "tester")
    settings = settings_factory(record_personal_data="mask_and_encrypt")
    keep = _turn(settings, fake_model, question=f"Who is {EMAIL}?", answer="A customer.")
    erase = _turn(settings, fake_model)
    base = ["--data-dir", str(settings.data_dir), "audit"]
    assert main([*base, "redact", erase, "--reason", "GDPR request 42", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["erased"] >= 8  # 4 in the question, the prompt and the answer's 2, and the 4 sealed values

    bodies = {b["id"]: b for b in _records(settings.data_dir)}
    erased = bodies[erase]
    assert "[EMAIL]" in erased["question"] and "[CARD]" in erased["answer"] and "sealed_pii" not in erased
    assert not re.search(r"\[[A-Z_]+:[0-9a-f]{8}\]", json.dumps(erased))
    assert "[EMAIL:" in bodies[keep]["question"]  # other records keep their fingerprints
    redaction = bodies[done["redaction_id"]]
    assert redaction["kind"] == "redaction" and redaction["record_id"] == erase
    assert redaction["reason"] == "GDPR request 42" and redaction["user"] == "tester"

    assert main([*base, "verify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and any("erased" in n for n in report["notes"])
    assert main([*base, "export"]) == 0
    exported = capsys.readouterr().out
    assert not any(raw in exported for raw in RAW)


def test_a_body_swapped_without_a_redaction_record_is_still_caught(settings_factory, fake_model, capsys):
    settings = settings_factory()
    record_id = _turn(settings, fake_model)
    con = sqlite3.connect(settings.data_dir / "records.sqlite", isolation_level=None)
    con.execute("DROP TRIGGER records_no_update")
    con.execute("UPDATE records SET body = replace(body, 'Refund', 'Keep') WHERE id = ?", (record_id,))
    con.execute("CREATE TRIGGER records_no_update BEFORE UPDATE ON records "
                "BEGIN SELECT RAISE(ABORT, 'request records are append-only'); END")
    con.close()
    assert main(["--data-dir", str(settings.data_dir), "audit", "verify", "--json"]) == 1
    assert any(record_id in p and "content altered" in p for p in json.loads(capsys.readouterr().out)["problems"])


def test_a_record_written_before_masking_can_be_erased_and_still_verifies(settings_factory, capsys):
    """A version-1 data dir: unkeyed chain, personal data in clear. It verifies (with a note), can be erased."""
    settings = settings_factory()
    path = settings.data_dir / "records.sqlite"
    settings.data_dir.mkdir(parents=True)
    con = sqlite3.connect(path, isolation_level=None)
    con.executescript(
        "CREATE TABLE records (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, ts TEXT NOT NULL,"
        " kind TEXT NOT NULL, user TEXT, backend TEXT, model TEXT, status TEXT, conversation_id TEXT,"
        " body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
        "CREATE TRIGGER records_no_update BEFORE UPDATE ON records"
        " BEGIN SELECT RAISE(ABORT, 'request records are append-only'); END;"
        "CREATE TRIGGER records_no_delete BEFORE DELETE ON records"
        " BEGIN SELECT RAISE(ABORT, 'request records are append-only'); END;")
    prev = GENESIS
    for i in range(2):
        body = {"id": f"old{i}", "ts": f"2025-01-0{i + 1}T00:00:00.000+00:00", "kind": "chat", "user": "ann",
                "status": "ok", "question": f"Mail {EMAIL} about card {CARD}"}
        digest = chain_hash(prev, body)
        con.execute("INSERT INTO records (id, ts, kind, user, status, body, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
                    (body["id"], body["ts"], "chat", "ann", "ok", json.dumps(body), prev, digest))
        prev = digest
    con.close()
    base = ["--data-dir", str(settings.data_dir), "audit"]
    assert main([*base, "verify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["records"] == 2 and any("before the keyed chain" in n for n in report["notes"])

    assert main([*base, "redact", "old0"]) == 0
    capsys.readouterr()
    assert main([*base, "verify", "--json"]) == 0, capsys.readouterr()
    report = json.loads(capsys.readouterr().out)
    kinds = [b["kind"] for b in _records(settings.data_dir)]
    assert kinds == ["chat", "chat", "chain_upgraded", "redaction"]
    old0, old1 = _records(settings.data_dir)[:2]
    assert EMAIL not in json.dumps(old0) and EMAIL in json.dumps(old1)

    # A version-1 record's columns are checked against its body.
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("DROP TRIGGER records_no_update")
    con.execute("UPDATE records SET user = 'mallory' WHERE id = 'old1'")
    con.close()
    assert main([*base, "verify", "--json"]) == 1
    assert any("mallory" in p for p in json.loads(capsys.readouterr().out)["problems"])


def test_keys_are_created_owner_only_and_kept_outside_the_data_dir(tmp_path, settings_factory):
    keys = RecordKeys(tmp_path / "k" / "keys")
    assert stat.S_IMODE(keys.dir.stat().st_mode) == 0o700
    for name in ("chain.key", "pii.key"):
        assert stat.S_IMODE((keys.dir / name).stat().st_mode) == 0o600
    again = RecordKeys(tmp_path / "k" / "keys")
    assert again.chain_key == keys.chain_key
    assert again.fingerprint("email", "a@b.c") == keys.fingerprint("email", "a@b.c")
    (keys.dir / "pii.key").write_text("short")
    with pytest.raises(ConfigError, match="damaged"):
        RecordKeys(keys.dir)
    with pytest.raises(ValueError, match="outside the data directory"):
        Settings(data_dir=tmp_path / "data", keys_dir=tmp_path / "data" / "keys")
