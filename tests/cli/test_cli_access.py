"""`python -m app users ...`, `workspaces ...`, the global --user/--workspace, and `serve` refusing to listen on
the network without sign-in: each bad input gets one line saying what to do, exit 2."""

from __future__ import annotations

from storage.records import SqliteRecordStore
from tests.fixtures.paths import ROOT

PASSWORD = "correct horse battery\n"
SALES = ROOT / "tests" / "fixtures" / "tables" / "sales.csv"


def test_two_analysts_from_the_cli_each_see_their_own_tables(cli):
    assert cli("users", "add", "ann", "--role", "analyst", "--password-stdin", stdin=PASSWORD).returncode == 0
    assert cli("users", "add", "bob", "--role", "analyst", "--password-stdin", stdin=PASSWORD).returncode == 0
    assert cli("--user", "ann", "tables", "load", str(SALES)).returncode == 0
    assert "sales" not in cli("--user", "bob", "tables", "list").stdout
    refused = cli("--user", "bob", "--workspace", "private-ann", "tables", "list")
    assert refused.returncode == 2 and "not a member of a workspace named 'private-ann'" in refused.stderr
    assert cli("--user", "ann", "sql", "--raw", "SELECT count(*) FROM sales").returncode == 0
    (ran,) = SqliteRecordStore(cli.data_dir / "records.sqlite").query(kind="sql")
    assert (ran["user"], ran["workspace"]) == ("ann", "private-ann")


def test_serve_on_the_network_without_sign_in_is_refused(cli):
    result = cli("serve", "--address", "0.0.0.0")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "ANALYST_AUTH=password" in line and "users add NAME --role admin --password-stdin" in line
    assert "--allow-anonymous" in line
