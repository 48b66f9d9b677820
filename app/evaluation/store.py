"""Run history in `<data_dir>/evaluations.sqlite`: one row per run, one per item result."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import NotFoundError
from storage.sqlite import ThreadConnections

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    set_name TEXT NOT NULL,
    set_path TEXT NOT NULL,
    set_sha256 TEXT NOT NULL,
    model TEXT NOT NULL,
    only_kinds TEXT NOT NULL,
    settings TEXT NOT NULL,
    aggregates TEXT NOT NULL DEFAULT '{}',
    problems TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS run_items (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""
RUNNING, FINISHED, CANCELLED, FAILED = "running", "finished", "cancelled", "failed"


def now() -> str:
    """The current UTC time as ISO text."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class EvaluationStore:
    """Stored evaluation runs; safe to share between threads (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self._db = ThreadConnections(Path(path), "foreign_keys=ON")
        self._db.get().executescript(_SCHEMA)

    def start_run(
        self,
        set_name: str,
        set_path: str,
        set_sha256: str,
        model: str,
        only: list[str],
        settings: dict[str, Any],
        problems: list[dict[str, Any]],
    ) -> int:
        """Create a run in state 'running'; returns its id."""
        cur = self._db.get().execute(
            "INSERT INTO runs (set_name, set_path, set_sha256, model, only_kinds, settings, problems, status,"
            " started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                set_name,
                set_path,
                set_sha256,
                model,
                ",".join(only),
                json.dumps(settings),
                json.dumps(problems),
                RUNNING,
                now(),
            ),
        )
        assert cur.lastrowid is not None  # set by every INSERT
        return cur.lastrowid

    def add_item(self, run_id: int, seq: int, result: dict[str, Any]) -> None:
        """Save one item's result as soon as it is known (a killed run keeps what it did)."""
        self._db.get().execute(
            "INSERT OR REPLACE INTO run_items VALUES (?, ?, ?, ?)",
            (run_id, seq, result["id"], json.dumps(result, default=str)),
        )

    def finish_run(
        self,
        run_id: int,
        status: str,
        aggregates: dict[str, Any],
        error: str = "",
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Close a run with its aggregate scores (and the settings learnt while running, e.g. the model digest)."""
        con = self._db.get()
        con.execute(
            "UPDATE runs SET status = ?, aggregates = ?, error = ?, finished_at = ? WHERE id = ?",
            (status, json.dumps(aggregates), error, now(), run_id),
        )
        if settings is not None:
            con.execute("UPDATE runs SET settings = ? WHERE id = ?", (json.dumps(settings), run_id))

    def reopen_run(self, run_id: int) -> None:
        """Mark a cancelled or interrupted run running again (a job resumes it; its stored items stay)."""
        self._db.get().execute("UPDATE runs SET status = ?, error = '', finished_at = '' WHERE id = ?",
                               (RUNNING, run_id))

    def list_runs(self, set_name: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Runs, newest first (without item results)."""
        sql = "SELECT * FROM runs" + (" WHERE set_name = ?" if set_name else "") + " ORDER BY id DESC LIMIT ?"
        rows = self._db.get().execute(sql, (set_name, limit) if set_name else (limit,)).fetchall()
        return [_run(row) for row in rows]

    def get_run(self, run_id: int | str) -> dict[str, Any]:
        """A run with its item results; `run_id` may be 'latest'."""
        con = self._db.get()
        if str(run_id) in ("latest", "last"):
            row = con.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        else:
            try:
                row = con.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            except ValueError:
                row = None
        if row is None:
            raise NotFoundError(f"No evaluation run {run_id}.", "List the runs with `python -m app eval list`.")
        run = _run(row)
        items = con.execute("SELECT result FROM run_items WHERE run_id = ? ORDER BY seq", (run["id"],)).fetchall()
        run["items"] = [json.loads(r["result"]) for r in items]
        return run

    def previous_run(self, run: dict[str, Any]) -> dict[str, Any] | None:
        """The latest finished run of the same set (and kinds) before `run`, with items; None if there is none."""
        row = (
            self._db.get()
            .execute(
                "SELECT id FROM runs WHERE set_name = ? AND only_kinds = ? AND id < ? AND status = ?"
                " ORDER BY id DESC LIMIT 1",
                (run["set_name"], ",".join(run["only"]), run["id"], FINISHED),
            )
            .fetchone()
        )
        return self.get_run(row["id"]) if row else None

    def delete_run(self, run_id: int) -> None:
        """Forget a run and its items."""
        self._db.get().execute("DELETE FROM runs WHERE id = ?", (int(run_id),))


def _run(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "set_name": row["set_name"],
        "set_path": row["set_path"],
        "set_sha256": row["set_sha256"],
        "model": row["model"],
        "only": [k for k in row["only_kinds"].split(",") if k],
        "settings": json.loads(row["settings"]),
        "aggregates": json.loads(row["aggregates"]),
        "problems": json.loads(row["problems"]),
        "status": row["status"],
        "error": row["error"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }
