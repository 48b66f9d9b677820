"""`python -m app audit ...` end to end in a subprocess: exit codes and output of verify, anchor and redact."""

from __future__ import annotations

import gc
import sqlite3

from app.container import build_services
from app.settings import load_settings


def _write(data_dir, n=3) -> None:
    services = build_services(load_settings(data_dir=data_dir))
    for i in range(n):
        services.records.append("chat", {"user": "ann", "status": "ok", "question": f"mail ann{i}@example.com"})
    services.close()
    del services
    gc.collect()


def test_verify_anchor_and_a_cut_tail_through_the_cli(cli):
    _write(cli.data_dir)
    done = cli("audit", "verify")
    assert done.returncode == 0 and "OK: 3 record(s)" in done.stdout, done.stderr

    head = cli("audit", "anchor")
    assert head.returncode == 0 and "3 record(s)" in head.stdout and "agrees" in head.stdout

    con = sqlite3.connect(cli.data_dir / "records.sqlite", isolation_level=None)
    con.execute("DROP TRIGGER records_no_delete")
    con.execute("DELETE FROM records WHERE seq = 3")
    con.close()
    done = cli("audit", "verify")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    # The store noticed the cut when it was next written to (here: the alert about the trigger) and kept it.
    assert "TAMPERED" in done.stdout and "records were cut" in done.stdout
    assert "trigger(s) records_no_delete were missing" in done.stdout


def test_a_damaged_records_file_is_reported_by_verify_and_other_commands_say_what_to_do(cli):
    _write(cli.data_dir, n=1)
    for extra in ("records.sqlite-wal", "records.sqlite-shm"):
        (cli.data_dir / extra).unlink(missing_ok=True)
    (cli.data_dir / "records.sqlite").write_bytes(b"garbage" * 1000)
    done = cli("audit", "verify")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "not a readable SQLite database" in done.stdout
    done = cli("audit", "export")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "request records cannot be used" in done.stderr and "Move the file aside" in done.stderr


def test_redact_of_an_unknown_record_is_a_user_error(cli):
    _write(cli.data_dir, n=1)
    done = cli("audit", "redact", "no-such-record")
    assert done.returncode == 2 and "No request record with id no-such-record" in done.stderr
    assert "Traceback" not in done.stderr
