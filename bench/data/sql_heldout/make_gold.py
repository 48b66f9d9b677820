"""Fill the gold results of heldout.jsonl: result_rows, row_count, ordered and tie_groups, from each gold_sql.

Usage: python bench/data/sql_heldout/make_gold.py   (rewrites heldout.jsonl in place; the questions, gold SQL and
categories are never changed by this script). Each query runs on databases/chinook.duckdb opened read-only with
external access and extension auto-loading off, with 1 and with 4 threads; the two results must be identical
(as multisets when the query does not sort).
Values are converted as in bench/data/sql/SOURCES.md (DECIMAL, DATE/TIMESTAMP, UUID, BLOB -> strings).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from app.evaluation.scoring import rows_match  # noqa: E402

SET = HERE / "heldout.jsonl"
# Result columns holding the ORDER BY key of each ordered item: equal keys in consecutive rows form a tie group.
SORT_KEYS = {"held-006": [1], "held-009": [1], "held-010": [1], "held-012": [1], "held-013": [0],
             "held-015": [1], "held-017": [2], "held-024": [2], "held-025": [1], "held-027": [1]}


def convert(value: Any) -> Any:
    """A JSON value the way the dev set stores it."""
    if isinstance(value, (decimal.Decimal, dt.date, dt.datetime, dt.time, uuid.UUID)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return json.dumps([convert(v) for v in value], ensure_ascii=False)
    if isinstance(value, dict):
        return json.dumps({str(k): convert(v) for k, v in value.items()}, ensure_ascii=False)
    return value


def run(sql: str, threads: int) -> list[list[Any]]:
    """The query's rows on a fresh read-only connection."""
    config = {"threads": threads, "enable_external_access": False, "autoinstall_known_extensions": False,
              "autoload_known_extensions": False}
    con = duckdb.connect(str(HERE / "databases" / "chinook.duckdb"), read_only=True, config=config)
    try:
        return [[convert(v) for v in row] for row in con.execute(sql).fetchall()]
    finally:
        con.close()


def top_level_order_by(sql: str) -> bool:
    """True when the outermost query sorts (ORDER BY inside parentheses, e.g. OVER (...), does not count)."""
    text = sql
    while True:
        stripped = re.sub(r"\([^()]*\)", "", text)
        if stripped == text:
            return re.search(r"\border\s+by\b", text, re.IGNORECASE) is not None
        text = stripped


def tie_groups(rows: list[list[Any]], key: list[int]) -> list[int]:
    """One integer per row; consecutive rows with equal sort keys share it."""
    groups: list[int] = []
    for i, row in enumerate(rows):
        same = i > 0 and [row[k] for k in key] == [rows[i - 1][k] for k in key]
        groups.append(groups[-1] if same else i)
    return groups


def check_cut(item: dict[str, Any], rows: list[list[Any]]) -> None:
    """A LIMIT k item must not have a tie between row k and row k+1 (otherwise the gold set is arbitrary)."""
    match = re.search(r"\blimit\s+(\d+)\s*;?\s*$", item["gold_sql"], re.IGNORECASE)
    if not match:
        return
    k = int(match.group(1))
    wider = run(item["gold_sql"][: match.start()] + f"LIMIT {k + 1}", 1)
    key = SORT_KEYS[item["id"]]
    if len(wider) > k and [wider[k][c] for c in key] == [rows[k - 1][c] for c in key]:
        raise SystemExit(f"{item['id']}: tie at the LIMIT {k} cut")


def fill(item: dict[str, Any]) -> dict[str, Any]:
    """The item with its gold result fields recomputed."""
    rows, ordered = run(item["gold_sql"], 1), top_level_order_by(item["gold_sql"])
    other = run(item["gold_sql"], 4)
    if (rows != other) if ordered else (sorted(map(repr, rows)) != sorted(map(repr, other))):
        raise SystemExit(f"{item['id']}: result differs between 1 and 4 threads")
    if not rows:
        raise SystemExit(f"{item['id']}: empty result")
    keep = {k: item[k] for k in ("id", "db", "question", "gold_sql", "category")}
    keep.update(result_rows=rows, row_count=len(rows), ordered=ordered)
    if keep["ordered"]:
        check_cut(item, rows)
        groups = tie_groups(rows, SORT_KEYS[item["id"]])
        if groups != list(range(len(rows))):
            keep["tie_groups"] = groups
    if not rows_match(rows, keep):
        raise SystemExit(f"{item['id']}: the scorer rejects the gold result against itself")
    return keep


def main() -> int:
    """Recompute every item and rewrite the file."""
    items = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    filled = [fill(item) for item in items]
    SET.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in filled), encoding="utf-8")
    ordered = sum(i["ordered"] for i in filled)
    ties = sum("tie_groups" in i for i in filled)
    print(f"{len(filled)} items, {ordered} ordered ({ties} with tie groups); gold scores itself "
          f"{sum(rows_match(i['result_rows'], i) for i in filled)}/{len(filled)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
