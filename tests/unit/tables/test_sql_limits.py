"""Limits that hold on the query connection: memory, threads, the timer and the row cap (real DuckDB)."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from app.commands import tables as tables_cmd
from app.container import build_services
from app.errors import BadInputError, ConfigError
from app.settings import load_settings
from app.tables.service import TablesService
from storage.tables import TableStore
from storage.tables_engine import Limits

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "tables"


@pytest.fixture()
def service(tmp_path: Path):
    svc = TablesService(TableStore(tmp_path / "tables.duckdb", memory_limit="500MB", threads=1), timeout=60.0)
    svc.load_file(FIXTURES / "sales.csv")
    yield svc
    svc.close()


_MEMORY_PROBE = """
import json, sys
from pathlib import Path
from app.tables.service import TablesService
from storage.tables import TableStore
svc = TablesService(TableStore(Path(sys.argv[1]), memory_limit="500MB", threads=1), timeout=60.0)
answer = svc.run_sql("SELECT len(list(range)) FROM range(500000000)")
svc.close()
# VmHWM: the peak of this process's own memory. ru_maxrss would not do: after fork it starts from the
# parent's peak (a whole pytest run), not from this process's.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"error": answer.error, "hint": answer.error_hint,
                  "peak_mb": peak_kb / 1024}))
"""


def test_a_query_needing_gigabytes_stops_at_the_memory_limit(tmp_path: Path) -> None:
    # Without a limit this query took 8.4 GB (DuckDB's default: 80 % of RAM) before a timer stopped it.
    # Measured in a fresh process of its own: this test process's peak holds whatever earlier tests loaded.
    probe = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(tmp_path / "tables.duckdb")],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["error"] and "memory limit" in result["error"].lower() and "500MB" in result["error"]
    assert "SET" not in result["error"] + result["hint"]  # the sandbox refuses SET: never advise it
    assert result["peak_mb"] < 2500, f"peak RSS {result['peak_mb']:.0f} MB"


def test_the_query_connection_runs_with_the_configured_limits_and_keeps_them_locked(service: TablesService) -> None:
    answer = service.run_sql("SELECT current_setting('memory_limit'), current_setting('threads')")
    assert answer.error is None
    limit, threads = answer.rows[0]
    assert limit.replace(" ", "").startswith(("476.8MiB", "500.0MB", "476MiB")) and threads == 1
    refused = service.run_sql("SET memory_limit = '20GB'")
    assert refused.error and "Refused" in refused.error


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, 1e12])
def test_every_timeout_value_keeps_the_timer(service: TablesService, tmp_path: Path, timeout: float) -> None:
    with pytest.raises(BadInputError, match="timeout"):
        TablesService(TableStore(tmp_path / "other.duckdb"), timeout=timeout)
    with pytest.raises(BadInputError, match="timeout"):
        service.timeout = timeout


@pytest.mark.parametrize("max_rows", [0, -100])
def test_a_row_cap_below_one_is_refused(service: TablesService, max_rows: int) -> None:
    with pytest.raises(BadInputError, match="rows"):
        service.max_rows = max_rows


@pytest.mark.parametrize(("flag", "value"), [("--timeout", "0"), ("--timeout", "-1"), ("--timeout", "nan"),
                                             ("--timeout", "inf"), ("--max-rows", "-100"), ("--max-rows", "x")])
def test_cli_option_values_are_validated_with_a_clear_message(capsys, flag: str, value: str) -> None:
    parser = argparse.ArgumentParser()
    tables_cmd.register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["sql", "--raw", "SELECT 1", flag, value])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and f"argument {flag}" in err and "Traceback" not in err
    assert ("more than 0 and at most 3600 seconds" in err or "whole number" in err), err


def test_sql_limit_settings_are_validated(tmp_path: Path) -> None:
    dirs = {"data_dir": tmp_path / "data", "keys_dir": tmp_path / "keys"}
    settings = load_settings(**dirs)
    assert settings.sql_memory_limit and settings.sql_threads >= 1 and settings.max_table_rows > 0
    with pytest.raises(ConfigError, match="sql_memory_limit"):
        load_settings(**dirs, sql_memory_limit="plenty")
    with pytest.raises(ConfigError, match="sql_threads"):
        load_settings(**dirs, sql_threads=0)


def test_changed_limits_apply_to_the_next_query(service: TablesService) -> None:
    service.set_limits(memory_limit="300MB", threads=2, max_table_rows=10)
    answer = service.run_sql("SELECT current_setting('memory_limit'), current_setting('threads')")
    assert answer.error is None and answer.rows[0][1] == 2
    assert answer.rows[0][0].replace(" ", "").startswith(("286.1MiB", "300.0MB"))
    big = service.run_sql("SELECT len(list(range)) FROM range(500000000)")
    assert big.error and "300MB" in big.error


def test_a_database_given_with_db_gets_the_same_limits(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    TableStore(path).close()
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    svc = TablesService.open_database(path, limits=Limits("400MB", 1))
    try:
        answer = svc.run_sql("SELECT current_setting('memory_limit'), current_setting('threads')")
        assert answer.error is None and answer.rows[0][1] == 1
        assert answer.rows[0][0].replace(" ", "").startswith(("381.4MiB", "400.0MB"))
    finally:
        svc.close()


def test_limits_changed_in_settings_reach_the_running_tables_service(settings_factory) -> None:
    services = build_services(settings_factory(sql_memory_limit="500MB", sql_threads=1))
    try:
        first = services.tables.run_sql("SELECT current_setting('memory_limit')")
        assert first.rows[0][0].replace(" ", "").startswith(("476.8MiB", "500.0MB"))
        services.apply_settings({"sql_memory_limit": "300MB", "sql_threads": 2})
        after = services.tables.run_sql("SELECT current_setting('memory_limit'), current_setting('threads')")
        assert after.rows[0][0].replace(" ", "").startswith(("286.1MiB", "300.0MB")) and after.rows[0][1] == 2
    finally:
        services.close()
