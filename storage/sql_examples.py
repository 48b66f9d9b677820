"""Verified queries: question-SQL pairs an analyst marked as correct, per database, in one SQLite file.

The file is `<data_dir>/sql_examples.sqlite`. Retrieval is by word overlap between questions (cheap, no model,
deterministic). Whether a pair's SQL is safe and runs is checked by the tables service before `add` and again
before a pair is shown to the model; this store only keeps them.
"""

from __future__ import annotations

import builtins
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from storage.sqlite import prepare, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS sql_examples (
    id TEXT PRIMARY KEY,
    database TEXT NOT NULL,
    question TEXT NOT NULL,
    sql TEXT NOT NULL,
    user TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sql_examples_database ON sql_examples(database);
"""
_STOP = frozenset("""a an the of in on at to for by with from and or is are was were be what which who how many much
does do did list show give find get return all each me my i we our you your it as this that these those""".split())


@dataclass(frozen=True)
class SqlExample:
    """One verified question-SQL pair; `database` is "" for the app's own tables, else the database's name."""

    id: str
    database: str
    question: str
    sql: str
    user: str
    created: str

    def to_json(self) -> dict[str, str]:
        """Plain JSON fields."""
        return {"id": self.id, "database": self.database, "question": self.question, "sql": self.sql,
                "user": self.user, "created": self.created}


def question_words(text: str) -> set[str]:
    """Lower-case content words with a crude singular form, for comparing questions."""
    out = set()
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if word in _STOP or len(word) < 2:
            continue
        out.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return out


def similarity(first: str, second: str) -> float:
    """Word overlap of two questions (Jaccard over content words), 0 to 1."""
    a, b = question_words(first), question_words(second)
    return len(a & b) / len(a | b) if a and b else 0.0


class SqlExampleStore:
    """Verified question-SQL pairs in SQLite (one connection per operation; safe across threads and processes)."""

    def __init__(self, path: Path) -> None:
        self.path = prepare(Path(path), SCHEMA)

    def add(self, question: str, sql: str, database: str = "", user: str = "") -> SqlExample:
        """Store a pair (the caller has checked that the SQL is safe and runs); returns it with its id."""
        example = SqlExample(uuid.uuid4().hex[:12], database, question.strip(), sql.strip(), user,
                             datetime.now(UTC).isoformat(timespec="seconds"))
        with transaction(self.path) as con:
            con.execute("INSERT INTO sql_examples (id, database, question, sql, user, created) VALUES (?,?,?,?,?,?)",
                        (example.id, example.database, example.question, example.sql, example.user, example.created))
        return example

    def list(self, database: str | None = None) -> builtins.list[SqlExample]:
        """Every pair (of one database when given), oldest first."""
        where, params = ("WHERE database = ?", (database,)) if database is not None else ("", ())
        with transaction(self.path) as con:
            rows = con.execute(f"SELECT id, database, question, sql, user, created FROM sql_examples {where} "
                               "ORDER BY created, rowid", params).fetchall()
        return [SqlExample(*row) for row in rows]

    def get(self, example_id: str) -> SqlExample | None:
        """One pair by id, or None."""
        with transaction(self.path) as con:
            row = con.execute("SELECT id, database, question, sql, user, created FROM sql_examples WHERE id = ?",
                              (example_id,)).fetchone()
        return SqlExample(*row) if row else None

    def delete(self, example_id: str) -> bool:
        """Delete one pair; False when no pair has that id."""
        with transaction(self.path) as con:
            return con.execute("DELETE FROM sql_examples WHERE id = ?", (example_id,)).rowcount > 0

    def similar(self, database: str, question: str, k: int = 3, min_score: float = 0.15
                ) -> builtins.list[tuple[float, SqlExample]]:
        """The `k` pairs of `database` whose questions share most words with `question`, best first."""
        scored = [(similarity(question, ex.question), ex) for ex in self.list(database)]
        scored = [(s, ex) for s, ex in scored if s >= min_score]
        scored.sort(key=lambda pair: -pair[0])
        return scored[:k]
