"""Routing only: which tools the deterministic router picks for every item of an assistant set (no model runs).

    python -m bench.assistant_routing [--set main|heldout]

Each item is routed as the chat routes it in router mode: documents searchable (R-intro is in the library), the
tables of the set's databases in scope (their table and column names are the router's table words), the previous
item of a follow-up pair as the previous turn. Printed: exact tool-set match, document questions sent to SQL,
data questions not sent to SQL. Results: bench/results/assistant_routing-<set>.json. The held-out set
(heldout.jsonl) was never used while writing the rules: run it, do not tune on it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from app.chat.tools.routing import PreviousTurn, route, table_vocabulary  # noqa: E402
from app.chat.tools.specs import RUN_SQL, SEARCH_DOCUMENTS, Resources  # noqa: E402
from bench.assistant_questions import SETS, SQLDATA, read_jsonl  # noqa: E402
from bench.common import write_results  # noqa: E402


@dataclass
class _Column:
    name: str


@dataclass
class _Table:
    name: str
    columns: list[_Column] = field(default_factory=list)


def tables_of(database: str) -> list[_Table]:
    """Table and column names of one benchmark database (read-only)."""
    con = duckdb.connect(str(SQLDATA / "databases" / database), read_only=True)
    try:
        rows = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                           "ORDER BY table_name, ordinal_position").fetchall()
    finally:
        con.close()
    tables: dict[str, _Table] = {}
    for table, column in rows:
        tables.setdefault(table, _Table(table)).columns.append(_Column(column))
    return list(tables.values())


def route_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Route every item; one row per item with the expected and the picked tools."""
    databases = sorted({i["db"] for i in items if i.get("db")})
    tables = [t for db in databases for t in tables_of(db)]
    resources = Resources(documents=True, tables=[t.name for t in tables], all_tables=[t.name for t in tables])
    words = table_vocabulary(list(tables))
    rows, previous = [], {}
    for item in items:
        before = previous.get(item["conversation"])
        calls = route(item["question"], resources, words, before)
        picked = sorted({c.name for c in calls} & {RUN_SQL, SEARCH_DOCUMENTS})
        expected = sorted(item["expected_tools"])
        rows.append({"id": item["id"], "kind": item["kind"], "expected": expected, "picked": picked,
                     "exact": picked == expected})
        previous[item["conversation"]] = PreviousTurn(item["question"], tuple(picked))
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Exact matches, and the two costly mistakes counted separately."""
    docs = [r for r in rows if r["kind"] == "doc"]
    data = [r for r in rows if RUN_SQL in r["expected"]]
    return {"items": len(rows), "exact": sum(r["exact"] for r in rows),
            "doc_questions": len(docs), "doc_sent_to_sql": sum(RUN_SQL in r["picked"] for r in docs),
            "doc_searched": sum(SEARCH_DOCUMENTS in r["picked"] for r in docs),
            "data_questions": len(data), "data_missing_sql": sum(RUN_SQL not in r["picked"] for r in data),
            "by_kind": {k: f"{sum(r['exact'] for r in rows if r['kind'] == k)}/{sum(r['kind'] == k for r in rows)}"
                        for k in sorted({r["kind"] for r in rows})}}


def main(argv: list[str] | None = None) -> int:
    """Route the set and print the summary (no item text is printed: the held-out set stays unread)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="qset", choices=sorted(SETS), default="main")
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows = route_items(read_jsonl(SETS[args.qset].file))
    summary = summarise(rows)
    print(f"set {args.qset}: exact tool set {summary['exact']}/{summary['items']} (by kind {summary['by_kind']}); "
          f"document questions sent to SQL {summary['doc_sent_to_sql']}/{summary['doc_questions']}; "
          f"data questions without SQL {summary['data_missing_sql']}/{summary['data_questions']}")
    write_results(f"assistant_routing-{args.qset}", {"benchmark": "assistant_routing", "set": args.qset,
                                                     "summary": summary, "rows": rows,
                                                     "wall_s": round(time.monotonic() - started, 2)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
