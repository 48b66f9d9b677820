"""The `users` and `workspaces` commands and the global --user/--workspace, run in-process (the subprocess flow is
in tests/cli/test_cli_access.py): every change recorded, every bad input one line and exit 2."""

from __future__ import annotations

import io
import json

import pytest

from app.cli import main
from storage.records import SqliteRecordStore
from tests.fixtures.paths import ROOT

PASSWORD = "correct horse battery\n"
SALES = ROOT / "tests" / "fixtures" / "tables" / "sales.csv"


@pytest.fixture()
def run(tmp_path, monkeypatch, capsys, models_dir):
    """`python -m app --data-dir DATA ARGS...` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setenv("ANALYST_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("ANALYST_OLLAMA_HOST", "http://127.0.0.1:9")
    data = tmp_path / "data"

    def call(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(["--data-dir", str(data), *args])
        out, err = capsys.readouterr()
        return code, out, err

    call.data = data  # type: ignore[attr-defined]
    return call


def test_users_and_workspaces_are_managed_and_recorded(run):
    assert run("users", "add", "ann", "--role", "analyst", "--password-stdin", stdin=PASSWORD)[0] == 0
    assert run("users", "add", "bob", "--role", "analyst", "--password-stdin", stdin=PASSWORD)[0] == 0
    listed = json.loads(run("users", "list", "--json")[1])["users"]
    assert [(u["name"], u["role"], u["password"]) for u in listed] == [("ann", "analyst", True),
                                                                        ("bob", "analyst", True)]
    assert run("users", "set-role", "bob", "viewer")[0] == 0
    assert run("workspaces", "create", "Team")[0] == 0
    assert run("workspaces", "add-member", "Team", "bob")[0] == 0
    spaces = {w["name"]: w for w in json.loads(run("workspaces", "list", "--json")[1])["workspaces"]}
    assert set(spaces) == {"private-ann", "private-bob", "Team"} and spaces["Team"]["members"] == ["bob"]
    code, _out, err = run("--user", "bob", "--workspace", "Team", "tables", "load", str(SALES))
    assert code == 2 and "Your role (viewer) may not upload, load or delete data" in err
    assert run("users", "disable", "bob")[0] == 0
    code, _out, err = run("--user", "bob", "tables", "list")
    assert code == 2 and "disabled" in err
    assert run("workspaces", "delete", "Team")[0] == 0
    assert "Team" not in run("workspaces", "list")[1]
    records = SqliteRecordStore(run.data / "records.sqlite").query(kind=None, limit=200)
    kinds = {r["kind"] for r in records}
    assert {"user_added", "role_changed", "workspace_created", "member_added", "user_disabled", "workspace_deleted",
            "permission_denied"} <= kinds
    refused = next(r for r in records if r["kind"] == "permission_denied")
    assert (refused["user"], refused["workspace"]) == ("bob", "Team")


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (("users", "add", "bad name!", "--role", "analyst"), "", "cannot be a user name"),
    (("users", "add", "ann", "--role", "wizard"), "", "Unknown role 'wizard'"),
    (("users", "add", "ann", "--role", "analyst", "--password-stdin"), "", "No password was given"),
    (("users", "add", "ann", "--role", "analyst", "--password-stdin"), "short\n", "too short"),
    (("users", "set-role", "nobody", "viewer"), "", "There is no user named 'nobody'"),
    (("workspaces", "create", "../escape"), "", "cannot be a workspace name"),
    (("workspaces", "add-member", "Nowhere", "ann"), "", "There is no workspace named 'Nowhere'"),
    (("workspaces", "delete", "Nowhere"), "", "There is no workspace named 'Nowhere'"),
    (("--workspace", "Team", "tables", "list"), "", "--workspace needs --user"),
    (("--user", "ghost", "tables", "list"), "", "There is no user named 'ghost'"),
])
def test_bad_input_is_one_line_saying_what_to_do(run, args, stdin, message):
    code, out, err = run(*args, stdin=stdin)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
